//! How the OAuth client authenticates itself to the token and revocation endpoints (RFC 6749
//! section 2.3.1), and the one form POST every request of the client's goes through.

use std::fmt;

use base64::Engine;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Request, Uri};
use zeroize::{Zeroize, Zeroizing};

use crate::config::Config;
use crate::form::{self, Piece};
use crate::{headers, request};

/// How the client id and secret reach the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientAuthentication {
    /// As the form fields `client_id` and `client_secret` (`client_secret_post`), as Keliweb's
    /// documentation shows. The default.
    #[default]
    RequestBody,
    /// As HTTP Basic (`client_secret_basic`): `Authorization: Basic` of the id and the secret,
    /// each form-encoded first as RFC 6749 section 2.3.1 requires, joined by a colon.
    HttpBasic,
}

/// The client's credentials as every token and revocation request presents them, encoded once
/// per config: requests copy them rather than encode them again.
#[derive(Clone)]
pub(crate) struct EncodedClient {
    /// `client_id=…&client_secret=…` for [`ClientAuthentication::RequestBody`], else empty.
    form: Zeroizing<Vec<u8>>,
    /// A form POST's headers, `Authorization: Basic` among them for
    /// [`ClientAuthentication::HttpBasic`].
    headers: HeaderMap,
    /// The Basic credential, for [`ClientAuthentication::HttpBasic`]: a secret like the client
    /// secret itself (anyone who reads it can decode the secret), scrubbed from error excerpts
    /// with the others.
    basic: Option<Zeroizing<String>>,
}

impl EncodedClient {
    pub(crate) fn new(
        id: &str,
        secret: &str,
        how: ClientAuthentication,
        user_agent: &HeaderValue,
    ) -> Self {
        let mut headers = headers::form_post(user_agent);
        let (form, basic) = match how {
            ClientAuthentication::RequestBody => {
                let fields = [
                    Piece::Field("client_id", id),
                    Piece::Field("client_secret", secret),
                ];
                (form::body(fields.into_iter()), None)
            }
            ClientAuthentication::HttpBasic => {
                let credential = encoded_credential(id, secret);
                // `None` never happens (base64 is a valid header value); the requests then go
                // without it and are refused, rather than panic.
                if let Some(header) = basic(&credential) {
                    headers.insert(AUTHORIZATION, header);
                }
                (Vec::new(), Some(credential))
            }
        };
        Self {
            form: Zeroizing::new(form),
            headers,
            basic,
        }
    }

    /// The Basic credential, when the client authenticates so.
    pub(crate) fn basic_credential(&self) -> Option<&str> {
        self.basic.as_deref().map(String::as_str)
    }
}

impl fmt::Debug for EncodedClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncodedClient([redacted])")
    }
}

/// A form POST of the client to `url`: `head`, the client's credentials when they go in the
/// body, `tail` (fields, or fields encoded beforehand), and `scope` if any.
pub(crate) fn client_post(
    config: &Config,
    url: &Uri,
    head: &[(&'static str, &str)],
    tail: Piece<'_>,
    scope: Option<&str>,
) -> Request<Vec<u8>> {
    let client = &config.encoded_client;
    let pieces = head
        .iter()
        .map(|&(name, value)| Piece::Field(name, value))
        .chain([Piece::Encoded(&client.form), tail])
        .chain(scope.map(|scope| Piece::Field("scope", scope)));
    request::form_post(url, &client.headers, form::body(pieces))
}

/// `Basic <credential>`, marked sensitive and wiped when its last clone drops.
fn basic(credential: &str) -> Option<HeaderValue> {
    let mut value = Vec::with_capacity("Basic ".len() + credential.len());
    value.extend_from_slice(b"Basic ");
    value.extend_from_slice(credential.as_bytes());
    headers::sensitive_wiped(value)
}

/// `base64(form(id) ":" form(secret))`.
fn encoded_credential(id: &str, secret: &str) -> Zeroizing<String> {
    let form = |text: &str| -> Zeroizing<Vec<u8>> {
        // Sized exactly, so the buffer never grows and leaves a copy behind.
        let mut encoded = Zeroizing::new(Vec::with_capacity(form::encoded_len(text)));
        form::encode_into(&mut encoded, text);
        encoded
    };
    let (id, secret) = (form(id), form(secret));
    let mut pair = Zeroizing::new(Vec::with_capacity(id.len() + 1 + secret.len()));
    pair.extend_from_slice(&id);
    pair.push(b':');
    pair.extend_from_slice(&secret);
    // Straight into a buffer of the exact size: `encode_string` goes through a stack buffer of
    // its own, which would keep a copy of the credential, unwiped.
    let mut encoded = Zeroizing::new(vec![0; pair.len().div_ceil(3) * 4]);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(&*pair, &mut encoded[..])
        .unwrap_or(0);
    encoded.truncate(written);
    // Base64 is ASCII: the same buffer becomes the string, no copy.
    let text = String::from_utf8(std::mem::take(&mut *encoded)).unwrap_or_else(|refused| {
        let mut bytes = refused.into_bytes();
        bytes.zeroize();
        String::new()
    });
    Zeroizing::new(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_form_encodes_id_and_secret_before_base64() {
        let header = basic(&encoded_credential("my client", "s3:cr+t/é")).expect("a header");
        assert!(header.is_sensitive());
        let encoded = header
            .to_str()
            .expect("ASCII")
            .strip_prefix("Basic ")
            .expect("the scheme");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .expect("base64");
        assert_eq!(decoded, b"my+client:s3%3Acr%2Bt%2F%C3%A9");
    }
}

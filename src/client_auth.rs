//! How the OAuth client authenticates itself to the token and revocation endpoints (RFC 6749
//! section 2.3.1), and the one form POST every request of the client's goes through.

use base64::Engine;
use http::header::AUTHORIZATION;
use http::{HeaderValue, Request, Uri};
use zeroize::Zeroizing;

use crate::config::Config;
use crate::request;

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

/// A form POST of the client to `url`: `head`, the client's credentials when they go in the
/// body, `tail`, and `scope` if any.
pub(crate) fn client_post(
    config: &Config,
    url: &Uri,
    head: &[(&str, &str)],
    tail: &[(&str, &str)],
    scope: Option<&str>,
) -> Request<Vec<u8>> {
    let credentials = [
        ("client_id", config.client_id.as_str()),
        ("client_secret", config.client_secret.expose_secret()),
    ];
    let in_body: &[(&str, &str)] = match config.client_authentication {
        ClientAuthentication::RequestBody => &credentials,
        ClientAuthentication::HttpBasic => &[],
    };
    let scope = scope.map(|scope| ("scope", scope));
    let fields = head
        .iter()
        .chain(in_body)
        .chain(tail)
        .chain(scope.as_ref())
        .copied();
    let mut request = request::form_post(url, &config.user_agent, fields);
    if config.client_authentication == ClientAuthentication::HttpBasic
        && let Some(header) = basic(&config.client_id, config.client_secret.expose_secret())
    {
        request.headers_mut().insert(AUTHORIZATION, header);
    }
    request
}

/// `Basic base64(form(id) ":" form(secret))`, marked sensitive. `None` never happens (base64 is
/// a valid header value); the request then goes without it and is refused, rather than panic.
fn basic(id: &str, secret: &str) -> Option<HeaderValue> {
    let credential = encoded_credential(id, secret);
    let mut value = Zeroizing::new(String::with_capacity(6 + credential.len()));
    value.push_str("Basic ");
    value.push_str(&credential);
    let mut header = HeaderValue::from_str(&value).ok()?;
    header.set_sensitive(true);
    Some(header)
}

/// The Basic credential of `config`'s client, when it authenticates so: a secret like the
/// client secret itself (anyone who reads it can decode the secret), scrubbed from error
/// excerpts with the others.
pub(crate) fn basic_credential(config: &Config) -> Option<Zeroizing<String>> {
    (config.client_authentication == ClientAuthentication::HttpBasic)
        .then(|| encoded_credential(&config.client_id, config.client_secret.expose_secret()))
}

/// `base64(form(id) ":" form(secret))`.
fn encoded_credential(id: &str, secret: &str) -> Zeroizing<String> {
    let form = |text: &str| -> Zeroizing<String> {
        // Sized for the worst case, so the buffer never grows and leaves a copy behind.
        let mut encoded = Zeroizing::new(String::with_capacity(text.len() * 3));
        encoded.extend(form_urlencoded::byte_serialize(text.as_bytes()));
        encoded
    };
    let (id, secret) = (form(id), form(secret));
    let mut pair = Zeroizing::new(String::with_capacity(id.len() + 1 + secret.len()));
    pair.push_str(&id);
    pair.push(':');
    pair.push_str(&secret);
    let mut encoded = Zeroizing::new(String::with_capacity(pair.len().div_ceil(3) * 4));
    base64::engine::general_purpose::STANDARD.encode_string(pair.as_bytes(), &mut encoded);
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_form_encodes_id_and_secret_before_base64() {
        let header = basic("my client", "s3:cr+t/é").expect("a header");
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

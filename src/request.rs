//! Building the requests the session asks a transport to send.

use std::fmt;

use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderValue, Method, Request, Uri};

use crate::headers;

/// Identifies one request the session handed out, so its response can be matched to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub(crate) u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "request #{}", self.0)
    }
}

/// What a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// `grant_type=password`: logging in with the username and password.
    PasswordGrant,
    /// `grant_type=refresh_token`: swapping the refresh token for a new pair.
    RefreshGrant,
    /// Revoking tokens on the server.
    Revocation,
}

/// A request the session wants sent. Send it as it is (redirects must not be followed), then
/// hand the outcome back with [`Session::handle_response`](crate::Session::handle_response) or
/// [`Session::handle_transport_error`](crate::Session::handle_transport_error).
///
/// `Debug` shows the method, URL and kind but never the body, which holds secrets.
#[must_use = "send the request and hand its outcome back to the session"]
pub struct OutgoingRequest {
    pub(crate) id: RequestId,
    pub(crate) kind: RequestKind,
    pub(crate) request: Request<Vec<u8>>,
}

impl OutgoingRequest {
    /// The id to hand back with the response.
    #[must_use]
    pub fn id(&self) -> RequestId {
        self.id
    }

    /// What the request is for.
    #[must_use]
    pub fn kind(&self) -> RequestKind {
        self.kind
    }

    /// The HTTP request. Its body and `Authorization` header hold secrets.
    #[must_use]
    pub fn request(&self) -> &Request<Vec<u8>> {
        &self.request
    }

    /// Splits into the id and the HTTP request to send.
    #[must_use]
    pub fn into_parts(self) -> (RequestId, Request<Vec<u8>>) {
        (self.id, self.request)
    }
}

impl fmt::Debug for OutgoingRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutgoingRequest")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("method", self.request.method())
            .field("uri", self.request.uri())
            .field(
                "body",
                &format_args!("[{} bytes redacted]", self.request.body().len()),
            )
            .finish()
    }
}

/// A form POST of `body` (form-encoded, `crate::form`) with the form headers built once per
/// config.
pub(crate) fn form_post(uri: &Uri, headers: &HeaderMap, body: Vec<u8>) -> Request<Vec<u8>> {
    let mut request = Request::new(body);
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.clone();
    *request.headers_mut() = headers.clone();
    request
}

/// A Bearer-authenticated call with an empty body (the logout style of revocation).
pub(crate) fn bearer_call(
    method: &Method,
    uri: &Uri,
    user_agent: &HeaderValue,
    authorization: HeaderValue,
) -> Request<Vec<u8>> {
    let mut request = Request::new(Vec::new());
    *request.method_mut() = method.clone();
    *request.uri_mut() = uri.clone();
    let headers = request.headers_mut();
    headers.insert(AUTHORIZATION, authorization);
    headers::add_api_defaults(headers, user_agent);
    request
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::form::{self, Piece};

    fn form_post_of(
        uri: &Uri,
        agent: &HeaderValue,
        fields: &[(&'static str, &str)],
    ) -> Request<Vec<u8>> {
        let pieces = fields
            .iter()
            .map(|&(name, value)| Piece::Field(name, value));
        form_post(uri, &headers::form_post(agent), form::body(pieces))
    }

    #[test]
    fn ids_and_outgoing_requests_show_what_they_are_but_no_body() {
        assert_eq!(RequestId(7).to_string(), "request #7");
        let uri = Uri::from_static("https://apiv2.keliweb.it/oauth/token");
        let agent = HeaderValue::from_static("agent");
        let outgoing = OutgoingRequest {
            id: RequestId(3),
            kind: RequestKind::PasswordGrant,
            request: form_post_of(&uri, &agent, &[("password", "hunter2")]),
        };
        let shown = format!("{outgoing:?}");
        for expected in [
            "RequestId(3)",
            "PasswordGrant",
            "POST",
            "https://apiv2.keliweb.it/oauth/token",
            "[16 bytes redacted]", // password=hunter2
        ] {
            assert!(shown.contains(expected), "{expected} missing from {shown}");
        }
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn form_post_has_keliweb_headers_and_an_encoded_body() {
        let uri = Uri::from_static("https://apiv2.keliweb.it/oauth/token");
        let agent = HeaderValue::from_static("test-agent");
        let request = form_post_of(
            &uri,
            &agent,
            &[("grant_type", "password"), ("password", "a b&c=d€")],
        );
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.uri(), &uri);
        assert_eq!(
            request.headers()["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(request.headers()["x-requested-with"], "XMLHttpRequest");
        assert_eq!(request.headers()["accept"], "application/json");
        assert_eq!(request.headers()["user-agent"], "test-agent");
        assert_eq!(
            request.body(),
            b"grant_type=password&password=a+b%26c%3Dd%E2%82%AC"
        );
    }
}

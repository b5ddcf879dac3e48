//! The headers Keliweb (Laravel) needs on every request.
//!
//! Without `Accept: application/json` and `X-Requested-With: XMLHttpRequest`, Laravel answers an
//! unauthenticated call with a redirect to a login page instead of a JSON 401.

use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue};

/// `keliweb-oauth/<version>`.
pub(crate) const DEFAULT_USER_AGENT: &str = concat!("keliweb-oauth/", env!("CARGO_PKG_VERSION"));

pub(crate) const X_REQUESTED_WITH: HeaderName = HeaderName::from_static("x-requested-with");
const XML_HTTP_REQUEST: HeaderValue = HeaderValue::from_static("XMLHttpRequest");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
const FORM_URLENCODED: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// Headers of a token or revocation request (a form POST).
pub(crate) fn form_post(user_agent: &HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(4);
    headers.insert(CONTENT_TYPE, FORM_URLENCODED);
    headers.insert(ACCEPT, APPLICATION_JSON);
    headers.insert(X_REQUESTED_WITH, XML_HTTP_REQUEST);
    headers.insert(USER_AGENT, user_agent.clone());
    headers
}

/// Adds the API defaults a caller has not set; never overrides a caller's own value.
pub(crate) fn add_api_defaults(headers: &mut HeaderMap, user_agent: &HeaderValue) {
    if !headers.contains_key(ACCEPT) {
        headers.insert(ACCEPT, APPLICATION_JSON);
    }
    if !headers.contains_key(X_REQUESTED_WITH) {
        headers.insert(X_REQUESTED_WITH, XML_HTTP_REQUEST);
    }
    if !headers.contains_key(USER_AGENT) {
        headers.insert(USER_AGENT, user_agent.clone());
    }
}

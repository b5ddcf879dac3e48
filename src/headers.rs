//! The headers Keliweb (Laravel) needs on every request.
//!
//! Without `Accept: application/json` and `X-Requested-With: XMLHttpRequest`, Laravel answers an
//! unauthenticated call with a redirect to a login page instead of a JSON 401
//! (`docs/passport.md#api-calls`).

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::shared_secret;

/// `keliweb-oauth/<version>`.
pub(crate) const DEFAULT_USER_AGENT: &str = concat!("keliweb-oauth/", env!("CARGO_PKG_VERSION"));

pub(crate) const X_REQUESTED_WITH: HeaderName = HeaderName::from_static("x-requested-with");
const XML_HTTP_REQUEST: HeaderValue = HeaderValue::from_static("XMLHttpRequest");
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");
const FORM_URLENCODED: HeaderValue = HeaderValue::from_static("application/x-www-form-urlencoded");

/// Headers of a token or revocation request (a form POST), built once per config; room is
/// left for an `Authorization: Basic`.
pub(crate) fn form_post(user_agent: &HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(5);
    headers.insert(CONTENT_TYPE, FORM_URLENCODED);
    headers.insert(ACCEPT, APPLICATION_JSON);
    headers.insert(X_REQUESTED_WITH, XML_HTTP_REQUEST);
    headers.insert(USER_AGENT, user_agent.clone());
    headers
}

/// Up to this many distinct names, one pass comparing names beats three hashed lookups.
const SCAN_LIMIT: usize = 16;

/// Adds the API defaults a caller has not set; never overrides a caller's own value.
///
/// This runs on every authorized request (the hot path). A request carries a handful of
/// headers, so one pass over its names finds all three defaults for a fraction of the cost of
/// three hashed `contains_key` lookups (hashing `x-requested-with` alone is a byte loop), and a
/// missing default is then inserted with a single lookup.
pub(crate) fn add_api_defaults(headers: &mut HeaderMap, user_agent: &HeaderValue) {
    let (mut has_accept, mut has_requested_with, mut has_user_agent) = (false, false, false);
    if headers.keys_len() <= SCAN_LIMIT {
        for name in headers.keys() {
            if *name == ACCEPT {
                has_accept = true;
            } else if *name == USER_AGENT {
                has_user_agent = true;
            } else if *name == X_REQUESTED_WITH {
                has_requested_with = true;
            }
        }
    } else {
        has_accept = headers.contains_key(ACCEPT);
        has_requested_with = headers.contains_key(X_REQUESTED_WITH);
        has_user_agent = headers.contains_key(USER_AGENT);
    }
    if !has_accept {
        headers.insert(ACCEPT, APPLICATION_JSON);
    }
    if !has_requested_with {
        headers.insert(X_REQUESTED_WITH, XML_HTTP_REQUEST);
    }
    if !has_user_agent {
        headers.insert(USER_AGENT, user_agent.clone());
    }
}

/// A header value holding a secret (`Bearer …`, `Basic …`) in a shared buffer
/// ([`shared_secret`]): marked sensitive, its bytes shared by every clone and wiped when the last
/// slice of the buffer drops. `None` if they are no header value.
pub(crate) fn sensitive(value: Bytes) -> Option<HeaderValue> {
    let mut header = HeaderValue::from_maybe_shared(value).ok()?;
    header.set_sensitive(true);
    Some(header)
}

/// [`sensitive`], in a buffer of its own.
pub(crate) fn sensitive_wiped(value: Vec<u8>) -> Option<HeaderValue> {
    sensitive(shared_secret::wiped_when_dropped(value))
}

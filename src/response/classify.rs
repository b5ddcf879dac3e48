//! What an error response means for the caller: the `ErrorKind` of a refusal, from its
//! status and, when it is a token response's object, its fields.

use http::StatusCode;

use super::body::Body;
use crate::error::ErrorKind;
use crate::request::RequestKind;

/// Decides what an error response means for the caller.
pub(super) fn classify(kind: RequestKind, status: StatusCode, body: Option<&Body>) -> ErrorKind {
    if status == StatusCode::TOO_MANY_REQUESTS {
        return ErrorKind::RateLimited;
    }
    if status.is_server_error() {
        // Whatever the body claims, a 5xx is the server failing: never a reason to drop a
        // refresh token or stop the session.
        return ErrorKind::ServerError;
    }
    let code = body
        .and_then(|body| body.error.as_ref())
        .map(|code| code.as_str());
    match code {
        Some("invalid_client" | "unauthorized_client") => ErrorKind::InvalidClient,
        Some("invalid_grant" | "invalid_credentials") => match kind {
            RequestKind::PasswordGrant => ErrorKind::InvalidCredentials,
            RequestKind::RefreshGrant => ErrorKind::RefreshTokenRejected,
            RequestKind::Revocation => ErrorKind::InvalidRequest,
        },
        // Passport up to 8.5 answers a dead refresh token with 401 `invalid_request` and the
        // description "The refresh token is invalid."; a missing parameter is 400
        // (`docs/passport.md#dead-refresh-token`).
        Some("invalid_request")
            if kind == RequestKind::RefreshGrant
                && (status == StatusCode::UNAUTHORIZED
                    || body.is_some_and(mentions_refresh_token)) =>
        {
            ErrorKind::RefreshTokenRejected
        }
        Some("server_error" | "temporarily_unavailable") => ErrorKind::ServerError,
        Some(_) => ErrorKind::InvalidRequest,
        None => ErrorKind::UnexpectedResponse,
    }
}

fn mentions_refresh_token(body: &Body) -> bool {
    // "The refresh token is invalid." or "Check the `refresh_token` parameter", in any case;
    // compared in place, as a lowered copy would be one more copy of an echo to wipe.
    [&body.error_description, &body.message, &body.hint]
        .into_iter()
        .flatten()
        .any(|text| {
            contains_ignoring_case(text, b"refresh token")
                || contains_ignoring_case(text, b"refresh_token")
        })
}

fn contains_ignoring_case(text: &str, needle: &[u8]) -> bool {
    text.as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle))
}

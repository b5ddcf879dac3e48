//! The answers faults produce.

use axum::body::{Body, Bytes};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{Fault, Route};
use crate::body::{BrokenBody, FillBody};
use crate::passport::{OAuthError, error_body};
use crate::reply::Reply;
use crate::state::Shared;

/// The answer for a fault that replaces processing (every fault but `Delay`, `AnswerAfter`,
/// `ResetMidResponse` and `TruncatedBody`, which go through [`reset_mid_response`] and
/// [`truncated`] or around processing).
pub(crate) fn render(fault: &Fault, route: Route, shared: &Shared) -> Response {
    match *fault {
        Fault::Status(code) => status_page(status(code), route, shared).into_response(),
        Fault::PlainTextStatus(code) => {
            let status = status(code);
            let text = if status == StatusCode::INTERNAL_SERVER_ERROR {
                "Server Error"
            } else {
                status.canonical_reason().unwrap_or("Error")
            };
            Reply::new(status, "text/plain; charset=UTF-8", text).into_response()
        }
        Fault::EmptyStatus(code) => Reply::empty(status(code)).into_response(),
        Fault::TooManyRequests { retry_after_secs } => {
            let reset = shared.clock.unix_secs() + retry_after_secs;
            too_many_requests(60, retry_after_secs, reset).into_response()
        }
        Fault::RedirectToTarget(code) => redirect(status(code), shared).into_response(),
        Fault::Html => {
            Reply::new(StatusCode::OK, "text/html; charset=UTF-8", LOGIN_PAGE).into_response()
        }
        Fault::HugeBody(len) => {
            let mut response = Response::new(Body::new(FillBody::new(len)));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Fault::ErrorIn200 => {
            let body = error_body(
                shared.passport(),
                "invalid_request",
                "The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.",
                Some("Check the `grant_type` parameter".to_owned()),
            );
            Reply::json(StatusCode::OK, body).into_response()
        }
        // These are handled around normal processing (`DelayThen` is unwrapped before); answering
        // them here keeps the function total.
        Fault::Delay(_)
        | Fault::AnswerAfter(_)
        | Fault::ResetMidResponse
        | Fault::TruncatedBody
        | Fault::DelayThen(..) => Reply::empty(StatusCode::INTERNAL_SERVER_ERROR).into_response(),
    }
}

/// Sends `reply`'s headers (chunked) and the first half of its body, then drops the connection.
pub(crate) fn reset_mid_response(reply: Reply) -> Response {
    let half = reply.body.slice(..reply.body.len() / 2);
    broken(reply, half, false)
}

/// Sends `reply`'s headers with its real `Content-Length` and the first half of its body, then
/// closes the connection.
pub(crate) fn truncated(reply: Reply) -> Response {
    let half = reply.body.slice(..reply.body.len() / 2);
    broken(reply, half, true)
}

/// An empty body cannot be cut in half: then nothing of the body is sent, a 204 (which cannot
/// carry a body) goes out as 200, and `TruncatedBody` declares a `Content-Length` of 2.
fn broken(reply: Reply, sent: Bytes, declare_length: bool) -> Response {
    let full_len = reply.body.len().max(2);
    let mut response = Response::new(Body::new(BrokenBody::new(sent)));
    *response.status_mut() = if reply.status == StatusCode::NO_CONTENT {
        StatusCode::OK
    } else {
        reply.status
    };
    *response.headers_mut() = reply.headers;
    if declare_length {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(full_len));
    }
    response
}

/// Laravel's throttle answer: `429 {"message":"Too Many Attempts."}` with `Retry-After` and the
/// `X-RateLimit-*` headers (`docs/passport.md#throttle`).
pub(crate) fn too_many_requests(limit: u32, retry_after_secs: u64, reset_unix: u64) -> Reply {
    Reply::json(
        StatusCode::TOO_MANY_REQUESTS,
        r#"{"message":"Too Many Attempts."}"#,
    )
    .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_secs))
    .with_header(RATE_LIMIT_LIMIT, HeaderValue::from(limit))
    .with_header(RATE_LIMIT_REMAINING, HeaderValue::from(0u32))
    .with_header(RATE_LIMIT_RESET, HeaderValue::from(reset_unix))
}

/// `X-RateLimit-Limit`.
pub(crate) const RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
pub(crate) const RATE_LIMIT_REMAINING: HeaderName =
    HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`.
const RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn status_page(status: StatusCode, route: Route, shared: &Shared) -> Reply {
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        return match route {
            Route::Token | Route::Revoke => OAuthError::ServerError.reply(shared.passport()),
            Route::Logout | Route::Api => Reply::json(status, r#"{"message":"Server Error"}"#),
        };
    }
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let page = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    Reply::new(status, "text/html", page)
}

fn redirect(status: StatusCode, shared: &Shared) -> Reply {
    let target = format!("{}/redirect-target", shared.base_url);
    let page = format!(
        "<!DOCTYPE html>\n<html>\n    <head>\n        <meta charset=\"UTF-8\" />\n        <meta http-equiv=\"refresh\" content=\"0;url='{target}'\" />\n\n        <title>Redirecting to {target}</title>\n    </head>\n    <body>\n        Redirecting to <a href=\"{target}\">{target}</a>.\n    </body>\n</html>"
    );
    let location =
        HeaderValue::from_str(&target).unwrap_or(HeaderValue::from_static("/redirect-target"));
    Reply::new(status, "text/html; charset=UTF-8", page).with_header(header::LOCATION, location)
}

const LOGIN_PAGE: &str = r#"<!DOCTYPE html>
<html lang="it">
<head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Login - Keliweb</title>
</head>
<body>
    <form method="POST" action="/login">
        <input type="hidden" name="_token" value="emulated-csrf-token">
        <label for="email">E-Mail</label>
        <input id="email" type="email" name="email" required autofocus>
        <label for="password">Password</label>
        <input id="password" type="password" name="password" required>
        <button type="submit">Login</button>
    </form>
</body>
</html>
"#;

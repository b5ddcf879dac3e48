//! The Bearer-authenticated routes (`POST /api/logout`, `GET /api/user`), the redirect target
//! and the fallback.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::params::bearer_token;
use super::with_faults;
use crate::faults::Route;
use crate::reply::Reply;
use crate::state::tokens::TokenStatus;
use crate::state::{Shared, lock};

/// Whether the request carries a valid, unexpired, unrevoked access token; returns it if so.
fn authenticated<'h>(shared: &Shared, headers: &'h HeaderMap) -> Option<&'h str> {
    let token = bearer_token(headers)?;
    let status = lock(&shared.tokens).access_status(token, shared.clock.now());
    (status == TokenStatus::Valid).then_some(token)
}

/// `POST /api/logout`: revokes the presented access token and its refresh token; `204`. An
/// application's own route, not Passport's (`docs/passport.md#revocation`).
pub(crate) async fn logout(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    with_faults(&shared, Route::Logout, || {
        match authenticated(&shared, &headers) {
            Some(token) => {
                lock(&shared.tokens).revoke(token);
                shared.counters.logouts.inc();
                Reply::empty(StatusCode::NO_CONTENT)
            }
            None => Reply::unauthenticated(),
        }
    })
    .await
}

/// `GET /api/user`: the account, for a valid access token.
pub(crate) async fn user(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    shared.counters.api_calls.inc();
    with_faults(&shared, Route::Api, || {
        let refuses = shared
            .api_refuses_every_token
            .load(std::sync::atomic::Ordering::SeqCst);
        if !refuses && authenticated(&shared, &headers).is_some() {
            let body = serde_json::json!({"id": 1, "email": shared.config.username});
            Reply::json(StatusCode::OK, body.to_string())
        } else {
            shared.counters.api_unauthorized.inc();
            Reply::unauthenticated()
        }
    })
    .await
}

/// `/redirect-target` (any method): where `Fault::RedirectToTarget` points; counts hits.
pub(crate) async fn redirect_target(State(shared): State<Arc<Shared>>) -> Response {
    shared.counters.redirect_target_hits.inc();
    Reply::new(
        StatusCode::OK,
        "text/plain; charset=UTF-8",
        "keliweb-emulator: redirect target (a client followed a redirect)",
    )
    .into_response()
}

/// Any other path: Laravel's JSON 404.
pub(crate) async fn not_found() -> Response {
    Reply::json(StatusCode::NOT_FOUND, r#"{"message":"Not Found"}"#).into_response()
}

//! `POST /oauth/revoke`: RFC 7009 token revocation, which a stock Passport lacks
//! (`docs/passport.md#revocation`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::params::{Params, basic_credentials};
use super::token::client_matches;
use super::with_faults;
use crate::faults::Route;
use crate::passport::OAuthError;
use crate::reply::Reply;
use crate::state::{Shared, lock};

/// Authenticates the client (form fields or HTTP Basic), then revokes the pair of `token`
/// (whatever `token_type_hint` says) and answers `200` with an empty body, also for unknown
/// tokens.
pub(crate) async fn revoke(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = Params::parse(&headers, &body);
    with_faults(&shared, Route::Revoke, || {
        let version = shared.passport();
        let basic = basic_credentials(&headers);
        if basic.is_some() && params.get("client_id").is_none() {
            shared.counters.basic_client_auth.inc();
        }
        let id = params
            .get("client_id")
            .or(basic.as_ref().map(|b| b.0.as_str()));
        let secret = params
            .get("client_secret")
            .or(basic.as_ref().map(|b| b.1.as_str()));
        if !client_matches(&shared, id, secret) {
            return OAuthError::InvalidClient.reply(version);
        }
        let Some(token) = params.get("token") else {
            return OAuthError::MissingParameter("token").reply(version);
        };
        lock(&shared.tokens).revoke(token);
        shared.counters.rfc7009_revocations.inc();
        Reply::empty(StatusCode::OK)
    })
    .await
}

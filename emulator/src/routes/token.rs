//! `POST /oauth/token`: the password and refresh grants, behind Laravel's throttle
//! (`docs/passport.md#token-endpoint`, `docs/passport.md#rotation`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::params::{Params, basic_credentials};
use super::with_faults;
use crate::faults::Route;
use crate::faults::respond::{RATE_LIMIT_LIMIT, RATE_LIMIT_REMAINING, too_many_requests};
use crate::log::GrantTypeNote;
use crate::passport::OAuthError;
use crate::reply::Reply;
use crate::state::throttle::Verdict;
use crate::state::tokens::TokenStatus;
use crate::state::{IssuedPair, Shared, lock};

/// Handles one token request (counted, fault-injectable, throttled, logged with its grant type).
pub(crate) async fn token(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.counters.token_requests.inc();
    let params = Params::parse(&headers, &body);
    let mut response = with_faults(&shared, Route::Token, || {
        throttled(&shared, &headers, &params)
    })
    .await;
    if response.status().as_u16() >= 400 {
        shared.counters.token_errors.inc();
    }
    if let Some(grant_type) = params.get("grant_type") {
        response
            .extensions_mut()
            .insert(GrantTypeNote(grant_type.to_owned()));
    }
    response
}

/// Laravel's `throttle` middleware around [`grant`].
fn throttled(shared: &Shared, headers: &HeaderMap, params: &Params) -> Reply {
    let Some(limit) = shared.config.max_token_requests_per_minute else {
        return grant(shared, headers, params);
    };
    let verdict = lock(&shared.throttle).hit(limit, shared.clock.now());
    match verdict {
        Verdict::Limited {
            limit,
            retry_after_secs,
        } => too_many_requests(
            limit,
            retry_after_secs,
            shared.clock.unix_secs() + retry_after_secs,
        ),
        Verdict::Allowed { limit, remaining } => grant(shared, headers, params)
            .with_header(RATE_LIMIT_LIMIT, HeaderValue::from(limit))
            .with_header(RATE_LIMIT_REMAINING, HeaderValue::from(remaining)),
    }
}

/// Picks the grant, runs it and writes the answer.
fn grant(shared: &Shared, headers: &HeaderMap, params: &Params) -> Reply {
    let result = match params.get("grant_type") {
        Some("password") => password_grant(shared, headers, params),
        Some("refresh_token") => refresh_grant(shared, headers, params),
        _ => Err(OAuthError::UnsupportedGrantType),
    };
    match result {
        Ok(pair) => success(&pair, params.get("scope")),
        Err(error) => error.reply(shared.passport()),
    }
}

/// Whether `id` and `secret` are the configured client's.
pub(crate) fn client_matches(shared: &Shared, id: Option<&str>, secret: Option<&str>) -> bool {
    id == Some(shared.config.client_id.as_str())
        && secret == Some(shared.config.client_secret.as_str())
}

/// league/oauth2-server's client validation: `client_id` (form or HTTP Basic) is required,
/// then id and secret must match.
fn validate_client(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<(), OAuthError> {
    let basic = basic_credentials(headers);
    if basic.is_some() && params.get("client_id").is_none() {
        shared.counters.basic_client_auth.inc();
    }
    let id = params
        .get("client_id")
        .or(basic.as_ref().map(|b| b.0.as_str()))
        .ok_or(OAuthError::MissingParameter("client_id"))?;
    let secret = params
        .get("client_secret")
        .or(basic.as_ref().map(|b| b.1.as_str()));
    if client_matches(shared, Some(id), secret) {
        Ok(())
    } else {
        Err(OAuthError::InvalidClient)
    }
}

fn password_grant(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<IssuedPair, OAuthError> {
    validate_client(shared, headers, params)?;
    let username = params
        .get("username")
        .ok_or(OAuthError::MissingParameter("username"))?;
    let password = params
        .get("password")
        .ok_or(OAuthError::MissingParameter("password"))?;
    if username != shared.config.username || password != shared.config.password {
        return Err(OAuthError::InvalidCredentials);
    }
    let pair = shared.issue_pair();
    shared.counters.password_grants.inc();
    Ok(pair)
}

fn refresh_grant(
    shared: &Shared,
    headers: &HeaderMap,
    params: &Params,
) -> Result<IssuedPair, OAuthError> {
    validate_client(shared, headers, params)?;
    let refresh_token = params
        .get("refresh_token")
        .ok_or(OAuthError::MissingParameter("refresh_token"))?;
    let status = lock(&shared.tokens).spend_refresh(refresh_token, shared.clock.now());
    match status {
        TokenStatus::Valid => {}
        TokenStatus::Expired => return Err(OAuthError::InvalidRefreshToken("Token has expired")),
        TokenStatus::Revoked => {
            return Err(OAuthError::InvalidRefreshToken("Token has been revoked"));
        }
        TokenStatus::Unknown => {
            return Err(OAuthError::InvalidRefreshToken(
                "Cannot decrypt the refresh token",
            ));
        }
    }
    let pair = shared.issue_pair();
    shared.counters.refresh_grants.inc();
    Ok(pair)
}

/// Passport's success answer (`docs/passport.md#success-body`).
/// A `scope` the request asked for is echoed as granted, as an RFC 6749 server may (a stock
/// Passport does not).
fn success(pair: &IssuedPair, scope: Option<&str>) -> Reply {
    // The tokens are base64url and hex: nothing to escape. The scope is the client's: escaped.
    let scope = scope
        .map(|scope| format!(r#","scope":{}"#, serde_json::Value::from(scope)))
        .unwrap_or_default();
    let body = format!(
        r#"{{"token_type":"Bearer","expires_in":{},"access_token":"{}","refresh_token":"{}"{scope}}}"#,
        pair.expires_in, pair.access_token, pair.refresh_token
    );
    Reply::new(StatusCode::OK, "application/json; charset=UTF-8", body)
        .with_header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))
        .with_header(header::PRAGMA, HeaderValue::from_static("no-cache"))
}

//! What the agent answers: `/token`, `/header`, their `/refused` reports, `/health`,
//! `/metrics`, and in proxy mode every other path forwarded. Every refusal and failure is a
//! JSON error; no answer but those of `/token`, `/header` and their reports holds a token, and
//! none holds a refresh token.

use bytes::Bytes;
use http::{Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Incoming;

use super::Agent;
use super::access::Peer;
use super::clock::now_millis;
use super::refused::{self, Outcome};

/// The error type of the bodies the agent answers with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A body the agent answers with: a value, or the API's answer streamed through.
pub type AgentBody = BoxBody<Bytes, BoxError>;

/// Answers `request` from `peer`.
pub async fn answer(
    agent: &Agent,
    peer: Peer,
    request: hyper::Request<Incoming>,
) -> Response<AgentBody> {
    if let Err(refusal) = agent.access.check(peer, request.headers()) {
        tracing::warn!(
            ?peer,
            status = refusal.status.as_u16(),
            "a caller was refused"
        );
        agent.metrics.answered("refused", refusal.status);
        return json_error(refusal.status, "refused", refusal.message);
    }
    let route = match request.uri().path() {
        "/health" => "health",
        "/metrics" => "metrics",
        "/token" if agent.proxy.is_none() => "token",
        "/header" if agent.proxy.is_none() => "header",
        "/token/refused" if agent.proxy.is_none() => "token_refused",
        "/header/refused" if agent.proxy.is_none() => "header_refused",
        _ => "other",
    };
    let reports = matches!(route, "token_refused" | "header_refused");
    let response = match (route, &agent.proxy) {
        ("other", Some(proxy)) => proxy.forward(request).await,
        _ if reports && request.method() != Method::POST => json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "POST only, with the refused token as the body",
        ),
        _ if reports => answer_report(agent, request.into_body(), route == "token_refused").await,
        (_, _) if !matches!(*request.method(), Method::GET | Method::HEAD) => json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "GET only",
        ),
        ("health", _) => health(agent),
        ("metrics", _) => text(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            agent.metrics.encode(now_millis()),
        ),
        ("token" | "header", _) => token(agent, route == "token").await,
        _ => json_error(StatusCode::NOT_FOUND, "not_found", "no such route"),
    };
    agent.metrics.answered(route, response.status());
    response
}

fn health(agent: &Agent) -> Response<AgentBody> {
    if agent.metrics.ready(now_millis()) {
        json(StatusCode::OK, serde_json::json!({"status": "ready"}))
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            serde_json::json!({
                "status": "not_ready",
                "message": "no usable token held: none yet, or the held one was reported \
                            refused and its replacement is not in yet",
            }),
        )
    }
}

/// `/token` as JSON, or `/header` as text.
async fn token(agent: &Agent, as_json: bool) -> Response<AgentBody> {
    let guard = match agent.client.authorization().await {
        Ok(guard) => guard,
        // The crate's errors are scrubbed: no secret in their text.
        Err(error) => {
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_token",
                &error.to_string(),
            );
        }
    };
    let usable_until = guard.usable_until().as_millis();
    agent.metrics.handed_out(guard.token_id(), usable_until);
    let header = guard.expose_header_value().as_bytes();
    if !as_json {
        return no_store(
            Response::new(full(Bytes::copy_from_slice(header))),
            "text/plain",
        );
    }
    let token = header.strip_prefix(b"Bearer ").unwrap_or(header);
    let body = serde_json::json!({
        "access_token": String::from_utf8_lossy(token),
        "token_type": "Bearer",
        "expires_at": usable_until / 1000,
    });
    no_store(
        Response::new(full(body.to_string().into())),
        "application/json",
    )
}

/// A caller's report of a token the API refused, answered as `/token` (JSON) or `/header`.
async fn answer_report(agent: &Agent, body: Incoming, as_json: bool) -> Response<AgentBody> {
    let Some(reported) = refused::read(body).await else {
        return json_error(StatusCode::BAD_REQUEST, "bad_report", refused::UNREADABLE);
    };
    match refused::report(agent, &reported).await {
        Ok(Outcome::Replaced | Outcome::Stale) => token(agent, as_json).await,
        Ok(Outcome::RefusedAgain) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "refused_again",
            "the API refused this token, which replaced a refused one, too: hand its 401 on; \
             a report after the minimum retry delay gets a new token",
        ),
        // The crate's errors are scrubbed: no secret in their text.
        Err(error) => json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_token",
            &error.to_string(),
        ),
    }
}

/// Marks an answer holding a token as one no cache may keep.
fn no_store(mut response: Response<AgentBody>, content_type: &'static str) -> Response<AgentBody> {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

fn full(bytes: Bytes) -> AgentBody {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Response<AgentBody> {
    let mut response = Response::new(full(body.into()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

fn json(status: StatusCode, body: serde_json::Value) -> Response<AgentBody> {
    text(status, "application/json", body.to_string())
}

/// `{"error": code, "message": message}` with `status`.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response<AgentBody> {
    json(
        status,
        serde_json::json!({"error": code, "message": message}),
    )
}

//! The HTTP routes, the request log middleware and fault application.

mod api;
mod params;
mod revoke;
mod token;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};

use crate::faults::{Fault, Route, respond};
use crate::log::{FaultNote, GrantTypeNote, LoggedRequest};
use crate::reply::Reply;
use crate::state::Shared;

/// The emulator's router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(revoke::revoke))
        .route("/api/logout", post(api::logout))
        .route("/api/user", get(api::user))
        .route("/redirect-target", any(api::redirect_target))
        .fallback(api::not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), log_requests))
        .with_state(shared)
}

/// Records every request in the log, with what the handler noted in the response extensions.
async fn log_requests(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    shared.log.push(LoggedRequest {
        method,
        path,
        grant_type: response
            .extensions()
            .get::<GrantTypeNote>()
            .map(|n| n.0.clone()),
        status: response.status().as_u16(),
        fault: response
            .extensions()
            .get::<FaultNote>()
            .map(|n| n.0.clone()),
    });
    response
}

/// Answers a request on `route`: takes its queued fault, if any, and applies it around
/// `process` (which does the real work and is run at most once).
pub(crate) async fn with_faults(
    shared: &Shared,
    route: Route,
    process: impl FnOnce() -> Reply,
) -> Response {
    let Some(fault) = shared.faults.pop(route) else {
        return process().into_response();
    };
    let mut applied = &fault;
    while let Fault::DelayThen(by, then) = applied {
        tokio::time::sleep(*by).await;
        applied = then;
    }
    let mut response = match applied {
        Fault::Delay(by) => {
            tokio::time::sleep(*by).await;
            process().into_response()
        }
        Fault::AnswerAfter(by) => {
            // Processed before the wait: the work is done even if the client hangs up.
            let reply = process();
            tokio::time::sleep(*by).await;
            reply.into_response()
        }
        Fault::ResetMidResponse => respond::reset_mid_response(process()),
        Fault::TruncatedBody => respond::truncated(process()),
        other => respond::render(other, route, shared),
    };
    response
        .extensions_mut()
        .insert(FaultNote(format!("{fault:?}")));
    response
}

//! `nonblocking::AuthMiddleware` in a reqwest-middleware chain, against the emulator: requests
//! are authorized, a `401` after the server dropped the token is retried once with a new one,
//! and a request to an origin the token may not go to fails before anything is sent.
#![cfg(feature = "reqwest-middleware")]

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::ErrorKind;
use keliweb_oauth::nonblocking::{AuthMiddleware, Client, ReqwestClient};
use reqwest_middleware::ClientWithMiddleware;

use crate::support::emulated;

fn chain(emulator: &Emulator) -> ClientWithMiddleware {
    let tokens = Client::new(emulated::config(emulator), ReqwestClient::default());
    reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(AuthMiddleware::new(tokens))
        .build()
}

#[tokio::test]
async fn requests_are_authorized_and_a_dropped_token_is_replaced_once() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let http = chain(&emulator);
    let first = http.get(emulator.api_url()).send().await.expect("sent");
    assert_eq!(first.status(), 200);
    assert_eq!(emulator.counters().password_grants, 1);

    // The server drops every token: the middleware reports the 401 and retries with a new one.
    emulator.revoke_all_tokens();
    let retried = http.get(emulator.api_url()).send().await.expect("sent");
    assert_eq!(retried.status(), 200);
    let counters = emulator.counters();
    assert_eq!(counters.api_unauthorized, 1);
    assert_eq!(counters.password_grants, 2, "one new login for the retry");
}

#[tokio::test]
async fn an_api_that_refuses_every_token_gets_one_retry_then_the_401() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let http = chain(&emulator);
    emulator.refuse_every_api_token(true);
    let refused = http.get(emulator.api_url()).send().await.expect("sent");
    assert_eq!(refused.status(), 401);
    assert_eq!(emulator.counters().api_calls, 2, "the call and one retry");
}

#[tokio::test]
async fn a_foreign_origin_fails_before_anything_is_sent() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let http = chain(&emulator);
    let error = http
        .get("https://example.com/steal")
        .send()
        .await
        .expect_err("refused");
    let reqwest_middleware::Error::Middleware(error) = error else {
        panic!("not the middleware's error: {error}")
    };
    let error = error
        .downcast_ref::<keliweb_oauth::Error>()
        .expect("the crate's error");
    assert_eq!(error.kind(), ErrorKind::UntrustedOrigin);
    assert_eq!(emulator.counters().token_requests, 0);
}

/// Records the headers of each request that reaches it (after the auth middleware).
#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<http::HeaderMap>>>);

#[async_trait::async_trait]
impl reqwest_middleware::Middleware for Capture {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: reqwest_middleware::Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        self.0
            .lock()
            .expect("not poisoned")
            .push(request.headers().clone());
        next.run(request, extensions).await
    }
}

#[tokio::test]
async fn the_callers_own_headers_stay() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let capture = Capture::default();
    let tokens = Client::new(emulated::config(&emulator), ReqwestClient::default());
    let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(AuthMiddleware::new(tokens))
        .with(capture.clone())
        .build();
    http.get(emulator.api_url())
        .header("accept", "application/pdf")
        .header("user-agent", "my-app/1.0")
        .send()
        .await
        .expect("sent");
    let seen = capture.0.lock().expect("not poisoned")[0].clone();
    assert_eq!(seen["accept"], "application/pdf");
    assert_eq!(seen["user-agent"], "my-app/1.0");
    assert!(
        seen["authorization"]
            .to_str()
            .expect("ASCII")
            .starts_with("Bearer ")
    );
    assert_eq!(
        seen["x-requested-with"], "XMLHttpRequest",
        "a default the caller left out"
    );
}

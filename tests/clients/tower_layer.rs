//! `nonblocking::AuthLayer` around hyper-util's legacy client, against the emulator: requests
//! are authorized, a `401` after the server dropped the token is retried once when the body can
//! be sent again and returned when it cannot, and a foreign origin fails before anything is
//! sent.
#![cfg(feature = "tower")]

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body::{Body, Frame};
use http_body_util::Full;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::nonblocking::{AuthLayer, BoxError, Client, ReplayBody, ReqwestClient};
use keliweb_oauth::{Error, ErrorKind};
use tower_layer::Layer;
use tower_service::Service;

use crate::support::emulated;

/// Calls `service` once it is ready.
async fn call<S, B>(service: &mut S, request: Request<B>) -> Result<S::Response, S::Error>
where
    S: Service<Request<B>>,
{
    std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
    service.call(request).await
}

fn tokens(emulator: &Emulator) -> Client<ReqwestClient> {
    Client::new(emulated::config(emulator), ReqwestClient::default())
}

#[tokio::test]
async fn requests_are_authorized_and_a_dropped_token_is_replaced_once() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let hyper = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut api = AuthLayer::new(tokens(&emulator)).layer(hyper);
    let get = || {
        Request::get(emulator.api_url())
            .body(Full::default())
            .expect("a request")
    };
    assert_eq!(call(&mut api, get()).await.expect("sent").status(), 200);
    emulator.revoke_all_tokens();
    assert_eq!(call(&mut api, get()).await.expect("sent").status(), 200);
    let counters = emulator.counters();
    assert_eq!(
        (counters.api_unauthorized, counters.password_grants),
        (1, 2)
    );
}

/// A body that can be sent once only.
struct Once(Full<Bytes>);

impl Body for Once {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }
}

impl ReplayBody for Once {
    fn replay(&self) -> Option<Self> {
        None
    }
}

#[tokio::test]
async fn a_body_that_cannot_be_sent_again_gets_the_401_back() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let hyper = HyperClient::builder(TokioExecutor::new()).build_http::<Once>();
    let client = tokens(&emulator);
    let mut api = AuthLayer::new(client.clone()).layer(hyper);
    let get = || {
        Request::get(emulator.api_url())
            .body(Once(Full::default()))
            .expect("a request")
    };
    assert_eq!(call(&mut api, get()).await.expect("sent").status(), 200);
    emulator.revoke_all_tokens();
    let refused = call(&mut api, get()).await.expect("sent");
    assert_eq!(refused.status(), 401, "returned, not retried");
    assert_eq!(emulator.counters().api_calls, 2);
    // Reported: the next request gets a new token.
    assert_eq!(call(&mut api, get()).await.expect("sent").status(), 200);
    assert_eq!(emulator.counters().password_grants, 2);
}

#[tokio::test]
async fn a_foreign_origin_fails_before_anything_is_sent() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let hyper = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut api = AuthLayer::new(tokens(&emulator)).layer(hyper);
    let request = Request::get("https://example.com/steal")
        .body(Full::default())
        .expect("a request");
    let error: BoxError = call(&mut api, request).await.expect_err("refused");
    let error = error.downcast_ref::<Error>().expect("the crate's error");
    assert_eq!(error.kind(), ErrorKind::UntrustedOrigin);
    assert_eq!(emulator.counters().token_requests, 0);
}

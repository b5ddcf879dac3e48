//! Every limit, set through `ClientBuilder::limits` alone (the test clients make their HTTP
//! clients with none), fires for both transports against 127.0.0.1: the whole-request timeout
//! on a token request and on an API `send`, the connect timeout on both, and both body caps at
//! exactly their value. Timeouts set through `UreqClient::with_config` or
//! `ReqwestClient::with_builder` give way to the request's.
#![cfg(all(feature = "test-util", any(feature = "ureq", feature = "reqwest")))]
// The clock ban in clippy.toml guards the sans-IO core; these tests time the limits.
#![allow(clippy::disallowed_methods)]

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use http::{Request, StatusCode};
use keliweb_emulator::{Fault, Route};
use keliweb_oauth::client::{Limits, RequestLimits};
use keliweb_oauth::{Config, Error, ErrorKind, error::TransportError};
use socket2::{Domain, Socket, Type};

use crate::support::transport::{Driver, Harness, test_limits};

/// The limit under test: far below [`SLOW`].
const SHORT: Duration = Duration::from_millis(300);
/// How long the server stalls.
const SLOW: Duration = Duration::from_secs(5);
/// An answer sooner than this came from the limit, not from the server or a longer limit.
const SOON: Duration = Duration::from_secs(3);
/// The body cap under test.
const CAP: u64 = 4096;

/// Asserts `outcome` is a transport failure of `kind` (the `Debug` name of a
/// `TransportErrorKind`).
fn assert_transport<T: std::fmt::Debug>(outcome: Result<T, Error>, kind: &str) {
    let error = outcome.expect_err("the limit fires");
    assert_eq!(error.kind(), ErrorKind::Transport, "{error}");
    assert!(error.to_string().contains(kind), "not {kind}: {error}");
}

/// Awaits `call` and asserts it failed with a transport error of `kind` well before the server
/// would have answered.
async fn assert_fires_soon<T: std::fmt::Debug>(
    call: impl Future<Output = Result<T, Error>>,
    kind: &str,
) {
    let started = Instant::now();
    let outcome = call.await;
    let took = started.elapsed();
    assert_transport(outcome, kind);
    assert!(took < SOON, "took {took:?}");
}

/// A listener on 127.0.0.1 whose accept queue is full, so connecting to it hangs (the kernel
/// drops the SYNs) until the client gives up. Keep it alive while connecting.
struct Stalled {
    addr: SocketAddr,
    _listener: Socket,
    _queued: TcpStream,
}

impl Stalled {
    fn new() -> Self {
        let listener = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
        listener
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind 127.0.0.1");
        // A backlog of 0 holds one connection, never accepted: the next one cannot complete.
        listener.listen(0).expect("listen");
        let addr = listener
            .local_addr()
            .ok()
            .and_then(|addr| addr.as_socket())
            .expect("an IPv4 address");
        let queued = TcpStream::connect(addr).expect("the first connection is queued");
        Self {
            addr,
            _listener: listener,
            _queued: queued,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A client of the harness's emulator with `limits`, set through the builder only.
fn limited<D: Driver>(harness: &Harness, limits: Limits) -> D {
    harness.setup(harness.config()).limits(limits).build()
}

async fn request_timeout_fires_on_the_token_request<D: Driver>() {
    let harness = Harness::start();
    let limits = Limits {
        request_timeout: SHORT,
        ..test_limits()
    };
    let client: D = limited(&harness, limits);
    harness.emulator.inject(Route::Token, Fault::Delay(SLOW));

    assert_fires_soon(client.access_token(), "Timeout").await;
}

async fn request_timeout_fires_on_an_api_send<D: Driver>() {
    let harness = Harness::start();
    let limits = Limits {
        request_timeout: SHORT,
        ..test_limits()
    };
    let client: D = limited(&harness, limits);
    client.access_token().await.expect("the login is quick");
    harness.emulator.inject(Route::Api, Fault::Delay(SLOW));

    assert_fires_soon(client.send(harness.api_request()), "Timeout").await;
}

/// The connect timeout, not the (long) request timeout, ends a connect that hangs.
fn connect_limits() -> Limits {
    Limits {
        connect_timeout: SHORT,
        request_timeout: Duration::from_secs(30),
        ..Limits::default()
    }
}

async fn connect_timeout_fires_on_the_token_request<D: Driver>() {
    let harness = Harness::start();
    let stalled = Stalled::new();
    let config = Config::builder(stalled.url("/oauth/token"), "id", "secret").credentials("u", "p");
    let client: D = harness.setup(config).limits(connect_limits()).build();

    assert_fires_soon(client.access_token(), "Timeout").await;
}

async fn connect_timeout_fires_on_an_api_send<D: Driver>() {
    let harness = Harness::start();
    let stalled = Stalled::new();
    // The stalled server is another origin: the token may go there only once it is added.
    let config = harness.config().api_origin(stalled.url(""));
    let client: D = harness.setup(config).limits(connect_limits()).build();
    client.access_token().await.expect("the login is quick");
    let request = Request::get(stalled.url("/api/user"))
        .body(Vec::new())
        .expect("a valid request");

    assert_fires_soon(client.send(request), "Timeout").await;
}

async fn token_body_cap_is_exact<D: Driver>() {
    let harness = Harness::start();
    let limits = Limits {
        max_token_response_bytes: CAP,
        ..test_limits()
    };
    let client: D = limited(&harness, limits);

    // A body of exactly the cap is read whole: it then fails as not a token response.
    harness
        .emulator
        .inject(Route::Token, Fault::HugeBody(CAP as usize));
    let error = client
        .access_token()
        .await
        .expect_err("not a token response");
    assert_eq!(error.kind(), ErrorKind::UnexpectedResponse, "{error}");

    client.login(harness.credentials());
    harness
        .emulator
        .inject(Route::Token, Fault::HugeBody(CAP as usize + 1));
    assert_transport(client.access_token().await, "BodyTooLarge");
}

async fn api_body_cap_is_exact<D: Driver>() {
    let harness = Harness::start();
    let limits = Limits {
        max_api_response_bytes: CAP,
        ..test_limits()
    };
    let client: D = limited(&harness, limits);
    client
        .access_token()
        .await
        .expect("the login is under the token cap");

    harness
        .emulator
        .inject(Route::Api, Fault::HugeBody(CAP as usize));
    let response = client
        .send(harness.api_request())
        .await
        .expect("a body of exactly the cap is read");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body().len() as u64, CAP);

    harness
        .emulator
        .inject(Route::Api, Fault::HugeBody(CAP as usize + 1));
    assert_transport(client.send(harness.api_request()).await, "BodyTooLarge");
}

macro_rules! limit_tests {
    ($($scenario:ident),* $(,)?) => {
        #[cfg(feature = "ureq")]
        mod blocking {
            use crate::support::transport::blocking_driver::Blocking;
            use crate::support::transport::block_on;
            $(
                #[test]
                fn $scenario() {
                    block_on(super::$scenario::<Blocking>());
                }
            )*
        }

        #[cfg(feature = "reqwest")]
        mod nonblocking {
            use crate::support::transport::async_driver::Async;
            $(
                #[tokio::test(flavor = "multi_thread")]
                async fn $scenario() {
                    super::$scenario::<Async>().await;
                }
            )*
        }
    };
}

limit_tests! {
    request_timeout_fires_on_the_token_request,
    request_timeout_fires_on_an_api_send,
    connect_timeout_fires_on_the_token_request,
    connect_timeout_fires_on_an_api_send,
    token_body_cap_is_exact,
    api_body_cap_is_exact,
}

/// Timeouts set through an HTTP client's own escape hatch give way to the request's: a slow
/// answer (the API route delayed) and a hanging connect, each with the other limit long.
async fn escape_hatch_timeouts_give_way<F, Fut>(execute: F)
where
    F: Fn(Request<Vec<u8>>, RequestLimits) -> Fut,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, TransportError>>,
{
    let harness = Harness::start();
    harness.emulator.inject(Route::Api, Fault::Delay(SLOW));
    let slow = harness.api_request();
    let limits = Limits {
        request_timeout: SHORT,
        ..test_limits()
    };
    let outcome = execute(slow, limits.api_request());
    assert_fires_soon(async { Ok(outcome.await?) }, "Timeout").await;

    let stalled = Stalled::new();
    let hanging = Request::get(stalled.url("/api/user"))
        .body(Vec::new())
        .expect("a valid request");
    let outcome = execute(hanging, connect_limits().api_request());
    assert_fires_soon(async { Ok(outcome.await?) }, "Timeout").await;
}

#[cfg(feature = "ureq")]
#[test]
fn ureq_config_timeouts_give_way_to_the_requests() {
    use keliweb_oauth::blocking::{HttpClient, UreqClient};

    let long = Some(Duration::from_secs(60));
    let http = UreqClient::with_config(|config| config.timeout_global(long).timeout_connect(long));
    // Lazy, so the call runs (and is timed) inside the check.
    let execute = |request, limits| {
        let http = &http;
        async move { http.execute(request, limits) }
    };
    crate::support::transport::block_on(escape_hatch_timeouts_give_way(execute));
}

#[cfg(feature = "reqwest")]
#[tokio::test(flavor = "multi_thread")]
async fn reqwest_builder_timeouts_give_way_to_the_requests() {
    use keliweb_oauth::nonblocking::{AsyncHttpClient, ReqwestClient};

    let long = Duration::from_secs(60);
    let http =
        ReqwestClient::with_builder(move |builder| builder.timeout(long).connect_timeout(long));
    let execute = |request, limits| http.execute(request, limits);
    escape_hatch_timeouts_give_way(execute).await;
}

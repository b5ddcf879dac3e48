//! 5. End to end: an authorized `GET /api/user` to the emulator on loopback through the
//!    crate's clients (`send`), against the raw HTTP client sending a fixed set of the same
//!    headers to the same server, in the same run: ureq (blocking) and reqwest (async).

// The clock ban in clippy.toml guards the sans-IO core; this bench times the loops it runs.
#![allow(clippy::disallowed_methods)]

mod common;

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use http::header::{ACCEPT, AUTHORIZATION, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::client::{Limits, RequestLimits};
use keliweb_oauth::{
    Config, blocking,
    error::{TransportError, TransportErrorKind},
    nonblocking,
};

#[global_allocator]
static ALLOCATOR: common::CountingAllocator = common::CountingAllocator;

/// What the crate puts on an API request, fixed once for the raw clients.
fn fixed_headers(bearer: &HeaderValue, user_agent: &HeaderValue) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, bearer.clone());
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(
        HeaderName::from_static("x-requested-with"),
        HeaderValue::from_static("XMLHttpRequest"),
    );
    headers.insert(USER_AGENT, user_agent.clone());
    headers
}

/// A fresh emulator, a config for it, and what the raw clients need.
fn setup() -> (Emulator, Config, HeaderValue, String, Limits) {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator starts");
    let config = common::emulator_config(&emulator);
    let user_agent = config.user_agent().clone();
    let url = emulator.api_url();
    (emulator, config, user_agent, url, Limits::default())
}

/// ureq with its defaults (no timeouts) behind the crate's `HttpClient` trait, to measure the
/// crate's own overhead apart from the lookup thread ureq starts for every request once a
/// timeout is set (`UreqClient` always sets one).
struct NoTimeoutUreq(ureq::Agent);

impl blocking::HttpClient for NoTimeoutUreq {
    fn execute(
        &self,
        request: Request<Vec<u8>>,
        limits: RequestLimits,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let other =
            |error: ureq::Error| TransportError::new(TransportErrorKind::Other, error.to_string());
        let (parts, mut body) = self.0.run(request).map_err(other)?.into_parts();
        let bytes = body
            .with_config()
            .limit(limits.max_body_bytes)
            .read_to_vec()
            .map_err(other)?;
        Ok(http::Response::from_parts(parts, bytes))
    }
}

fn no_timeout_agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .build(),
    )
}

fn reqwest_pair(c: &mut Criterion) {
    let (_emulator, config, user_agent, url, limits) = setup();
    let mut group = c.benchmark_group("end_to_end");
    // reqwest: the async client against a raw reqwest client with the same settings, both on a
    // current-thread runtime driven by the bench thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let http = nonblocking::ReqwestClient::default();
    let client = nonblocking::Client::new(config, http);
    let raw = {
        let _entered = runtime.enter();
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.request_timeout)
            .build()
            .expect("a reqwest client")
    };
    let bearer = runtime
        .block_on(client.authorization())
        .expect("login works")
        .expose_header_value()
        .clone();
    let headers = fixed_headers(&bearer, &user_agent);
    let raw_reqwest = || async {
        let response = raw
            .get(&url)
            .headers(headers.clone())
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("a body").to_vec()
    };
    let keliweb_reqwest = || async {
        let request = Request::get(&url).body(Vec::new()).expect("a request");
        let response = client.send(request).await.expect("a response");
        assert_eq!(response.status(), 200);
        response.into_body()
    };
    assert_eq!(
        runtime.block_on(raw_reqwest()),
        runtime.block_on(keliweb_reqwest()),
        "both get the same answer"
    );
    group.bench_function("reqwest/raw", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let began = Instant::now();
                for _ in 0..iters {
                    black_box(raw_reqwest().await);
                }
                began.elapsed()
            })
        });
    });
    group.bench_function("reqwest/keliweb_send", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let began = Instant::now();
                for _ in 0..iters {
                    black_box(keliweb_reqwest().await);
                }
                began.elapsed()
            })
        });
    });
    group.finish();
    runtime.block_on(async {
        let calls = 1000;
        for (id, keliweb) in [
            ("end_to_end/reqwest/raw", false),
            ("end_to_end/reqwest/keliweb_send", true),
        ] {
            let before = common::allocations();
            for _ in 0..calls {
                if keliweb {
                    black_box(keliweb_reqwest().await);
                } else {
                    black_box(raw_reqwest().await);
                }
            }
            let after = common::allocations();
            common::print_allocations(
                id,
                (after.0 - before.0) as f64 / f64::from(calls),
                (after.1 - before.1) as f64 / f64::from(calls),
            );
        }
    });
}

fn ureq_pair(c: &mut Criterion) {
    let (_emulator, config, user_agent, url, limits) = setup();
    let mut group = c.benchmark_group("end_to_end");
    // ureq: the blocking client against a raw agent with the same settings.
    let client = blocking::Client::new(config.clone(), blocking::UreqClient::default());
    let bearer = client
        .authorization()
        .expect("login works")
        .expose_header_value()
        .clone();
    let headers = fixed_headers(&bearer, &user_agent);
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .timeout_connect(Some(limits.connect_timeout))
            .timeout_global(Some(limits.request_timeout))
            .build(),
    );
    let raw_ureq = || {
        let mut request = Request::get(&url).body(Vec::new()).expect("a request");
        *request.headers_mut() = headers.clone();
        let response = agent.run(request).expect("a response");
        assert_eq!(response.status(), 200);
        let (_, mut body) = response.into_parts();
        body.with_config()
            .limit(limits.max_api_response_bytes)
            .read_to_vec()
            .expect("a body")
    };
    let keliweb_ureq = || {
        let request = Request::get(&url).body(Vec::new()).expect("a request");
        let response = client.send(request).expect("a response");
        assert_eq!(response.status(), 200);
        response.into_body()
    };
    // For context: ureq's defaults (no timeouts). With any timeout that covers name resolution,
    // ureq 3 resolves on a new thread for every request, IP literal and pooled connection
    // included; the two rows above both pay for it, this one does not.
    let default_agent = no_timeout_agent();
    let raw_ureq_no_timeouts = || {
        let mut request = Request::get(&url).body(Vec::new()).expect("a request");
        *request.headers_mut() = headers.clone();
        let response = default_agent.run(request).expect("a response");
        let (_, mut body) = response.into_parts();
        body.read_to_vec().expect("a body")
    };
    assert_eq!(raw_ureq(), keliweb_ureq(), "both get the same answer");
    assert_eq!(
        raw_ureq(),
        raw_ureq_no_timeouts(),
        "both get the same answer"
    );
    group.bench_function("ureq/raw", |b| b.iter(|| black_box(raw_ureq())));
    group.bench_function("ureq/keliweb_send", |b| {
        b.iter(|| black_box(keliweb_ureq()))
    });
    group.bench_function("ureq/raw_no_timeouts", |b| {
        b.iter(|| black_box(raw_ureq_no_timeouts()));
    });
    common::report_allocations("end_to_end/ureq/raw", 1000, || drop(black_box(raw_ureq())));
    common::report_allocations("end_to_end/ureq/keliweb_send", 1000, || {
        drop(black_box(keliweb_ureq()));
    });

    // The crate's overhead over a ureq agent without timeouts (same agent settings both sides).
    let plain_client = blocking::Client::new(config, NoTimeoutUreq(no_timeout_agent()));
    let keliweb_no_timeouts = || {
        let request = Request::get(&url).body(Vec::new()).expect("a request");
        let response = plain_client.send(request).expect("a response");
        assert_eq!(response.status(), 200);
        response.into_body()
    };
    let _ = keliweb_no_timeouts(); // logs in
    group.bench_function("ureq/keliweb_send_no_timeouts", |b| {
        b.iter(|| black_box(keliweb_no_timeouts()));
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = reqwest_pair, ureq_pair
}
criterion_main!(benches);

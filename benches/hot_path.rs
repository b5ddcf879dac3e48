//! 1. The hot path: authorizing an API request while the token is valid, against a bare
//!    `HeaderMap` insert of a prebuilt `HeaderValue` measured in the same run, with heap
//!    allocations per call.

mod common;

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::header::{ACCEPT, AUTHORIZATION, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use keliweb_oauth::blocking::Client;
use keliweb_oauth::client::{Clock, SystemClock};
use keliweb_oauth::{
    UnixTime,
    sans_io::{Action, Session},
};

#[global_allocator]
static ALLOCATOR: common::CountingAllocator = common::CountingAllocator;

const CALLS: u64 = 100_000;

/// A session holding a valid token at `now` (logged in with a canned answer).
fn logged_in_session(now: UnixTime) -> Session {
    let mut session = Session::new(common::keliweb_config());
    let Action::Send(login) = session.poll(now) else {
        panic!("expected a login request")
    };
    let response = common::canned_response(200, common::success_body(1));
    session
        .handle_response(login.id(), now, &response)
        .expect("the canned login succeeds");
    session
}

/// The baseline value: built like the crate builds its own (from a `String`, sensitive), so the
/// clone costs the same reference-count update.
fn prebuilt_bearer() -> HeaderValue {
    let mut value = HeaderValue::try_from(format!("Bearer {}", common::access_token(1)))
        .expect("a valid header value");
    value.set_sensitive(true);
    value
}

/// A request as a caller reuses it: it already carries `Authorization` and Keliweb's defaults.
fn warm_request() -> Request<()> {
    let mut request = Request::get("https://fatture.keliweb.it/api/invoices")
        .body(())
        .expect("a valid request");
    let headers = request.headers_mut();
    headers.insert(AUTHORIZATION, prebuilt_bearer());
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert(
        HeaderName::from_static("x-requested-with"),
        HeaderValue::from_static("XMLHttpRequest"),
    );
    headers.insert(USER_AGENT, HeaderValue::from_static("keliweb-oauth/0.1.0"));
    request
}

/// A request with no headers yet, its map sized for them, so neither side grows a map.
fn bare_request() -> Request<()> {
    let mut request = Request::get("https://fatture.keliweb.it/api/invoices")
        .body(())
        .expect("a valid request");
    *request.headers_mut() = HeaderMap::with_capacity(8);
    request
}

/// `HOT_PATH_PROFILE=warm|bare` runs only `Authorization::apply`, 1,000,000 times, for a
/// profiler: `HOT_PATH_PROFILE=warm valgrind --tool=callgrind target/release/deps/hot_path-*`.
fn profile(case: &str, now: UnixTime, authorization: &keliweb_oauth::sans_io::Authorization) {
    const RUNS: usize = 1_000_000;
    if case == "bare" {
        let mut requests: Vec<Request<()>> = (0..RUNS).map(|_| bare_request()).collect();
        for request in &mut requests {
            let _ = black_box(authorization.apply(now, request));
        }
    } else {
        let mut request = warm_request();
        for _ in 0..RUNS {
            let _ = black_box(authorization.apply(black_box(now), &mut request));
        }
    }
}

fn hot_path(c: &mut Criterion) {
    let now = SystemClock.now();
    let session = logged_in_session(now);
    let authorization = session.authorization().expect("a token is held").clone();
    // The benchmarks must time a success, not a refusal (of the origin, say).
    authorization
        .apply(now, &mut warm_request())
        .expect("the benchmark's request is one the token may go to");
    if let Ok(case) = std::env::var("HOT_PATH_PROFILE") {
        profile(&case, now, &authorization);
        return;
    }
    let bearer = prebuilt_bearer();

    let client = Client::builder(
        common::keliweb_config(),
        common::Canned(common::canned_response(200, common::success_body(1))),
    )
    .build();
    let _ = client.authorization().expect("the canned login succeeds");

    let mut group = c.benchmark_group("hot_path");

    // Steady state: the request already carries every header.
    let mut request = warm_request();
    group.bench_function("warm/baseline_header_insert", |b| {
        b.iter(|| {
            black_box(
                black_box(&mut request)
                    .headers_mut()
                    .insert(AUTHORIZATION, black_box(&bearer).clone()),
            )
        });
    });
    group.bench_function("warm/authorization_apply", |b| {
        b.iter(|| black_box(&authorization).apply(black_box(now), black_box(&mut request)));
    });
    group.bench_function("warm/session_authorize", |b| {
        b.iter(|| black_box(&session).authorize(black_box(now), black_box(&mut request)));
    });
    group.bench_function("warm/blocking_client_authorize", |b| {
        b.iter(|| black_box(&client).authorize(black_box(&mut request)));
    });
    group.bench_function("warm/blocking_client_access_token", |b| {
        b.iter(|| black_box(&client).authorization());
    });

    // A fresh request without headers (map pre-sized; building it is not timed).
    group.bench_function("bare/baseline_header_insert", |b| {
        b.iter_batched_ref(
            bare_request,
            |request| {
                request
                    .headers_mut()
                    .insert(AUTHORIZATION, black_box(&bearer).clone())
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("bare/baseline_four_inserts", |b| {
        b.iter_batched_ref(
            bare_request,
            |request| {
                let headers = request.headers_mut();
                headers.insert(AUTHORIZATION, black_box(&bearer).clone());
                headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
                headers.insert(
                    HeaderName::from_static("x-requested-with"),
                    HeaderValue::from_static("XMLHttpRequest"),
                );
                headers.insert(USER_AGENT, black_box(&bearer).clone());
            },
            BatchSize::SmallInput,
        );
    });
    group.bench_function("bare/authorization_apply", |b| {
        b.iter_batched_ref(
            bare_request,
            |request| black_box(&authorization).apply(black_box(now), request),
            BatchSize::SmallInput,
        );
    });
    group.finish();

    // Allocations per call, same operations.
    let mut request = warm_request();
    common::report_allocations("hot_path/warm/baseline_header_insert", CALLS, || {
        black_box(
            request
                .headers_mut()
                .insert(AUTHORIZATION, black_box(&bearer).clone()),
        );
    });
    common::report_allocations("hot_path/warm/authorization_apply", CALLS, || {
        let _ = black_box(authorization.apply(now, &mut request));
    });
    common::report_allocations("hot_path/warm/session_authorize", CALLS, || {
        let _ = black_box(session.authorize(now, &mut request));
    });
    common::report_allocations("hot_path/warm/blocking_client_authorize", CALLS, || {
        let _ = black_box(client.authorize(&mut request));
    });
    common::report_allocations("hot_path/warm/blocking_client_access_token", CALLS, || {
        drop(black_box(client.authorization()));
    });
    let bare_allocations = |id: &str, apply: &dyn Fn(&mut Request<()>)| {
        let mut requests: Vec<Request<()>> = (0..10_000).map(|_| bare_request()).collect();
        let before = common::allocations();
        for request in &mut requests {
            apply(request);
        }
        let after = common::allocations();
        common::print_allocations(
            id,
            (after.0 - before.0) as f64 / requests.len() as f64,
            (after.1 - before.1) as f64 / requests.len() as f64,
        );
    };
    bare_allocations("hot_path/bare/baseline_header_insert", &|request| {
        black_box(request.headers_mut().insert(AUTHORIZATION, bearer.clone()));
    });
    bare_allocations("hot_path/bare/authorization_apply", &|request| {
        let _ = black_box(authorization.apply(now, request));
    });
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = hot_path
}
criterion_main!(benches);

//! 6. Refresh ahead: the latency of `send()` across token refreshes, with refresh ahead (the
//!    default) and without (`refresh_ahead(Duration::ZERO)`: the token is refreshed when a caller
//!    needs it), against the same calls with no refresh at all, in the same run.
//!
//! The emulator answers every token request 50 ms late (a distant or busy server); API calls
//! are answered at once. Four threads send `GET /api/user` for `CALLS` calls each; whenever a
//! new token is in, the first thread moves the client's clock (a `ManualClock`) to its refresh
//! point (`Authorization::refresh_at`: 5 minutes before the leeway by default, the leeway itself
//! without refresh ahead). Printed: p50, p99 and the slowest call, and how many calls took at
//! least the token endpoint's delay, i.e. waited for a token request.
//!
//! `cargo bench --bench refresh_ahead --all-features`

// The clock ban in clippy.toml guards the sans-IO core; this bench times the calls it makes.
#![allow(clippy::disallowed_methods)]

mod common;

use std::thread;
use std::time::{Duration, Instant};

use keliweb_emulator::{Emulator, EmulatorConfig, Fault, Route};
use keliweb_oauth::blocking::{Client, UreqClient};
use keliweb_oauth::client::ManualClock;
use keliweb_oauth::{Config, UnixTime};

const THREADS: usize = 4;
const CALLS: usize = 600;
/// How many refreshes each run goes through.
const REFRESHES: usize = 5;
/// How often the first thread looks for a new token to take to its refresh point.
const CHECK_EVERY: usize = 25;
const TOKEN_DELAY: Duration = Duration::from_millis(50);
/// The client's clock start.
const T0: UnixTime = UnixTime::from_secs(1_800_000_000);

/// One run: every call's latency, and how many token requests the server saw.
fn run(refresh_ahead: Option<Duration>, move_clock: bool) -> (Vec<Duration>, u64) {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator starts");
    for _ in 0..64 {
        emulator.inject(Route::Token, Fault::Delay(TOKEN_DELAY));
    }
    let defaults = EmulatorConfig::default();
    let mut builder = Config::builder(
        emulator.token_url(),
        &defaults.client_id,
        defaults.client_secret.as_str(),
    )
    .credentials(&defaults.username, defaults.password.as_str());
    if let Some(window) = refresh_ahead {
        builder = builder.refresh_ahead(window);
    }
    let config = builder.build().expect("a valid config");
    let clock = ManualClock::new(T0);
    let client = Client::builder(config, UreqClient::default())
        .clock(clock.clone())
        .build();
    client.authorization().expect("the first login");
    let api = emulator.api_url();
    let latencies = thread::scope(|scope| {
        let callers: Vec<_> = (0..THREADS)
            .map(|caller| {
                let (client, clock, api) = (&client, &clock, &api);
                scope.spawn(move || {
                    let mut latencies = Vec::with_capacity(CALLS);
                    let (mut moved_for, mut moves) = (None, 0);
                    for call in 0..CALLS {
                        if move_clock && caller == 0 && call % CHECK_EVERY == 0 {
                            // Each new token is taken to its refresh point once.
                            let token = client.authorization().expect("a token");
                            if moved_for != Some(token.token_id()) && moves < REFRESHES {
                                moves += 1;
                                moved_for = Some(token.token_id());
                                clock.set(token.refresh_at());
                            }
                        }
                        let request = http::Request::get(api.as_str())
                            .body(Vec::new())
                            .expect("a valid request");
                        let started = Instant::now();
                        let response = client.send(request).expect("the call works");
                        latencies.push(started.elapsed());
                        assert_eq!(response.status(), 200);
                    }
                    latencies
                })
            })
            .collect();
        callers
            .into_iter()
            .flat_map(|caller| caller.join().expect("a caller panicked"))
            .collect::<Vec<_>>()
    });
    let token_requests = emulator.counters().token_requests;
    (latencies, token_requests)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

fn report(
    name: &str,
    (mut latencies, token_requests): (Vec<Duration>, u64),
    baseline_p99: Duration,
) -> Duration {
    latencies.sort();
    let p50 = percentile(&latencies, 0.50);
    let p99 = percentile(&latencies, 0.99);
    let max = latencies[latencies.len() - 1];
    let waited = latencies
        .iter()
        .filter(|latency| **latency >= TOKEN_DELAY)
        .count();
    // For benches/report.py.
    println!(
        "AHEAD\t{name}\t{}\t{token_requests}\t{}\t{}\t{}\t{waited}",
        latencies.len(),
        p50.as_nanos(),
        p99.as_nanos(),
        max.as_nanos()
    );
    println!(
        "{name:<28} {:>5} calls  {:>3} token requests  p50 {:>8.3} ms  p99 {:>8.3} ms ({:>5.2}x)  max {:>8.3} ms  waited for a token: {waited}",
        latencies.len(),
        token_requests,
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        p99.as_secs_f64() / baseline_p99.as_secs_f64(),
        max.as_secs_f64() * 1e3,
    );
    p99
}

fn main() {
    // `cargo bench` passes `--bench`; a test run (`cargo test --benches`) only checks it builds.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    common::print_machine_load();
    let steady = run(None, false);
    let (mut sorted, _) = steady.clone();
    sorted.sort();
    let baseline = percentile(&sorted, 0.99);
    report("no refresh (baseline)", steady, baseline);
    report("refresh ahead (default)", run(None, true), baseline);
    report(
        "refresh when needed",
        run(Some(Duration::ZERO), true),
        baseline,
    );
}

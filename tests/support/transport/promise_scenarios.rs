//! Scenarios for what a server other than the emulator's usual self does: a refresh token
//! another holder already used, an API that refuses every token, a URL the token must not go
//! to. Each is run by both clients (see `every_scenario!`).
#![allow(
    clippy::disallowed_methods,
    reason = "the crowd scenario runs for real seconds and moves the client clock with them"
)]

use std::thread;
use std::time::{Duration, Instant};

use http::StatusCode;
use keliweb_emulator::{Emulator, EmulatorConfig, Fault, PassportVersion, Route};
use keliweb_oauth::client::{ManualClock, Unauthorized};
use keliweb_oauth::{ErrorKind, TokenSet};

use super::{Delta, Driver, Harness, Token, get, parts};

/// The access token a caller was handed.
fn access(token: &Token) -> String {
    token
        .header
        .to_str()
        .expect("a printable header")
        .trim_start_matches("Bearer ")
        .to_owned()
}

async fn logged_in<D: Driver>(client: &D) -> (Token, TokenSet) {
    let token = client
        .access_token()
        .await
        .expect("the password login works");
    (token, client.tokens().expect("a set after login"))
}

pub async fn force_refresh_with_a_dead_refresh_token_logs_in_once_v8<D: Driver>() {
    force_refresh_with_a_dead_refresh_token_logs_in_once::<D>(PassportVersion::V8).await;
}

pub async fn force_refresh_with_a_dead_refresh_token_logs_in_once_v9<D: Driver>() {
    force_refresh_with_a_dead_refresh_token_logs_in_once::<D>(PassportVersion::V9).await;
}

/// Another holder of the set (a second process) refreshed first: the client's refresh token and
/// access token are dead. `force_refresh` must log in once and return a token that works,
/// never the dead one.
async fn force_refresh_with_a_dead_refresh_token_logs_in_once<D: Driver>(version: PassportVersion) {
    let harness = Harness::with(EmulatorConfig {
        passport: version,
        ..EmulatorConfig::default()
    });
    let client: D = harness.client();
    let (stale, set) = logged_in(&client).await;
    let (status, _) = harness.raw_refresh(&parts(&set).1.expect("a refresh token"));
    assert_eq!(status, 200, "the other holder's refresh");
    assert_eq!(harness.raw_api_status(&access(&stale)), 401);
    let before = harness.counters();

    let fresh = client
        .force_refresh()
        .await
        .expect("a new token through one password login");
    assert_ne!(fresh, stale, "{version:?}: the dead token came back");
    assert_eq!(harness.raw_api_status(&access(&fresh)), 200);
    assert_eq!(
        Delta::between(&before, &harness.counters()),
        Delta::tokens(2, 1, 0).with_api_calls(1),
        "{version:?}: one refused refresh, one password login (and the check of the token)"
    );
}

/// While a retry pause blocks any token request, `force_refresh` says so instead of handing
/// back the old token; other callers keep the old token, which still works.
pub async fn force_refresh_during_a_pause_returns_its_error<D: Driver>() {
    let harness = Harness::start();
    let client: D = harness.client();
    let (current, _) = logged_in(&client).await;
    let before = harness.counters();
    harness.emulator.inject(Route::Token, Fault::Status(503));

    let failed = client.force_refresh().await.expect_err("the server failed");
    assert_eq!(failed.kind(), ErrorKind::ServerError);
    let paused = client
        .force_refresh()
        .await
        .expect_err("no request during the pause, and not the old token");
    assert_eq!(paused.kind(), ErrorKind::ServerError);
    assert_eq!(harness.counters().token_requests, before.token_requests + 1);
    assert_eq!(
        client.access_token().await.expect("the old token works"),
        current
    );

    // After the pause a forced refresh goes out again.
    harness
        .clock
        .advance(keliweb_oauth::Config::DEFAULT_MIN_RETRY_DELAY);
    let fresh = client.force_refresh().await.expect("a refresh");
    assert_ne!(fresh, current);
}

/// A caller that sends its own requests reports a `401` with the token id `authorize` gave it;
/// the next caller gets a new token.
pub async fn a_reported_401_gives_the_next_caller_a_new_token<D: Driver>() {
    let harness = Harness::start();
    let client: D = harness.client();
    let mut request = harness.api_request();
    let token_id = client.authorize(&mut request).await.expect("authorized");
    let refused = client.access_token().await.expect("the same token");
    harness.emulator.revoke_all_tokens();
    let before = harness.counters();

    assert_eq!(
        client.report_unauthorized(token_id),
        Unauthorized::RetryWithNewToken
    );
    let fresh = client.access_token().await.expect("a new token");
    assert_ne!(fresh, refused);
    assert_eq!(harness.raw_api_status(&access(&fresh)), 200);
    assert_eq!(
        Delta::between(&before, &harness.counters()),
        Delta::tokens(2, 1, 0).with_api_calls(1),
        "the refresh token was revoked too: one refused refresh, one login"
    );
}

/// An API that answers `401` to every token (a token of the hosting API used on the invoicing
/// host, a disabled account): 8 callers for 3 s cost at most one token request per retry
/// delay (1 s), and every caller gets the `401`.
pub async fn an_api_refusing_every_token_costs_one_token_request_per_retry_delay<D: Driver>() {
    const CALLERS: usize = 8;
    const RUN: Duration = Duration::from_secs(3);
    let harness = Harness::start();
    let client: D = harness.client();
    logged_in(&client).await;
    harness.emulator.refuse_every_api_token(true);
    let before = harness.counters();

    let deadline = Instant::now() + RUN;
    let ticker = follow_real_time(harness.clock.clone(), deadline);
    let outcomes = client
        .send_until(CALLERS, &harness.emulator.api_url(), deadline)
        .await;
    ticker.join().expect("the clock ticker");

    let delta = Delta::between(&before, &harness.counters());
    assert!(!outcomes.is_empty());
    assert!(
        outcomes.iter().all(|outcome| *outcome == Ok(401)),
        "every caller gets the 401: {:?}",
        outcomes.iter().find(|outcome| **outcome != Ok(401))
    );
    assert!(
        (1..=4).contains(&delta.token_requests),
        "{} token requests for {} refused calls in {RUN:?}",
        delta.token_requests,
        outcomes.len()
    );
}

/// Moves `clock` forward with the real time until `deadline`, so the client's retry delays
/// pass as they would with the system clock.
fn follow_real_time(clock: ManualClock, deadline: Instant) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut last = Instant::now();
        while last < deadline {
            thread::sleep(Duration::from_millis(10));
            let now = Instant::now();
            clock.advance(now - last);
            last = now;
        }
    })
}

/// The token goes only over https, or plain http to loopback, to the token URL's host and port
/// and the origins added with `api_origin`: anything else is refused before any IO.
pub async fn the_token_goes_only_to_allowed_origins<D: Driver>() {
    let harness = Harness::start();
    let elsewhere = Emulator::start(EmulatorConfig::default()).expect("a second server");
    let client: D = harness.client();
    let refused = [
        "http://example.com/api/user".to_owned(),
        "https://evil.example.net/api/user".to_owned(),
        // The same loopback host on another port is another origin.
        elsewhere.api_url(),
        // Plain http to a host that is not loopback, even one of Keliweb's.
        "http://fatture.keliweb.it/api/invoices".to_owned(),
    ];
    for url in &refused {
        let error = client.send(get(url)).await.expect_err("refused");
        assert_eq!(error.kind(), ErrorKind::UntrustedOrigin, "{url}: {error}");
        let mut request = get(url);
        let error = client.authorize(&mut request).await.expect_err("refused");
        assert_eq!(error.kind(), ErrorKind::UntrustedOrigin, "{url}");
        assert!(request.headers().get(http::header::AUTHORIZATION).is_none());
    }
    // Before any IO: not even the login the token would have needed.
    assert_eq!(harness.counters().token_requests, 0);
    assert_eq!(elsewhere.counters().api_calls, 0);

    // Allowed once added.
    let config = harness.config().api_origin(elsewhere.base_url());
    let trusting: D = harness.setup(config).build();
    let response = trusting
        .send(get(&elsewhere.api_url()))
        .await
        .expect("sent");
    // The other server does not know the token, but it was sent there.
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(elsewhere.counters().api_calls >= 1);
    // The token URL's own origin works as before.
    let response = client.send(harness.api_request()).await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
}

/// `login` for another username: the old account's token is not handed out any more, even
/// though it has not expired; the next token comes from the new account's login.
pub async fn login_as_another_account_withdraws_the_token_at_once<D: Driver>() {
    let harness = Harness::start();
    let client: D = harness.client();
    let (alice, _) = logged_in(&client).await;
    client.login(keliweb_oauth::Credentials::new(
        "bob@example.com",
        "bob-password",
    ));
    // The emulator knows only the first account: bob's login is refused, and alice's token is
    // not handed out instead.
    let refused = client
        .access_token()
        .await
        .expect_err("bob's login is refused");
    assert_eq!(refused.kind(), ErrorKind::InvalidCredentials);
    let mut request = harness.api_request();
    assert!(client.authorize(&mut request).await.is_err());
    assert!(request.headers().get(http::header::AUTHORIZATION).is_none());
    // Back to the first account: a new login, not alice's old token.
    client.login(harness.credentials());
    let again = client.access_token().await.expect("a login");
    assert_ne!(again, alice);
}

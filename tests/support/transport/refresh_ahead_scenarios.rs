//! Refresh ahead: once a token reaches its refresh-ahead point, one caller starts the refresh in
//! the client's background and every caller keeps the still-valid token. Run by both clients
//! (see `every_scenario!`).
#![allow(
    clippy::disallowed_methods,
    reason = "the background refresh runs in real time; the scenario waits for it to land"
)]

use std::time::{Duration, Instant};

use keliweb_emulator::{Fault, Route};

use keliweb_oauth::{Config, TokenSet};

use super::{Delta, Driver, Event, Harness, LEEWAY, Token, parts};

/// The default refresh-ahead window.
const AHEAD: Duration = Duration::from_secs(300);

/// Waits (real time, at most 10 s, yielding to the runtime the background refresh may run
/// on) until `done` holds.
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what} never happened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Logs `client` in, queues `fault` for the next token request, and moves the clock to the
/// token's refresh-ahead point: the token, and its set.
async fn logged_in_at_the_refresh_ahead_point<D: Driver>(
    harness: &Harness,
    client: &D,
    fault: Fault,
) -> (Token, TokenSet) {
    let token = client
        .access_token()
        .await
        .expect("the password login works");
    let set = client.tokens().expect("a set after login");
    harness.emulator.inject(Route::Token, fault);
    let usable_until = set.access_token_expires_at().saturating_sub(LEEWAY);
    harness.clock.set(usable_until.saturating_sub(AHEAD));
    (token, set)
}

/// At the refresh-ahead point, callers get the current token at once while one refresh runs
/// (the server takes a second to answer it); the next token is in before the first one is
/// unusable, and was stored before it was handed out.
pub async fn refresh_ahead_keeps_callers_on_the_valid_token<D: Driver>() {
    let harness = Harness::start();
    let client: D = harness.client();
    let delayed = Fault::Delay(Duration::from_secs(1));
    let (first, set) = logged_in_at_the_refresh_ahead_point(&harness, &client, delayed).await;
    let before = harness.counters();

    // The first caller starts the refresh; it, and everyone after it, keeps the valid token.
    for _ in 0..5 {
        let token = client.access_token().await.expect("the valid token");
        assert_eq!(token, first, "a caller waited for the refresh ahead");
    }
    wait_until("the refresh ahead landing", || {
        client.tokens().as_ref() != Some(&set)
    })
    .await;
    let next = client.tokens().expect("the new set");
    assert!(
        harness
            .log
            .events()
            .contains(&Event::Stored(Some(parts(&next)))),
        "the new set was stored"
    );
    let token = client.access_token().await.expect("the new token");
    assert_ne!(token, first);
    assert_eq!(
        Delta::between(&before, &harness.counters()),
        Delta::tokens(1, 0, 1),
        "one refresh, started once whatever the number of callers"
    );
}

/// A refresh ahead that fails leaves the valid token in use, and no caller sees the failure;
/// once the retry pause is over, the next caller starts it again, and it lands.
pub async fn a_failed_refresh_ahead_is_nobodys_error<D: Driver>() {
    let harness = Harness::start();
    let client: D = harness.client();
    let failing = Fault::Status(503);
    let (first, set) = logged_in_at_the_refresh_ahead_point(&harness, &client, failing).await;
    let before = harness.counters();
    let token = client.access_token().await.expect("the valid token");
    assert_eq!(token, first);
    // Wait until the failed request was answered, then ask again: still the valid token.
    wait_until("the refresh ahead being answered", || {
        harness.counters().token_requests > before.token_requests
    })
    .await;
    let token = client.access_token().await.expect("still the valid token");
    assert_eq!(token, first);
    assert_eq!(client.tokens().as_ref(), Some(&set), "nothing was lost");

    // The pause counts from when the client handled the failure, which the server's counter
    // does not tell: move the clock on one retry delay at a time (well inside the window)
    // until a caller has started the retry and it has landed.
    let deadline = Instant::now() + Duration::from_secs(10);
    for step in 0.. {
        assert!(
            step < 200 && Instant::now() < deadline,
            "the retried refresh ahead never landed"
        );
        harness.clock.advance(Config::DEFAULT_MIN_RETRY_DELAY);
        let token = client.access_token().await.expect("still the valid token");
        // Published with the set, under one lock: a new token shows in `tokens()` too.
        if client.tokens().as_ref() != Some(&set) {
            break;
        }
        assert_eq!(token, first, "the retry runs in the background too");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        Delta::between(&before, &harness.counters()),
        Delta::tokens(2, 0, 1),
        "the failed refresh, then one that worked"
    );
}

//! Every scenario, written once over [`Driver`]. Each one starts its own emulator on
//! 127.0.0.1 and checks what the client returned against what the emulator counted.

use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use http::{Method, StatusCode};
use keliweb_emulator::{Fault, PassportVersion, Route};
use keliweb_oauth::client::Limits;
use keliweb_oauth::{Config, ErrorKind, TokenSet, error::RetryAfter};

use super::{Delta, Driver, Event, HOUR, Harness, Token, parts, test_limits};
#[allow(
    unused_imports,
    reason = "every_scenario! names these through scenarios::, which not every test file uses"
)]
pub use super::{promise_scenarios::*, refresh_ahead_scenarios::*};

fn access_of(set: &TokenSet) -> String {
    parts(set).0
}

fn refresh_of(set: &TokenSet) -> String {
    parts(set).1.expect("the set holds a refresh token")
}

/// Logs in through `client` and returns the token set it got.
async fn logged_in<D: Driver>(client: &D) -> TokenSet {
    client
        .access_token()
        .await
        .expect("the password login works");
    client.tokens().expect("a token set after login")
}

async fn assert_api_ok<D: Driver>(harness: &Harness, client: &D) {
    let response = client
        .send(harness.api_request())
        .await
        .expect("the API call goes through");
    assert_eq!(response.status(), StatusCode::OK);
    let body = String::from_utf8_lossy(response.body());
    assert!(body.contains(&harness.emulator.config().username), "{body}");
}

// ---------------------------------------------------------------------------------------------
// 1. The lifecycle

pub async fn lifecycle_login_call_refresh_with_rotation<D: Driver>() {
    let harness = Harness::start();
    let client: D = harness.client();

    let first = client.access_token().await.expect("login");
    assert_eq!(harness.token_requests(), [("password".to_owned(), 200)]);
    let old = client.tokens().expect("tokens after login");
    assert!(first.is_for(&access_of(&old)));
    assert_api_ok(&harness, &client).await;

    harness.expire(&old);
    let second = client.access_token().await.expect("refresh");
    assert_ne!(second.id, first.id);
    let new = client.tokens().expect("tokens after refresh");
    assert!(second.is_for(&access_of(&new)));
    assert_ne!(
        refresh_of(&new),
        refresh_of(&old),
        "the refresh token rotated"
    );
    assert_eq!(
        harness.token_requests(),
        [
            ("password".to_owned(), 200),
            ("refresh_token".to_owned(), 200)
        ]
    );

    // Rotation killed the old pair at the server: its refresh token and its access token
    // (`docs/passport.md#rotation`).
    let (status, body) = harness.raw_refresh(&refresh_of(&old));
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_request"))
    );
    assert_eq!(harness.raw_api_status(&access_of(&old)), 401);
    assert_api_ok(&harness, &client).await;
    let counters = harness.counters();
    assert_eq!((counters.password_grants, counters.refresh_grants), (1, 1));
}

pub async fn api_401_refreshes_once_and_retries_once<D: Driver>() {
    let harness = Harness::start();
    let client: D = harness.client();
    let old = logged_in(&client).await;

    // The API refuses the token once: one refresh, one retry, and the caller sees the 200.
    harness.emulator.inject(Route::Api, Fault::EmptyStatus(401));
    let before = harness.counters();
    assert_api_ok(&harness, &client).await;
    let delta = Delta::between(&before, &harness.counters());
    assert_eq!(delta, Delta::tokens(1, 0, 1).with_api_calls(2));
    let new = client.tokens().expect("tokens after the refresh");
    assert_ne!(access_of(&new), access_of(&old));

    // (A token that replaced a refused one has its next 401 reported, not retried: let it
    // rotate normally first.)
    harness.expire(&new);
    client.access_token().await.expect("a normal refresh");

    // The server itself refuses a revoked token: its refresh token is dead too, so the retry
    // runs on a new password login.
    harness.emulator.revoke_all_tokens();
    let before = harness.counters();
    assert_api_ok(&harness, &client).await;
    let after = harness.counters();
    assert_eq!(
        Delta::between(&before, &after),
        Delta::tokens(2, 1, 0).with_api_calls(2)
    );
    assert_eq!(after.api_unauthorized - before.api_unauthorized, 1);
}

pub async fn api_401_for_the_fresh_token_is_returned_not_looped<D: Driver>() {
    let harness = Harness::start();
    let client: D = harness.client();
    logged_in(&client).await;

    harness.emulator.inject(Route::Api, Fault::EmptyStatus(401));
    harness.emulator.inject(Route::Api, Fault::EmptyStatus(401));
    let before = harness.counters();
    let response = client
        .send(harness.api_request())
        .await
        .expect("a 401 is a response, not an error");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let delta = Delta::between(&before, &harness.counters());
    assert_eq!(
        delta,
        Delta::tokens(1, 0, 1).with_api_calls(2),
        "one refresh, one retry"
    );

    // The fresh token is kept, and works once the API stops refusing it.
    let kept = client.tokens().expect("the fresh token is kept");
    assert_api_ok(&harness, &client).await;
    assert_eq!(client.tokens().as_ref(), Some(&kept));
    assert_eq!(harness.counters().token_requests, before.token_requests + 1);
}

#[derive(Clone, Copy, Debug)]
enum RevokeStyle {
    Rfc7009,
    BearerLogout,
}

async fn revoke_drops_tokens_everywhere<D: Driver>(style: RevokeStyle) {
    let harness = Harness::start();
    let config = match style {
        RevokeStyle::Rfc7009 => harness
            .config()
            .revoke_rfc7009(harness.emulator.revoke_url()),
        RevokeStyle::BearerLogout => harness
            .config()
            .revoke_bearer_logout(harness.emulator.logout_url(), Method::POST),
    };
    let client: D = harness.setup(config).build();
    let held = logged_in(&client).await;
    assert_api_ok(&harness, &client).await;

    client
        .revoke()
        .await
        .expect("the server accepts the revocation");
    assert_eq!(client.tokens(), None, "dropped locally");
    assert_eq!(
        harness.log.last_stored(),
        Some(None),
        "the store was told None"
    );
    let counters = harness.counters();
    match style {
        // One request for the refresh token, one for the access token.
        RevokeStyle::Rfc7009 => assert_eq!(counters.rfc7009_revocations, 2),
        RevokeStyle::BearerLogout => assert_eq!(counters.logouts, 1),
    }
    assert_eq!(harness.raw_api_status(&access_of(&held)), 401);
    assert_eq!(harness.raw_refresh(&refresh_of(&held)).0, 401);

    // No silent re-login: the credentials went with the tokens.
    let requests = harness.counters().token_requests;
    let error = client.access_token().await.expect_err("logged out");
    assert_eq!(error.kind(), ErrorKind::LoginRequired);
    assert_eq!(harness.counters().token_requests, requests);
    client.login(harness.credentials());
    let token = client.access_token().await.expect("login after logout");
    assert!(token.is_for(&access_of(&client.tokens().expect("new tokens"))));
    assert_eq!(harness.counters().password_grants, 2);
}

pub async fn revoke_rfc7009_drops_tokens_everywhere<D: Driver>() {
    revoke_drops_tokens_everywhere::<D>(RevokeStyle::Rfc7009).await;
}

pub async fn revoke_bearer_logout_drops_tokens_everywhere<D: Driver>() {
    revoke_drops_tokens_everywhere::<D>(RevokeStyle::BearerLogout).await;
}

// ---------------------------------------------------------------------------------------------
// 2. Restart from a stored set

/// Logs in with a first client and returns its token set as the JSON a program would store.
async fn stored_after_login<D: Driver>(harness: &Harness) -> String {
    let first: D = harness.client();
    let set = logged_in(&first).await;
    serde_json::to_string(&set).expect("a token set serializes")
}

pub async fn restart_from_stored_set_without_login<D: Driver>() {
    let harness = Harness::start();
    let stored = stored_after_login::<D>(&harness).await;
    let before = harness.counters();

    let restored: TokenSet = serde_json::from_str(&stored).expect("the stored set reads back");
    let client: D = harness
        .setup(harness.config())
        .tokens(restored.clone())
        .build();
    assert_api_ok(&harness, &client).await;
    let delta = Delta::between(&before, &harness.counters());
    assert_eq!(delta, Delta::tokens(0, 0, 0).with_api_calls(1));
    assert_eq!(
        harness.counters().password_grants,
        1,
        "only the first client logged in"
    );
    assert_eq!(client.tokens(), Some(restored));
}

pub async fn restart_from_expired_set_refreshes_once<D: Driver>() {
    let harness = Harness::start();
    let stored = stored_after_login::<D>(&harness).await;
    let restored: TokenSet = serde_json::from_str(&stored).expect("the stored set reads back");

    // An hour later on both sides: the server too refuses the stored access token now.
    harness
        .emulator
        .advance_clock(HOUR + Duration::from_secs(1));
    harness.clock.advance(HOUR + Duration::from_secs(1));
    assert_eq!(harness.raw_api_status(&access_of(&restored)), 401);

    let before = harness.counters();
    let client: D = harness
        .setup(harness.config())
        .tokens(restored.clone())
        .build();
    assert_api_ok(&harness, &client).await;
    let delta = Delta::between(&before, &harness.counters());
    assert_eq!(
        delta,
        Delta::tokens(1, 0, 1).with_api_calls(1),
        "one refresh, no login"
    );
    let new = client.tokens().expect("refreshed tokens");
    assert_ne!(refresh_of(&new), refresh_of(&restored));
}

// ---------------------------------------------------------------------------------------------
// 3. Faults on the token route

/// What a case does once the failure has been checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// Waits out the cooldown on the client clock; the next request retries the refresh.
    Retry(Duration),
    /// The session stopped (a refusal retrying cannot fix): `login()` resumes it.
    Login,
}

struct FaultCase {
    fault: Fault,
    kind: ErrorKind,
    /// The HTTP status the error reports (`None`: no response, a transport error).
    status: Option<u16>,
    /// Text the error's message must contain.
    says: &'static str,
    then: Then,
}

impl FaultCase {
    fn new(fault: Fault, kind: ErrorKind, status: Option<u16>, says: &'static str) -> Self {
        Self {
            fault,
            kind,
            status,
            says,
            then: Then::Retry(Config::DEFAULT_MIN_RETRY_DELAY),
        }
    }

    fn then(mut self, then: Then) -> Self {
        self.then = then;
        self
    }
}

/// The Delay case: a delay well past a short request timeout.
const SHORT_TIMEOUT: Duration = Duration::from_millis(400);
const LONG_DELAY: Duration = Duration::from_millis(1000);

fn fault_cases() -> Vec<FaultCase> {
    use ErrorKind::{InvalidRequest, RateLimited, ServerError, Transport, UnexpectedResponse};
    vec![
        FaultCase::new(Fault::Status(500), ServerError, Some(500), "server_error"),
        FaultCase::new(Fault::Status(502), ServerError, Some(502), "HTTP 502"),
        FaultCase::new(Fault::Status(503), ServerError, Some(503), "HTTP 503"),
        FaultCase::new(
            Fault::PlainTextStatus(500),
            ServerError,
            Some(500),
            "HTTP 500",
        ),
        FaultCase::new(
            Fault::PlainTextStatus(503),
            ServerError,
            Some(503),
            "HTTP 503",
        ),
        FaultCase::new(Fault::EmptyStatus(500), ServerError, Some(500), "HTTP 500"),
        FaultCase::new(Fault::EmptyStatus(503), ServerError, Some(503), "HTTP 503"),
        FaultCase::new(
            Fault::TooManyRequests {
                retry_after_secs: 3,
            },
            RateLimited,
            Some(429),
            "HTTP 429",
        )
        .then(Then::Retry(Duration::from_secs(3))),
        FaultCase::new(
            Fault::RedirectToTarget(302),
            UnexpectedResponse,
            Some(302),
            "HTTP 302",
        ),
        FaultCase::new(
            Fault::RedirectToTarget(303),
            UnexpectedResponse,
            Some(303),
            "HTTP 303",
        ),
        FaultCase::new(
            Fault::RedirectToTarget(307),
            UnexpectedResponse,
            Some(307),
            "HTTP 307",
        ),
        FaultCase::new(
            Fault::Html,
            UnexpectedResponse,
            Some(200),
            "not a token response",
        ),
        FaultCase::new(
            Fault::ErrorIn200,
            InvalidRequest,
            Some(200),
            "invalid_request",
        )
        .then(Then::Login),
        FaultCase::new(Fault::TruncatedBody, Transport, None, "transport"),
        FaultCase::new(Fault::ResetMidResponse, Transport, None, "transport"),
        FaultCase::new(Fault::HugeBody(200_000), Transport, None, "BodyTooLarge"),
        FaultCase::new(Fault::Delay(LONG_DELAY), Transport, None, "Timeout"),
    ]
}

pub async fn token_route_faults_are_typed_and_recoverable<D: Driver>() {
    for case in fault_cases() {
        check_fault::<D>(&case).await;
    }
}

async fn check_fault<D: Driver>(case: &FaultCase) {
    let fault = &case.fault;
    let harness = Harness::start();
    let held = logged_in::<D>(&harness.client()).await;
    let limits = match fault {
        Fault::Delay(_) => Limits {
            request_timeout: SHORT_TIMEOUT,
            ..test_limits()
        },
        _ => test_limits(),
    };
    let client: D = harness
        .setup(harness.config())
        .tokens(held.clone())
        .limits(limits)
        .build();
    harness.expire(&held);
    harness.emulator.inject(Route::Token, fault.clone());
    let before = harness.counters();

    let error = client.access_token().await.expect_err("the refresh fails");
    assert_eq!(error.kind(), case.kind, "{fault:?}: {error}");
    assert_eq!(
        error.status().map(|status| status.as_u16()),
        case.status,
        "{fault:?}"
    );
    assert!(error.to_string().contains(case.says), "{fault:?}: {error}");
    if let Fault::TooManyRequests { retry_after_secs } = fault {
        let delay = Duration::from_secs(*retry_after_secs);
        assert_eq!(error.retry_after(), Some(RetryAfter::Delay(delay)));
    }
    // It was the refresh that failed, and the client still holds the pair: nothing was lost.
    assert_eq!(harness.counters().token_requests, before.token_requests + 1);
    assert_eq!(
        client.tokens().as_ref(),
        Some(&held),
        "{fault:?} lost a token"
    );
    assert_eq!(
        harness.counters().redirect_target_hits,
        0,
        "{fault:?} was followed"
    );

    // Callers until the cooldown ends (or until `login`) share the failure: no new request.
    let again = client.access_token().await.expect_err("still failing");
    assert_eq!(again, error, "{fault:?}");
    if let Then::Retry(cooldown) = case.then {
        harness.clock.advance(cooldown - Duration::from_millis(1));
        assert_eq!(
            client.access_token().await.expect_err("cooling down"),
            error
        );
    }
    assert_eq!(harness.counters().token_requests, before.token_requests + 1);

    let rotated = server_rotated(&harness, fault, before.refresh_grants).await;
    match case.then {
        Then::Retry(_) => harness.clock.advance(Duration::from_millis(1)),
        Then::Login => client.login(harness.credentials()),
    }
    let failed = harness.counters();
    let token = client.access_token().await.unwrap_or_else(|error| {
        panic!("{fault:?}: the client does not recover: {error}");
    });
    let now_held = client.tokens().expect("tokens after recovery");
    assert!(token.is_for(&access_of(&now_held)));
    assert_api_ok(&harness, &client).await;
    let delta = Delta::between(&failed, &harness.counters());
    let expected = if case.then == Then::Login {
        Delta::tokens(1, 1, 0)
    } else if rotated {
        // The server processed the refresh but its answer was lost: the refresh token the
        // client holds is dead, so exactly one password login follows.
        Delta::tokens(2, 1, 0)
    } else {
        // The refresh token the client kept still works.
        Delta::tokens(1, 0, 1)
    };
    assert_eq!(
        delta,
        expected.with_api_calls(1),
        "{fault:?} (rotated: {rotated})"
    );
}

/// Whether the emulator processed the faulted refresh (rotating the pair). For a `Delay`, waits
/// until the emulator has answered the request the client gave up on, or (if the server dropped
/// it with the connection) until the delay is surely over.
async fn server_rotated(harness: &Harness, fault: &Fault, refresh_grants_before: u64) -> bool {
    if let Fault::Delay(delay) = fault {
        let answered = |harness: &Harness| {
            harness
                .emulator
                .requests()
                .iter()
                .any(|request| request.fault.is_some())
        };
        let over = delay.saturating_sub(SHORT_TIMEOUT) + Duration::from_millis(200);
        let mut waited = Duration::ZERO;
        while !answered(harness) && waited < over {
            tokio::time::sleep(Duration::from_millis(20)).await;
            waited += Duration::from_millis(20);
        }
    }
    harness.counters().refresh_grants > refresh_grants_before
}

// ---------------------------------------------------------------------------------------------
// 4. Redirects

pub async fn redirects_are_not_followed<D: Driver>() {
    let harness = Harness::start();
    let client: D = harness.client();
    let held = logged_in(&client).await;

    // An API call answered with a redirect: the redirect is the answer.
    harness
        .emulator
        .inject(Route::Api, Fault::RedirectToTarget(302));
    let response = client
        .send(harness.api_request())
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()[http::header::LOCATION],
        harness.emulator.redirect_target_url().as_str()
    );

    // A token request answered with a 307 (a follower would re-POST the secret and the
    // refresh token to the target).
    harness.expire(&held);
    harness
        .emulator
        .inject(Route::Token, Fault::RedirectToTarget(307));
    let error = client
        .access_token()
        .await
        .expect_err("a redirect is no token");
    assert_eq!(error.kind(), ErrorKind::UnexpectedResponse);
    assert_eq!(error.status(), Some(StatusCode::TEMPORARY_REDIRECT));

    let counters = harness.counters();
    assert_eq!(counters.redirect_target_hits, 0);
    assert_eq!((counters.api_calls, counters.token_requests), (1, 2));
    let paths: Vec<_> = harness
        .emulator
        .requests()
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert!(
        !paths.iter().any(|path| path == "/redirect-target"),
        "{paths:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Dead refresh tokens, both Passport shapes (`docs/passport.md#dead-refresh-token`)

async fn dead_refresh_token_leads_to_one_login<D: Driver>(version: PassportVersion) {
    let harness = Harness::start();
    harness.emulator.set_passport(version);
    let client: D = harness.client();
    let held = logged_in(&client).await;
    let refused_with = match version {
        // Revoked server-side: 401 invalid_request.
        PassportVersion::V8 => {
            harness.emulator.revoke_all_tokens();
            401
        }
        // Spent by someone else first (a second copy of the program): 400 invalid_grant.
        PassportVersion::V9 => {
            assert_eq!(harness.raw_refresh(&refresh_of(&held)).0, 200);
            400
        }
    };
    harness.expire(&held);
    let before = harness.counters();

    let token = client.access_token().await.expect("one password login");
    assert_eq!(
        Delta::between(&before, &harness.counters()),
        Delta::tokens(2, 1, 0)
    );
    let mut last_two = harness.token_requests();
    last_two.drain(..last_two.len() - 2);
    assert_eq!(
        last_two,
        [
            ("refresh_token".to_owned(), refused_with),
            ("password".to_owned(), 200)
        ]
    );
    assert!(token.is_for(&access_of(&client.tokens().expect("new tokens"))));
    assert_api_ok(&harness, &client).await;
}

pub async fn dead_refresh_token_passport_v8_leads_to_one_login<D: Driver>() {
    dead_refresh_token_leads_to_one_login::<D>(PassportVersion::V8).await;
}

pub async fn dead_refresh_token_passport_v9_leads_to_one_login<D: Driver>() {
    dead_refresh_token_leads_to_one_login::<D>(PassportVersion::V9).await;
}

pub async fn wrong_password_after_dead_refresh_stops_without_resending<D: Driver>() {
    let harness = Harness::start();
    let stored = logged_in::<D>(&harness.client()).await;
    harness.emulator.revoke_all_tokens();
    harness.emulator.set_passport(PassportVersion::V9);

    // A restart with a changed password: the refresh token is dead, the password is wrong.
    let username = harness.emulator.config().username.clone();
    let config = harness.config().credentials(username.as_str(), "wrong");
    let client: D = harness.setup(config).tokens(stored.clone()).build();
    harness.expire(&stored);
    let before = harness.counters();

    let error = client
        .access_token()
        .await
        .expect_err("the password is wrong");
    assert_eq!(error.kind(), ErrorKind::InvalidCredentials);
    assert_eq!(
        error.response().and_then(|r| r.error_code()),
        Some("invalid_grant")
    );
    assert_eq!(
        Delta::between(&before, &harness.counters()),
        Delta::tokens(2, 0, 0),
        "one refresh (refused), one password login (refused)"
    );

    // Stopped: the refused password is never resent, however often or late callers ask.
    for _ in 0..3 {
        let again = client.access_token().await.expect_err("still stopped");
        assert_eq!(again.kind(), ErrorKind::InvalidCredentials);
    }
    harness.clock.advance(HOUR);
    assert_eq!(
        client
            .access_token()
            .await
            .expect_err("still stopped")
            .kind(),
        ErrorKind::InvalidCredentials
    );
    assert_eq!(harness.counters().token_requests, before.token_requests + 2);

    client.login(harness.credentials());
    client
        .access_token()
        .await
        .expect("the right password works");
    assert_eq!(
        harness.counters().password_grants,
        before.password_grants + 1
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Thundering herd

pub async fn herd_at_expiry_sends_one_request_and_shares_the_token<D: Driver>() {
    let harness = Harness::start();
    let client: D = harness.client();
    let old = client.access_token().await.expect("login");
    harness.expire(&client.tokens().expect("tokens"));
    // The refresh stays in flight long enough for the whole herd to pile up behind it.
    harness
        .emulator
        .inject(Route::Token, Fault::Delay(Duration::from_millis(200)));
    let before = harness.counters();

    let results = client.herd().await;
    assert_eq!(results.len(), D::HERD);
    let tokens: Vec<Token> = results
        .into_iter()
        .map(|result| result.expect("every caller gets a token"))
        .collect();
    assert_eq!(
        Delta::between(&before, &harness.counters()),
        Delta::tokens(1, 0, 1),
        "exactly one token request for the whole herd"
    );
    let new = client.tokens().expect("refreshed tokens");
    assert_ne!(tokens[0].id, old.id);
    assert!(tokens[0].is_for(&access_of(&new)));
    assert!(
        tokens.iter().all(|token| *token == tokens[0]),
        "all got the same token"
    );
}

/// With the default cooldown, callers arriving after the failure share it too; with none, only
/// the driver's hand-over of the outcome to its waiters keeps the request count at one.
async fn herd_shares_one_failed_request_with<D: Driver>(min_retry_delay: Duration) {
    let harness = Harness::start();
    let config = harness.config().min_retry_delay(min_retry_delay);
    let client: D = harness.setup(config).build();
    let held = logged_in(&client).await;
    harness.expire(&held);
    // Slow enough for the whole herd to be waiting when the failure arrives.
    let slow_failure = Fault::DelayThen(Duration::from_millis(400), Box::new(Fault::Status(503)));
    harness.emulator.inject(Route::Token, slow_failure);
    let before = harness.counters();

    let results = client.herd().await;
    assert_eq!(results.len(), D::HERD);
    let errors: Vec<_> = results
        .into_iter()
        .map(|result| result.expect_err("every caller sees the failure"))
        .collect();
    assert_eq!(errors[0].kind(), ErrorKind::ServerError);
    assert_eq!(errors[0].status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert!(
        errors.iter().all(|error| *error == errors[0]),
        "one shared error"
    );
    assert_eq!(
        harness.counters().token_requests,
        before.token_requests + 1,
        "exactly one token request for the whole herd"
    );

    // Past the cooldown, one refresh with the refresh token that was kept.
    harness.clock.advance(min_retry_delay);
    client.access_token().await.expect("recovers");
    assert_eq!(
        Delta::between(&before, &harness.counters()),
        Delta::tokens(2, 0, 1)
    );
}

pub async fn herd_shares_one_failed_request<D: Driver>() {
    herd_shares_one_failed_request_with::<D>(Config::DEFAULT_MIN_RETRY_DELAY).await;
}

pub async fn herd_without_cooldown_still_shares_one_failed_request<D: Driver>() {
    herd_shares_one_failed_request_with::<D>(Duration::ZERO).await;
}

// ---------------------------------------------------------------------------------------------
// 7. Persistence before use

/// What a probe saw from inside the store: whether another thread could get a token through the
/// driver's lock-free path while the store ran.
#[derive(Debug, Default)]
struct Probes {
    /// The other thread got the token being stored: it was handed out before being stored.
    new_token_handed_out: usize,
    /// The other thread got some older token (still published, still usable).
    older_token: usize,
    /// The other thread did not return while the store ran: nothing usable was published, so it
    /// took the slow path and waited on the lock the driver holds.
    waited: usize,
    errors: usize,
}

/// From inside the store (the driver holds its lock): asks for a token on another thread and
/// waits briefly. A fast-path answer must not be the token being stored. The store itself never
/// calls the client, so it cannot enter the slow path and deadlock on the lock it runs under.
fn probe<D: Driver>(client: &D, stored_access: &str, probes: &Mutex<Probes>) {
    let (answer, answered) = mpsc::channel();
    let other = client.clone();
    #[allow(clippy::disallowed_methods)] // a plain thread outside the driver, on purpose
    let _asker = std::thread::spawn(move || {
        // Ignored when the store has returned already: then the answer proves nothing.
        let _ = answer.send(other.access_token_blocking());
    });
    let seen = answered.recv_timeout(Duration::from_millis(40));
    let mut probes = probes.lock().unwrap_or_else(PoisonError::into_inner);
    match seen {
        Ok(Ok(token)) if token.is_for(stored_access) => probes.new_token_handed_out += 1,
        Ok(Ok(_)) => probes.older_token += 1,
        Ok(Err(_)) => probes.errors += 1,
        Err(_) => probes.waited += 1,
    }
}

pub async fn store_sees_every_rotation_before_it_is_used<D: Driver>() {
    let harness = Harness::start();
    let probes = Arc::new(Mutex::new(Probes::default()));
    let cell: Arc<OnceLock<D>> = Arc::new(OnceLock::new());
    let store = {
        let (log_store, probes, cell) = (harness.log.store(), probes.clone(), cell.clone());
        move |tokens: Option<&TokenSet>| {
            log_store(tokens);
            if let (Some(client), Some(set)) = (cell.get(), tokens) {
                probe(client, &access_of(set), &probes);
            }
        }
    };
    let client: D = harness.setup(harness.config()).store(store).build();
    assert!(cell.set(client.clone()).is_ok());

    assert_api_ok(&harness, &client).await; // login, call
    for _ in 0..3 {
        harness.expire(&client.tokens().expect("tokens"));
        assert_api_ok(&harness, &client).await; // refresh, call
    }
    harness.emulator.inject(Route::Api, Fault::EmptyStatus(401));
    assert_api_ok(&harness, &client).await; // call refused, refresh, call
    client.force_refresh().await.expect("forced refresh");
    assert_api_ok(&harness, &client).await;

    let events = harness.log.events();
    let issued: Vec<(String, String)> = events
        .iter()
        .filter_map(|event| match event {
            Event::Issued { access, refresh } => Some((access.clone(), refresh.clone())),
            _ => None,
        })
        .collect();
    let counters = harness.counters();
    assert_eq!(
        issued.len() as u64,
        counters.password_grants + counters.refresh_grants
    );
    assert_eq!((counters.password_grants, counters.refresh_grants), (1, 5));

    // The store saw every pair the server issued, in order...
    let stored: Vec<(String, String)> = events
        .iter()
        .filter_map(|event| match event {
            Event::Stored(Some((access, Some(refresh)))) => Some((access.clone(), refresh.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(stored, issued);
    // ...and each before any API call used its access token.
    for (index, event) in events.iter().enumerate() {
        if let Event::Api { access } = event {
            let stored_before = events[..index].iter().any(
                |earlier| matches!(earlier, Event::Stored(Some((stored, _))) if stored == access),
            );
            assert!(
                stored_before,
                "API call #{index} used a token never stored before"
            );
        }
    }

    // While the store ran, no other thread could get the token being stored.
    let probes = probes.lock().unwrap_or_else(PoisonError::into_inner);
    assert_eq!(probes.new_token_handed_out, 0, "{probes:?}");
    assert_eq!(probes.errors, 0, "{probes:?}");
    assert_eq!(
        probes.waited + probes.older_token,
        issued.len(),
        "{probes:?}"
    );
}

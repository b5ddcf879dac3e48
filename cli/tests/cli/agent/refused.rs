//! `POST /token/refused` and `/header/refused`: a caller reports the token the API refused and
//! gets the next one, once per token however many report it.

use std::time::Duration;

use keliweb_emulator::{Fault, Route};

use super::{Agent, access_token, get, metric, post, wait_for_a_refresh};
use crate::{Setup, api_accepts};

/// The agent is killed while the server rotates (so the stored pair is dead, with an hour of
/// life left on paper). The next agent serves that dead token; its caller gets a `401` from the
/// API, reports it, and gets a token that works, at the cost of one refused refresh and one
/// login. A report of the dead token after that is stale: the current token, nothing sent.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "real time: the agent is killed while the server's answer is delayed"
)]
fn after_a_crash_mid_rotation_a_refused_token_reported_is_replaced_with_one_login() {
    let (setup, directory, agent, first) = serving_a_token();
    // Any rotation will do; a report is the quickest way to start one with hour-long tokens.
    // The server rotates at once and answers 3 s later: the agent dies before it hears back.
    setup
        .emulator
        .inject(Route::Token, Fault::AnswerAfter(Duration::from_secs(3)));
    let socket = agent.socket.clone();
    let reporter = std::thread::spawn(move || post(&socket, "/token/refused", &first));
    wait_for_a_refresh(&setup, &agent);
    agent.kill();
    let _cut_off = reporter.join().expect("no panic");

    let next = Agent::serve(&setup, directory.path(), &[]);
    let served = access_token(&get(&next.socket, "/token", &[]).expect("answers")).expect("token");
    assert_eq!(
        served,
        setup.stored_access_token(),
        "the stored set, adopted"
    );
    assert!(!api_accepts(&setup, &served), "the server rotated it away");

    let replaced = post(&next.socket, "/token/refused", &format!("{served}\n")).expect("answers");
    assert_eq!(replaced.status, 200, "{replaced:?}");
    assert!(
        replaced.head.contains("cache-control: no-store"),
        "{replaced:?}"
    );
    let working = access_token(&replaced).expect("a token");
    assert!(api_accepts(&setup, &working), "the next token works");
    let counters = setup.emulator.counters();
    assert_eq!(
        (counters.password_grants, counters.token_errors),
        (2, 1),
        "one refused refresh, then one login: {counters:?}"
    );

    let requests = counters.token_requests;
    let stale =
        post(&next.socket, "/header/refused", &format!("Bearer {served}")).expect("answers");
    assert_eq!(stale.status, 200, "{stale:?}");
    assert_eq!(stale.body, format!("Bearer {working}"), "the current token");
    assert_eq!(
        setup.emulator.counters().token_requests,
        requests,
        "a stale report sends nothing"
    );
    assert_eq!(next.stop(), 0);
}

/// 100 callers report the same token at once (the refresh answered 1 s late, so most arrive
/// while it is out): one token request, and every caller gets the same new token.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "real time: the reports arrive while the refresh is out"
)]
fn a_hundred_reports_of_one_token_make_one_token_request() {
    let _busy = crate::busy();
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let agent = Agent::serve(&setup, directory.path(), &[]);
    let refused =
        access_token(&get(&agent.socket, "/token", &[]).expect("answers")).expect("token");
    let requests = setup.emulator.counters().token_requests;
    setup
        .emulator
        .inject(Route::Token, Fault::AnswerAfter(Duration::from_secs(1)));
    let start = std::sync::Barrier::new(100);
    let answers: Vec<_> = std::thread::scope(|scope| {
        let reporters: Vec<_> = (0..100)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    post(&agent.socket, "/token/refused", &refused).expect("answers")
                })
            })
            .collect();
        reporters
            .into_iter()
            .map(|reporter| reporter.join().expect("no panic"))
            .collect()
    });
    let next = access_token(&answers[0]).expect("a token");
    assert_ne!(next, refused);
    for answer in &answers {
        assert_eq!(answer.status, 200, "{answer:?}");
        assert_eq!(access_token(answer).as_deref(), Some(next.as_str()));
    }
    let counters = setup.emulator.counters();
    assert_eq!(
        (counters.token_requests - requests, counters.refresh_grants),
        (1, 1),
        "{counters:?}"
    );
    assert!(api_accepts(&setup, &next));
    assert_eq!(agent.stop(), 0);
}

/// A report must be a POST with a token in its body; anything else is a JSON error, and no
/// token request.
#[test]
fn a_report_without_a_token_or_by_get_is_refused() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let agent = Agent::serve(&setup, directory.path(), &[]);
    let requests = setup.emulator.counters().token_requests;
    for (answer, status) in [
        (get(&agent.socket, "/token/refused", &[]), 405),
        (post(&agent.socket, "/token/refused", ""), 400),
        (post(&agent.socket, "/header/refused", "Bearer \n"), 400),
        (
            post(&agent.socket, "/token/refused", &"x".repeat(20_000)),
            400,
        ),
    ] {
        let answer = answer.expect("answers");
        assert_eq!(answer.status, status, "{answer:?}");
        let json: serde_json::Value = serde_json::from_str(&answer.body).expect("a JSON error");
        assert!(json["error"].is_string(), "{answer:?}");
        assert!(!answer.body.contains("access_token"), "{answer:?}");
    }
    assert_eq!(setup.emulator.counters().token_requests, requests);
    assert_eq!(agent.stop(), 0);
}

/// A replacement reported refused at once too (an API that refuses every token: a disabled
/// account) is not replaced again: `503 refused_again`, and no second token request. A report
/// after the minimum retry delay (1 s) is a first one again.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "real time: the minimum retry delay passes in it"
)]
fn a_replacement_refused_at_once_too_is_reported_not_replaced() {
    let (setup, _directory, agent, first) = serving_a_token();
    let requests = setup.emulator.counters().token_requests;
    let replaced = post(&agent.socket, "/token/refused", &first).expect("answers");
    let second = access_token(&replaced).expect("a token");
    assert_ne!(second, first);
    let again = post(&agent.socket, "/token/refused", &second).expect("answers");
    assert_eq!(again.status, 503, "{again:?}");
    let json: serde_json::Value = serde_json::from_str(&again.body).expect("a JSON error");
    assert_eq!(json["error"], "refused_again", "{again:?}");
    assert_eq!(setup.emulator.counters().token_requests, requests + 1);
    // Kept, not withdrawn: the agent still hands it out.
    let health = get(&agent.socket, "/health", &[]).expect("answers");
    assert_eq!(health.status, 200, "{health:?}");
    let metrics = get(&agent.socket, "/metrics", &[]).expect("answers").body;
    let withdrawn = "keliweb_agent_tokens_withdrawn_total ";
    assert_eq!(metric(&metrics, withdrawn), 1.0, "{metrics}");

    std::thread::sleep(Duration::from_millis(1500));
    let later = post(&agent.socket, "/token/refused", &second).expect("answers");
    assert_eq!(later.status, 200, "{later:?}");
    assert_ne!(access_token(&later), Some(second), "replaced this time");
    assert_eq!(setup.emulator.counters().token_requests, requests + 2);
    assert_eq!(agent.stop(), 0);
}

/// While a reported token is being replaced (the refresh answered 8 s late), `/health` says
/// not ready and `token_usable_seconds` is 0: the withdrawn token is handed out no more. The
/// replacing refresh is counted as a withdrawal, not as a refresh ahead; once it is in, the
/// agent is ready again with the new token's life.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "real time: the report's refresh is answered late"
)]
fn health_and_metrics_show_a_withdrawn_token_replaced_not_refreshed_ahead() {
    let (setup, _directory, agent, first) = serving_a_token();
    setup
        .emulator
        .inject(Route::Token, Fault::AnswerAfter(Duration::from_secs(8)));
    let socket = agent.socket.clone();
    let reporter = std::thread::spawn(move || post(&socket, "/token/refused", &first));
    wait_for_a_refresh(&setup, &agent);

    let health = get(&agent.socket, "/health", &[]).expect("answers");
    let metrics = get(&agent.socket, "/metrics", &[]).expect("answers").body;
    assert!(
        !reporter.is_finished(),
        "read while the replacement was out"
    );
    assert_eq!(health.status, 503, "{health:?}");
    assert!(
        health.body.contains(r#""status":"not_ready""#),
        "{health:?}"
    );
    let usable = "keliweb_agent_token_usable_seconds ";
    assert_eq!(metric(&metrics, usable), 0.0, "{metrics}");

    let replaced = reporter.join().expect("no panic").expect("answers");
    assert_eq!(replaced.status, 200, "{replaced:?}");
    let health = get(&agent.socket, "/health", &[]).expect("answers");
    assert_eq!(health.status, 200, "{health:?}");
    let metrics = get(&agent.socket, "/metrics", &[]).expect("answers").body;
    for (line, value) in [
        ("keliweb_agent_refreshes_ahead_total ", 0.0),
        ("keliweb_agent_tokens_withdrawn_total ", 1.0),
        (
            r#"keliweb_agent_token_requests_total{kind="refresh",outcome="ok"} "#,
            1.0,
        ),
    ] {
        assert_eq!(metric(&metrics, line), value, "{line}: {metrics}");
    }
    assert!(metric(&metrics, usable) > 3000.0, "{metrics}");
    assert_eq!(agent.stop(), 0);
}

/// An agent on an emulator of hour-long tokens, and the token it serves first.
fn serving_a_token() -> (Setup, tempfile::TempDir, Agent, String) {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let agent = Agent::serve(&setup, directory.path(), &[]);
    let first = access_token(&get(&agent.socket, "/token", &[]).expect("answers")).expect("token");
    (setup, directory, agent, first)
}

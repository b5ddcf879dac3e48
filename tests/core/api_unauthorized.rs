//! An API `401`: the current token is dropped and refreshed once; a 401 for its replacement is
//! reported instead of looped on; a stale token id just says "retry with the new token".

use keliweb_oauth::sans_io::RequestKind;

use crate::support;
use crate::support::Unauthorized;
use crate::support::*;

#[test]
fn a_401_for_the_current_token_refreshes_it() {
    let mut scenario = Scenario::new().logged_in();
    scenario.advance(secs(60));
    let refused = scenario.expect_use();
    let generation = scenario.generation();
    assert_eq!(
        support::unauthorized(&mut scenario.session, refused.token_id(), scenario.now),
        Unauthorized::RetryWithNewToken
    );
    assert!(scenario.session.authorization().is_none());
    assert_eq!(
        scenario.generation(),
        generation,
        "the token set is unchanged"
    );
    // Long before expiry, the next poll refreshes.
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    assert_eq!(form(&refresh_request), refresh_fields(&refresh(1)));
    scenario.answer_tokens(&refresh_request);
    let replacement = scenario.expect_use();
    assert_ne!(replacement.token_id(), refused.token_id());
    assert_eq!(
        replacement.expose_header_value(),
        format!("Bearer {}", access(2)).as_str()
    );
}

#[test]
fn a_401_for_the_replacement_token_is_reported_and_the_token_kept() {
    let (mut scenario, replacement) = replacement_for_a_refused_token();

    assert_eq!(
        support::unauthorized(&mut scenario.session, replacement.token_id(), scenario.now),
        Unauthorized::Report
    );
    // No loop: the token is kept and no request is sent.
    let still = scenario.expect_use();
    assert_eq!(still.token_id(), replacement.token_id());
    assert_eq!(scenario.session.in_flight(), None);
}

#[test]
fn a_401_for_a_stale_token_does_not_invalidate_the_new_one() {
    let mut scenario = Scenario::new().logged_in();
    let old = scenario.expect_use();
    scenario.go_to_usable_until();
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    scenario.answer_tokens(&refresh_request);
    let current = scenario.expect_use();
    let generation = scenario.generation();

    // A call made with the old token comes back 401 after the refresh.
    assert_eq!(
        support::unauthorized(&mut scenario.session, old.token_id(), scenario.now),
        Unauthorized::RetryWithNewToken
    );
    let after = scenario.expect_use();
    assert_eq!(
        after.token_id(),
        current.token_id(),
        "the new token was not invalidated"
    );
    assert_eq!(scenario.generation(), generation);
    assert_eq!(scenario.session.in_flight(), None);
}

#[test]
fn many_401s_for_the_same_token_cause_one_refresh() {
    let mut scenario = Scenario::new().logged_in();
    let refused = scenario.expect_use();
    for _ in 0..5 {
        assert_eq!(
            support::unauthorized(&mut scenario.session, refused.token_id(), scenario.now),
            Unauthorized::RetryWithNewToken
        );
    }
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    // More 401s for it while the refresh is out: still one request.
    assert_eq!(
        support::unauthorized(&mut scenario.session, refused.token_id(), scenario.now),
        Unauthorized::RetryWithNewToken
    );
    scenario.expect_wait(refresh_request.id());
}

#[test]
fn a_token_obtained_on_schedule_after_a_report_gets_a_fresh_chance() {
    let (mut scenario, replacement) = replacement_for_a_refused_token();
    assert_eq!(
        support::unauthorized(&mut scenario.session, replacement.token_id(), scenario.now),
        Unauthorized::Report
    );
    // An hour on, an ordinary refresh: its token is not a replacement for a refused one.
    scenario.go_to_usable_until();
    let scheduled = scenario.expect_send(RequestKind::RefreshGrant);
    scenario.answer_tokens(&scheduled);
    let fresh = scenario.expect_use();
    assert_eq!(
        support::unauthorized(&mut scenario.session, fresh.token_id(), scenario.now),
        Unauthorized::RetryWithNewToken
    );
}

#[test]
fn a_401_when_the_refresh_token_is_dead_falls_back_to_a_login() {
    let mut scenario = Scenario::new().logged_in();
    let refused = scenario.expect_use();
    let _ = support::unauthorized(&mut scenario.session, refused.token_id(), scenario.now);
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    let progress = scenario.answer(&refresh_request, &refresh_invalid_v8());
    assert_eq!(
        progress.map_err(|error| error.kind()),
        Err(keliweb_oauth::ErrorKind::RefreshTokenRejected)
    );
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    scenario.answer_tokens(&login);
    let replacement = scenario.expect_use();
    assert_eq!(
        support::unauthorized(&mut scenario.session, replacement.token_id(), scenario.now),
        Unauthorized::Report,
        "a token obtained to replace a refused one, by whichever grant"
    );
}

#[test]
fn a_later_refusal_of_a_reported_token_replaces_it_again() {
    let (mut scenario, replacement) = replacement_for_a_refused_token();
    assert_eq!(
        support::unauthorized(&mut scenario.session, replacement.token_id(), scenario.now),
        Unauthorized::Report
    );

    // Later the server revokes it (a password change): it must not stay stuck on 401s.
    scenario.advance(scenario.session.config().min_retry_delay());
    assert_eq!(
        support::unauthorized(&mut scenario.session, replacement.token_id(), scenario.now),
        Unauthorized::RetryWithNewToken
    );
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn an_api_that_refuses_every_token_costs_one_token_request_per_retry_delay() {
    let (mut scenario, mut current) = replacement_for_a_refused_token();
    let delay = scenario.session.config().min_retry_delay();
    let step = delay / 4;
    let mut token_requests = 0;
    // Ten retry delays of callers refused every quarter delay, each retrying as told.
    for _ in 0..40 {
        scenario.advance(step);
        match support::unauthorized(&mut scenario.session, current.token_id(), scenario.now) {
            Unauthorized::Report => {}
            Unauthorized::RetryWithNewToken => {
                let refresh = scenario.expect_send(RequestKind::RefreshGrant);
                scenario.answer_tokens(&refresh);
                token_requests += 1;
                current = scenario.expect_use();
            }
        }
        // Every other caller refused meanwhile is told to report, not to retry.
        assert_eq!(
            support::unauthorized(&mut scenario.session, current.token_id(), scenario.now),
            Unauthorized::Report
        );
    }
    assert!(
        (9..=10).contains(&token_requests),
        "{token_requests} token requests in ten retry delays"
    );
}

/// A session whose first token was refused by the API and replaced: the replacement.
fn replacement_for_a_refused_token() -> (Scenario, keliweb_oauth::sans_io::Authorization) {
    let mut scenario = Scenario::new().logged_in();
    let refused = scenario.expect_use();
    let _ = support::unauthorized(&mut scenario.session, refused.token_id(), scenario.now);
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    scenario.answer_tokens(&refresh_request);
    let replacement = scenario.expect_use();
    (scenario, replacement)
}

#[test]
fn a_token_forced_within_the_window_after_a_refusal_counts_as_a_replacement() {
    let mut scenario = Scenario::new().logged_in();
    let refused = scenario.expect_use();
    let _ = support::unauthorized(&mut scenario.session, refused.token_id(), scenario.now);
    let refresh = scenario.expect_send(RequestKind::RefreshGrant);
    scenario.answer_tokens(&refresh);
    // The caller forces another refresh instead of reporting: that token is refused too, within
    // the window, and costs no third request.
    scenario.session.force_refresh();
    let forced = scenario.expect_send(RequestKind::RefreshGrant);
    scenario.answer_tokens(&forced);
    let token = scenario.expect_use();
    assert_eq!(
        support::unauthorized(&mut scenario.session, token.token_id(), scenario.now),
        Unauthorized::Report
    );
}

/// Tokens of 3 s (leeway 1 s: 2 s usable, refreshed halfway), as a server with rotation issues
/// them; the server revokes the old access token when it rotates.
fn short_lived(scenario: &mut Scenario, request: &keliweb_oauth::sans_io::OutgoingRequest, n: u32) {
    let answer = reply(200, token_body(&access(n), 3, Some(&refresh(n))));
    assert_eq!(scenario.answer(request, &answer), Ok(()));
}

/// Logged in at `T0` with a 3 s token, and that token.
fn logged_in_short_lived() -> (Scenario, keliweb_oauth::sans_io::Authorization) {
    let mut scenario = Scenario::with(|config| config.leeway(secs(1)));
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    short_lived(&mut scenario, &login, 1);
    let first = scenario.expect_use();
    (scenario, first)
}

#[test]
fn a_401_while_the_own_refresh_is_out_waits_for_its_token_instead_of_being_reported() {
    let (mut scenario, first) = logged_in_short_lived();

    // r1 goes out at +1000 ms and rotates T1; a call in flight with T1 gets a 401 at +1450.
    scenario.set_now(T0.saturating_add(millis(1000)));
    let r1 = scenario.expect_send(RequestKind::RefreshGrant);
    scenario.set_now(T0.saturating_add(millis(1450)));
    assert_eq!(
        support::unauthorized(&mut scenario.session, first.token_id(), scenario.now),
        Unauthorized::RetryWithNewToken
    );
    scenario.expect_wait(r1.id());
    scenario.set_now(T0.saturating_add(millis(1500)));
    short_lived(&mut scenario, &r1, 2);
    let second = scenario.expect_use();

    // T2 arrived at +1500 with 1.5 s of usable life left: r2 goes out halfway, at +2250, and
    // rotates T2; a 401 for T2 at +2300 is ours, not the API's.
    scenario.set_now(T0.saturating_add(millis(2250)));
    let r2 = scenario.expect_send(RequestKind::RefreshGrant);
    scenario.set_now(T0.saturating_add(millis(2300)));
    assert_eq!(
        support::unauthorized(&mut scenario.session, second.token_id(), scenario.now),
        Unauthorized::RetryWithNewToken,
        "T3 is coming: the caller waits for it and retries"
    );
    scenario.expect_wait(r2.id());
    scenario.set_now(T0.saturating_add(millis(2400)));
    short_lived(&mut scenario, &r2, 3);
    let third = scenario.expect_use();
    assert_eq!(
        third.expose_header_value(),
        format!("Bearer {}", access(3)).as_str()
    );
}

#[test]
fn an_api_that_refuses_fresh_tokens_is_still_reported_after_a_rotation_refusal() {
    let (mut scenario, first) = logged_in_short_lived();
    scenario.set_now(T0.saturating_add(millis(1000)));
    let r1 = scenario.expect_send(RequestKind::RefreshGrant);
    let _ = support::unauthorized(&mut scenario.session, first.token_id(), scenario.now);
    short_lived(&mut scenario, &r1, 2);
    // The API refuses T2 with no refresh out: withdrawn, and its replacement asked for.
    let second = scenario.expect_use();
    assert_eq!(
        support::unauthorized(&mut scenario.session, second.token_id(), scenario.now),
        Unauthorized::RetryWithNewToken
    );
    let r2 = scenario.expect_send(RequestKind::RefreshGrant);
    short_lived(&mut scenario, &r2, 3);
    // Its replacement is refused too, at once: that is the API, reported.
    let third = scenario.expect_use();
    assert_eq!(
        support::unauthorized(&mut scenario.session, third.token_id(), scenario.now),
        Unauthorized::Report
    );
}

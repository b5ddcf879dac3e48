//! The session's state graph (`src/session/mod.rs`), edge by edge: each test starts in one
//! phase, feeds one input, and checks the phase it lands in by what `poll` and `poll_timeout`
//! answer. The behaviour tests in the other files go deeper into each edge.

use std::time::Duration;

use keliweb_oauth::{
    Credentials, ErrorKind,
    sans_io::{Action, Authorization, RequestKind},
};

use crate::support::*;

/// The default refresh-ahead window.
const AHEAD: Duration = secs(300);

// --- Idle

#[test]
fn idle_without_a_token_sends_a_login() {
    let mut scenario = Scenario::new();
    assert_eq!(
        scenario.session.poll_timeout(scenario.now),
        Some(scenario.now)
    );
    let _ = scenario.expect_send(RequestKind::PasswordGrant);
}

#[test]
fn idle_without_anything_to_send_stops() {
    let mut scenario = Scenario::from_config(
        keliweb_oauth::Config::keliweb(CLIENT_ID, CLIENT_SECRET)
            .build()
            .unwrap(),
    );
    assert_eq!(scenario.session.poll_timeout(scenario.now), None);
    assert_eq!(scenario.expect_stop().kind(), ErrorKind::LoginRequired);
}

#[test]
fn idle_hands_out_the_token_until_the_refresh_ahead_point_then_sends_a_refresh() {
    let mut scenario = Scenario::new().logged_in();
    let token = scenario.expect_use();
    let refresh_at = T0.saturating_add(HOUR - LEEWAY - AHEAD);
    assert_eq!(token.refresh_at(), refresh_at);
    assert_eq!(
        scenario.session.poll_timeout(scenario.now),
        Some(refresh_at)
    );

    scenario.set_now(refresh_at.saturating_sub(millis(1)));
    assert_eq!(scenario.expect_use().token_id(), token.token_id());
    scenario.set_now(refresh_at);
    let refresh = scenario.expect_send(RequestKind::RefreshGrant);
    // Requesting, with a usable token: it is handed out meanwhile.
    assert_eq!(scenario.expect_use().token_id(), token.token_id());
    scenario.answer_tokens(&refresh);
    assert_ne!(scenario.expect_use().token_id(), token.token_id());
}

#[test]
fn the_refresh_ahead_window_is_at_most_half_the_usable_life() {
    // 120 s tokens, 60 s leeway: usable for 60 s, refreshed ahead after 30 s, not on arrival.
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    scenario
        .answer(
            &login,
            &reply(200, token_body(&access(1), 120, Some(&refresh(1)))),
        )
        .unwrap();
    let token = scenario.expect_use();
    assert_eq!(token.refresh_at(), T0.saturating_add(secs(30)));
    assert_eq!(token.usable_until(), T0.saturating_add(secs(60)));
    scenario.set_now(T0.saturating_add(secs(29)));
    let _ = scenario.expect_use();
    scenario.set_now(T0.saturating_add(secs(30)));
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn a_zero_window_refreshes_only_at_the_leeway() {
    let mut scenario = Scenario::with(|config| config.refresh_ahead(Duration::ZERO)).logged_in();
    let usable_until = T0.saturating_add(HOUR - LEEWAY);
    assert_eq!(scenario.session.poll_timeout(T0), Some(usable_until));
    scenario.set_now(usable_until.saturating_sub(millis(1)));
    let _ = scenario.expect_use();
    scenario.set_now(usable_until);
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

// --- Requesting

#[test]
fn requesting_without_a_usable_token_waits() {
    let (mut scenario, refresh) = Scenario::new().refresh_in_flight();
    scenario.expect_wait(refresh.id());
    assert_eq!(scenario.session.poll_timeout(scenario.now), None);
}

#[test]
fn requesting_to_idle_on_new_tokens_which_are_stored_first() {
    let (mut scenario, refresh) = Scenario::new().refresh_in_flight();
    let stored = scenario.stored.len();
    scenario.issued += 1;
    scenario
        .answer(&refresh, &tokens_reply(scenario.issued))
        .unwrap();
    assert!(matches!(scenario.session.poll(scenario.now), Action::Store));
    // Once: the next poll hands the token out.
    let token = scenario.expect_use();
    assert_eq!(scenario.stored.len(), stored);
    assert_eq!(
        token.expose_header_value(),
        format!("Bearer {}", access(2)).as_str()
    );
}

#[test]
fn requesting_to_paused_on_a_server_failure_then_idle_when_the_pause_ends() {
    let (mut scenario, refresh) = Scenario::new().refresh_in_flight();
    let error = scenario
        .answer(
            &refresh,
            &reply_with(503, &[("retry-after", "30")], UNAVAILABLE),
        )
        .unwrap_err();
    assert!(error.is_retryable());
    let until = scenario.now.saturating_add(secs(30));
    assert_eq!(scenario.session.poll_timeout(scenario.now), Some(until));
    assert_eq!(scenario.expect_stop().kind(), error.kind());
    scenario.set_now(until);
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

/// Logged in, the clock at the refresh-ahead point, the refresh sent and failed: paused with a
/// usable token, which is returned.
fn refresh_ahead_failed() -> (Scenario, Authorization) {
    let mut scenario = Scenario::new().logged_in();
    let token = scenario.expect_use();
    scenario.set_now(token.refresh_at());
    let refresh = scenario.expect_send(RequestKind::RefreshGrant);
    scenario.fail_transport(&refresh);
    (scenario, token)
}

#[test]
fn a_failed_refresh_ahead_keeps_the_token_in_use_and_retries_after_the_pause() {
    let (mut scenario, token) = refresh_ahead_failed();
    // Paused, with a usable token: handed out, and the pause's end is the next poll.
    assert_eq!(scenario.expect_use().token_id(), token.token_id());
    let until = scenario.now.saturating_add(secs(1));
    assert_eq!(scenario.session.poll_timeout(scenario.now), Some(until));
    scenario.set_now(until);
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn requesting_to_stopped_on_a_refused_password_then_idle_on_login() {
    let mut scenario = Scenario::new().stopped_by_refused_password();
    assert_eq!(scenario.expect_stop().kind(), ErrorKind::InvalidCredentials);
    assert_eq!(scenario.session.poll_timeout(scenario.now), None);
    scenario
        .session
        .login(Credentials::new(USERNAME, "new-password"));
    let _ = scenario.expect_send(RequestKind::PasswordGrant);
}

#[test]
fn a_dead_refresh_token_goes_back_to_idle_and_the_next_poll_logs_in() {
    let (mut scenario, refresh) = Scenario::new().refresh_in_flight();
    let error = scenario
        .answer(&refresh, &refresh_invalid_v8())
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RefreshTokenRejected);
    let stored = scenario.stored.len();
    let _ = scenario.expect_send(RequestKind::PasswordGrant);
    // The set without its dead refresh token was stored first.
    assert_eq!(scenario.stored.len(), stored + 1);
    let last = scenario.stored.last().unwrap().as_ref().unwrap();
    assert!(last.refresh_token().is_none());
}

// --- RefreshAsked

#[test]
fn force_refresh_from_idle_sends_though_the_token_is_usable() {
    let mut scenario = Scenario::new().logged_in();
    scenario.session.force_refresh();
    assert_eq!(
        scenario.session.poll_timeout(scenario.now),
        Some(scenario.now)
    );
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn force_refresh_while_paused_sends_nothing() {
    let (mut scenario, token) = refresh_ahead_failed();
    scenario.session.force_refresh();
    assert_eq!(scenario.expect_use().token_id(), token.token_id());
}

#[test]
fn force_refresh_after_a_pause_ended_sends_at_the_next_poll() {
    let (mut scenario, _token) = refresh_ahead_failed();
    scenario.advance(secs(600));
    scenario.session.force_refresh();
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn a_pause_that_ended_without_a_poll_asks_for_one_now() {
    let (mut scenario, _token) = refresh_ahead_failed();
    scenario.advance(secs(2));
    assert_eq!(
        scenario.session.poll_timeout(scenario.now),
        Some(scenario.now)
    );
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn a_restored_set_of_unknown_age_is_refreshed_halfway_through_what_is_left() {
    // A 10-minute token restored from an older store: when it arrived is unknown, so its life
    // counts from its first use, whatever the default lifetime says.
    let set = keliweb_oauth::TokenSet::new(
        keliweb_oauth::secret::AccessToken::new(access(1)),
        T0.saturating_add(secs(600)),
        Some((
            keliweb_oauth::secret::RefreshToken::new(refresh(1)),
            T0.saturating_add(TEN_DAYS),
        )),
    )
    .unwrap();
    let config = config()
        .default_access_token_lifetime(secs(200))
        .build()
        .unwrap();
    let mut scenario = Scenario::from_config(config);
    scenario.session =
        keliweb_oauth::sans_io::Session::new(scenario.session.config().clone()).with_tokens(set);
    // Usable for 540 s from now (leeway 60 s): the window is half of it, 270 s, not 300 s.
    let token = scenario.expect_use();
    assert_eq!(token.refresh_at(), T0.saturating_add(secs(270)));
}

// --- LoggedOut

#[test]
fn revoke_from_any_phase_erases_the_store_then_stops_until_login() {
    let (mut scenario, _refresh) = Scenario::new().refresh_in_flight();
    scenario.session.revoke();
    assert!(matches!(scenario.session.poll(scenario.now), Action::Store));
    assert!(scenario.session.tokens().is_none());
    assert_eq!(scenario.expect_stop().kind(), ErrorKind::LoginRequired);
    assert_eq!(scenario.session.poll_timeout(scenario.now), None);
    scenario.session.login(Credentials::new(USERNAME, PASSWORD));
    let _ = scenario.expect_send(RequestKind::PasswordGrant);
}

#[test]
fn revocation_requests_come_from_poll_before_the_stop() {
    let (mut scenario, requests) =
        Scenario::with(|config| config.revoke_rfc7009(REVOKE_URL)).revoked();
    assert_eq!(
        requests.len(),
        2,
        "the refresh token, then the access token"
    );
    assert_eq!(
        scenario.stored.last(),
        Some(&None),
        "the stored set was erased"
    );
    assert_eq!(scenario.expect_stop().kind(), ErrorKind::LoginRequired);
}

//! The session's inputs for a store shared by several processes (`docs/custody.md`): `adopt`
//! (another process's newer set), `mark_sent` (a request held back by a lease wait) and
//! `handle_store_error` (the store could not be used).

use keliweb_oauth::{
    Credentials, ErrorKind, TokenSet,
    error::{StoreError, StoreErrorKind},
    sans_io::{Action, RequestKind},
    secret::{AccessToken, RefreshToken},
};

use crate::support::*;

/// Another process's set: `access(n)` / `refresh(n)`, an hour from now.
fn others_set(scenario: &Scenario, n: u32) -> TokenSet {
    TokenSet::new(
        AccessToken::new(access(n)),
        scenario.now.saturating_add(HOUR),
        Some((
            RefreshToken::new(refresh(n)),
            scenario.now.saturating_add(TEN_DAYS),
        )),
    )
    .expect("valid tokens")
    .with_username(USERNAME)
}

#[test]
fn an_adopted_set_replaces_the_request_out_and_is_not_stored_again() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let set = others_set(&scenario, 7);
    assert!(scenario.session.adopt(Some(set.clone())));
    // No Store (it came from the store), and the adopted token is handed out at once.
    let token = scenario.expect_use();
    assert_eq!(
        token.expose_header_value().as_bytes(),
        format!("Bearer {}", access(7)).as_bytes()
    );
    assert_eq!(scenario.session.tokens(), Some(&set));
    // The request it replaced is no longer out: its answer is refused and changes nothing.
    let late = scenario.answer(&refresh_request, &tokens_reply(8));
    assert_eq!(late.map_err(|e| e.kind()), Err(ErrorKind::ResponseMismatch));
    assert_eq!(scenario.session.tokens(), Some(&set));
}

#[test]
fn adopting_none_drops_the_set_without_revoking_and_logs_in_next() {
    let mut scenario = Scenario::new().logged_in();
    assert!(scenario.session.adopt(None));
    assert_eq!(scenario.session.tokens(), None);
    // No revocation request: the process that logged out did that.
    let _ = scenario.expect_send(RequestKind::PasswordGrant);
}

#[test]
fn an_asked_login_is_not_replaced_by_a_stored_set() {
    let mut scenario = Scenario::new().logged_in();
    let held = scenario.session.tokens().cloned();
    scenario.session.login(Credentials::new(USERNAME, PASSWORD));
    let set = others_set(&scenario, 7);
    assert!(!scenario.session.adopt(Some(set)));
    assert_eq!(scenario.session.tokens(), held.as_ref());
    // The asked login goes out when the held token is due.
    scenario.go_to_usable_until();
    let _ = scenario.expect_send(RequestKind::PasswordGrant);
}

#[test]
fn another_accounts_set_is_not_adopted() {
    let mut scenario = Scenario::new().logged_in();
    let held = scenario.session.tokens().cloned();
    let foreign = others_set(&scenario, 7).with_username("someone@else.example");
    assert!(!scenario.session.adopt(Some(foreign)));
    assert_eq!(scenario.session.tokens(), held.as_ref());
}

#[test]
fn a_logged_out_session_adopts_nothing() {
    let (mut scenario, _) = Scenario::new().revoked();
    let set = others_set(&scenario, 7);
    assert!(!scenario.session.adopt(Some(set)));
    assert_eq!(scenario.expect_stop().kind(), ErrorKind::LoginRequired);
}

#[test]
fn lifetimes_count_from_when_a_held_back_request_went_out() {
    // Handed out at T0, sent 50 s later after a lease wait, answered with a 100 s lifetime:
    // from T0 it would be usable only until T0+40 (60 s leeway), already past.
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    scenario.advance(secs(50));
    assert!(scenario.session.mark_sent(login.id(), scenario.now));
    let answer = reply(200, token_body(&access(1), 100, Some(&refresh(1))));
    assert_eq!(scenario.answer(&login, &answer), Ok(()));
    let token = poll(&mut scenario.session, scenario.now);
    assert!(matches!(token, Action::UseToken(_)), "{token:?}");
    assert_eq!(
        scenario.session.authorization().map(|a| a.usable_until()),
        Some(scenario.now.saturating_add(secs(40)))
    );
    assert!(!scenario.session.mark_sent(foreign_id(99), scenario.now));
}

#[test]
fn without_mark_sent_the_same_answer_is_within_the_leeway() {
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    scenario.advance(secs(50));
    let answer = reply(200, token_body(&access(1), 100, Some(&refresh(1))));
    let error = scenario
        .answer(&login, &answer)
        .expect_err("within the leeway");
    assert_eq!(error.kind(), ErrorKind::LifetimeWithinLeeway);
    assert!(
        error.to_string().contains("went out 50s ago"),
        "the message says the clock ran while it was out: {error}"
    );
}

#[test]
fn a_store_error_pauses_keeps_the_token_and_says_why() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let held = scenario.session.tokens().cloned();
    let error = scenario.session.handle_store_error(
        refresh_request.id(),
        scenario.now,
        StoreError::new(StoreErrorKind::Unavailable, "redis down"),
    );
    assert_eq!(error.kind(), ErrorKind::Store);
    assert!(error.is_retryable());
    assert_eq!(
        error.store_error().map(StoreError::kind),
        Some(StoreErrorKind::Unavailable)
    );
    assert_eq!(scenario.session.tokens(), held.as_ref(), "nothing dropped");
    // Paused: the minimum retry delay passes before the next request.
    assert_eq!(scenario.expect_stop().kind(), ErrorKind::Store);
    scenario.advance(secs(1));
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn a_corrupt_store_is_not_worth_retrying() {
    let error: keliweb_oauth::Error =
        StoreError::new(StoreErrorKind::Corrupt, "tokens.json: not JSON").into();
    assert!(!error.is_retryable());
    assert!(std::error::Error::source(&error).is_some());
    assert!(
        error.to_string().contains("tokens.json: not JSON"),
        "{error}"
    );
}

#[test]
fn mark_sent_names_only_the_request_out() {
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    assert!(!scenario.session.mark_sent(foreign_id(99), scenario.now));
    assert!(scenario.session.mark_sent(login.id(), scenario.now));
}

#[test]
fn adopting_a_logout_is_a_change_of_the_set() {
    let mut scenario = Scenario::new().logged_in();
    let before = scenario.session.generation();
    assert!(scenario.session.adopt(None));
    assert!(scenario.session.generation() > before);
}

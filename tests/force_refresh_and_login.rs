//! `force_refresh` refreshes at once; `login()` lifts a stop and makes the next token request a
//! password grant.

mod support;

use keliweb_oauth::{Credentials, ErrorKind, RequestKind};
use support::*;

#[test]
fn force_refresh_refreshes_a_token_that_is_still_fresh() {
    let mut scenario = Scenario::new().logged_in();
    let old = scenario.expect_use();
    scenario.session.force_refresh();
    // The old token keeps authorizing calls until the new one is in.
    let mut call = http::Request::new(());
    assert_eq!(
        scenario.session.authorize(scenario.now, &mut call),
        Ok(old.token_id())
    );
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    assert_eq!(form(&refresh_request), refresh_fields(&refresh(1)));
    scenario.expect_wait(refresh_request.id());
    scenario.answer_tokens(&refresh_request);
    let new = scenario.expect_use();
    assert_ne!(new.token_id(), old.token_id());
    assert_eq!(
        new.expose_header_value(),
        format!("Bearer {}", access(2)).as_str()
    );
}

#[test]
fn a_failed_forced_refresh_keeps_the_working_token() {
    let mut scenario = Scenario::new().logged_in();
    let old = scenario.expect_use();
    scenario.session.force_refresh();
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    let failure = scenario.session.handle_response(
        refresh_request.id(),
        scenario.now,
        &http::Response::builder()
            .status(503)
            .body(Vec::new())
            .expect("valid response"),
    );
    assert_eq!(failure.expect_err("a 503").kind(), ErrorKind::ServerError);
    assert_eq!(scenario.expect_use().token_id(), old.token_id());
}

#[test]
fn force_refresh_with_a_request_in_flight_sends_nothing_more() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    scenario.session.force_refresh();
    scenario.expect_wait(refresh_request.id());
}

#[test]
fn login_lifts_a_stop_and_sends_the_new_credentials() {
    let mut scenario = Scenario::new().stopped_by_refused_password();
    assert_eq!(scenario.expect_stop().kind(), ErrorKind::InvalidCredentials);
    scenario
        .session
        .login(Credentials::new("other@example.com", "s3cond try"));
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    assert_eq!(
        form(&login),
        fields(&[
            ("grant_type", "password"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("username", "other@example.com"),
            ("password", "s3cond try"),
        ])
    );
    scenario.answer_tokens(&login);
    let _ = scenario.expect_use();
}

#[test]
fn login_while_holding_tokens_uses_the_password_at_the_next_token_request() {
    let mut scenario = Scenario::new().logged_in();
    scenario
        .session
        .login(Credentials::new(USERNAME, "rotated-password"));
    // The usable token is still handed out.
    let _ = scenario.expect_use();
    // The next token request is a password grant, although a live refresh token is held.
    scenario.go_to_usable_until();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    assert_eq!(form(&login), password_fields("rotated-password"));
    scenario.answer_tokens(&login);
    // Afterwards refreshes are back to normal.
    scenario.go_to_usable_until();
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    assert_eq!(form(&refresh_request), refresh_fields(&refresh(2)));
}

#[test]
fn login_after_a_refused_password_with_a_forgetful_session_works() {
    let mut scenario = Scenario::forgetting_password();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    let _ = scenario.answer(&login, &invalid_credentials_v7());
    assert_eq!(scenario.expect_stop().kind(), ErrorKind::InvalidCredentials);
    scenario.session.login(Credentials::new(USERNAME, PASSWORD));
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    scenario.answer_tokens(&login);
}

#[test]
fn a_refusal_of_the_old_password_does_not_undo_a_login_made_meanwhile() {
    // The password grant with the old password is out when the caller supplies a new one.
    let mut scenario = Scenario::new();
    let old_login = scenario.expect_send(RequestKind::PasswordGrant);
    scenario
        .session
        .login(Credentials::new(USERNAME, "the-new-password"));
    let error = scenario
        .answer(&old_login, &invalid_grant_password())
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidCredentials);
    // The new password has not been refused: it is sent, not dropped.
    let new_login = scenario.expect_send(RequestKind::PasswordGrant);
    assert_eq!(form(&new_login), password_fields("the-new-password"));
}

#[test]
fn new_credentials_survive_the_success_of_a_grant_sent_with_the_old_ones() {
    let mut scenario = Scenario::forgetting_password();
    let stale = scenario.expect_send(RequestKind::PasswordGrant);
    scenario
        .session
        .login(Credentials::new("other@example.com", "n3w pass"));
    scenario.answer_tokens(&stale);
    // The old grant's tokens are used meanwhile; the next token request logs in as asked.
    let _ = scenario.expect_use();
    scenario.go_to_usable_until();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    assert_eq!(form(&login)["username"], "other@example.com");
    assert_eq!(form(&login)["password"], "n3w pass");
}

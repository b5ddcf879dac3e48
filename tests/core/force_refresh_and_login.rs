//! `force_refresh` refreshes at once; `login()` lifts a stop and makes the next token request a
//! password grant.

use keliweb_oauth::{
    Config, Credentials, ErrorKind, TokenSet, sans_io::RequestKind, secret::AccessToken,
};

use crate::support::*;

#[test]
fn force_refresh_refreshes_a_token_that_is_still_fresh() {
    let mut scenario = Scenario::new().logged_in();
    let old = scenario.expect_use();
    scenario.session.force_refresh();
    // The old token keeps authorizing calls until the new one is in.
    let mut call = http::Request::get(API_URL).body(()).expect("request");
    assert_eq!(
        scenario.session.authorize(scenario.now, &mut call),
        Ok(old.token_id())
    );
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    assert_eq!(form(&refresh_request), refresh_fields(&refresh(1)));
    // No caller waits while a usable token exists: polls hand out the old one meanwhile.
    assert_eq!(scenario.expect_use().token_id(), old.token_id());
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
    // The old grant's tokens belong to the old account: not handed out for the new one, whose
    // login goes out at once.
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    assert_eq!(form(&login)["username"], "other@example.com");
    assert_eq!(form(&login)["password"], "n3w pass");
}

#[test]
fn a_forced_refresh_whose_refresh_token_is_dead_goes_on_as_one_login() {
    for (shape, refusal) in [
        ("Passport 8", refresh_invalid_v8()),
        ("Passport 9", refresh_invalid_v9()),
    ] {
        let mut scenario = Scenario::new().logged_in();
        let stale = scenario.expect_use();
        scenario.session.force_refresh();
        let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
        let progress = scenario.answer(&refresh_request, &refusal);
        assert_eq!(
            progress.map_err(|error| error.kind()),
            Err(ErrorKind::RefreshTokenRejected),
            "{shape}"
        );
        // Not the token the refusal showed to be stale: a password login.
        let login = scenario.expect_send(RequestKind::PasswordGrant);
        scenario.answer_tokens(&login);
        let fresh = scenario.expect_use();
        assert_ne!(fresh.token_id(), stale.token_id(), "{shape}");
    }
}

#[test]
fn a_password_grant_replaces_the_whole_set() {
    let mut scenario = Scenario::new().logged_in();
    assert!(scenario.tokens().refresh_token().is_some());
    scenario
        .session
        .login(Credentials::new("bob@example.com", "bob-pw"));
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    // An answer without a refresh token: alice's must not survive into bob's set.
    let answer = reply(200, token_body("bob-access", 3600, None));
    assert!(scenario.answer(&login, &answer).is_ok());
    let tokens = scenario.tokens();
    assert!(
        tokens.refresh_token().is_none(),
        "alice's refresh token kept"
    );
    assert_eq!(tokens.username(), Some("bob@example.com"));
}

#[test]
fn a_refresh_keeps_the_username_the_login_recorded() {
    let mut scenario = Scenario::new().logged_in();
    scenario.session.force_refresh();
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    scenario.answer_tokens(&refresh_request);
    assert_eq!(scenario.tokens().username(), Some(USERNAME));
}

#[test]
fn login_as_another_account_stops_handing_out_the_old_token_at_once() {
    let mut scenario = Scenario::new().logged_in();
    assert_eq!(scenario.tokens().username(), Some(USERNAME));
    scenario
        .session
        .login(Credentials::new("bob@example.com", "bob-pw"));
    let mut call = http::Request::get(API_URL).body(()).expect("request");
    assert_eq!(
        scenario.session.authorize(scenario.now, &mut call),
        Err(keliweb_oauth::sans_io::NotAuthorized::NoToken)
    );
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    assert_eq!(form(&login)["username"], "bob@example.com");
}

#[test]
fn login_as_the_same_account_keeps_the_working_token_until_the_new_one() {
    let mut scenario = Scenario::new().logged_in();
    let current = scenario.expect_use();
    scenario
        .session
        .login(Credentials::new(USERNAME, "new-password"));
    let mut call = http::Request::get(API_URL).body(()).expect("request");
    assert_eq!(
        scenario.session.authorize(scenario.now, &mut call),
        Ok(current.token_id())
    );
}

#[test]
fn a_stale_grant_for_the_old_account_is_not_handed_out_after_a_switch() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    scenario
        .session
        .login(Credentials::new("bob@example.com", "bob-pw"));
    // Alice's refresh answer arrives after the switch: stored, but not used for bob.
    scenario.answer_tokens(&refresh_request);
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    assert_eq!(form(&login)["username"], "bob@example.com");
}

#[test]
fn a_token_of_unknown_owner_is_withdrawn_by_any_login() {
    let stored = Scenario::new().logged_in().tokens();
    let unknown_owner: keliweb_oauth::TokenSet = serde_json::from_str(
        &serde_json::to_string(&stored)
            .expect("json")
            .replace(&format!(r#","username":"{USERNAME}""#), ""),
    )
    .expect("a set without username");
    assert_eq!(unknown_owner.username(), None);
    let mut scenario = Scenario::without_credentials(|builder| builder);
    scenario.session = keliweb_oauth::sans_io::Session::new(config().build().expect("config"))
        .with_tokens(unknown_owner);
    let _ = scenario.expect_use();
    scenario.session.login(Credentials::new(USERNAME, PASSWORD));
    let _ = scenario.expect_send(RequestKind::PasswordGrant);
}

#[test]
fn an_absurd_expires_in_is_cut_to_the_configured_maximum() {
    for (name, body) in [
        (
            "1e19",
            r#"{"token_type":"Bearer","expires_in":1e19,"access_token":"a.b.c"}"#,
        ),
        (
            "u64::MAX",
            r#"{"token_type":"Bearer","expires_in":18446744073709551615,"access_token":"a.b.c"}"#,
        ),
    ] {
        let mut scenario = Scenario::new();
        let login = scenario.expect_send(RequestKind::PasswordGrant);
        assert!(scenario.answer(&login, &reply(200, body)).is_ok(), "{name}");
        let year = Config::DEFAULT_MAX_ACCESS_TOKEN_LIFETIME;
        assert_eq!(
            scenario.tokens().access_token_expires_at(),
            scenario.now.saturating_add(year),
            "{name}"
        );
    }
    let short = std::time::Duration::from_secs(7200);
    let mut scenario = Scenario::with(|builder| builder.max_access_token_lifetime(short));
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    scenario.answer_tokens(&login); // expires_in 3600: under the cap, kept
    assert_eq!(
        scenario.tokens().access_token_expires_at(),
        scenario.now.saturating_add(HOUR)
    );
    scenario.session.force_refresh();
    let refresh = scenario.expect_send(RequestKind::RefreshGrant);
    let long = reply(200, token_body("a.b.d", 86_400, Some("r2")));
    assert!(scenario.answer(&refresh, &long).is_ok());
    assert_eq!(
        scenario.tokens().access_token_expires_at(),
        scenario.now.saturating_add(short)
    );
}

#[test]
fn a_stored_set_of_another_account_is_not_used_for_the_configured_one() {
    let stored = Scenario::new().logged_in().tokens();
    assert_eq!(stored.username(), Some(USERNAME));
    let bob = || {
        Config::keliweb(CLIENT_ID, CLIENT_SECRET)
            .credentials("bob@example.com", "bob-pw")
            .build()
            .expect("config")
    };
    let mut scenario = Scenario::from_config(bob());
    scenario.session = keliweb_oauth::sans_io::Session::new(bob()).with_tokens(stored.clone());
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    assert_eq!(form(&login)["username"], "bob@example.com");

    // The same account resumes without a login.
    let mut same = Scenario::new();
    same.session =
        keliweb_oauth::sans_io::Session::new(config_with_credentials()).with_tokens(stored);
    let _ = same.expect_use();
}

#[test]
fn a_forced_refresh_with_nothing_to_send_keeps_the_working_token() {
    // No credentials, and a set without a refresh token: a forced refresh cannot go out.
    let mut scenario = Scenario::without_credentials(|builder| builder);
    let set = TokenSet::new(
        AccessToken::new("still.valid.token"),
        scenario.now.saturating_add(HOUR),
        None,
    )
    .expect("a set");
    scenario.session =
        keliweb_oauth::sans_io::Session::new(scenario.session.config().clone()).with_tokens(set);
    let current = scenario.expect_use();
    scenario.session.force_refresh();
    assert_eq!(scenario.expect_use().token_id(), current.token_id());
    // And it stays usable afterwards, poll after poll.
    assert_eq!(scenario.expect_use().token_id(), current.token_id());
}

fn config_with_credentials() -> Config {
    config().build().expect("config")
}

#[test]
fn a_refresh_forced_during_a_pause_goes_out_when_the_pause_ends() {
    let mut scenario = Scenario::with(|config| config.min_retry_delay(secs(5)));
    scenario = scenario.logged_in();
    scenario.session.force_refresh();
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    let busy = reply(503, Vec::new());
    assert!(scenario.answer(&refresh_request, &busy).is_err());
    // Asked again while paused: the token is fresh, yet the refresh goes out after the pause.
    scenario.session.force_refresh();
    scenario.advance(secs(5));
    let _ = scenario.expect_send(RequestKind::RefreshGrant);
}

#[test]
fn poll_timeout_says_when_the_session_next_needs_a_poll() {
    let mut scenario = Scenario::with(|config| config.min_retry_delay(secs(5)));
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    assert!(scenario.answer(&login, &tokens_reply(1)).is_ok());
    // The new set is to be stored: at once.
    assert_eq!(
        scenario.session.poll_timeout(scenario.now),
        Some(scenario.now)
    );
    let token = scenario.expect_use();
    assert_eq!(
        scenario.session.poll_timeout(scenario.now),
        Some(token.refresh_at())
    );
    // A refresh out: the token's end, when callers would have to wait.
    scenario.session.force_refresh();
    let refresh_request = scenario.expect_send(RequestKind::RefreshGrant);
    assert_eq!(
        scenario.session.poll_timeout(scenario.now),
        Some(token.usable_until())
    );
    // Paused, then the pause's end, where the fresh token's own refresh point is next.
    assert!(
        scenario
            .answer(&refresh_request, &reply(503, Vec::new()))
            .is_err()
    );
    let _ = scenario.expect_use();
    assert_eq!(
        scenario.session.poll_timeout(scenario.now),
        Some(scenario.now.saturating_add(secs(5)))
    );
    scenario.advance(secs(5));
    assert_eq!(
        scenario.session.poll_timeout(scenario.now),
        Some(token.refresh_at())
    );
}

#[test]
fn a_password_grant_without_a_scope_keeps_none_of_the_old_one() {
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    let scoped = reply(
        200,
        r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ0.c2NvcGVk.c2ln","refresh_token":"def502scoped","scope":"invoices"}"#,
    );
    assert!(scenario.answer(&login, &scoped).is_ok());
    assert_eq!(scenario.tokens().scope(), Some("invoices"));
    // Another account's login: its answer says no scope, and none of the old one is kept.
    scenario
        .session
        .login(Credentials::new("bob@example.com", "bob-pw"));
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    assert!(scenario.answer(&login, &tokens_reply(2)).is_ok());
    assert_eq!(scenario.tokens().scope(), None);
}

//! A dead refresh token (both Passport shapes) leads to exactly one password login; a refused
//! password stops the session until `login()`; without a kept password, `LoginRequired`.
//! The shapes: `docs/passport.md#dead-refresh-token`.

use http::{Response, StatusCode};
use keliweb_oauth::{Credentials, ErrorKind, sans_io::RequestKind};

use crate::support::*;

fn dead_refresh_shapes() -> Vec<(&'static str, Response<Vec<u8>>, StatusCode)> {
    vec![
        (
            "Passport <= 8.5: 401 invalid_request",
            refresh_invalid_v8(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "Passport 9: 400 invalid_grant",
            refresh_invalid_v9(),
            StatusCode::BAD_REQUEST,
        ),
    ]
}

#[test]
fn both_shapes_drop_the_refresh_token_then_log_in_once_with_the_password() {
    for (shape, response, status) in dead_refresh_shapes() {
        let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
        let generation = scenario.generation();
        let progress = scenario.answer(&refresh_request, &response);
        let Err(error) = progress else {
            panic!("{shape}: expected RefreshTokenRejected, got {progress:?}");
        };
        assert_eq!(error.kind(), ErrorKind::RefreshTokenRejected, "{shape}");
        assert_eq!(error.status(), Some(status), "{shape}");
        assert!(scenario.tokens().refresh_token().is_none(), "{shape}");
        assert!(
            scenario.generation() > generation,
            "{shape}: dropping the refresh token is a change to persist"
        );

        let login = scenario.expect_send(RequestKind::PasswordGrant);
        assert_eq!(form(&login), password_fields(PASSWORD), "{shape}");
        scenario.expect_wait(login.id());
        scenario.answer_tokens(&login);
        let auth = scenario.expect_use();
        assert_eq!(
            auth.expose_header_value(),
            format!("Bearer {}", access(2)).as_str(),
            "{shape}"
        );
        assert_eq!(
            scenario.tokens().refresh_token().unwrap().expose_secret(),
            refresh(2)
        );
    }
}

#[test]
fn a_refused_fallback_login_stops_the_session_and_never_resends_the_password() {
    for (shape, refusal) in [
        ("400 invalid_grant", invalid_grant_password()),
        ("401 invalid_credentials", invalid_credentials_v7()),
    ] {
        let (mut scenario, login) = Scenario::new().relogin_in_flight();
        let error = scenario
            .answer(&login, &refusal)
            .expect_err("a refused password is an error");
        assert_eq!(error.kind(), ErrorKind::InvalidCredentials, "{shape}");
        assert!(!error.is_retryable(), "{shape}");

        // Stop, with the same error, forever: no request of any kind.
        for later in [secs(0), secs(1), HOUR, TEN_DAYS, TEN_DAYS * 100] {
            scenario.advance(later);
            let stop = scenario.expect_stop();
            assert_eq!(stop, error, "{shape}");
        }
        scenario.session.force_refresh();
        assert_eq!(scenario.expect_stop().kind(), ErrorKind::InvalidCredentials);

        // login() lifts the stop: the new password is sent.
        scenario
            .session
            .login(Credentials::new(USERNAME, "new-password"));
        let relogin = scenario.expect_send(RequestKind::PasswordGrant);
        assert_eq!(form(&relogin), password_fields("new-password"), "{shape}");
    }
}

#[test]
fn a_first_login_refused_stops_too() {
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    let error = scenario
        .answer(&login, &invalid_grant_password())
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidCredentials);
    assert_eq!(error.status(), Some(StatusCode::BAD_REQUEST));
    scenario.advance(HOUR);
    assert_eq!(scenario.expect_stop(), error);
}

#[test]
fn without_a_kept_password_a_dead_refresh_token_means_login_required() {
    for (shape, response, _) in dead_refresh_shapes() {
        let (mut scenario, refresh_request) = Scenario::forgetting_password().refresh_in_flight();
        let error = scenario
            .answer(&refresh_request, &response)
            .expect_err("no password to fall back on");
        assert_eq!(error.kind(), ErrorKind::LoginRequired, "{shape}");
        assert!(scenario.tokens().refresh_token().is_none(), "{shape}");
        for later in [secs(0), HOUR, TEN_DAYS] {
            scenario.advance(later);
            assert_eq!(
                scenario.expect_stop().kind(),
                ErrorKind::LoginRequired,
                "{shape}"
            );
        }
        scenario.session.login(Credentials::new(USERNAME, PASSWORD));
        let login = scenario.expect_send(RequestKind::PasswordGrant);
        assert_eq!(form(&login), password_fields(PASSWORD));
    }
}

#[test]
fn forgetting_the_password_still_refreshes_while_the_refresh_token_lives() {
    let (mut scenario, refresh_request) = Scenario::forgetting_password().refresh_in_flight();
    assert_eq!(form(&refresh_request), refresh_fields(&refresh(1)));
    scenario.answer_tokens(&refresh_request);
}

#[test]
fn a_refresh_token_past_its_configured_lifetime_is_not_sent() {
    let lifetime = secs(2 * 3600);
    // Just before the refresh token's end: refresh.
    let mut before_end =
        Scenario::with(|config| config.refresh_token_lifetime(lifetime)).logged_in();
    assert_eq!(
        before_end.tokens().refresh_token_expires_at(),
        Some(T0.saturating_add(lifetime))
    );
    before_end.set_now(T0.saturating_add(lifetime - millis(1)));
    let refresh_request = before_end.expect_send(RequestKind::RefreshGrant);
    assert_eq!(form(&refresh_request), refresh_fields(&refresh(1)));

    // From its end on: a password login, no refresh grant.
    let mut at_end = Scenario::with(|config| config.refresh_token_lifetime(lifetime)).logged_in();
    at_end.set_now(T0.saturating_add(lifetime));
    let login = at_end.expect_send(RequestKind::PasswordGrant);
    assert_eq!(form(&login), password_fields(PASSWORD));
    at_end.answer_tokens(&login);
}

#[test]
fn a_refresh_token_past_its_lifetime_without_a_password_means_login_required() {
    let mut scenario = Scenario::forgetting_password().logged_in();
    scenario.advance(TEN_DAYS);
    assert_eq!(scenario.expect_stop().kind(), ErrorKind::LoginRequired);
}

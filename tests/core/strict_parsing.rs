//! A 2xx body that would hand out a broken token (token type MAC, a bad `expires_in`, header
//! bytes in the access token…) is `UnexpectedResponse`, and nothing held is lost: on a refresh,
//! the rotated refresh token it carries is kept, since Passport has already retired the old one
//! (`docs/passport.md#rotation`).

use keliweb_oauth::{ErrorKind, sans_io::RequestKind};

use crate::support::*;

const BROKEN_SUCCESSES: &[&str] = &[
    r#"{"token_type":"MAC","expires_in":3600,"access_token":"mac.token","refresh_token":"r2","mac_key":"k"}"#,
    r#"{"token_type":"Bearer","expires_in":0,"access_token":"a.b.c","refresh_token":"r2"}"#,
    r#"{"token_type":"Bearer","expires_in":-3600,"access_token":"a.b.c","refresh_token":"r2"}"#,
    r#"{"token_type":"Bearer","expires_in":"an hour","access_token":"a.b.c","refresh_token":"r2"}"#,
    r#"{"token_type":"Bearer","expires_in":"-1","access_token":"a.b.c","refresh_token":"r2"}"#,
    r#"{"token_type":"Bearer","expires_in":0.5,"access_token":"a.b.c","refresh_token":"r2"}"#,
    // A string is read only as digits with a decimal point: not an exponent, not an infinity.
    r#"{"token_type":"Bearer","expires_in":"1e3","access_token":"a.b.c","refresh_token":"r2"}"#,
    r#"{"token_type":"Bearer","expires_in":"inf","access_token":"a.b.c","refresh_token":"r2"}"#,
    // A field sent twice: which one holds is anyone's guess.
    r#"{"token_type":"Bearer","expires_in":3600,"expires_in":60,"access_token":"a.b.c","refresh_token":"r2"}"#,
    r#"{"token_type":"Bearer","expires_in":3600,"access_token":"a.b.c","hint":"x","hint":"y","refresh_token":"r2"}"#,
    r#"{"token_type":"Bearer","expires_in":true,"access_token":"a.b.c","refresh_token":"r2"}"#,
    r#"{"token_type":"Bearer","expires_in":3600,"access_token":"a.b.c\r\nX-Injected: 1","refresh_token":"r2"}"#,
    r#"{"token_type":"Bearer","expires_in":3600,"access_token":"a b","refresh_token":"r2"}"#,
    r#"{"token_type":"Bearer","expires_in":3600,"access_token":"","refresh_token":"r2"}"#,
    r#"{"token_type":"Bearer","expires_in":3600,"refresh_token":"r2"}"#,
    r#"{"token_type":"Bearer","expires_in":3600,"access_token":42,"refresh_token":"r2"}"#,
    r#"[{"access_token":"a.b.c"}]"#,
    r#"{"token_type":"Bearer","access_token":"a.b.c""#,
    "<!DOCTYPE html><html><body>Login</body></html>",
    "",
];

#[test]
fn broken_successes_are_unexpected_and_lose_nothing_on_a_refresh() {
    for body in BROKEN_SUCCESSES {
        let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
        let before = scenario.snapshot();
        let error = scenario
            .answer(&refresh_request, &reply(200, *body))
            .expect_err("a broken success is refused");
        assert_eq!(error.kind(), ErrorKind::UnexpectedResponse, "{body}");
        let after = scenario.snapshot();
        assert_eq!(after.authorization, before.authorization, "{body}");
        let rotated = body.contains(r#""refresh_token":"r2""#);
        let kept = scenario
            .session
            .tokens()
            .and_then(|tokens| tokens.refresh_token())
            .map(|token| token.expose_secret().to_owned());
        if rotated {
            assert_eq!(
                kept.as_deref(),
                Some("r2"),
                "{body}: rotated refresh token lost"
            );
            assert!(
                after.generation > before.generation,
                "{body}: store not told"
            );
        } else {
            assert_eq!(after.tokens, before.tokens, "{body}: token set changed");
            assert_eq!(after.generation, before.generation, "{body}");
        }
        // A refresh token is tried again, never replaced by a password login.
        scenario.advance(secs(1));
        let retry = scenario.expect_send(RequestKind::RefreshGrant);
        let expected = if rotated { "r2".to_owned() } else { refresh(1) };
        assert_eq!(form(&retry), refresh_fields(&expected), "{body}");
    }
}

#[test]
fn broken_successes_on_a_login_install_nothing() {
    for body in BROKEN_SUCCESSES {
        let mut scenario = Scenario::new();
        let login = scenario.expect_send(RequestKind::PasswordGrant);
        let error = scenario
            .answer(&login, &reply(200, *body))
            .expect_err("a broken success is refused");
        assert_eq!(error.kind(), ErrorKind::UnexpectedResponse, "{body}");
        assert!(scenario.session.tokens().is_none(), "{body}");
        assert!(scenario.session.authorization().is_none(), "{body}");
        assert_eq!(scenario.generation(), 0, "{body}");
    }
}

#[test]
fn a_redirect_to_a_login_page_is_unexpected() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let error = scenario
        .answer(
            &refresh_request,
            &reply_with(302, &[("location", "https://apiv2.keliweb.it/login")], ""),
        )
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnexpectedResponse);
    assert!(scenario.tokens().refresh_token().is_some());
}

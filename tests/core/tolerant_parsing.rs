//! What real servers send differently is accepted: `expires_in` as a string, no `token_type`,
//! "bearer", no `refresh_token` (the current one is kept), unknown fields, no `expires_in`.

use keliweb_oauth::{Config, sans_io::RequestKind};

use crate::support::*;

/// Answers the refresh in flight with `body` and returns the scenario.
fn refresh_answered_with(body: &str) -> Scenario {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    assert_eq!(
        scenario.answer(&refresh_request, &reply(200, body)),
        Ok(()),
        "{body}"
    );
    scenario
}

#[test]
fn expires_in_as_a_string_is_read() {
    let scenario = refresh_answered_with(
        r#"{"token_type":"Bearer","expires_in":"7200","access_token":"new.access.token","refresh_token":"r2"}"#,
    );
    assert_eq!(
        scenario.tokens().access_token_expires_at(),
        scenario.now.saturating_add(secs(7200))
    );
}

#[test]
fn a_missing_or_lowercase_token_type_is_bearer() {
    for body in [
        r#"{"expires_in":3600,"access_token":"new.access.token","refresh_token":"r2"}"#,
        r#"{"token_type":"bearer","expires_in":3600,"access_token":"new.access.token","refresh_token":"r2"}"#,
        r#"{"token_type":"BEARER","expires_in":3600,"access_token":"new.access.token","refresh_token":"r2"}"#,
    ] {
        let mut scenario = refresh_answered_with(body);
        let auth = scenario.expect_use();
        assert_eq!(auth.expose_header_value(), "Bearer new.access.token");
    }
}

#[test]
fn a_missing_refresh_token_keeps_the_current_one_and_its_expiry() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let old_expiry = scenario.tokens().refresh_token_expires_at();
    assert!(old_expiry.is_some());
    let answered = scenario.answer(
        &refresh_request,
        &reply(
            200,
            r#"{"token_type":"Bearer","expires_in":3600,"access_token":"new.access.token"}"#,
        ),
    );
    assert_eq!(answered, Ok(()));
    let tokens = scenario.tokens();
    assert_eq!(tokens.access_token().expose_secret(), "new.access.token");
    assert_eq!(tokens.refresh_token().unwrap().expose_secret(), refresh(1));
    assert_eq!(tokens.refresh_token_expires_at(), old_expiry);

    // An empty refresh token is the same as none.
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let answered = scenario.answer(
        &refresh_request,
        &reply(
            200,
            r#"{"expires_in":3600,"access_token":"new.access.token","refresh_token":""}"#,
        ),
    );
    assert_eq!(answered, Ok(()));
    assert_eq!(
        scenario.tokens().refresh_token().unwrap().expose_secret(),
        refresh(1)
    );
}

#[test]
fn unknown_fields_and_a_byte_order_mark_are_ignored() {
    let mut scenario = refresh_answered_with(
        "\u{feff}{\"token_type\":\"Bearer\",\"expires_in\":3600,\"access_token\":\"new.access.token\",\"refresh_token\":\"r2\",\"scope\":\"*\",\"user\":{\"id\":1,\"roles\":[\"a\"]},\"id_token\":null}",
    );
    let _ = scenario.expect_use();
    assert_eq!(
        scenario.tokens().refresh_token().unwrap().expose_secret(),
        "r2"
    );
}

#[test]
fn a_missing_expires_in_uses_the_default_lifetime() {
    let scenario = refresh_answered_with(r#"{"access_token":"new.access.token"}"#);
    assert_eq!(
        scenario.tokens().access_token_expires_at(),
        scenario
            .now
            .saturating_add(Config::DEFAULT_ACCESS_TOKEN_LIFETIME)
    );
    let custom = {
        let mut scenario = Scenario::with(|config| config.default_access_token_lifetime(secs(600)));
        let login = scenario.expect_send(RequestKind::PasswordGrant);
        let _ = scenario.answer(&login, &reply(200, r#"{"access_token":"a.b.c"}"#));
        scenario
    };
    assert_eq!(
        custom.tokens().access_token_expires_at(),
        T0.saturating_add(secs(600))
    );
}

#[test]
fn any_2xx_status_is_a_success() {
    for status in [201, 203] {
        let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
        assert_eq!(
            scenario.answer(
                &refresh_request,
                &reply(status, token_body("x.y.z", 3600, Some("r9")))
            ),
            Ok(()),
            "{status}"
        );
    }
}

#[test]
fn expires_in_null_is_no_expires_in_and_a_decimal_string_is_read() {
    let null = refresh_answered_with(r#"{"expires_in":null,"access_token":"new.access.token"}"#);
    assert_eq!(
        null.tokens().access_token_expires_at(),
        null.now
            .saturating_add(Config::DEFAULT_ACCESS_TOKEN_LIFETIME)
    );
    let decimal =
        refresh_answered_with(r#"{"expires_in":" 3600.5 ","access_token":"new.access.token"}"#);
    assert_eq!(
        decimal.tokens().access_token_expires_at(),
        decimal.now.saturating_add(secs(3600))
    );
}

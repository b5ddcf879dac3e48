//! How a refused token request is classified, rule by rule, and what an unreadable answer's
//! error says about it.

use keliweb_oauth::{ErrorKind, sans_io::RequestKind};

use crate::support::*;

/// The kind of error a refresh answered with `status` and `body` is.
fn refresh_refused_as(status: u16, body: &str) -> ErrorKind {
    let mut scenario = Scenario::new().logged_in();
    scenario.go_to_usable_until();
    let refresh = scenario.expect_send(RequestKind::RefreshGrant);
    match scenario.answer(&refresh, &reply(status, body)) {
        Err(error) => error.kind(),
        Ok(()) => panic!("accepted"),
    }
}

#[test]
fn an_invalid_request_on_a_refresh_means_a_dead_token_when_it_is_a_401_or_names_the_token() {
    // Passport up to 8.5: a 401, whatever the description says.
    assert_eq!(
        refresh_refused_as(
            401,
            r#"{"error":"invalid_request","error_description":"Bad."}"#
        ),
        ErrorKind::RefreshTokenRejected
    );
    // A 400 that names the refresh token, with a space or as the parameter, in any field.
    for body in [
        r#"{"error":"invalid_request","error_description":"The Refresh Token is invalid."}"#,
        r#"{"error":"invalid_request","message":"the refresh token is invalid"}"#,
        r#"{"error":"invalid_request","hint":"Check the `refresh_token` parameter"}"#,
    ] {
        assert_eq!(
            refresh_refused_as(400, body),
            ErrorKind::RefreshTokenRejected,
            "{body}"
        );
    }
    // A 400 about anything else is the request's fault, and the refresh token is kept.
    assert_eq!(
        refresh_refused_as(
            400,
            r#"{"error":"invalid_request","hint":"Check the `grant_type` parameter"}"#
        ),
        ErrorKind::InvalidRequest
    );
}

/// The detail of the error for a 200 answer with `body`.
fn detail_for(body: &str) -> String {
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    let error = scenario
        .answer(&login, &reply(200, body))
        .expect_err("not a token answer");
    assert_eq!(error.kind(), ErrorKind::UnexpectedResponse);
    error.detail().expect("a detail").to_owned()
}

#[test]
fn an_unreadable_answer_says_how_and_where() {
    let not_json = detail_for("<html>");
    assert!(
        not_json.contains("not valid JSON (line 1, column 1)"),
        "{not_json}"
    );
    let truncated = detail_for(r#"{"access_token":"#);
    assert!(truncated.contains("truncated JSON (line 1"), "{truncated}");
    let wrong_shape = detail_for("[1, 2]");
    assert!(
        wrong_shape.contains("JSON of the wrong shape"),
        "{wrong_shape}"
    );
}

//! `invalid_client` and other refusals of the request itself stop the session until `login()`;
//! an `error` field in a 200 body is an error.

use http::StatusCode;
use keliweb_oauth::{Credentials, ErrorKind, sans_io::RequestKind};

use crate::support::*;

#[test]
fn invalid_client_on_the_first_login_stops_for_good() {
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    let error = scenario.answer(&login, &invalid_client()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidClient);
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(
        error.response().and_then(|r| r.error_code()),
        Some("invalid_client")
    );
    assert!(!error.is_retryable());
    for later in [secs(0), secs(5), HOUR, TEN_DAYS] {
        scenario.advance(later);
        assert_eq!(scenario.expect_stop(), error);
    }
}

#[test]
fn invalid_client_on_a_refresh_stops_and_keeps_the_tokens() {
    let (mut scenario, refresh_request) = Scenario::new().refresh_in_flight();
    let before = scenario.snapshot();
    let error = scenario
        .answer(&refresh_request, &invalid_client())
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidClient);
    assert_eq!(
        scenario.snapshot().tokens,
        before.tokens,
        "the refresh token was not said to be dead"
    );
    scenario.advance(HOUR);
    assert_eq!(scenario.expect_stop(), error);
}

#[test]
fn a_request_refused_as_malformed_stops_instead_of_looping() {
    for (name, response) in [
        ("missing parameter", missing_parameter()),
        ("unsupported grant type", unsupported_grant_type()),
    ] {
        let mut scenario = Scenario::new();
        let login = scenario.expect_send(RequestKind::PasswordGrant);
        let error = scenario.answer(&login, &response).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{name}");
        scenario.advance(HOUR);
        assert_eq!(scenario.expect_stop(), error, "{name}");
    }
}

#[test]
fn login_lifts_an_invalid_client_stop() {
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    let _ = scenario.answer(&login, &invalid_client());
    scenario.session.login(Credentials::new(USERNAME, PASSWORD));
    let retry = scenario.expect_send(RequestKind::PasswordGrant);
    scenario.answer_tokens(&retry);
}

#[test]
fn an_error_field_in_a_200_body_is_an_error() {
    let cases = [
        (
            RequestKind::RefreshGrant,
            REFRESH_INVALID_V9,
            ErrorKind::RefreshTokenRejected,
        ),
        (
            RequestKind::RefreshGrant,
            INVALID_CLIENT,
            ErrorKind::InvalidClient,
        ),
        (
            RequestKind::RefreshGrant,
            SERVER_ERROR_JSON,
            ErrorKind::ServerError,
        ),
        (
            RequestKind::PasswordGrant,
            INVALID_GRANT_PASSWORD,
            ErrorKind::InvalidCredentials,
        ),
        (
            RequestKind::PasswordGrant,
            r#"{"error":"invalid_grant","access_token":"eyJ0.eyJ1.c2ln","token_type":"Bearer"}"#,
            ErrorKind::InvalidCredentials,
        ),
    ];
    for (kind, body, expected) in cases {
        let (mut scenario, request) = match kind {
            RequestKind::RefreshGrant => Scenario::new().refresh_in_flight(),
            _ => {
                let mut scenario = Scenario::new();
                let login = scenario.expect_send(RequestKind::PasswordGrant);
                (scenario, login)
            }
        };
        let result = scenario.answer(&request, &reply(200, body));
        let error = match result {
            Err(error) => error,
            Ok(()) => panic!("{body}: accepted"),
        };
        assert_eq!(error.kind(), expected, "{body}");
        assert_eq!(error.status(), Some(StatusCode::OK), "{body}");
        if let Some(tokens) = scenario.session.tokens() {
            assert_ne!(
                tokens.access_token().expose_secret(),
                "eyJ0.eyJ1.c2ln",
                "a token in an error body was installed"
            );
        }
    }
}

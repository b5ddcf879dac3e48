//! Error messages a user can act on: they name the endpoint that answered and, for a 404, say
//! that its URL is probably wrong.

use keliweb_oauth::{Error, ErrorKind, sans_io::RequestKind};

use crate::support::*;

fn shown(error: &Error) -> String {
    error.to_string()
}

#[track_caller]
fn token_error(scenario: &mut Scenario, kind: RequestKind, status: u16, body: &str) -> Error {
    let request = scenario.expect_send(kind);
    let now = scenario.now;
    match scenario
        .session
        .handle_response(request.id(), now, &reply(status, body))
    {
        Err(error) => error,
        Ok(progress) => panic!("{status} accepted as {progress:?}"),
    }
}

#[test]
fn a_404_from_the_token_url_says_the_url_is_probably_wrong() {
    for body in [
        "",
        "<html><h1>404 Not Found</h1></html>",
        r#"{"message":"Not Found"}"#,
    ] {
        let login = token_error(&mut Scenario::new(), RequestKind::PasswordGrant, 404, body);
        let mut expired = Scenario::new().near_expiry();
        let refresh = token_error(&mut expired, RequestKind::RefreshGrant, 404, body);
        for error in [login, refresh] {
            assert_eq!(error.kind(), ErrorKind::UnexpectedResponse);
            let text = shown(&error);
            assert!(
                text.contains("the token URL is probably wrong") && text.contains("404"),
                "{text}"
            );
            assert!(!text.contains("does not send"), "{text}");
        }
    }
}

#[test]
fn other_unexpected_token_answers_still_speak_of_the_token_endpoint() {
    let error = token_error(
        &mut Scenario::new(),
        RequestKind::PasswordGrant,
        200,
        "<html>Login</html>",
    );
    let text = shown(&error);
    assert!(text.contains("token endpoint"), "{text}");
    assert!(!text.contains("probably wrong"), "{text}");
}

#[test]
fn a_failed_revocation_speaks_of_the_revocation_endpoint() {
    let answers = [
        (404, "", "the revocation URL is probably wrong"),
        (302, "", "revocation endpoint"),
        (429, "Too Many Attempts.", "revocation requests"),
        (500, "Server Error", "revocation"),
        (
            400,
            r#"{"error":"invalid_request","error_description":"d"}"#,
            "revocation",
        ),
        (
            401,
            r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
            "revocation",
        ),
    ];
    for (status, body, expected) in answers {
        let (mut scenario, requests) =
            Scenario::with(|config| config.revoke_rfc7009(REVOKE_URL)).revoked();
        let request = requests.first().expect("a revocation request");
        let now = scenario.now;
        let outcome = scenario
            .session
            .handle_response(request.id(), now, &reply(status, body));
        let text = shown(&outcome.expect_err("a failed revocation"));
        assert!(text.contains(expected), "{status}: {text}");
        assert!(
            !text.contains("token endpoint") && !text.contains("token request"),
            "{status}: {text}"
        );
    }
}

/// A server-sent value the error is about is quoted in it (scrubbed, cut short), so the
/// message says what was wrong: the token type, the `expires_in`.
#[test]
fn what_was_wrong_is_quoted() {
    for (body, quoted) in [
        (
            r#"{"token_type":"MAC","expires_in":3600,"access_token":"mac.token","refresh_token":"r2"}"#,
            r#"token type "MAC" is not Bearer"#,
        ),
        (
            r#"{"token_type":"Bearer","expires_in":"an hour","access_token":"a.b.c","refresh_token":"r2"}"#,
            r#"expires_in "an hour" is not a positive number of seconds"#,
        ),
    ] {
        let error = token_error(&mut Scenario::new(), RequestKind::PasswordGrant, 200, body);
        assert_eq!(error.kind(), ErrorKind::UnexpectedResponse);
        assert_eq!(error.detail(), Some(quoted), "{body}");
    }
}

#[test]
fn a_store_failure_says_what_kind_it_is_and_keeps_its_message() {
    use keliweb_oauth::error::{StoreError, StoreErrorKind};
    for (kind, says) in [
        (
            StoreErrorKind::Unavailable,
            "the token store is unavailable",
        ),
        (
            StoreErrorKind::Corrupt,
            "the token store holds something that is not a token set",
        ),
        (
            StoreErrorKind::Foreign,
            "the token store is not this user's alone",
        ),
        (
            StoreErrorKind::Conflict,
            "another process stored a newer token set",
        ),
        (
            StoreErrorKind::LeaseTimeout,
            "another process held the token store's lease too long",
        ),
    ] {
        let error = StoreError::new(kind, "tokens.json: permission denied");
        assert_eq!(error.kind(), kind);
        assert_eq!(error.message(), "tokens.json: permission denied");
        assert_eq!(
            error.to_string(),
            format!("{says}: tokens.json: permission denied")
        );
    }
}

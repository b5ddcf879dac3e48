//! A catalogue of hostile and broken responses a real server, proxy or attacker can send, each
//! with the outcome expected and a check that the session's state is unchanged or correctly
//! advanced.

use std::time::Duration;

use http::{Response, StatusCode};
use keliweb_oauth::{
    Config, ErrorKind, UnixTime,
    error::{RetryAfter, TransportError, TransportErrorKind},
    sans_io::{Action, RequestId, Session},
};

use crate::support;
use crate::support::{T0, expired_at_t0, with_request_out};

const NOW: UnixTime = T0;

/// What a row expects, for the refresh grant and (where it differs) the password grant.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Tokens,
    Error(ErrorKind),
    /// A dead refresh token on the refresh grant, refused credentials on the password grant.
    DeadGrant,
}

struct Row {
    name: String,
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    expect: Expect,
}

fn row(name: &str, status: u16, body: impl Into<Vec<u8>>, expect: Expect) -> Row {
    Row {
        name: name.to_owned(),
        status,
        headers: Vec::new(),
        body: body.into(),
        expect,
    }
}

fn with_header(mut row: Row, name: &'static str, value: &str) -> Row {
    row.headers.push((name, value.to_owned()));
    row
}

fn token_body(access_token: &str, extra: &str) -> Vec<u8> {
    format!(r#"{{"token_type":"Bearer","expires_in":3600,"access_token":{access_token}{extra}}}"#)
        .into_bytes()
}

fn catalogue() -> Vec<Row> {
    use ErrorKind::{InvalidClient, InvalidRequest, RateLimited, ServerError, UnexpectedResponse};
    use Expect::{DeadGrant, Error, Tokens};
    let unexpected = Error(UnexpectedResponse);
    let deep = format!(
        r#"{{"access_token":"a","x":{}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep_known = format!(
        r#"{{"access_token":{}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let mut rows = vec![
        row("empty body", 200, "", unexpected),
        row("null", 200, "null", unexpected),
        row("a JSON string", 200, r#""access_token""#, unexpected),
        row(
            "access_token a number",
            200,
            r#"{"access_token":1}"#,
            unexpected,
        ),
        row(
            "token_type a number",
            200,
            r#"{"access_token":"a","token_type":5}"#,
            unexpected,
        ),
        row(
            "expires_in a bool",
            200,
            r#"{"access_token":"a","expires_in":true}"#,
            unexpected,
        ),
        row(
            "refresh_token a list",
            200,
            r#"{"access_token":"a","refresh_token":[]}"#,
            unexpected,
        ),
        row("error an object", 200, r#"{"error":{}}"#, unexpected),
        row(
            "expires_in negative",
            200,
            token_body(r#""a""#, r#","expires_in":-1"#),
            unexpected,
        ),
        row(
            "expires_in zero",
            200,
            r#"{"access_token":"a","expires_in":0}"#,
            unexpected,
        ),
        row(
            "expires_in huge",
            200,
            r#"{"access_token":"a","expires_in":1e300}"#,
            Tokens,
        ),
        row(
            "expires_in fractional",
            200,
            r#"{"access_token":"a","expires_in":3599.5}"#,
            Tokens,
        ),
        row(
            "expires_in a string",
            200,
            r#"{"access_token":"a","expires_in":"3600"}"#,
            Tokens,
        ),
        row(
            "expires_in not a number",
            200,
            r#"{"access_token":"a","expires_in":"abc"}"#,
            unexpected,
        ),
        row(
            "expires_in overflowing u64",
            200,
            r#"{"access_token":"a","expires_in":18446744073709551616}"#,
            Tokens,
        ),
        row(
            "expires_in overflowing i64",
            200,
            r#"{"access_token":"a","expires_in":-9223372036854775809}"#,
            unexpected,
        ),
        row(
            "token_type lower case",
            200,
            r#"{"access_token":"a","token_type":"bearer"}"#,
            Tokens,
        ),
        row(
            "token_type MAC",
            200,
            r#"{"access_token":"a","token_type":"MAC"}"#,
            unexpected,
        ),
        row(
            "token_type missing",
            200,
            r#"{"access_token":"a","expires_in":600}"#,
            Tokens,
        ),
        row(
            "access_token empty",
            200,
            token_body(r#""""#, ""),
            unexpected,
        ),
        row(
            "access_token with CR LF",
            200,
            token_body(r#""a\r\nSet-Cookie: x""#, ""),
            unexpected,
        ),
        row(
            "access_token non-ASCII",
            200,
            token_body(r#""tok\u00e9n""#, ""),
            unexpected,
        ),
        row(
            "access_token 1 MiB",
            200,
            token_body(&format!("\"{}\"", "a".repeat(1 << 20)), ""),
            unexpected,
        ),
        row(
            "duplicate keys",
            200,
            r#"{"access_token":"a","access_token":"b"}"#,
            unexpected,
        ),
        // serde_json skips unknown values without recursing, so even 100,000 levels are
        // harmless there; nesting where a string belongs is a type error.
        row("deep nesting in an unknown field", 200, deep, Tokens),
        row("deep nesting in a known field", 200, deep_known, unexpected),
        row(
            "invalid UTF-8",
            200,
            b"{\"access_token\":\"\xff\xfe\"}".to_vec(),
            unexpected,
        ),
        row(
            "UTF-8 BOM",
            200,
            b"\xEF\xBB\xBF{\"access_token\":\"a\"}".to_vec(),
            Tokens,
        ),
        row(
            "HTML with 200",
            200,
            "<!DOCTYPE html><title>Login</title>",
            unexpected,
        ),
        row(
            "error in a 200",
            200,
            r#"{"error":"invalid_grant","error_description":"x"}"#,
            DeadGrant,
        ),
        row("201 with tokens", 201, r#"{"access_token":"a"}"#, Tokens),
        row("5xx empty", 500, "", Error(ServerError)),
        row(
            "502 HTML",
            502,
            "<html><body>Bad Gateway</body></html>",
            Error(ServerError),
        ),
        row("503 empty", 503, "", Error(ServerError)),
        row(
            "401 Unauthenticated",
            401,
            r#"{"message":"Unauthenticated."}"#,
            unexpected,
        ),
        row("404 HTML", 404, "<html>Not Found</html>", unexpected),
    ];
    for status in [302, 303, 307] {
        rows.push(with_header(
            row(&format!("{status} no body"), status, "", unexpected),
            "location",
            "/login",
        ));
        let body = "<html>Redirecting to /login</html>";
        rows.push(with_header(
            row(&format!("{status} with body"), status, body, unexpected),
            "location",
            "/login",
        ));
    }
    // The codes and statuses of `docs/passport.md#token-endpoint-errors`, and some no Passport sends.
    let passport = [
        ("invalid_client", 401, Error(InvalidClient)),
        ("invalid_client", 400, Error(InvalidClient)),
        ("invalid_credentials", 401, DeadGrant),
        ("invalid_grant", 400, DeadGrant),
        ("invalid_grant", 401, DeadGrant),
        ("unsupported_grant_type", 400, Error(InvalidRequest)),
        ("invalid_scope", 400, Error(InvalidRequest)),
        ("server_error", 500, Error(ServerError)),
        ("temporarily_unavailable", 503, Error(ServerError)),
        ("something_new", 400, Error(InvalidRequest)),
        ("something_new", 502, Error(ServerError)),
    ];
    for (code, status, expect) in passport {
        for message in ["", r#","message":"m""#] {
            let body =
                format!(r#"{{"error":"{code}","error_description":"d","hint":""{message}}}"#);
            rows.push(row(
                &format!("{code} {status}{message}"),
                status,
                body,
                expect,
            ));
        }
    }
    for retry_after in ["120", "Wed, 21 Oct 2015 07:28:00 GMT", "soon"] {
        let throttled = row(
            &format!("429 Retry-After {retry_after}"),
            429,
            r#"{"message":"Too Many Attempts."}"#,
            Error(RateLimited),
        );
        rows.push(with_header(throttled, "retry-after", retry_after));
    }
    rows
}

fn config() -> Config {
    Config::keliweb("id", "client-secret")
        .credentials("user@example.com", "password")
        .build()
        .expect("valid config")
}

/// A session whose access token has expired and whose refresh request is in flight.
fn refreshing() -> (Session, RequestId) {
    let expired = expired_at_t0("old-access", "old-refresh");
    with_request_out(Session::new(config()).with_tokens(expired))
}

/// A session whose first login is in flight.
fn logging_in() -> (Session, RequestId) {
    with_request_out(Session::new(config()))
}

fn response(row: &Row) -> Response<Vec<u8>> {
    let mut builder =
        Response::builder().status(StatusCode::from_u16(row.status).expect("valid status"));
    for (name, value) in &row.headers {
        builder = builder.header(*name, value.as_str());
    }
    builder.body(row.body.clone()).expect("valid response")
}

#[test]
fn every_hostile_response_to_a_refresh_is_typed_and_loses_nothing() {
    for row in catalogue() {
        let (mut session, id) = refreshing();
        let before = session.tokens().cloned();
        let outcome = session.handle_response(id, NOW, &response(&row));
        let name = &row.name;
        match (row.expect, outcome) {
            (Expect::Tokens, Ok(())) => {
                assert_ne!(
                    session.tokens(),
                    before.as_ref(),
                    "{name}: tokens not advanced"
                );
                assert!(
                    matches!(support::poll(&mut session, NOW), Action::UseToken(_)),
                    "{name}: new token not usable"
                );
            }
            (Expect::DeadGrant, Err(_)) => {
                let tokens = session.tokens().expect("access token kept");
                assert!(
                    tokens.refresh_token().is_none(),
                    "{name}: the dead refresh token was kept"
                );
                assert_eq!(
                    tokens.access_token_expires_at(),
                    NOW,
                    "{name}: the access token was dropped"
                );
            }
            (Expect::Error(kind), Err(error)) => {
                assert_eq!(error.kind(), kind, "{name}: {error}");
                assert_eq!(
                    session.tokens(),
                    before.as_ref(),
                    "{name}: an error changed the tokens"
                );
                assert_eq!(
                    error.status().map(|status| status.as_u16()),
                    Some(row.status),
                    "{name}"
                );
            }
            (expect, outcome) => panic!("{name}: expected {expect:?}, got {outcome:?}"),
        }
    }
}

#[test]
fn every_hostile_response_to_a_login_is_typed() {
    for row in catalogue() {
        let (mut session, id) = logging_in();
        let outcome = session.handle_response(id, NOW, &response(&row));
        let name = &row.name;
        match (row.expect, outcome) {
            (Expect::Tokens, Ok(())) => {
                assert!(session.tokens().is_some(), "{name}")
            }
            (Expect::DeadGrant, Err(error)) => {
                assert_eq!(
                    error.kind(),
                    ErrorKind::InvalidCredentials,
                    "{name}: {error}"
                );
                let Action::Stop(stop) = support::poll(&mut session, NOW) else {
                    panic!("{name}: a refused password must stop the session")
                };
                assert_eq!(stop, error, "{name}");
            }
            (Expect::Error(kind), Err(error)) => {
                assert_eq!(error.kind(), kind, "{name}: {error}");
                assert!(session.tokens().is_none(), "{name}");
            }
            (expect, outcome) => panic!("{name}: expected {expect:?}, got {outcome:?}"),
        }
    }
}

#[test]
fn retry_after_is_read_in_seconds_and_as_a_date_and_garbage_is_ignored() {
    let expected = [
        ("120", Some(RetryAfter::Delay(Duration::from_secs(120)))),
        (
            "Wed, 21 Oct 2015 07:28:00 GMT",
            Some(RetryAfter::At(UnixTime::from_secs(1_445_412_480))),
        ),
        ("soon", None),
    ];
    for (header, retry_after) in expected {
        let (mut session, id) = refreshing();
        let throttled = Response::builder()
            .status(429)
            .header("retry-after", header)
            .body("Too Many Attempts.")
            .expect("valid response");
        let error = session
            .handle_response(id, NOW, &throttled)
            .expect_err("429 is an error");
        assert_eq!(error.retry_after(), retry_after, "Retry-After: {header}");
    }
}

#[test]
fn a_response_to_a_request_never_sent_or_answered_twice_is_refused() {
    let (mut session, id) = refreshing();
    let success = Response::new(r#"{"access_token":"new","refresh_token":"r2"}"#);
    let before = session.tokens().cloned();
    let generation = session.generation();

    let never_sent = an_id_never_handed_out();
    assert_ne!(never_sent, id);
    let stranger = session.handle_response(never_sent, NOW, &success);
    assert_eq!(
        stranger.expect_err("unknown id").kind(),
        ErrorKind::ResponseMismatch
    );
    assert_eq!(
        (session.tokens(), session.generation()),
        (before.as_ref(), generation)
    );

    assert_eq!(session.handle_response(id, NOW, &success), Ok(()));
    let after_first = session.tokens().cloned();
    let generation = session.generation();
    let replay = Response::new(r#"{"access_token":"replayed","refresh_token":"r3"}"#);
    let second = session.handle_response(id, NOW, &replay);
    assert_eq!(
        second.expect_err("already answered").kind(),
        ErrorKind::ResponseMismatch
    );
    assert_eq!(
        (session.tokens(), session.generation()),
        (after_first.as_ref(), generation)
    );
}

/// An id the refreshing session never handed out (its only request is the first): the second
/// request of another session.
fn an_id_never_handed_out() -> RequestId {
    let mut other = Session::new(config());
    let Action::Send(first) = other.poll(NOW) else {
        panic!("expected a login")
    };
    let failure = TransportError::new(TransportErrorKind::Io, "connection reset");
    let _ = other.handle_transport_error(first.id(), NOW, failure);
    let after_cooldown = NOW.saturating_add(Duration::from_secs(5));
    let Action::Send(second) = other.poll(after_cooldown) else {
        panic!("expected a second login")
    };
    second.id()
}

/// Found by `fuzz/fuzz_targets/response.rs`: values a server sends back were quoted in error
/// details before being scrubbed.
#[test]
fn values_quoted_in_error_details_are_scrubbed_first() {
    let bodies = [
        r#"{"token_type":"x-password-x","access_token":"a"}"#,
        r#"{"access_token":"a","expires_in":"client-secret and more"}"#,
        r#"{"token_type":"0123456789012345678901234567password","access_token":"a"}"#,
    ];
    for body in bodies {
        let (mut session, id) = refreshing();
        let error = session
            .handle_response(id, NOW, &Response::new(body))
            .expect_err("rejected");
        for shown in [error.to_string(), format!("{error:?}")] {
            for secret in ["password", "client-secret", "old-access", "old-refresh"] {
                assert!(
                    !shown.contains(secret),
                    "{secret} leaked from {body}: {shown}"
                );
            }
        }
    }
}

/// From review: serde decodes escaped keys, so `"access\u005ftoken"` is the access token
/// even though the raw bytes never spell `access_token`.
#[test]
fn a_token_named_with_json_escapes_is_withheld_from_excerpts() {
    let bodies = [
        r#"{"token_type":"MAC","access\u005ftoken":"live-token-123"}"#,
        r#"{"error":"x","refresh\u005Ftoken":"live-token-123"}"#,
        r#"{"error":"x","r\u0065fresh_tok\u0065n":"live-token-123"}"#,
    ];
    for body in bodies {
        let (mut session, id) = refreshing();
        let error = session
            .handle_response(id, NOW, &Response::new(body))
            .expect_err("rejected");
        assert!(
            !format!("{error:?}").contains("live-token-123"),
            "{body}: {error:?}"
        );
    }
}

/// From review: `login` with a new password while a password grant is out must not stop the
/// old password from being scrubbed out of that grant's answer.
#[test]
fn a_replaced_password_is_still_scrubbed_from_its_own_answer() {
    let (mut session, id) = logging_in();
    session.login(keliweb_oauth::Credentials::new(
        "user@example.com",
        "new-password",
    ));
    let echo = Response::builder()
        .status(500)
        .body("password=password&next=new-password")
        .expect("valid response");
    let error = session.handle_response(id, NOW, &echo).expect_err("a 500");
    let shown = format!("{error:?}");
    assert!(
        !shown.contains("password&") && !shown.contains("=new-password"),
        "{shown}"
    );
}

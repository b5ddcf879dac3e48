//! What an error carries, field by field: the README promises typed errors "carrying status,
//! code, description, hint, Retry-After", so each accessor is checked against the answer that
//! produced it.

use http::StatusCode;
use keliweb_oauth::{ErrorKind, error::RetryAfter, sans_io::RequestKind};

use crate::support::*;

#[test]
fn a_refused_refresh_carries_every_field_of_the_answer() {
    let mut scenario = Scenario::new().logged_in();
    scenario.go_to_usable_until();
    let refresh = scenario.expect_send(RequestKind::RefreshGrant);
    let Err(error) = scenario.answer(&refresh, &refresh_invalid_v8()) else {
        panic!("a dead refresh token");
    };
    assert_eq!(error.kind(), ErrorKind::RefreshTokenRejected);
    assert_eq!(error.status(), Some(StatusCode::UNAUTHORIZED));
    let details = error.response().expect("the answer's details");
    assert_eq!(details.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(details.error_code(), Some("invalid_request"));
    assert_eq!(details.description(), Some("The refresh token is invalid."));
    assert_eq!(details.hint(), Some("Token has been revoked"));
    assert_eq!(details.retry_after(), None);
    assert_eq!(details.body_len(), REFRESH_INVALID_V8.len());
    assert_eq!(details.body_excerpt(), REFRESH_INVALID_V8);
}

#[test]
fn a_rate_limit_carries_its_retry_after_and_a_short_excerpt() {
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    let error = scenario
        .answer(&login, &too_many_json("17"))
        .expect_err("rate limited");
    assert_eq!(error.kind(), ErrorKind::RateLimited);
    let expected = Some(RetryAfter::Delay(std::time::Duration::from_secs(17)));
    assert_eq!(error.retry_after(), expected);
    let details = error.response().expect("the answer's details");
    assert_eq!(details.retry_after(), expected);
    assert_eq!(details.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(details.error_code(), None);
    assert!(details.body_excerpt().contains("Too Many Attempts."));
}

#[test]
fn an_excerpt_stops_at_the_limit_but_the_length_is_the_whole_body() {
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    // (Not `x`: the documented example password is `xxxxxxx`, and it would be redacted.)
    let page = format!("<html>{}</html>", "y".repeat(10_000));
    let error = scenario
        .answer(&login, &reply(502, page.clone()))
        .expect_err("a gateway page");
    let details = error.response().expect("the answer's details");
    assert_eq!(details.body_len(), page.len());
    assert!(
        details.body_excerpt().len() <= keliweb_oauth::error::ResponseDetails::BODY_EXCERPT_LIMIT
    );
    let excerpt = details.body_excerpt();
    assert!(
        excerpt.len() >= keliweb_oauth::error::ResponseDetails::BODY_EXCERPT_LIMIT / 2,
        "{excerpt}"
    );
    assert!(page.starts_with(&excerpt[..excerpt.len() / 2]), "{excerpt}");
}

#[test]
fn a_detail_says_what_was_wrong_beyond_the_kind() {
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    let body = r#"{"token_type":"Bearer","expires_in":3600,"access_token":"a b"}"#;
    let error = scenario
        .answer(&login, &reply(200, body))
        .expect_err("a token that cannot go into a header");
    assert_eq!(error.kind(), ErrorKind::UnexpectedResponse);
    let detail = error.detail().expect("a detail");
    assert!(detail.contains("header"), "{detail}");
    assert!(error.to_string().contains(detail), "{error}");
}

/// A body that carries tokens is never quoted, wherever the tokens stand: here past the part
/// an excerpt would show, as a field of a 5xx answer, under an escaped key in a 2xx answer
/// refused for another reason, nested, or named in a page that is not JSON.
#[test]
fn a_body_carrying_tokens_past_the_excerpt_is_withheld() {
    let padding = "y".repeat(3 * keliweb_oauth::error::ResponseDetails::BODY_EXCERPT_LIMIT);
    let plain = format!(r#"{{"message":"{padding}","access_token":"eyJ0.eyJ1.c2ln"}}"#);
    let escaped = format!(
        r#"{{"message":"{padding}","token_type":"Mac","expires_in":3600,"access\u005ftoken":"eyJ0.eyJ1.c2ln","refresh\u005ftoken":"def50200zz"}}"#
    );
    // Not read as a token field (nested, or not JSON at all), only named in the text.
    let nested = format!(r#"{{"message":"{padding}","data":{{"access_token":"eyJ0.eyJ1.c2ln"}}}}"#);
    let page = format!("<html>{padding}<pre>access_token=eyJ0.eyJ1.c2ln</pre></html>");
    for (status, body) in [(500, plain), (200, escaped), (500, nested), (502, page)] {
        let mut scenario = Scenario::new();
        let login = scenario.expect_send(RequestKind::PasswordGrant);
        let error = scenario
            .answer(&login, &reply(status, body.clone()))
            .expect_err("refused");
        let details = error.response().expect("the answer's details");
        assert_eq!(
            details.body_excerpt(),
            format!("[{} bytes withheld: the body carries tokens]", body.len()),
            "{status}"
        );
    }
}

/// In a body cut short for the excerpt, only a secret still matching where the cut falls is
/// redacted to the end: text that merely began like a secret far before it is shown.
#[test]
fn a_secrets_first_letters_far_before_the_cut_are_not_redacted_to_the_end() {
    let prefix = &CLIENT_SECRET[..3];
    let page = format!("{}{prefix}{}", "a".repeat(100), "b".repeat(5000));
    let mut scenario = Scenario::new();
    let login = scenario.expect_send(RequestKind::PasswordGrant);
    let error = scenario
        .answer(&login, &reply(502, page))
        .expect_err("a gateway page");
    let excerpt = error.response().expect("details").body_excerpt().to_owned();
    assert!(
        excerpt.contains(&format!("{prefix}bbbbbbbb")),
        "shown after the look-alike: {excerpt}"
    );
}

//! A server echoing a secret escaped (JSON `\uXXXX` in either case, HTML entities, `%xx` in
//! either case, `+` for a space, one encoding inside another, per-character mixes) never gets
//! it into an error: not its `Display`, its `Debug`, its detail or any field of its response
//! details. That holds for every secret the session knows and for the tokens issued in the
//! very response that is refused.

#[path = "support/echo_forms.rs"]
mod echo_forms;
mod support;

use echo_forms::{AllForms, JSON_STYLES, forms, json_string_content, mixed};
use http::Response;
use keliweb_oauth::{Config, Error, Progress, RequestId, Session, UnixTime};
use support::{T0, expired_at_t0, with_request_out};

const NOW: UnixTime = T0;
/// Each with the characters the encodings treat differently: `&"<+ %ä\/`.
const CLIENT_SECRET: &str = "CSq&\"<+ %ä\\/c1";
const PASSWORD: &str = "PWq p&ss\"<w>+%ö\\/rd é";
/// Access tokens are printable ASCII (they go into a header).
const ACCESS: &str = "ATq&\"<+%\\/a.b.c";
const REFRESH: &str = "RTq def&\"<+ %ä\\/r";
const KNOWN: [&str; 4] = [CLIENT_SECRET, PASSWORD, ACCESS, REFRESH];
/// Tokens a refused response issues and quotes elsewhere: the session never knew them.
const NEW_ACCESS: &str = "NAq&\"<+%\\/n.e.w";
const NEW_REFRESH: &str = "NRq next&\"<+ %ü\\/r";

/// A session knowing every secret, with a refresh in flight.
fn refreshing() -> (Session, RequestId) {
    let config = Config::keliweb("client-id", CLIENT_SECRET)
        .credentials("user@example.com", PASSWORD)
        .build()
        .expect("valid config");
    with_request_out(Session::new(config).with_tokens(expired_at_t0(ACCESS, REFRESH)))
}

/// Everything an error shows.
fn shown(error: &Error) -> Vec<String> {
    let response = error.response();
    let field = |get: fn(&keliweb_oauth::ResponseDetails) -> Option<&str>| {
        response.and_then(get).unwrap_or_default().to_owned()
    };
    vec![
        error.to_string(),
        format!("{error:?}"),
        format!("{error:#?}"),
        error.detail().unwrap_or_default().to_owned(),
        field(|details| details.description()),
        field(|details| details.hint()),
        field(|details| details.error_code()),
        field(|details| Some(details.body_excerpt())),
    ]
}

/// Sends `body` with `status` as the answer to a refresh and fails if any form of `secrets`
/// shows in the error.
#[track_caller]
fn assert_clean(what: &str, status: u16, body: &str, secrets: &[&str], forms: &AllForms) {
    let (mut session, id) = refreshing();
    let response = Response::builder()
        .status(status)
        .body(body.as_bytes())
        .expect("valid response");
    let error = match session.handle_response(id, NOW, &response) {
        Err(error) | Ok(Progress::RefreshTokenRejected(error)) => error,
        Ok(progress) => panic!("{what}: accepted as {progress:?}"),
    };
    for text in shown(&error) {
        if let Some(form) = forms.shown_in(&text) {
            panic!("{what} ({status}): the {form} shows in:\n{text}\nbody: {body}");
        }
        // Each secret starts with three letters no encoding here changes: seeing them means a
        // secret was cut short rather than redacted.
        for secret in secrets {
            assert!(
                !text.contains(&secret[..3]),
                "{what} ({status}): the start of {secret:?} shows in:\n{text}\nbody: {body}"
            );
        }
    }
}

/// The bodies that quote `echo` (already written as JSON string content) in a field.
fn json_placements(echo: &str) -> Vec<(&'static str, u16, String)> {
    let error_body = format!(
        r#"{{"error":"invalid_request","error_description":"Bad: {echo}","hint":"You sent {echo}","message":"Got {echo}"}}"#
    );
    vec![
        ("description and hint", 400, error_body.clone()),
        ("description and hint of a 5xx", 500, error_body),
        ("error code", 400, format!(r#"{{"error":"{echo}"}}"#)),
        (
            "message",
            401,
            format!(r#"{{"error":"invalid_request","message":"{echo}"}}"#),
        ),
        (
            "token type",
            200,
            format!(r#"{{"token_type":"{echo}","access_token":"fresh"}}"#),
        ),
        (
            "expires_in",
            200,
            format!(r#"{{"access_token":"fresh","expires_in":"{echo}"}}"#),
        ),
        (
            "a long description",
            400,
            format!(
                r#"{{"error":"invalid_request","error_description":"{}{echo}"}}"#,
                "x".repeat(500)
            ),
        ),
    ]
}

/// The bodies that show `echo` as it is.
fn plain_placements(echo: &str) -> Vec<(&'static str, u16, String)> {
    vec![
        ("form echo", 400, format!("password={echo}&next=1")),
        ("HTML page", 500, format!("<html><pre>{echo}</pre></html>")),
        ("HTML page with 200", 200, format!("<p>{echo}</p>")),
        (
            "a long plain body",
            502,
            format!("{}{echo}tail", "z".repeat(2040)),
        ),
    ]
}

/// Every placement of `form` (a form of a secret as the server echoes it).
fn placements(form: &str) -> Vec<(String, u16, String)> {
    let mut all = Vec::new();
    for style in JSON_STYLES {
        for (name, status, body) in json_placements(&json_string_content(form, style)) {
            all.push((format!("{name}, {style:?} JSON"), status, body));
        }
    }
    for (name, status, body) in plain_placements(form) {
        all.push((name.to_owned(), status, body));
    }
    all
}

#[test]
fn every_form_of_every_known_secret_is_redacted_everywhere() {
    let all = AllForms::of(&KNOWN);
    for secret in KNOWN {
        for (form_name, form) in forms(secret) {
            for (place, status, body) in placements(&form) {
                let what = format!("{form_name} in {place}");
                assert_clean(&what, status, &body, &KNOWN, &all);
            }
        }
    }
}

#[test]
fn per_character_mixes_of_encodings_are_redacted() {
    let picks: [&[u8]; 5] = [
        &[0, 1, 2, 3, 4, 5, 6, 7, 8],
        &[8, 7, 6, 5, 4, 3, 2, 1, 0],
        &[3, 0, 6],
        &[2, 5],
        &[1, 1, 4, 7],
    ];
    let all = AllForms::of(&KNOWN);
    for secret in KNOWN {
        for picks in picks {
            let echo = mixed(secret, picks);
            for (place, status, body) in placements(&echo) {
                let what = format!("mix {picks:?} in {place}");
                assert_clean(&what, status, &body, &KNOWN, &all);
            }
        }
    }
}

#[test]
fn tokens_issued_in_the_refused_response_are_redacted_where_it_quotes_them() {
    let issued = [NEW_ACCESS, NEW_REFRESH];
    let all = AllForms::of(&issued);
    let access = json_string_content(NEW_ACCESS, echo_forms::JsonStyle::Php);
    let refresh = json_string_content(NEW_REFRESH, echo_forms::JsonStyle::Laravel);
    for token in issued {
        for (form_name, form) in forms(token) {
            for style in JSON_STYLES {
                let echo = json_string_content(&form, style);
                let bodies = [
                    (
                        200,
                        format!(
                            r#"{{"access_token":"{access}","refresh_token":"{refresh}","expires_in":"{echo}"}}"#
                        ),
                    ),
                    (
                        200,
                        format!(
                            r#"{{"token_type":"{echo}","access_token":"{access}","refresh_token":"{refresh}"}}"#
                        ),
                    ),
                    (
                        400,
                        format!(
                            r#"{{"error":"invalid_request","refresh_token":"{refresh}","access_token":"{access}","hint":"{echo}"}}"#
                        ),
                    ),
                ];
                for (status, body) in bodies {
                    let what = format!("{form_name} of an issued token, {style:?} JSON");
                    assert_clean(&what, status, &body, &issued, &all);
                }
            }
        }
    }
}

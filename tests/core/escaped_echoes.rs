//! A server echoing a secret escaped (JSON `\uXXXX` in either case, HTML entities, `%xx` in
//! either case, `+` for a space, one encoding inside another, per-character mixes) never gets
//! it into an error: not its `Display`, its `Debug`, its detail or any field of its response
//! details. That holds for every secret the session knows and for the tokens issued in the
//! very response that is refused: checked for fixed secrets in every form and placement, and
//! for random ones (special and non-ASCII characters, any form or mix) by proptest. Part of a
//! secret is redacted too: no run of a secret's characters as long as [`run_threshold`] shows,
//! raw or JSON-escaped (the policy is in `SECURITY.md` and `src/response/scrub.rs`).

use std::collections::HashSet;

use http::Response;
use keliweb_oauth::{
    Config, Error, UnixTime,
    sans_io::{RequestId, Session},
};
use proptest::prelude::*;
use proptest::sample::Index;

use crate::support;
use crate::support::echo_forms;
use crate::support::echo_forms::{
    AllForms, JSON_STYLES, JsonStyle, forms, json_string_content, mixed,
};
use crate::support::{T0, expired_at_t0, with_request_out};

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

/// A session knowing every secret (with `password` for the password), with a refresh in flight.
fn refreshing(password: &str) -> (Session, RequestId) {
    let config = Config::keliweb("client-id", CLIENT_SECRET)
        .credentials("user@example.com", password)
        .build()
        .expect("valid config");
    with_request_out(Session::new(config).with_tokens(expired_at_t0(ACCESS, REFRESH)))
}

/// Everything an error shows.
fn shown(error: &Error) -> Vec<String> {
    let response = error.response();
    let field = |get: fn(&keliweb_oauth::error::ResponseDetails) -> Option<&str>| {
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

/// Sends `body` with `status` as the answer to a refresh and fails if any of `forms` shows in
/// the error, or the start of any of `secrets`.
#[track_caller]
fn assert_clean(what: &str, status: u16, body: &str, secrets: &[&str], forms: &AllForms) {
    assert_clean_with(PASSWORD, what, status, body, secrets, forms);
}

/// [`assert_clean`] for a session whose password is `password`.
#[track_caller]
fn assert_clean_with(
    password: &str,
    what: &str,
    status: u16,
    body: &str,
    secrets: &[&str],
    forms: &AllForms,
) {
    let (mut session, id) = refreshing(password);
    let response = Response::builder()
        .status(status)
        .body(body.as_bytes())
        .expect("valid response");
    let error = match session.handle_response(id, NOW, &response) {
        Err(error) => error,
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

/// JSON's short escapes for control characters: a password holding a backspace, a form feed, a
/// carriage return and a tab, echoed as `\b`, `\f`, `\r` and `\t` in a page the error quotes.
#[test]
fn control_characters_echoed_as_short_json_escapes_are_redacted() {
    let password = "PWq\u{8}x\u{c}y\rz\tw";
    let all = AllForms::of(&[password]);
    for (place, status, body) in plain_placements(r"PWq\bx\fy\rz\tw") {
        assert_clean_with(password, place, status, &body, &[password], &all);
    }
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

/// Random secrets: a fixed start (so a cut-short secret is seen) and characters every encoding
/// treats differently, non-ASCII included.
fn secret(start: &'static str) -> impl Strategy<Value = String> {
    const CHARACTERS: &[char] = &[
        '&', '"', '<', '>', '\'', '+', ' ', '%', 'ä', 'é', 'Ä', '€', '😀', '\\', '/', '=', '?',
        '#', ';', ':', '\n', 'x', '7', '.', '~', '-',
    ];
    prop::collection::vec(prop::sample::select(CHARACTERS), 1..12)
        .prop_map(move |characters| format!("{start}{}", String::from_iter(characters)))
}

/// One form of `secret`: a whole-secret form, or a mix chosen by `picks`.
fn echo_of(secret: &str, form: Index, picks: &[u8], mix: bool) -> String {
    if mix {
        mixed(secret, picks)
    } else {
        let forms = forms(secret);
        forms[form.index(forms.len())].1.clone()
    }
}

/// Every form of `secret`, plus the echo as sent, raw and inside each JSON style.
fn forms_with_echo(secret: &str, echo: &str) -> AllForms {
    let mut all = AllForms::of(&[secret]);
    all.add("echo", echo.to_owned());
    for style in JSON_STYLES {
        all.add("echo in JSON", json_string_content(echo, style));
    }
    all
}

proptest! {
    #[test]
    fn a_random_password_echoed_in_any_form_never_shows(
        password in secret("PWq"),
        form in any::<Index>(),
        picks in prop::collection::vec(any::<u8>(), 1..8),
        mix in any::<bool>(),
        place in any::<Index>(),
    ) {
        let echo = echo_of(&password, form, &picks, mix);
        let placements = placements(&echo);
        let (name, status, body) = &placements[place.index(placements.len())];
        let all = forms_with_echo(&password, &echo);
        assert_clean_with(&password, name, *status, body, &[password.as_str()], &all);
    }

    #[test]
    fn a_random_token_quoted_in_its_own_refused_response_never_shows(
        token in secret("NRq"),
        form in any::<Index>(),
        picks in prop::collection::vec(any::<u8>(), 1..8),
        mix in any::<bool>(),
        style in any::<Index>(),
        in_hint in any::<bool>(),
    ) {
        let echo = echo_of(&token, form, &picks, mix);
        let style = JSON_STYLES[style.index(JSON_STYLES.len())];
        let (token_json, echo_json) = (
            json_string_content(&token, JsonStyle::Php),
            json_string_content(&echo, style),
        );
        let (status, body) = if in_hint {
            (400, format!(r#"{{"error":"invalid_grant","refresh_token":"{token_json}","hint":"{echo_json}"}}"#))
        } else {
            (200, format!(r#"{{"access_token":"a.b","refresh_token":"{token_json}","expires_in":"{echo_json}"}}"#))
        };
        let all = forms_with_echo(&token, &echo);
        assert_clean("a quoted token", status, &body, &[token.as_str()], &all);
    }
}

/// The shortest run of a secret's characters that is redacted (`SECURITY.md`), written out
/// here apart from the crate: half the secret, rounded up, between 3 and 6 characters; a secret
/// under 3 characters only whole.
fn run_threshold(secret: &str) -> usize {
    let length = secret.chars().count();
    length.min(length.div_ceil(2).clamp(3, 6))
}

/// The error a session logging in with `password` gets for `body` with `status`.
fn refused_login(password: &str, status: u16, body: &str) -> Error {
    let config = Config::keliweb(support::CLIENT_ID, support::CLIENT_SECRET)
        .credentials(support::USERNAME, password)
        .build()
        .expect("valid config");
    let (mut session, id) = with_request_out(Session::new(config));
    let response = Response::builder()
        .status(status)
        .body(body.as_bytes())
        .expect("valid response");
    match session.handle_response(id, NOW, &response) {
        Err(error) => error,
        Ok(progress) => panic!("{body}: accepted as {progress:?}"),
    }
}

/// Fails if the `Display` or `Debug` of `error` (or a text of its response) shows a run of
/// [`run_threshold`] consecutive characters of `secret`.
#[track_caller]
fn assert_no_run(secret: &str, error: &Error, body: &str) {
    let secret: Vec<char> = secret.chars().collect();
    let threshold = run_threshold(&String::from_iter(&secret));
    let runs: HashSet<&[char]> = secret.windows(threshold).collect();
    for text in shown(error) {
        let text: Vec<char> = text.chars().collect();
        if let Some(run) = text.windows(threshold).find(|run| runs.contains(run)) {
            panic!(
                "{:?} of the secret shows in:\n{}\nbody: {body}",
                String::from_iter(run),
                String::from_iter(&text)
            );
        }
    }
}

/// Issue 18: a server hinting at the start of the password. Ten of its 19 characters were shown.
#[test]
fn the_start_of_the_password_echoed_in_a_hint_is_redacted() {
    let password = "Hunter2XYZabcdefghi";
    let json = r#"{"error":"invalid_grant","error_description":"The user credentials were incorrect.","hint":"password starts with Hunter2XYZ"}"#;
    for status in [400, 401] {
        // A plain body shows in the excerpt (`Debug`); a JSON hint in the message too.
        for (body, in_display) in [
            ("hint: password starts with Hunter2XYZ", false),
            (json, true),
        ] {
            let error = refused_login(password, status, body);
            assert_no_run(password, &error, body);
            let (display, debug) = (error.to_string(), format!("{error:?}"));
            for shown in [&display, &debug] {
                assert!(!shown.contains("Hunter"), "{shown}");
            }
            // What is not the password is still shown.
            let kept = "password starts with [redacted]";
            assert!(debug.contains(kept), "{debug}");
            assert_eq!(display.contains(kept), in_display, "{display}");
        }
    }
}

/// Characters a random secret is made of: non-ASCII, escaped by some JSON styles (`/<>&'`),
/// read as escapes (`%+&`). None that `Debug` escapes and none of the error's own words
/// (`[redacted]`, `body_excerpt`, `; hint:`, …), so a run seen in the output can only be the
/// echo's, even the one character of a one-character secret.
const RUN_CHARACTERS: &[char] = &[
    'Q', 'Z', 'J', 'q', 'z', 'j', 'ä', 'é', 'ß', '€', '😀', 'ü', '/', '<', '>', '&', '\'', '+',
    '%', '#', '~', '=', '!', '*',
];

fn run_text(length: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(RUN_CHARACTERS), length).prop_map(String::from_iter)
}

proptest! {
    #[test]
    fn a_run_of_a_random_password_echoed_anywhere_never_shows(
        password in run_text(1..65),
        start in any::<Index>(),
        length in any::<Index>(),
        before in run_text(0..24),
        after in run_text(0..24),
        padding in prop::sample::select(&[0_usize, 500, 2040][..]),
        status in prop::sample::select(&[400_u16, 401][..]),
        style in any::<Index>(),
        as_json in any::<bool>(),
    ) {
        // A run from anywhere in the password, at least the threshold long.
        let characters: Vec<char> = password.chars().collect();
        let threshold = run_threshold(&password);
        let length = threshold + length.index(characters.len() - threshold + 1);
        let start = start.index(characters.len() - length + 1);
        let run = String::from_iter(&characters[start..start + length]);
        // The padding puts the run across the cut of a field (512 bytes) or of the excerpt.
        let echo = format!("{}{before}{run}{after}", "x".repeat(padding));
        let body = if as_json {
            let echo = json_string_content(&echo, JSON_STYLES[style.index(JSON_STYLES.len())]);
            format!(r#"{{"error":"invalid_grant","error_description":"Wrong: {echo}","hint":"{echo}"}}"#)
        } else {
            echo
        };
        let error = refused_login(&password, status, &body);
        assert_no_run(&password, &error, &body);
    }
}

//! No public type or error shows a secret in `{:?}`, `{:#?}` or `{}`: not the client secret,
//! the password, the access token or the refresh token, raw or in the encodings a server
//! echoes them in (see `tests/support/echo_forms.rs`; `tests/core/escaped_echoes.rs` sends each).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::time::Duration;

use http::{Method, Response};
use keliweb_oauth::{
    Config, ConfigBuilder, Credentials, Error, ErrorKind, TokenSet, UnixTime,
    error::{TransportError, TransportErrorKind},
    sans_io::{Action, Authorization, OutgoingRequest, RequestKind, Session},
    secret::{AccessToken, ClientSecret, Password, RefreshToken},
};

use crate::support;
use crate::support::echo_forms;
use crate::support::{REVOKE_URL, T0, reply, reply_with, secs};

/// Distinctive secrets, with characters every encoding treats differently.
const CLIENT_SECRET: &str = "CSxLEAK/secret+client=\"42\" &é";
const PASSWORD: &str = "PWxLEAK pässwörd&=/\"+ünïcode";
/// Access tokens are printable ASCII (they go into a header).
const ACCESS_TOKEN: &str = "ATxLEAK.eyJzdWIiOjF9/+=.c2lnbmF0dXJl";
const REFRESH_TOKEN: &str = "RTxLEAK def50200/+=\"é€";
const USERNAME: &str = "user@example.com";
const CLIENT_ID: &str = "ea9ea94e-a0c2-4b87-9834-26b218ed26a0";

const SECRETS: [&str; 4] = [CLIENT_SECRET, PASSWORD, ACCESS_TOKEN, REFRESH_TOKEN];

/// A secret as a PHP server's `json_encode` writes it: `\/` and `\uXXXX` for non-ASCII.
fn php_json(secret: &str) -> String {
    echo_forms::json_string_content(secret, echo_forms::JsonStyle::Php)
}

/// Every form a secret may take in a server's echo (raw, JSON, HTML, percent-encoded, …).
fn forms(secret: &str) -> Vec<String> {
    echo_forms::forms(secret)
        .into_iter()
        .map(|(_, form)| form)
        .collect()
}

/// Fails if `text` shows any secret in any form, or any 8-character run of one (a secret cut
/// short is still a leak).
#[track_caller]
fn assert_clean(what: &str, text: &str) {
    assert_clean_of(&SECRETS, what, text);
}

/// [`assert_clean`] for the secrets a request carried (a server can only echo those).
#[track_caller]
fn assert_clean_of(secrets: &[&str], what: &str, text: &str) {
    for secret in secrets {
        for form in forms(secret) {
            assert!(
                !text.contains(&form),
                "{what} shows a secret ({form:?}):\n{text}"
            );
        }
    }
    // Every 8-character run of every form of every secret: a secret cut short is still a leak.
    let runs = runs_of(secrets);
    let chars: Vec<char> = text.chars().collect();
    for run in chars.windows(8) {
        let run = <[char; 8]>::try_from(run).unwrap();
        assert!(
            !runs.contains(&run),
            "{what} shows part of a secret ({:?}):\n{text}",
            String::from_iter(run)
        );
    }
}

type Runs = HashSet<[char; 8], BuildHasherDefault<Fnv>>;

/// The 8-character runs of every form of `secrets`, computed once per list.
fn runs_of(secrets: &[&str]) -> Rc<Runs> {
    thread_local! {
        static CACHE: RefCell<HashMap<String, Rc<Runs>>> = RefCell::default();
    }
    let key = secrets.join("\0");
    CACHE.with(|cache| {
        cache
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| {
                let mut runs = Runs::default();
                for secret in secrets {
                    for form in forms(secret) {
                        let chars: Vec<char> = form.chars().collect();
                        runs.extend(
                            chars
                                .windows(8)
                                .map(|run| <[char; 8]>::try_from(run).unwrap()),
                        );
                    }
                }
                Rc::new(runs)
            })
            .clone()
    })
}

/// FNV-1a: SipHash is slow in debug builds and these keys are not attacker-chosen.
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for byte in bytes {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
    fn write_u32(&mut self, value: u32) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        hash = (hash ^ u64::from(value)).wrapping_mul(0x0100_0000_01b3);
        self.0 = hash;
    }
}

fn check_debug<T: Debug>(what: &str, value: &T) {
    assert_clean(&format!("{what} {{:?}}"), &format!("{value:?}"));
    assert_clean(&format!("{what} {{:#?}}"), &format!("{value:#?}"));
}

fn check_error(what: &str, error: &Error) {
    check_error_of(&SECRETS, what, error);
}

fn check_error_of(secrets: &[&str], what: &str, error: &Error) {
    for shown in [
        format!("{error:?}"),
        format!("{error:#?}"),
        format!("{error}"),
        format!("{:?}", error.response()),
        error
            .response()
            .map(|response| response.body_excerpt().to_owned())
            .unwrap_or_default(),
    ] {
        assert_clean_of(secrets, what, &shown);
    }
}

fn builder() -> ConfigBuilder {
    Config::keliweb(CLIENT_ID, CLIENT_SECRET).credentials(USERNAME, PASSWORD)
}

fn config(adjust: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Config {
    adjust(builder()).build().unwrap()
}

fn token_reply(access: &str, refresh: &str) -> Response<Vec<u8>> {
    reply(
        200,
        serde_json::json!({
            "token_type": "Bearer", "expires_in": 3600,
            "access_token": access, "refresh_token": refresh,
        })
        .to_string(),
    )
}

/// Logged in holding the secret tokens.
fn logged_in(adjust: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Session {
    let mut session = Session::new(config(adjust));
    let Action::Send(login) = support::poll(&mut session, T0) else {
        panic!("expected a login")
    };
    check_debug("password grant OutgoingRequest", &login);
    let progress =
        session.handle_response(login.id(), T0, &token_reply(ACCESS_TOKEN, REFRESH_TOKEN));
    assert_eq!(progress, Ok(()));
    session
}

fn refresh_in_flight() -> (Session, OutgoingRequest, UnixTime) {
    let mut session = logged_in(|b| b);
    let now = T0.saturating_add(secs(3540));
    let Action::Send(refresh) = support::poll(&mut session, now) else {
        panic!("expected a refresh")
    };
    assert_eq!(refresh.kind(), RequestKind::RefreshGrant);
    (session, refresh, now)
}

/// Bodies a server might send back that echo every secret.
fn echoing_bodies() -> Vec<(String, Vec<u8>)> {
    let mut bodies = Vec::new();
    let all_raw = SECRETS.join(" | ");
    let request_echo = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("grant_type", "password"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
            ("username", USERNAME),
            ("password", PASSWORD),
            ("refresh_token", REFRESH_TOKEN),
            ("token", ACCESS_TOKEN),
        ])
        .finish();
    let serde_json_echo = serde_json::json!({
        "error": "invalid_request",
        "error_description": format!("Bad values: {all_raw}"),
        "hint": format!("You sent {all_raw}"),
        "message": format!("Got {all_raw}"),
    })
    .to_string();
    let php_echo = format!(
        r#"{{"error":"invalid_request","error_description":"Bad values: {}","hint":"{}"}}"#,
        SECRETS.map(php_json).join(" | "),
        SECRETS.map(php_json).join(", ")
    );
    // A secret straddling the 512-byte cut of a description.
    let long_echo = serde_json::json!({
        "error": "invalid_grant",
        "error_description": format!("{}{}", "x".repeat(495), PASSWORD),
        "hint": format!("{}{}", "y".repeat(490), REFRESH_TOKEN),
    })
    .to_string();
    // A secret straddling the excerpt limit of a plain body.
    let long_plain = format!("{}{}{}", "z".repeat(2040), CLIENT_SECRET, "tail");
    bodies.push(("raw".into(), all_raw.into_bytes()));
    bodies.push((
        "form-encoded request echo".into(),
        request_echo.into_bytes(),
    ));
    bodies.push(("serde JSON echo".into(), serde_json_echo.into_bytes()));
    bodies.push(("PHP JSON echo".into(), php_echo.into_bytes()));
    bodies.push(("long description".into(), long_echo.into_bytes()));
    bodies.push(("long plain body".into(), long_plain.into_bytes()));
    bodies.push((
        "HTML debug page".into(),
        format!(
            "<html><body><pre>$request = {}; password={}</pre></body></html>",
            php_json(&SECRETS.join(",")),
            PASSWORD
        )
        .into_bytes(),
    ));
    bodies
}

/// Statuses that turn each echo into a different error kind.
const ECHO_STATUSES: [u16; 7] = [400, 401, 403, 429, 500, 502, 503];

#[test]
fn secret_types_redact_themselves() {
    check_debug("ClientSecret", &ClientSecret::new(CLIENT_SECRET));
    check_debug("Password", &Password::new(PASSWORD));
    check_debug("AccessToken", &AccessToken::new(ACCESS_TOKEN));
    check_debug("RefreshToken", &RefreshToken::new(REFRESH_TOKEN));
    for shown in [
        ClientSecret::new(CLIENT_SECRET).to_string(),
        Password::new(PASSWORD).to_string(),
        AccessToken::new(ACCESS_TOKEN).to_string(),
        RefreshToken::new(REFRESH_TOKEN).to_string(),
    ] {
        assert_clean("secret Display", &shown);
    }
}

#[test]
fn config_builder_credentials_and_config_redact_secrets() {
    check_debug("ConfigBuilder", &builder());
    check_debug("Credentials", &Credentials::new(USERNAME, PASSWORD));
    let config = config(|b| b.revoke_rfc7009(REVOKE_URL).leeway(Duration::from_secs(30)));
    check_debug("Config", &config);
    // The client's encoded form fields show as redacted, not as nothing.
    assert!(
        format!("{config:?}").contains("encoded_client: EncodedClient([redacted])"),
        "{config:?}"
    );
    // A URL carrying credentials is refused without repeating them.
    let refused = Config::builder(
        format!(
            "https://{USERNAME}:{}@apiv2.keliweb.it/oauth/token",
            "PWxLEAKurl"
        ),
        CLIENT_ID,
        CLIENT_SECRET,
    )
    .build()
    .unwrap_err();
    assert!(!format!("{refused} {refused:?}").contains("PWxLEAKurl"));
}

#[test]
fn token_set_and_authorization_redact_tokens() {
    let set = TokenSet::new(
        AccessToken::new(ACCESS_TOKEN),
        T0,
        Some((RefreshToken::new(REFRESH_TOKEN), T0)),
    )
    .unwrap();
    check_debug("TokenSet", &set);
    let mut session = logged_in(|b| b);
    check_debug("TokenSet from a response", session.tokens().unwrap());
    let Action::UseToken(auth) = support::poll(&mut session, T0) else {
        panic!("expected a token")
    };
    let auth: Authorization = auth;
    check_debug("Authorization", &auth);
    check_debug("Action::UseToken", &support::poll(&mut session, T0));
}

#[test]
fn sessions_in_every_state_redact_secrets() {
    let fresh = Session::new(config(|b| b));
    check_debug("fresh Session", &fresh);
    let logged = logged_in(|b| b);
    check_debug("logged-in Session", &logged);

    let (mut session, refresh, now) = refresh_in_flight();
    check_debug("refresh OutgoingRequest", &refresh);
    check_debug("Session with a refresh in flight", &session);
    check_debug("Action::Wait", &support::poll(&mut session, now));
    let progress = session.handle_response(refresh.id(), now, &reply(401, ECHO_V8_REFRESH));
    check_debug("Progress::RefreshTokenRejected", &progress);
    check_debug("Session after a dead refresh token", &session);
    let Action::Send(login) = support::poll(&mut session, now) else {
        panic!("expected a login")
    };
    check_debug("Action::Send", &login);
    let _ = session.handle_response(login.id(), now, &reply(400, ECHO_INVALID_GRANT));
    check_debug("stopped Session", &session);
    check_debug("Action::Stop", &support::poll(&mut session, now));

    let (mut cooling, refresh, now) = refresh_in_flight();
    let _ = cooling.handle_response(
        refresh.id(),
        now,
        &reply_with(429, &[("retry-after", "60")], "Too Many Attempts."),
    );
    check_debug("Session in a cooldown", &cooling);

    let mut revoking = logged_in(|b| b.revoke_rfc7009(REVOKE_URL));
    let requests = support::revoke(&mut revoking, T0);
    check_debug("revocation OutgoingRequests", &requests);
    check_debug("Session with revocations pending", &revoking);
    let mut logging_out =
        logged_in(|b| b.revoke_bearer_logout("https://apiv2.keliweb.it/api/logout", Method::POST));
    let requests = support::revoke(&mut logging_out, T0);
    assert_eq!(requests.len(), 1);
    check_debug("logout OutgoingRequest", &requests);
    check_debug("Action::Send(logout) as Debug", &requests[0]);
}

/// Passport ≤ 8.5's dead refresh token, echoing the token in the hint.
const ECHO_V8_REFRESH: &str = r#"{"error":"invalid_request","error_description":"The refresh token is invalid.","hint":"Token RTxLEAK def50200\/+=\"\u00e9\u20ac has been revoked","message":"The refresh token is invalid."}"#;
/// A refused password, echoing it.
const ECHO_INVALID_GRANT: &str = r#"{"error":"invalid_grant","error_description":"The user credentials were incorrect.","hint":"password PWxLEAK p\u00e4ssw\u00f6rd&=\/\"+\u00fcn\u00efcode is wrong"}"#;

#[test]
fn errors_from_password_grant_responses_echoing_secrets_are_clean() {
    for (name, body) in echoing_bodies() {
        for status in ECHO_STATUSES.into_iter().chain([200]) {
            // A re-login: the session holds tokens and sends the password.
            let mut session = logged_in(|b| b);
            session.login(Credentials::new(USERNAME, PASSWORD));
            let now = T0.saturating_add(secs(3540));
            let Action::Send(login) = support::poll(&mut session, now) else {
                panic!()
            };
            assert_eq!(login.kind(), RequestKind::PasswordGrant);
            let response = reply(status, body.clone());
            match session.handle_response(login.id(), now, &response) {
                Err(error) => check_error(&format!("password grant {status} {name}"), &error),
                Ok(progress) => panic!("{status} {name}: accepted as {progress:?}"),
            }
            check_debug(&format!("Session after {status} {name}"), &session);
        }
    }
}

#[test]
fn errors_from_refresh_grant_responses_echoing_secrets_are_clean() {
    for (name, body) in echoing_bodies() {
        for status in ECHO_STATUSES.into_iter().chain([200]) {
            let (mut session, refresh, now) = refresh_in_flight();
            let response = reply(status, body.clone());
            match session.handle_response(refresh.id(), now, &response) {
                Err(error) => check_error(&format!("refresh grant {status} {name}"), &error),
                Ok(progress) => panic!("{status} {name}: accepted as {progress:?}"),
            }
            if let Action::Stop(error) = support::poll(&mut session, now) {
                check_error("the stop after it", &error);
            }
        }
    }
}

#[test]
fn errors_from_revocation_responses_echoing_the_revoked_tokens_are_clean() {
    for (name, body) in echoing_bodies() {
        for status in ECHO_STATUSES {
            let mut session = logged_in(|b| b.revoke_rfc7009(REVOKE_URL));
            let requests = support::revoke(&mut session, T0);
            for request in &requests {
                let error = session
                    .handle_response(request.id(), T0, &reply(status, body.clone()))
                    .expect_err("an error status");
                // The revocation carried the client secret and the tokens, not the password.
                check_error_of(
                    &[CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN],
                    &format!("revocation {status} {name}"),
                    &error,
                );
            }
        }
    }
}

#[test]
fn unexpected_successes_carrying_tokens_are_withheld() {
    let bodies = [
        serde_json::json!({"token_type": "MAC", "access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN}),
        serde_json::json!({"token_type": "Bearer", "expires_in": 0, "access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN}),
        serde_json::json!({"token_type": "Bearer", "access_token": format!("{ACCESS_TOKEN} \r\n"), "refresh_token": REFRESH_TOKEN}),
        serde_json::json!({"error": "server_error", "access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN}),
    ];
    for body in bodies {
        let mut session = Session::new(config(|b| b));
        let Action::Send(login) = support::poll(&mut session, T0) else {
            panic!()
        };
        let error = session
            .handle_response(login.id(), T0, &reply(200, body.to_string()))
            .unwrap_err();
        assert!(matches!(
            error.kind(),
            ErrorKind::UnexpectedResponse | ErrorKind::ServerError
        ));
        check_error(&format!("unexpected success {body}"), &error);
    }
}

#[test]
fn every_other_error_kind_is_clean() {
    // LoginRequired, from a session without credentials.
    let mut session = Session::new(Config::keliweb(CLIENT_ID, CLIENT_SECRET).build().unwrap());
    let Action::Stop(login_required) = support::poll(&mut session, T0) else {
        panic!()
    };
    assert_eq!(login_required.kind(), ErrorKind::LoginRequired);
    check_error("LoginRequired", &login_required);

    // Transport and ResponseMismatch.
    let (mut session, refresh, now) = refresh_in_flight();
    let transport = session.handle_transport_error(
        refresh.id(),
        now,
        TransportError::new(TransportErrorKind::Connect, "connection refused"),
    );
    assert_eq!(transport.kind(), ErrorKind::Transport);
    check_error("Transport", &transport);
    let mismatch = session
        .handle_response(refresh.id(), now, &token_reply(ACCESS_TOKEN, REFRESH_TOKEN))
        .unwrap_err();
    assert_eq!(mismatch.kind(), ErrorKind::ResponseMismatch);
    check_error("ResponseMismatch", &mismatch);

    // LifetimeWithinLeeway.
    let mut session = Session::new(config(|b| b));
    let Action::Send(login) = support::poll(&mut session, T0) else {
        panic!()
    };
    let short = reply(
        200,
        serde_json::json!({"access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN, "expires_in": 5})
            .to_string(),
    );
    let within = session.handle_response(login.id(), T0, &short).unwrap_err();
    assert_eq!(within.kind(), ErrorKind::LifetimeWithinLeeway);
    check_error("LifetimeWithinLeeway", &within);
    check_debug("Session holding an unusable token", &session);
}

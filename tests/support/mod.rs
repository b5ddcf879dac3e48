//! The one support module of the test rooms: `tests/core`, `tests/clients` and `tests/stores`
//! each mount it as `support` and use their part of it.
//!
//! Here, the session's scenario builder:
//! - a fake clock: plain [`UnixTime`] values, moved by hand;
//! - canned `http::Response`s for every body shape Passport sends (`docs/passport.md#error-shapes`,
//!   `docs/passport.md#token-endpoint-errors`, `docs/passport.md#throttle`);
//! - [`Scenario`], which drives a [`Session`] straight to a state: logged in, token near expiry,
//!   refresh in flight, stopped by a refused password, revoked…
//!
//! Below it: [`canned`] (HTTP clients answering one token response, without a socket),
//! [`echo_forms`] (the forms a server may echo a secret in), [`emulated`] (a config for the
//! emulator's account), [`transport`] (the clients' harness and every scenario written once for
//! both) and [`fleet`] (fleets of OS processes sharing a store).
#![allow(dead_code, reason = "each room uses part of its support")]

pub mod canned;
pub mod echo_forms;
pub mod emulated;
#[cfg(feature = "ureq")]
pub mod fleet;
#[cfg(all(feature = "test-util", any(feature = "ureq", feature = "reqwest")))]
pub mod transport;

use std::collections::BTreeMap;
use std::time::Duration;

use http::Response;
use keliweb_oauth::{
    Config, ConfigBuilder, Error, ErrorKind, TokenSet, UnixTime,
    config::PasswordRetention,
    error::{TransportError, TransportErrorKind},
    sans_io::{Action, Authorization, OutgoingRequest, RequestId, RequestKind, Session},
    secret::{AccessToken, RefreshToken},
};

// ---------------------------------------------------------------------------------------------
// Values

/// Keliweb's documented example client (not a secret; `docs/passport.md#example-values`).
pub const CLIENT_ID: &str = "ea9ea94e-a0c2-4b87-9834-26b218ed26a0";
pub const CLIENT_SECRET: &str = "MoQSElJG5MoLkVhRJCJ7jdQZVwfbrtwKKepwOsXO";
pub const USERNAME: &str = "test@example.com";
pub const PASSWORD: &str = "xxxxxxx";
pub const TOKEN_URL: &str = "https://apiv2.keliweb.it/oauth/token";
pub const REVOKE_URL: &str = "https://apiv2.keliweb.it/oauth/revoke";
pub const LOGOUT_URL: &str = "https://apiv2.keliweb.it/api/logout";
/// An API URL the default config lets the token go to.
pub const API_URL: &str = "https://apiv2.keliweb.it/api/user";

/// The fake clock's start: 2027-01-15.
pub const T0: UnixTime = UnixTime::from_secs(1_800_000_000);
/// Keliweb's access-token lifetime (`docs/passport.md#lifetimes`).
pub const HOUR: Duration = Duration::from_secs(3600);
/// The default leeway.
pub const LEEWAY: Duration = Duration::from_secs(60);
/// Keliweb's refresh-token lifetime.
pub const TEN_DAYS: Duration = Duration::from_secs(10 * 24 * 3600);

pub const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub const fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The `n`th access token the fake server issues (a JWT-like, header-safe string).
pub fn access(n: u32) -> String {
    format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJqdGkiOiJ{n}.c2lnbmF0dXJl{n}")
}

/// The `n`th refresh token the fake server issues.
pub fn refresh(n: u32) -> String {
    format!("def50200{n:04}a1b2c3d4e5f6")
}

// ---------------------------------------------------------------------------------------------
// Canned responses

/// A response with `status` and `body`.
pub fn reply(status: u16, body: impl Into<Vec<u8>>) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .body(body.into())
        .expect("a valid canned response")
}

/// A response with extra headers.
pub fn reply_with(
    status: u16,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> Response<Vec<u8>> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(body.into()).expect("a valid canned response")
}

/// A Passport success body.
pub fn token_body(access_token: &str, expires_in: u64, refresh_token: Option<&str>) -> String {
    let mut body = serde_json::json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "access_token": access_token,
    });
    if let Some(refresh_token) = refresh_token {
        body["refresh_token"] = refresh_token.into();
    }
    body.to_string()
}

/// `200` with the `n`th token pair, valid one hour.
pub fn tokens_reply(n: u32) -> Response<Vec<u8>> {
    reply(200, token_body(&access(n), 3600, Some(&refresh(n))))
}

/// Passport ≤ 8.5: a dead refresh token (expired, revoked, used) is a 401 `invalid_request`.
pub const REFRESH_INVALID_V8: &str = r#"{"error":"invalid_request","error_description":"The refresh token is invalid.","hint":"Token has been revoked","message":"The refresh token is invalid."}"#;
/// Passport 9.x: a dead refresh token is a 400 `invalid_grant`.
pub const REFRESH_INVALID_V9: &str = r#"{"error":"invalid_grant","error_description":"The refresh token is invalid.","hint":"Token has expired"}"#;
/// league/oauth2-server ≤ 7.x: wrong username or password, 401.
pub const INVALID_CREDENTIALS_V7: &str =
    r#"{"error":"invalid_credentials","message":"The user credentials were incorrect.","hint":""}"#;
/// 8.x / 9.x: wrong username or password, 400.
pub const INVALID_GRANT_PASSWORD: &str = r#"{"error":"invalid_grant","error_description":"The user credentials were incorrect.","message":"The user credentials were incorrect."}"#;
/// Bad client id or secret, 401.
pub const INVALID_CLIENT: &str = r#"{"error":"invalid_client","error_description":"Client authentication failed","message":"Client authentication failed"}"#;
/// A missing parameter, 400.
pub const MISSING_PARAMETER: &str = r#"{"error":"invalid_request","error_description":"The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.","hint":"Check the `username` parameter","message":"The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed."}"#;
/// Unknown grant type, 400.
pub const UNSUPPORTED_GRANT_TYPE: &str = r#"{"error":"unsupported_grant_type","error_description":"The authorization grant type is not supported by the authorization server.","hint":"Check that all required parameters have been provided"}"#;
/// A JSON server failure, 500.
pub const SERVER_ERROR_JSON: &str = r#"{"error":"server_error","error_description":"The authorization server encountered an unexpected condition which prevented it from fulfilling the request."}"#;
/// Laravel's HTML error page, 500.
pub const SERVER_ERROR_HTML: &str = "<!DOCTYPE html><html><head><title>Server Error</title></head><body>500 | Server Error</body></html>";
/// A proxy's HTML page, 502.
pub const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\r\n";
/// Maintenance mode, 503.
pub const UNAVAILABLE: &str = r#"{"message":"Service Unavailable"}"#;
/// Laravel's throttle, JSON, 429.
pub const TOO_MANY_JSON: &str = r#"{"message":"Too Many Attempts."}"#;
/// Laravel's throttle, plain text, 429.
pub const TOO_MANY_PLAIN: &str = "Too Many Attempts.";

pub fn refresh_invalid_v8() -> Response<Vec<u8>> {
    reply(401, REFRESH_INVALID_V8)
}
pub fn refresh_invalid_v9() -> Response<Vec<u8>> {
    reply(400, REFRESH_INVALID_V9)
}
pub fn invalid_credentials_v7() -> Response<Vec<u8>> {
    reply(401, INVALID_CREDENTIALS_V7)
}
pub fn invalid_grant_password() -> Response<Vec<u8>> {
    reply(400, INVALID_GRANT_PASSWORD)
}
pub fn invalid_client() -> Response<Vec<u8>> {
    reply(401, INVALID_CLIENT)
}
pub fn missing_parameter() -> Response<Vec<u8>> {
    reply(400, MISSING_PARAMETER)
}
pub fn unsupported_grant_type() -> Response<Vec<u8>> {
    reply(400, UNSUPPORTED_GRANT_TYPE)
}
pub fn server_error_json() -> Response<Vec<u8>> {
    reply(500, SERVER_ERROR_JSON)
}
pub fn server_error_html() -> Response<Vec<u8>> {
    reply_with(
        500,
        &[("content-type", "text/html; charset=UTF-8")],
        SERVER_ERROR_HTML,
    )
}
pub fn bad_gateway_html() -> Response<Vec<u8>> {
    reply_with(502, &[("content-type", "text/html")], BAD_GATEWAY_HTML)
}
pub fn unavailable() -> Response<Vec<u8>> {
    reply(503, UNAVAILABLE)
}
/// 429 with `Retry-After: <retry_after>` (seconds or an HTTP date) and the JSON body.
pub fn too_many_json(retry_after: &str) -> Response<Vec<u8>> {
    reply_with(
        429,
        &[
            ("retry-after", retry_after),
            ("x-ratelimit-limit", "60"),
            ("x-ratelimit-remaining", "0"),
        ],
        TOO_MANY_JSON,
    )
}
/// 429 with `Retry-After: <retry_after>` and a plain-text body.
pub fn too_many_plain(retry_after: &str) -> Response<Vec<u8>> {
    reply_with(
        429,
        &[("retry-after", retry_after), ("content-type", "text/plain")],
        TOO_MANY_PLAIN,
    )
}

/// `Retry-After` as an HTTP date.
pub fn http_date(at: UnixTime) -> String {
    httpdate::fmt_http_date(at.to_system_time())
}

/// A transport failure.
pub fn timeout() -> TransportError {
    TransportError::new(TransportErrorKind::Timeout, "read timed out after 30s")
}

/// Every error response a token endpoint sends, with a name for messages.
pub fn every_error_response() -> Vec<(&'static str, Response<Vec<u8>>)> {
    vec![
        ("refresh invalid v8", refresh_invalid_v8()),
        ("refresh invalid v9", refresh_invalid_v9()),
        ("invalid_credentials v7", invalid_credentials_v7()),
        ("invalid_grant password", invalid_grant_password()),
        ("invalid_client", invalid_client()),
        ("missing parameter", missing_parameter()),
        ("unsupported grant type", unsupported_grant_type()),
        ("500 json", server_error_json()),
        ("500 html", server_error_html()),
        ("502 html", bad_gateway_html()),
        ("503", unavailable()),
        ("429 json", too_many_json("30")),
        ("429 plain", too_many_plain("Wed, 21 Oct 2015 07:28:00 GMT")),
        ("200 with error", reply(200, REFRESH_INVALID_V9)),
    ]
}

/// The transient failures: each must leave the token set alone and never cause a password login.
pub fn transient_responses() -> Vec<(&'static str, Response<Vec<u8>>, ErrorKind)> {
    vec![
        ("500 json", server_error_json(), ErrorKind::ServerError),
        ("500 html", server_error_html(), ErrorKind::ServerError),
        ("502 html", bad_gateway_html(), ErrorKind::ServerError),
        ("503", unavailable(), ErrorKind::ServerError),
        ("503 empty", reply(503, ""), ErrorKind::ServerError),
        ("429 json", too_many_json("2"), ErrorKind::RateLimited),
        ("429 plain", too_many_plain("2"), ErrorKind::RateLimited),
    ]
}

// ---------------------------------------------------------------------------------------------
// Requests

/// The decoded form body, in order.
pub fn form_pairs(request: &OutgoingRequest) -> Vec<(String, String)> {
    form_urlencoded::parse(request.request().body())
        .into_owned()
        .collect()
}

/// The decoded form body as a map (asserting no field is repeated).
pub fn form(request: &OutgoingRequest) -> BTreeMap<String, String> {
    let pairs = form_pairs(request);
    let map: BTreeMap<String, String> = pairs.iter().cloned().collect();
    assert_eq!(
        map.len(),
        pairs.len(),
        "a form field is repeated: {pairs:?}"
    );
    map
}

/// A map from `(name, value)` pairs.
pub fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

/// The exact password-grant fields for the default client and `password`.
pub fn password_fields(password: &str) -> BTreeMap<String, String> {
    fields(&[
        ("grant_type", "password"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("username", USERNAME),
        ("password", password),
    ])
}

/// The exact refresh-grant fields for the default client and `refresh_token`.
pub fn refresh_fields(refresh_token: &str) -> BTreeMap<String, String> {
    fields(&[
        ("grant_type", "refresh_token"),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
        ("refresh_token", refresh_token),
    ])
}

/// An id this session never issued: the `n`th request of another session (n ≥ 1).
pub fn foreign_id(n: u64) -> RequestId {
    let mut other = Session::new(
        Config::keliweb(CLIENT_ID, CLIENT_SECRET)
            .credentials(USERNAME, PASSWORD)
            .min_retry_delay(Duration::ZERO)
            .build()
            .expect("valid config"),
    );
    let mut last = None;
    for _ in 0..n {
        let Action::Send(request) = other.poll(T0) else {
            panic!("the other session did not send");
        };
        let _ = other.handle_transport_error(request.id(), T0, timeout());
        last = Some(request.id());
    }
    last.expect("n >= 1")
}

/// Tokens whose access token expired at `T0` and whose refresh token lives an hour more.
pub fn expired_at_t0(access: &str, refresh: &str) -> TokenSet {
    TokenSet::new(
        AccessToken::new(access),
        T0,
        Some((RefreshToken::new(refresh), T0.saturating_add(HOUR))),
    )
    .expect("valid tokens")
}

/// `session` with the token request it sends at `T0` out, and that request's id.
pub fn with_request_out(mut session: Session) -> (Session, RequestId) {
    match session.poll(T0) {
        Action::Send(request) => {
            let id = request.id();
            (session, id)
        }
        other => panic!("expected a token request, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Scenario builder

/// The default config: Keliweb, the documented client, credentials kept.
pub fn config() -> ConfigBuilder {
    Config::keliweb(CLIENT_ID, CLIENT_SECRET).credentials(USERNAME, PASSWORD)
}

/// A session plus its fake clock and fake server's token counter.
#[derive(Debug)]
pub struct Scenario {
    pub session: Session,
    pub now: UnixTime,
    /// How many token pairs the fake server has issued (`access(n)`, `refresh(n)`).
    pub issued: u32,
    /// Every set stored on an [`Action::Store`], oldest first (`None`: erased).
    pub stored: Vec<Option<TokenSet>>,
}

impl Default for Scenario {
    fn default() -> Self {
        Self::new()
    }
}

impl Scenario {
    /// A fresh session with the default config, at `T0`.
    pub fn new() -> Self {
        Self::with(|builder| builder)
    }

    /// A fresh session with the default config adjusted by `adjust`.
    pub fn with(adjust: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Self {
        Self::from_config(adjust(config()).build().expect("valid config"))
    }

    /// A fresh session without credentials.
    pub fn without_credentials(adjust: impl FnOnce(ConfigBuilder) -> ConfigBuilder) -> Self {
        Self::from_config(
            adjust(Config::keliweb(CLIENT_ID, CLIENT_SECRET))
                .build()
                .expect("valid config"),
        )
    }

    /// A fresh session forgetting the password after login.
    pub fn forgetting_password() -> Self {
        Self::with(|builder| builder.password_retention(PasswordRetention::ForgetAfterLogin))
    }

    pub fn from_config(config: Config) -> Self {
        Self {
            session: Session::new(config),
            now: T0,
            issued: 0,
            stored: Vec::new(),
        }
    }

    // --- the clock

    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
    }

    pub fn set_now(&mut self, now: UnixTime) {
        self.now = now;
    }

    /// Moves the clock to the instant the current token stops being handed out.
    pub fn go_to_usable_until(&mut self) {
        self.now = self.usable_until();
    }

    // --- observing

    pub fn tokens(&self) -> TokenSet {
        self.session
            .tokens()
            .expect("the session holds tokens")
            .clone()
    }

    pub fn generation(&self) -> u64 {
        self.session.generation()
    }

    pub fn usable_until(&self) -> UnixTime {
        self.session
            .authorization()
            .expect("the session holds an authorization")
            .usable_until()
    }

    /// A snapshot of everything a refused input must leave alone.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot::of(&self.session)
    }

    // --- polling

    /// Polls as a caller following the drain rule does: each [`Action::Store`] is done (the set
    /// is kept in [`Scenario::stored`]) and polling goes on.
    pub fn poll(&mut self) -> Action {
        loop {
            match self.session.poll(self.now) {
                Action::Store => self.stored.push(self.session.tokens().cloned()),
                other => return other,
            }
        }
    }

    /// Polls and expects a request of `kind`.
    #[track_caller]
    pub fn expect_send(&mut self, kind: RequestKind) -> OutgoingRequest {
        match self.poll() {
            Action::Send(request) => {
                assert_eq!(request.kind(), kind, "wrong request kind");
                request
            }
            other => panic!("expected Send({kind:?}), got {other:?}"),
        }
    }

    /// Polls and expects a usable token.
    #[track_caller]
    pub fn expect_use(&mut self) -> Authorization {
        match self.poll() {
            Action::UseToken(auth) => auth,
            other => panic!("expected UseToken, got {other:?}"),
        }
    }

    /// Polls and expects to wait for request `id`.
    #[track_caller]
    pub fn expect_wait(&mut self, id: RequestId) {
        match self.poll() {
            Action::Wait(waiting_for) => assert_eq!(waiting_for, id, "waiting for the wrong id"),
            other => panic!("expected Wait({id:?}), got {other:?}"),
        }
    }

    /// Polls and expects a stop.
    #[track_caller]
    pub fn expect_stop(&mut self) -> Error {
        match self.poll() {
            Action::Stop(error) => error,
            other => panic!("expected Stop, got {other:?}"),
        }
    }

    // --- answering

    pub fn answer(
        &mut self,
        request: &OutgoingRequest,
        response: &Response<Vec<u8>>,
    ) -> Result<(), Error> {
        self.session
            .handle_response(request.id(), self.now, response)
    }

    pub fn answer_id(&mut self, id: RequestId, response: &Response<Vec<u8>>) -> Result<(), Error> {
        self.session.handle_response(id, self.now, response)
    }

    /// The fake server issues the next token pair (`access(n)`, `refresh(n)`) for `request`;
    /// asserts the session accepted it and asks for the new set to be stored.
    #[track_caller]
    pub fn answer_tokens(&mut self, request: &OutgoingRequest) {
        self.issued += 1;
        let response = tokens_reply(self.issued);
        let stored = self.stored.len();
        assert_eq!(
            self.answer(request, &response),
            Ok(()),
            "the token response was not accepted"
        );
        assert!(
            matches!(self.session.poll(self.now), Action::Store),
            "new tokens must be stored before anything else"
        );
        self.stored.push(self.session.tokens().cloned());
        assert_eq!(self.stored.len(), stored + 1);
    }

    pub fn fail_transport(&mut self, request: &OutgoingRequest) -> Error {
        self.session
            .handle_transport_error(request.id(), self.now, timeout())
    }

    // --- states

    /// Logged in with the password: holds `access(n)` / `refresh(n)`, usable for an hour.
    #[track_caller]
    pub fn logged_in(mut self) -> Self {
        let login = self.expect_send(RequestKind::PasswordGrant);
        self.answer_tokens(&login);
        self
    }

    /// Logged in, clock at the first instant the token is no longer handed out.
    #[track_caller]
    pub fn near_expiry(mut self) -> Self {
        self = self.logged_in();
        self.go_to_usable_until();
        self
    }

    /// Logged in, the refresh grant handed out and not answered yet.
    #[track_caller]
    pub fn refresh_in_flight(self) -> (Self, OutgoingRequest) {
        let mut scenario = self.near_expiry();
        let request = scenario.expect_send(RequestKind::RefreshGrant);
        (scenario, request)
    }

    /// The refresh token died (v9 shape); the fallback password login is in flight.
    #[track_caller]
    pub fn relogin_in_flight(self) -> (Self, OutgoingRequest) {
        let (mut scenario, refresh) = self.refresh_in_flight();
        let progress = scenario.answer(&refresh, &refresh_invalid_v9());
        assert_eq!(
            progress.map_err(|error| error.kind()),
            Err(ErrorKind::RefreshTokenRejected)
        );
        let login = scenario.expect_send(RequestKind::PasswordGrant);
        (scenario, login)
    }

    /// The fallback password login was refused: stopped until `login()`.
    #[track_caller]
    pub fn stopped_by_refused_password(self) -> Self {
        let (mut scenario, login) = self.relogin_in_flight();
        let error = scenario
            .answer(&login, &invalid_grant_password())
            .expect_err("a refused password is an error");
        assert_eq!(error.kind(), ErrorKind::InvalidCredentials);
        scenario
    }

    /// Logged in, then revoked; returns the revocation requests.
    #[track_caller]
    pub fn revoked(self) -> (Self, Vec<OutgoingRequest>) {
        let mut scenario = self.logged_in();
        scenario.session.revoke();
        let requests = scenario.revocations();
        (scenario, requests)
    }

    /// Revokes and polls out the revocation requests.
    pub fn revocations_after_revoke(&mut self) -> Vec<OutgoingRequest> {
        self.session.revoke();
        self.revocations()
    }

    /// Polls out the revocation requests a `revoke` queued; stops at the first other action.
    pub fn revocations(&mut self) -> Vec<OutgoingRequest> {
        let mut requests = Vec::new();
        while let Action::Send(request) = self.poll() {
            assert_eq!(request.kind(), RequestKind::Revocation, "after a revoke");
            requests.push(request);
        }
        requests
    }
}

/// Polls `session` at `now` as a caller that stores does: past any [`Action::Store`].
pub fn poll(session: &mut Session, now: UnixTime) -> Action {
    loop {
        match session.poll(now) {
            Action::Store => {}
            other => return other,
        }
    }
}

/// Revokes at `now` and polls out the revocation requests, as a caller following the drain
/// rule does (a `Store` erasing the set is done first).
pub fn revoke(session: &mut Session, now: UnixTime) -> Vec<OutgoingRequest> {
    session.revoke();
    let mut requests = Vec::new();
    loop {
        match session.poll(now) {
            Action::Store => {}
            Action::Send(request) => {
                assert_eq!(request.kind(), RequestKind::Revocation, "after a revoke");
                requests.push(request);
            }
            _ => return requests,
        }
    }
}

/// What the session made of an API `401`, as the drivers tell their callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unauthorized {
    /// The token was withdrawn: poll for another and retry.
    RetryWithNewToken,
    /// The token stays (the next poll hands it out again): report the `401`.
    Report,
}

/// Reports an API `401` for `token` at `now`, and says what the session made of it.
pub fn unauthorized(
    session: &mut Session,
    token: keliweb_oauth::sans_io::TokenId,
    now: UnixTime,
) -> Unauthorized {
    session.handle_unauthorized(token, now);
    // Kept means reported: the next poll hands the same token out.
    match session.authorization() {
        Some(auth) if auth.token_id() == token => Unauthorized::Report,
        _ => Unauthorized::RetryWithNewToken,
    }
}

/// What a refused input must not change.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub generation: u64,
    pub tokens: Option<TokenSet>,
    pub in_flight: Option<RequestId>,
    pub authorization: Option<(keliweb_oauth::sans_io::TokenId, UnixTime)>,
}

impl Snapshot {
    /// Everything a refused input must leave alone in `session`.
    pub fn of(session: &Session) -> Self {
        Self {
            generation: session.generation(),
            tokens: session.tokens().cloned(),
            in_flight: session.in_flight(),
            authorization: session
                .authorization()
                .map(|auth| (auth.token_id(), auth.usable_until())),
        }
    }
}

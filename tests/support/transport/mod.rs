//! Shared by the clients' transport tests (`transport_blocking`, `transport_async`, and
//! `transport_limits` for the harness): a harness
//! around the emulator on 127.0.0.1, an HTTP client wrapper and a token store that record what
//! they see, the small [`Driver`] trait both clients implement, and every scenario written once
//! over it (in `scenarios.rs`).
//!
//! Time: each client reads a [`ManualClock`] that only the test moves, so tokens expire without
//! waiting; the emulator's own clock is moved with `advance_clock` where the server must agree.
#![allow(dead_code)]

#[cfg(feature = "reqwest")]
pub mod async_driver;
#[cfg(feature = "ureq")]
pub mod blocking_driver;
pub mod promise_scenarios;
pub mod refresh_ahead_scenarios;
pub mod scenarios;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, Response};
use keliweb_emulator::{Counters, Emulator, EmulatorConfig};
use keliweb_oauth::client::{Limits, ManualClock, RequestLimits, Unauthorized};
use keliweb_oauth::{
    Config, ConfigBuilder, Credentials, Error, ErrorKind, TokenSet, UnixTime,
    error::TransportError,
    sans_io::{Authorization, TokenId},
};

/// Calls `$each!` with the name of every scenario in `scenarios.rs` that both transports run,
/// so each test module turns the one list into tests of its own flavour. (Not every room
/// including this module uses it.)
#[allow(unused_macros)]
macro_rules! every_scenario {
    ($each:ident) => {
        $each! {
            lifecycle_login_call_refresh_with_rotation,
            api_401_refreshes_once_and_retries_once,
            api_401_for_the_fresh_token_is_returned_not_looped,
            revoke_rfc7009_drops_tokens_everywhere,
            revoke_bearer_logout_drops_tokens_everywhere,
            restart_from_stored_set_without_login,
            restart_from_expired_set_refreshes_once,
            token_route_faults_are_typed_and_recoverable,
            redirects_are_not_followed,
            dead_refresh_token_passport_v8_leads_to_one_login,
            dead_refresh_token_passport_v9_leads_to_one_login,
            wrong_password_after_dead_refresh_stops_without_resending,
            herd_at_expiry_sends_one_request_and_shares_the_token,
            herd_shares_one_failed_request,
            herd_without_cooldown_still_shares_one_failed_request,
            store_sees_every_rotation_before_it_is_used,
            force_refresh_with_a_dead_refresh_token_logs_in_once_v8,
            force_refresh_with_a_dead_refresh_token_logs_in_once_v9,
            force_refresh_during_a_pause_returns_its_error,
            a_reported_401_gives_the_next_caller_a_new_token,
            an_api_refusing_every_token_costs_one_token_request_per_retry_delay,
            the_token_goes_only_to_allowed_origins,
            login_as_another_account_withdraws_the_token_at_once,
            refresh_ahead_keeps_callers_on_the_valid_token,
            a_failed_refresh_ahead_is_nobodys_error,
        }
    };
}
#[allow(unused_imports)]
pub(crate) use every_scenario;

/// The client clock's start (2027-01-15); the emulator runs on real time.
pub const T0: UnixTime = UnixTime::from_secs(1_800_000_000);
/// The client's leeway (the default).
pub const LEEWAY: Duration = Duration::from_secs(60);
/// The emulator's access-token lifetime (the default).
pub const HOUR: Duration = Duration::from_secs(3600);

/// Limits for the tests: finite, but generous enough for a loaded machine.
pub fn test_limits() -> Limits {
    Limits {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        ..Limits::default()
    }
}

/// A token as a caller received it, owned so it can cross threads and tasks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub id: TokenId,
    pub header: HeaderValue,
}

impl Token {
    pub fn of(authorization: &Authorization) -> Self {
        Self {
            id: authorization.token_id(),
            header: authorization.expose_header_value().clone(),
        }
    }

    /// Whether this is the `Authorization` value for `access_token`.
    pub fn is_for(&self, access_token: &str) -> bool {
        self.header.as_bytes() == format!("Bearer {access_token}").as_bytes()
    }
}

/// What the recording HTTP client and the recording store saw, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A 2xx token response arrived carrying this pair (recorded before the driver sees it).
    Issued { access: String, refresh: String },
    /// The store was called with this set (`None`: told to forget).
    Stored(Option<(String, Option<String>)>),
    /// An API call went out with this access token.
    Api { access: String },
}

/// The shared, ordered event log.
#[derive(Clone, Debug, Default)]
pub struct EventLog(Arc<Mutex<Vec<Event>>>);

impl EventLog {
    pub fn push(&self, event: Event) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }

    pub fn events(&self) -> Vec<Event> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The argument of the last store call, if the store was called.
    pub fn last_stored(&self) -> Option<Option<(String, Option<String>)>> {
        self.events()
            .into_iter()
            .rev()
            .find_map(|event| match event {
                Event::Stored(set) => Some(set),
                _ => None,
            })
    }

    /// A store that appends every call to this log.
    pub fn store(&self) -> impl Fn(Option<&TokenSet>) + Send + Sync + 'static {
        let log = self.clone();
        move |tokens: Option<&TokenSet>| log.push(Event::Stored(tokens.map(parts)))
    }
}

/// The access and refresh token of a set, as plain strings (tests compare them).
pub fn parts(set: &TokenSet) -> (String, Option<String>) {
    (
        set.access_token().expose_secret().to_owned(),
        set.refresh_token()
            .map(|token| token.expose_secret().to_owned()),
    )
}

/// Wraps an HTTP client and logs token responses and API calls into an [`EventLog`].
#[derive(Clone, Debug)]
pub struct Recording<H> {
    pub inner: H,
    pub log: EventLog,
}

impl<H> Recording<H> {
    /// Logs an API call; returns the path, for [`after`](Self::after).
    fn before(&self, request: &Request<Vec<u8>>) -> String {
        if request.uri().path() == "/api/user" {
            let access = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
                .unwrap_or_default()
                .to_owned();
            self.log.push(Event::Api { access });
        }
        request.uri().path().to_owned()
    }

    /// Logs the tokens of a 2xx token response, and hands the outcome back.
    fn after(
        &self,
        path: &str,
        outcome: Result<Response<Vec<u8>>, TransportError>,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        if let Ok(response) = &outcome
            && path == "/oauth/token"
            && response.status().is_success()
            && let Ok(body) = serde_json::from_slice::<serde_json::Value>(response.body())
            && let (Some(access), Some(refresh)) = (
                body["access_token"].as_str(),
                body["refresh_token"].as_str(),
            )
        {
            self.log.push(Event::Issued {
                access: access.to_owned(),
                refresh: refresh.to_owned(),
            });
        }
        outcome
    }
}

#[cfg(feature = "blocking")]
impl<H: keliweb_oauth::blocking::HttpClient> keliweb_oauth::blocking::HttpClient for Recording<H> {
    fn execute(
        &self,
        request: Request<Vec<u8>>,
        limits: RequestLimits,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        let path = self.before(&request);
        self.after(&path, self.inner.execute(request, limits))
    }
}

#[cfg(feature = "nonblocking")]
impl<H: keliweb_oauth::nonblocking::AsyncHttpClient> keliweb_oauth::nonblocking::AsyncHttpClient
    for Recording<H>
{
    async fn execute(
        &self,
        request: Request<Vec<u8>>,
        limits: RequestLimits,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        let path = self.before(&request);
        self.after(&path, self.inner.execute(request, limits).await)
    }

    /// A wrapper forwards `spawn`, or the client loses its background work (refresh ahead).
    fn spawn(
        &self,
        task: keliweb_oauth::nonblocking::BackgroundTask,
    ) -> Result<(), keliweb_oauth::nonblocking::BackgroundTask> {
        self.inner.spawn(task)
    }
}

/// The part of [`Driver`] that passes straight through to the client, written once for both
/// drivers: `$http` is the HTTP client to record, `$($await)*` is `.await` for the async client
/// and nothing for the blocking one.
macro_rules! pass_through {
    ($http:expr, [$($await:tt)*]) => {
        fn build(setup: super::ClientSetup) -> Self {
            let http = super::Recording {
                // Made without limits: the builder's are the only ones.
                inner: $http,
                log: setup.log,
            };
            let mut builder = Client::builder(setup.config, http)
                .clock(setup.clock)
                .limits(setup.limits)
                .store(setup.store);
            if let Some(tokens) = setup.tokens {
                builder = builder.tokens(tokens);
            }
            Self(builder.build())
        }

        async fn send(
            &self,
            request: http::Request<Vec<u8>>,
        ) -> Result<http::Response<Vec<u8>>, keliweb_oauth::Error> {
            self.0.send(request) $($await)*
        }

        async fn force_refresh(&self) -> Result<super::Token, keliweb_oauth::Error> {
            self.0.force_refresh() $($await)* .map(|token| super::Token::of(&token))
        }

        async fn revoke(&self) -> Result<(), keliweb_oauth::Error> {
            self.0.revoke() $($await)*
        }

        fn login(&self, credentials: keliweb_oauth::Credentials) {
            self.0.login(credentials);
        }

        fn tokens(&self) -> Option<keliweb_oauth::TokenSet> {
            self.0.tokens()
        }

        async fn authorize(
            &self,
            request: &mut http::Request<Vec<u8>>,
        ) -> Result<keliweb_oauth::sans_io::TokenId, keliweb_oauth::Error> {
            self.0.authorize(request) $($await)*
        }

        fn report_unauthorized(
            &self,
            token: keliweb_oauth::sans_io::TokenId,
        ) -> keliweb_oauth::client::Unauthorized {
            self.0.report_unauthorized(token)
        }
    };
}
#[allow(unused_imports)]
pub(crate) use pass_through;

/// A boxed store, so both drivers take the same thing.
pub type Store = Box<dyn Fn(Option<&TokenSet>) + Send + Sync + 'static>;

/// Everything a driver needs to build its client.
pub struct ClientSetup {
    pub config: Config,
    pub clock: ManualClock,
    pub limits: Limits,
    pub tokens: Option<TokenSet>,
    pub store: Store,
    pub log: EventLog,
}

impl ClientSetup {
    pub fn tokens(mut self, tokens: TokenSet) -> Self {
        self.tokens = Some(tokens);
        self
    }

    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn store(mut self, store: impl Fn(Option<&TokenSet>) + Send + Sync + 'static) -> Self {
        self.store = Box::new(store);
        self
    }

    pub fn build<D: Driver>(self) -> D {
        D::build(self)
    }
}

/// One client, blocking or async, seen through the same small interface. The async methods of
/// the blocking driver simply block: its scenarios run on a one-thread runtime of their own.
// Test-only trait: no caller needs to name the futures' auto traits.
#[allow(async_fn_in_trait)]
pub trait Driver: Clone + Send + Sync + 'static {
    /// How many concurrent callers the herd scenarios start (threads or tasks).
    const HERD: usize;

    fn build(setup: ClientSetup) -> Self;
    async fn access_token(&self) -> Result<Token, Error>;
    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error>;
    async fn force_refresh(&self) -> Result<Token, Error>;
    async fn revoke(&self) -> Result<(), Error>;
    fn login(&self, credentials: Credentials);
    fn tokens(&self) -> Option<TokenSet>;
    /// [`HERD`](Self::HERD) callers, released together by a barrier, each asking for a token.
    async fn herd(&self) -> Vec<Result<Token, Error>>;
    /// `access_token`, blocking the calling thread (which is not one of the driver's).
    fn access_token_blocking(&self) -> Result<Token, Error>;
    async fn authorize(&self, request: &mut Request<Vec<u8>>) -> Result<TokenId, Error>;
    fn report_unauthorized(&self, token: TokenId) -> Unauthorized;
    /// `callers` concurrent callers (threads or tasks), each sending `GET url` with `send`
    /// until `deadline`: the status of every answer, or the kind of every error.
    async fn send_until(&self, callers: usize, url: &str, until: Instant) -> Vec<Outcome>;
}

/// What became of one API call: its status, or the kind of its error.
pub type Outcome = Result<u16, ErrorKind>;

/// Runs a scenario on a one-thread runtime (for the blocking driver's plain `#[test]`s).
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a one-thread runtime")
        .block_on(future)
}

/// An emulator on 127.0.0.1, the clock its clients read, and the log their recorders share.
pub struct Harness {
    pub emulator: Emulator,
    pub clock: ManualClock,
    pub log: EventLog,
}

impl Harness {
    pub fn start() -> Self {
        Self::with(EmulatorConfig::default())
    }

    pub fn with(config: EmulatorConfig) -> Self {
        Self {
            emulator: Emulator::start(config).expect("the emulator starts on 127.0.0.1"),
            clock: ManualClock::new(T0),
            log: EventLog::default(),
        }
    }

    /// A config for the emulator's client and account, revocation local only.
    pub fn config(&self) -> ConfigBuilder {
        let emulator = self.emulator.config();
        Config::builder(
            self.emulator.token_url(),
            emulator.client_id.as_str(),
            emulator.client_secret.as_str(),
        )
        .credentials(emulator.username.as_str(), emulator.password.as_str())
    }

    /// The account's right credentials.
    pub fn credentials(&self) -> Credentials {
        let emulator = self.emulator.config();
        Credentials::new(emulator.username.as_str(), emulator.password.as_str())
    }

    /// A client setup on `config`, with the harness clock, test limits and a logging store.
    pub fn setup(&self, config: ConfigBuilder) -> ClientSetup {
        ClientSetup {
            config: config.build().expect("a valid config"),
            clock: self.clock.clone(),
            limits: test_limits(),
            tokens: None,
            store: Box::new(self.log.store()),
            log: self.log.clone(),
        }
    }

    /// A client with the default setup.
    pub fn client<D: Driver>(&self) -> D {
        self.setup(self.config()).build()
    }

    /// Moves the client clock to the instant `set`'s access token stops being handed out
    /// (expiry minus the leeway): the next caller must get a new token.
    pub fn expire(&self, set: &TokenSet) {
        self.clock
            .set(set.access_token_expires_at().saturating_sub(LEEWAY));
    }

    /// `GET /api/user`, for `send`.
    pub fn api_request(&self) -> Request<Vec<u8>> {
        Request::get(self.emulator.api_url())
            .body(Vec::new())
            .expect("a valid request")
    }

    pub fn counters(&self) -> Counters {
        self.emulator.counters()
    }

    /// `(grant_type, status)` of every token request the emulator answered, oldest first.
    pub fn token_requests(&self) -> Vec<(String, u16)> {
        self.emulator
            .requests()
            .into_iter()
            .filter(|request| request.path == "/oauth/token")
            .map(|request| (request.grant_type.unwrap_or_default(), request.status))
            .collect()
    }

    /// A refresh grant sent straight to the emulator, bypassing the client: `(status, body)`.
    pub fn raw_refresh(&self, refresh_token: &str) -> (u16, serde_json::Value) {
        let emulator = self.emulator.config();
        let response = raw_agent()
            .post(self.emulator.token_url())
            .header("Accept", "application/json")
            .send_form([
                ("grant_type", "refresh_token"),
                ("client_id", emulator.client_id.as_str()),
                ("client_secret", emulator.client_secret.as_str()),
                ("refresh_token", refresh_token),
            ]);
        read(response)
    }

    /// The API's status for a call with `access_token`, bypassing the client.
    pub fn raw_api_status(&self, access_token: &str) -> u16 {
        let response = raw_agent()
            .get(self.emulator.api_url())
            .header("Accept", "application/json")
            .header("Authorization", &format!("Bearer {access_token}"))
            .call();
        read(response).0
    }
}

/// A plain ureq agent that reports every status and follows no redirect.
fn raw_agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .build();
    ureq::Agent::new_with_config(config)
}

fn read(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> (u16, serde_json::Value) {
    let mut response = response.expect("the emulator answers");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or_default())
}

/// `after - before` for the counters a scenario checks, named so a failure reads well.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delta {
    pub token_requests: u64,
    pub password_grants: u64,
    pub refresh_grants: u64,
    pub api_calls: u64,
}

impl Delta {
    pub fn between(before: &Counters, after: &Counters) -> Self {
        Self {
            token_requests: after.token_requests - before.token_requests,
            password_grants: after.password_grants - before.password_grants,
            refresh_grants: after.refresh_grants - before.refresh_grants,
            api_calls: after.api_calls - before.api_calls,
        }
    }

    /// Only token requests: `requests` of them, with these grants issued.
    pub const fn tokens(requests: u64, passwords: u64, refreshes: u64) -> Self {
        Self {
            token_requests: requests,
            password_grants: passwords,
            refresh_grants: refreshes,
            api_calls: 0,
        }
    }

    pub const fn with_api_calls(mut self, calls: u64) -> Self {
        self.api_calls = calls;
        self
    }
}

/// One `GET url` sent with `send`: its status, or its error's kind.
pub fn status_or_kind(outcome: Result<Response<Vec<u8>>, Error>) -> Result<u16, ErrorKind> {
    outcome
        .map(|response| response.status().as_u16())
        .map_err(|error| error.kind())
}

/// `GET url`, for `send`.
pub fn get(url: &str) -> Request<Vec<u8>> {
    Request::get(url).body(Vec::new()).expect("a valid request")
}

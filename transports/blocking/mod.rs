//! The blocking driver: one [`Session`](crate::Session) shared by every thread, single-flight token requests,
//! and a lock-free valid-token path.
//!
//! ```no_run
//! # #[cfg(feature = "ureq")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use keliweb_oauth::{Config, blocking::{Client, UreqClient}};
//!
//! let config = Config::keliweb("client-id", "client-secret").credentials("me@example.com", "pw").build()?;
//! let client = Client::new(config, UreqClient::default());
//! let invoices = client.send(http::Request::get("https://fatture.keliweb.it/api/invoices").body(Vec::new())?)?;
//! # Ok(()) }
//! # #[cfg(not(feature = "ureq"))] fn main() {}
//! ```
//!
//! Any other HTTP client plugs in by implementing [`HttpClient`].

mod job;
#[cfg(feature = "ureq")]
mod ureq;

use std::sync::{Arc, Condvar, PoisonError};

use http::{Request, Response};

use self::job::{run_job, start_refresh_ahead};
#[cfg(feature = "ureq")]
pub use self::ureq::UreqClient;
use crate::client::{
    Driver, Foreground, RequestLimits, Revocations, TokenGuard, Unauthorized, apply, copy_request,
    deadline, is_unauthorized,
};
use crate::coordinator::{Coordinator, Step, Want};
use crate::{
    Config, Credentials, Error, StoreError, TokenId, TokenSet, TransportError, TransportErrorKind,
    UnixTime,
};

/// A blocking HTTP client the driver sends requests through. It is made without limits: each
/// request comes with its own [`RequestLimits`], from
/// [`ClientBuilder::limits`](crate::client::ClientBuilder::limits).
pub trait HttpClient: Send + Sync + 'static {
    /// Sends `request` within `limits` and returns its response.
    ///
    /// Implementations MUST return 4xx and 5xx answers as responses (the OAuth error body is in
    /// them), MUST NOT follow redirects, MUST give up after `limits.connect_timeout` connecting
    /// and `limits.request_timeout` in all (every caller waiting for a token waits on this
    /// call), and MUST fail with [`TransportErrorKind::BodyTooLarge`] rather than read more than
    /// `limits.max_body_bytes` of body. A limit the HTTP library cannot apply must be documented
    /// by the implementation, not ignored. Never log the request: its body and `Authorization`
    /// header hold secrets, and `http::Request`'s `Debug` prints them.
    ///
    /// [`TransportErrorKind::BodyTooLarge`]: crate::TransportErrorKind::BodyTooLarge
    ///
    /// # Errors
    /// A [`TransportError`] when no complete response arrived.
    fn execute(
        &self,
        request: Request<Vec<u8>>,
        limits: RequestLimits,
    ) -> Result<Response<Vec<u8>>, TransportError>;
}

/// Options for a [`Client`].
pub type ClientBuilder<H> = crate::client::ClientBuilder<H, crate::client::Blocking>;

/// An OAuth client for one credential: `Send + Sync`, cheap to clone; clones share the session.
/// Each thread that needs a token while none is usable waits for the one token request out.
pub struct Client<H> {
    inner: Arc<Driver<H, Condvar>>,
}

impl<H> Clone for Client<H> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<H: HttpClient> ClientBuilder<H> {
    /// The client.
    pub fn build(self) -> Client<H> {
        Client {
            inner: Arc::new(self.into_driver()),
        }
    }
}

impl<H: HttpClient> Client<H> {
    /// A client with the system clock, no store and default limits.
    pub fn new(config: Config, http: H) -> Self {
        Self::builder(config, http).build()
    }

    /// A builder for a client with a store, stored tokens, another clock or other limits.
    pub fn builder(config: Config, http: H) -> ClientBuilder<H> {
        ClientBuilder::new(config, http)
    }

    /// A usable access token, fetching one if needed. While a token is valid this takes no
    /// lock; when one is needed, exactly one thread sends the token request and every thread
    /// waiting on it gets its outcome, failures included. Once the token reaches its
    /// refresh-ahead point ([`ConfigBuilder::refresh_ahead`](crate::ConfigBuilder::refresh_ahead)),
    /// the first caller starts the refresh in the background and every caller keeps using the
    /// still-valid token.
    ///
    /// # Errors
    /// The [`Error`] of the token request, or why none can be sent.
    pub fn authorization(&self) -> Result<TokenGuard, Error> {
        match self.usable_now() {
            Some(token) => Ok(token),
            None => self.acquire(Want::Usable),
        }
    }

    /// Sets `Authorization` (and Keliweb's default headers) on `request`. Returns which token
    /// it used: hand it to [`report_unauthorized`](Self::report_unauthorized) if the API
    /// answers `401`.
    ///
    /// # Errors
    /// [`ErrorKind::UntrustedOrigin`](crate::ErrorKind::UntrustedOrigin) before any IO when
    /// the request's URL is not one the token may go to
    /// ([`Config::permits_token_to`](crate::Config::permits_token_to)); otherwise as
    /// [`authorization`](Self::authorization).
    pub fn authorize<B>(&self, request: &mut Request<B>) -> Result<TokenId, Error> {
        if let Some(token) = self.usable_now() {
            return self.inner.insert(&token, request);
        }
        self.inner.check_origin(request)?;
        loop {
            let token = self.acquire(Want::Usable)?;
            // Usable a moment ago; if it reached its leeway since, fetch the next one.
            if let Some(applied) = apply(&token, self.inner.now(), request) {
                return applied;
            }
        }
    }

    /// Reports that the API answered `401` to a request authorized with `token` (what
    /// [`authorize`](Self::authorize) returned), for callers that send their own requests.
    /// [`Unauthorized::RetryWithNewToken`]: the next [`authorization`](Self::authorization) or
    /// `authorize` gets a new token; retry once. [`Unauthorized::Report`]: a replacement was
    /// refused too; hand the `401` on instead of retrying (an API that refuses every token then
    /// costs at most one token request per minimum retry delay).
    pub fn report_unauthorized(&self, token: TokenId) -> Unauthorized {
        self.inner
            .report(|machine, now| machine.unauthorized(token, now))
    }

    /// Authorizes and sends an API request. On a `401` the token is refreshed once and the
    /// request sent once more; a `401` that survives that is returned as it is.
    ///
    /// # Errors
    /// A token error, or [`ErrorKind::Transport`](crate::ErrorKind::Transport) when the API
    /// call got no complete response.
    pub fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        let retry = copy_request(&request);
        let (token, response) = self.send_once(request)?;
        if !is_unauthorized(&response) {
            return Ok(response);
        }
        match self.report_unauthorized(token) {
            Unauthorized::Report => Ok(response),
            Unauthorized::RetryWithNewToken => Ok(self.send_once(retry)?.1),
        }
    }

    fn send_once(
        &self,
        mut request: Request<Vec<u8>>,
    ) -> Result<(TokenId, Response<Vec<u8>>), Error> {
        let token = self.authorize(&mut request)?;
        let limits = self.inner.limits.api_request();
        let response = self.inner.http.execute(request, limits)?;
        Ok((token, response))
    }

    /// Refreshes now, even if the current token is still valid, and returns the new token.
    /// Other callers keep using the current token until the new one is in. A dead refresh
    /// token leads to one password login (when the password is kept), as an expiry would; the
    /// token that was current is never what this returns.
    ///
    /// # Errors
    /// The error of the token request, or, while a retry pause or a stop keeps any request
    /// from going out, the error that caused it. The current token stays in use either way.
    pub fn force_refresh(&self) -> Result<TokenGuard, Error> {
        // The stored set first: adopting it is not the refresh asked for.
        self.acquire_loaded()?;
        let want = self.inner.report(|machine, _| machine.force_refresh());
        self.acquire(want)
    }

    /// Logs out: drops the tokens locally at once, erases the stored set, then asks the
    /// server to revoke them as configured. Call [`login`](Self::login) to start again.
    ///
    /// # Errors
    /// The first revocation request that failed, else the store's failure to erase the set;
    /// the tokens are gone locally regardless.
    pub fn revoke(&self) -> Result<(), Error> {
        let requests = self.inner.report(|machine, now| machine.revoke(now));
        // Every request is guarded before anything else, so an unwinding revoke still releases
        // the ones it never reached.
        let mut revocations = Revocations::new(&self.inner, requests);
        // Before the server hears of it: no other process adopts the revoked set.
        let erased = self.drive(|machine, _| machine.erase_step(), None);
        let mut first_error = None;
        while let Some(request) = revocations.next() {
            let answer = self
                .inner
                .http
                .execute(request, self.inner.limits.token_request());
            if let Err(error) = revocations.answered(answer) {
                first_error.get_or_insert(error);
            }
        }
        match (first_error, erased) {
            (Some(error), _) => Err(error),
            (None, erased) => erased.map(drop),
        }
    }

    /// The store's last failure (a save refused or not done), until a save succeeds. A set
    /// whose save failed is kept and used (it works), and saved again before the next token
    /// request.
    #[must_use]
    pub fn store_error(&self) -> Option<StoreError> {
        self.inner.lock().store_error().cloned()
    }

    /// Supplies credentials for the next token request (after `LoginRequired`,
    /// `InvalidCredentials`, or a revocation).
    pub fn login(&self, credentials: Credentials) {
        self.inner.report(|machine, _| machine.login(credentials));
    }

    /// A copy of the token set callers are handed: with a store, a new set shows here once its
    /// save is done (or failed, and it is used anyway), never while it is being saved.
    #[must_use]
    pub fn tokens(&self) -> Option<TokenSet> {
        self.inner.lock().tokens().cloned()
    }

    /// Finishes what the client has under way, for a program about to exit: waits for the
    /// token request out (a refresh ahead in the background included) and the saving of its
    /// answer, then tries once more to save a set whose save failed. With refresh-token
    /// rotation the server kills the old refresh token as it answers, so a program that exits
    /// with a refresh out, or its answer unsaved, leaves a dead pair in its store.
    ///
    /// It waits at most the time a token request may hold the store's lease (twice the request
    /// timeout, plus 5 s); the save tried once more then takes the lease like any token request
    /// (waiting, as they do, while another process holds it). From then on, for every clone of
    /// this client and for good, no refresh ahead starts in the background; callers still get
    /// tokens, and with [`foreground_refresh_ahead`](crate::client::ClientBuilder::foreground_refresh_ahead)
    /// a call still refreshes in the call, which finishes before it returns.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the held set is not saved (the store
    /// is down: this process holds the only live pair), or
    /// [`ErrorKind::Transport`](crate::ErrorKind::Transport) (a timeout) when a token request
    /// or the saving of its answer was still under way when the wait ran out.
    pub fn shutdown(&self) -> Result<(), Error> {
        let driver = &*self.inner;
        driver.report(|machine, _| machine.shutdown());
        let give_up = deadline(driver.lease_hold_time());
        let mut machine = driver.lock();
        loop {
            match machine.shutdown_step() {
                Step::Ready => return Ok(()),
                Step::Failed(error) => return Err(error),
                Step::Wait(job) => {
                    #[allow(
                        clippy::disallowed_methods,
                        reason = "the shutdown's wait is bounded on the monotonic clock, outside the core"
                    )]
                    let left = give_up.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Err(TransportError::new(
                            TransportErrorKind::Timeout,
                            "a token request or the saving of its answer was still under way",
                        )
                        .into());
                    }
                    machine = driver
                        .finished
                        .wait_timeout_while(machine, left, |machine| machine.is_running(job))
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                Step::Work(job, work) => {
                    drop(machine);
                    run_job(driver, job, work);
                    machine = driver.lock();
                }
            }
        }
    }

    /// The usable token from the lock-free path; past its refresh-ahead point, the first
    /// caller starts the refresh in the background, or, with
    /// [`foreground_refresh_ahead`](crate::client::ClientBuilder::foreground_refresh_ahead),
    /// the caller runs it and gets the new token.
    #[inline]
    fn usable_now(&self) -> Option<TokenGuard> {
        if self.inner.foreground_refresh_ahead {
            return self.usable_in_foreground();
        }
        let (token, refresh_ahead) = self.inner.usable()?;
        if refresh_ahead {
            start_refresh_ahead(&self.inner);
        }
        Some(token)
    }

    /// The foreground refresh ahead: within the hand-out margin before the token's refresh
    /// point, waits for the point instead of handing out a token about to be rotated, then
    /// replaces it in the call. A failed refresh ahead is nobody's error while the token
    /// works: it is handed out then.
    fn usable_in_foreground(&self) -> Option<TokenGuard> {
        let (token, next) = self.inner.usable_foreground()?;
        let Foreground::StepAt(want, at) = next else {
            return Some(token);
        };
        drop(token);
        let wait = at.saturating_duration_since(self.inner.now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        match self.acquire(want) {
            Ok(token) => Some(token),
            Err(_) => self.inner.usable_foreground().map(|(token, _)| token),
        }
    }

    /// The slow path: steps the machine until it has the token `want` asks for, or an error.
    fn acquire(&self, want: Want) -> Result<TokenGuard, Error> {
        self.drive(|machine, now| machine.step(want, now), Some(want))
    }

    /// Loads the store if it never was, so what follows starts from the stored set.
    fn acquire_loaded(&self) -> Result<(), Error> {
        self.drive(|machine, now| machine.load_step(now), None)
            .map(drop)
    }

    /// Steps with `step` until it is `Ready` (the published token) or `Failed`, doing the work
    /// of a job it starts and waiting for a job it names. With `want`, a job's failure ends the
    /// wait when the caller cannot do without it.
    fn drive(
        &self,
        mut step: impl FnMut(&mut Coordinator, UnixTime) -> Step,
        want: Option<Want>,
    ) -> Result<TokenGuard, Error> {
        let driver = &*self.inner;
        let mut machine = driver.lock();
        loop {
            let now = driver.now();
            let next = step(&mut machine, now);
            driver.mirror(&mut machine, now);
            let job = match next {
                Step::Ready => return Ok(driver.published()),
                Step::Failed(error) => return Err(error),
                Step::Wait(job) => {
                    machine = driver
                        .finished
                        .wait_while(machine, |machine| machine.is_running(job))
                        .unwrap_or_else(PoisonError::into_inner);
                    job
                }
                Step::Work(job, work) => {
                    drop(machine);
                    run_job(driver, job, work);
                    machine = driver.lock();
                    job
                }
            };
            if let Some(want) = want
                && let Some(error) = machine.waited(job, want, driver.now())
            {
                return Err(error);
            }
        }
    }
}

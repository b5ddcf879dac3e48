//! The blocking driver: one [`Session`] shared by every thread, single-flight token requests,
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

#[cfg(feature = "ureq")]
mod ureq;

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use http::{Request, Response};

#[cfg(feature = "ureq")]
pub use self::ureq::UreqClient;
use crate::transport::{
    Clock, Core, Limits, Published, SystemClock, TokenGuard, TokenStore, abandoned, copy_request,
    is_unauthorized,
};
use crate::{
    Action, Config, Credentials, Error, Session, TokenId, TokenSet, TransportError, Unauthorized,
};

/// A blocking HTTP client the driver sends requests through.
pub trait HttpClient: Send + Sync + 'static {
    /// Sends `request` and returns its response.
    ///
    /// Implementations MUST return 4xx and 5xx answers as responses (the OAuth error body is in
    /// them), MUST NOT follow redirects, and MUST fail with [`TransportErrorKind::BodyTooLarge`]
    /// rather than read more than `max_body_bytes` of body.
    ///
    /// [`TransportErrorKind::BodyTooLarge`]: crate::TransportErrorKind::BodyTooLarge
    ///
    /// # Errors
    /// A [`TransportError`] when no complete response arrived.
    fn execute(
        &self,
        request: Request<Vec<u8>>,
        max_body_bytes: u64,
    ) -> Result<Response<Vec<u8>>, TransportError>;
}

/// A blocking OAuth client for one credential. Cheap to clone; clones share the session.
pub struct Client<H> {
    inner: Arc<Inner<H>>,
}

impl<H> Clone for Client<H> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

struct Inner<H> {
    http: H,
    clock: Box<dyn Clock>,
    limits: Limits,
    published: Published,
    core: Mutex<Core>,
    finished: Condvar,
}

/// Options for a [`Client`].
#[must_use]
pub struct ClientBuilder<H> {
    config: Config,
    http: H,
    store: Option<Box<dyn TokenStore>>,
    tokens: Option<TokenSet>,
    clock: Box<dyn Clock>,
    limits: Limits,
}

impl<H: HttpClient> ClientBuilder<H> {
    /// Calls `store` with every new token set before it is used, and with `None` on revocation.
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.store = Some(Box::new(store));
        self
    }

    /// Starts from a stored token set instead of logging in.
    pub fn tokens(mut self, tokens: TokenSet) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Reads the time from `clock` instead of the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// Body-size caps (timeouts belong to the HTTP client itself).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The client.
    pub fn build(self) -> Client<H> {
        let mut session = Session::new(self.config);
        if let Some(tokens) = self.tokens {
            session = session.with_tokens(tokens);
        }
        let published = Published::new();
        let mut core = Core::new(session, self.store);
        core.sync(&published);
        Client {
            inner: Arc::new(Inner {
                http: self.http,
                clock: self.clock,
                limits: self.limits,
                published,
                core: Mutex::new(core),
                finished: Condvar::new(),
            }),
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
        ClientBuilder {
            config,
            http,
            store: None,
            tokens: None,
            clock: Box::new(SystemClock),
            limits: Limits::default(),
        }
    }

    /// A usable access token, fetching one if needed. While a token is valid this takes no
    /// lock; when one is needed, exactly one thread sends the token request and every thread
    /// waiting on it gets its outcome, failures included.
    ///
    /// # Errors
    /// The [`Error`] of the token request, or why none can be sent.
    pub fn access_token(&self) -> Result<TokenGuard, Error> {
        match self.inner.published.usable(self.inner.clock.now()) {
            Some(token) => Ok(token),
            None => self.acquire(self.lock()),
        }
    }

    /// Sets `Authorization` (and Keliweb's default headers) on `request`.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub fn authorize<B>(&self, request: &mut Request<B>) -> Result<TokenId, Error> {
        loop {
            let token = self.access_token()?;
            // Usable a moment ago; if it reached its leeway since, fetch the next one.
            if let Ok(id) = token.apply(self.inner.clock.now(), request) {
                return Ok(id);
            }
        }
    }

    /// Authorizes and sends an API request. On a `401` the token is refreshed once and the
    /// request sent once more; a `401` that survives that is returned as it is.
    ///
    /// # Errors
    /// A token error, or [`ErrorKind::Transport`](crate::ErrorKind::Transport) when the API call
    /// got no complete response.
    pub fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        let retry = copy_request(&request);
        let response = self.send_once(request)?;
        if !is_unauthorized(&response.1) {
            return Ok(response.1);
        }
        let verdict = self.lock().unauthorized(response.0, &self.inner.published);
        match verdict {
            Unauthorized::Report => Ok(response.1),
            Unauthorized::RetryWithNewToken => Ok(self.send_once(retry)?.1),
        }
    }

    fn send_once(
        &self,
        mut request: Request<Vec<u8>>,
    ) -> Result<(TokenId, Response<Vec<u8>>), Error> {
        let token = self.authorize(&mut request)?;
        let limit = self.inner.limits.max_api_response_bytes;
        let response = self.inner.http.execute(request, limit)?;
        Ok((token, response))
    }

    /// Refreshes now, even if the current token is still valid.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub fn force_refresh(&self) -> Result<TokenGuard, Error> {
        let mut core = self.lock();
        core.force_refresh(&self.inner.published);
        self.acquire(core)
    }

    /// Logs out: drops the tokens locally (and in the store) at once, then asks the server to
    /// revoke them as configured. Call [`login`](Self::login) to start again.
    ///
    /// # Errors
    /// The first revocation request that failed; the tokens are gone locally regardless.
    pub fn revoke(&self) -> Result<(), Error> {
        let requests = {
            let mut core = self.lock();
            let requests = core.session.revoke();
            core.sync(&self.inner.published);
            self.inner.finished.notify_all();
            requests
        };
        let mut first_error = None;
        for outgoing in requests {
            let (id, request) = outgoing.into_parts();
            let outcome = self
                .inner
                .http
                .execute(request, self.inner.limits.max_token_response_bytes);
            let result =
                self.lock()
                    .complete(id, self.inner.clock.now(), outcome, &self.inner.published);
            if let Err(error) = result {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Supplies credentials for the next token request (after `LoginRequired`,
    /// `InvalidCredentials`, or a revocation).
    pub fn login(&self, credentials: Credentials) {
        self.lock().session.login(credentials);
    }

    /// A copy of the current token set.
    #[must_use]
    pub fn tokens(&self) -> Option<TokenSet> {
        self.lock().session.tokens().cloned()
    }

    fn lock(&self) -> MutexGuard<'_, Core> {
        self.inner
            .core
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The slow path: drives the session until it has a token or an error.
    fn acquire<'a>(&'a self, mut core: MutexGuard<'a, Core>) -> Result<TokenGuard, Error> {
        loop {
            let now = self.inner.clock.now();
            match core.session.poll(now) {
                Action::UseToken(_) => {
                    core.sync(&self.inner.published);
                    return Ok(Core::published(&self.inner.published));
                }
                Action::Stop(error) => return Err(error),
                Action::Wait(id) => {
                    core = self
                        .inner
                        .finished
                        .wait_while(core, |core| core.session.in_flight() == Some(id))
                        .unwrap_or_else(PoisonError::into_inner);
                    if let Some(Err(error)) = core.outcome(id) {
                        return Err(error.clone());
                    }
                }
                Action::Send(outgoing) => {
                    drop(core);
                    let (id, request) = outgoing.into_parts();
                    let mut pending = Pending {
                        client: self,
                        id: Some(id),
                    };
                    let outcome = self
                        .inner
                        .http
                        .execute(request, self.inner.limits.max_token_response_bytes);
                    pending.id = None;
                    core = self.lock();
                    let result =
                        core.complete(id, self.inner.clock.now(), outcome, &self.inner.published);
                    self.inner.finished.notify_all();
                    // `complete` stored any new tokens before publishing them.
                    let _progress = result?;
                }
            }
        }
    }
}

/// Releases waiting threads if the thread sending a token request unwinds mid-request.
struct Pending<'a, H: HttpClient> {
    client: &'a Client<H>,
    id: Option<crate::RequestId>,
}

impl<H: HttpClient> Drop for Pending<'_, H> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let inner = &self.client.inner;
            let mut core = self.client.lock();
            let _ = core.complete(id, inner.clock.now(), Err(abandoned()), &inner.published);
            inner.finished.notify_all();
        }
    }
}

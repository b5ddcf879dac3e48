//! The async driver: one [`Session`] shared by every task, single-flight token requests, and
//! a lock-free valid-token path. Runtime-agnostic: it waits with `tokio::sync::Notify`, which
//! needs no Tokio runtime.
//!
//! ```no_run
//! # #[cfg(feature = "reqwest")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use keliweb_oauth::{Config, nonblocking::{Client, ReqwestClient}};
//!
//! let config = Config::keliweb("client-id", "client-secret").credentials("me@example.com", "pw").build()?;
//! let client = Client::new(config, ReqwestClient::new(&Default::default())?);
//! let invoices = client.send(http::Request::get("https://fatture.keliweb.it/api/invoices").body(Vec::new())?).await?;
//! # Ok(()) }
//! ```
//!
//! Any other async HTTP client plugs in by implementing [`AsyncHttpClient`].

#[cfg(feature = "reqwest")]
mod reqwest;

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use http::{Request, Response};
use tokio::sync::Notify;

#[cfg(feature = "reqwest")]
pub use self::reqwest::ReqwestClient;
use crate::transport::{
    Clock, Core, Limits, Published, SystemClock, TokenGuard, TokenStore, abandoned, copy_request,
    is_unauthorized,
};
use crate::{
    Action, Config, Credentials, Error, OutgoingRequest, RequestId, Session, TokenId, TokenSet,
    TransportError, Unauthorized,
};

/// An async HTTP client the driver sends requests through.
pub trait AsyncHttpClient: Send + Sync + 'static {
    /// Sends `request` and returns its response.
    ///
    /// Implementations MUST return 4xx and 5xx answers as responses (the OAuth error body is in
    /// them), MUST NOT follow redirects, and MUST fail with [`TransportErrorKind::BodyTooLarge`]
    /// rather than read more than `max_body_bytes` of body.
    ///
    /// [`TransportErrorKind::BodyTooLarge`]: crate::TransportErrorKind::BodyTooLarge
    fn execute(
        &self,
        request: Request<Vec<u8>>,
        max_body_bytes: u64,
    ) -> impl Future<Output = Result<Response<Vec<u8>>, TransportError>> + Send;
}

/// An async OAuth client for one credential: `Send + Sync`, cheap to clone; clones share the
/// session.
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
    finished: Notify,
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

impl<H: AsyncHttpClient> ClientBuilder<H> {
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
                finished: Notify::new(),
            }),
        }
    }
}

/// What the slow path does after looking at the session under the lock.
enum Step {
    Wait(RequestId),
    Send(Box<OutgoingRequest>),
}

impl<H: AsyncHttpClient> Client<H> {
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
    /// lock; when one is needed, exactly one task sends the token request and every task
    /// waiting on it gets its outcome, failures included. Cancel-safe: dropping the task that
    /// sends the request releases the others.
    ///
    /// # Errors
    /// The [`Error`] of the token request, or why none can be sent.
    pub async fn access_token(&self) -> Result<TokenGuard, Error> {
        match self.inner.published.usable(self.inner.clock.now()) {
            Some(token) => Ok(token),
            None => self.acquire().await,
        }
    }

    /// Sets `Authorization` (and Keliweb's default headers) on `request`.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub async fn authorize<B>(&self, request: &mut Request<B>) -> Result<TokenId, Error> {
        loop {
            let token = self.access_token().await?;
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
    pub async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        let retry = copy_request(&request);
        let (token, response) = self.send_once(request).await?;
        if !is_unauthorized(&response) {
            return Ok(response);
        }
        let verdict = self.lock().unauthorized(token, &self.inner.published);
        match verdict {
            Unauthorized::Report => Ok(response),
            Unauthorized::RetryWithNewToken => Ok(self.send_once(retry).await?.1),
        }
    }

    async fn send_once(
        &self,
        mut request: Request<Vec<u8>>,
    ) -> Result<(TokenId, Response<Vec<u8>>), Error> {
        let token = self.authorize(&mut request).await?;
        let limit = self.inner.limits.max_api_response_bytes;
        let response = self.inner.http.execute(request, limit).await?;
        Ok((token, response))
    }

    /// Refreshes now, even if the current token is still valid.
    ///
    /// # Errors
    /// As [`access_token`](Self::access_token).
    pub async fn force_refresh(&self) -> Result<TokenGuard, Error> {
        self.lock().force_refresh(&self.inner.published);
        self.acquire().await
    }

    /// Logs out: drops the tokens locally (and in the store) at once, then asks the server to
    /// revoke them as configured. Call [`login`](Self::login) to start again.
    ///
    /// # Errors
    /// The first revocation request that failed; the tokens are gone locally regardless.
    pub async fn revoke(&self) -> Result<(), Error> {
        let requests = {
            let mut core = self.lock();
            let requests = core.session.revoke();
            core.sync(&self.inner.published);
            requests
        };
        self.inner.finished.notify_waiters();
        let mut first_error = None;
        for outgoing in requests {
            let (id, request) = outgoing.into_parts();
            let outcome = self
                .inner
                .http
                .execute(request, self.inner.limits.max_token_response_bytes)
                .await;
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

    /// The slow path: drives the session until it has a token or an error. The lock is never
    /// held across an await.
    async fn acquire(&self) -> Result<TokenGuard, Error> {
        loop {
            // Registered before the state is read, so a completion after the read wakes us.
            let mut finished = pin!(self.inner.finished.notified());
            finished.as_mut().enable();
            let step = {
                let mut core = self.lock();
                match core.session.poll(self.inner.clock.now()) {
                    Action::UseToken(_) => {
                        core.sync(&self.inner.published);
                        return Ok(Core::published(&self.inner.published));
                    }
                    Action::Stop(error) => return Err(error),
                    Action::Wait(id) => Step::Wait(id),
                    Action::Send(outgoing) => Step::Send(Box::new(outgoing)),
                }
            };
            match step {
                Step::Wait(id) => {
                    finished.await;
                    if let Some(Err(error)) = self.lock().outcome(id) {
                        return Err(error.clone());
                    }
                }
                Step::Send(outgoing) => {
                    let (id, request) = outgoing.into_parts();
                    let mut pending = Pending {
                        client: self,
                        id: Some(id),
                    };
                    let max = self.inner.limits.max_token_response_bytes;
                    let outcome = self.inner.http.execute(request, max).await;
                    pending.id = None;
                    let result = self.lock().complete(
                        id,
                        self.inner.clock.now(),
                        outcome,
                        &self.inner.published,
                    );
                    self.inner.finished.notify_waiters();
                    // `complete` stored any new tokens before publishing them.
                    let _progress = result?;
                }
            }
        }
    }
}

/// Releases waiting tasks if the future sending a token request is dropped mid-request.
struct Pending<'a, H: AsyncHttpClient> {
    client: &'a Client<H>,
    id: Option<RequestId>,
}

impl<H: AsyncHttpClient> Drop for Pending<'_, H> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            let inner = &self.client.inner;
            let _ = self.client.lock().complete(
                id,
                inner.clock.now(),
                Err(abandoned()),
                &inner.published,
            );
            inner.finished.notify_waiters();
        }
    }
}

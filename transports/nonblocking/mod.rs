//! The async driver: one [`Session`](crate::Session) shared by every task, single-flight token requests, and
//! a lock-free valid-token path. Runtime-agnostic: a token request is a task of the client's,
//! driven by every caller that waits for it and spawned where the HTTP client can (see
//! [`AsyncHttpClient::spawn`]); nothing needs a Tokio runtime.
//!
//! ```no_run
//! # #[cfg(feature = "reqwest")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use keliweb_oauth::{Config, nonblocking::{Client, ReqwestClient}};
//!
//! let config = Config::keliweb("client-id", "client-secret").credentials("me@example.com", "pw").build()?;
//! let client = Client::new(config, ReqwestClient::default());
//! let invoices = client.send(http::Request::get("https://fatture.keliweb.it/api/invoices").body(Vec::new())?).await?;
//! # Ok(()) }
//! ```
//!
//! Any other async HTTP client plugs in by implementing [`AsyncHttpClient`].

#[cfg(feature = "reqwest")]
mod reqwest;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use futures_util::FutureExt;
use futures_util::future::Shared;
use http::{Request, Response};
use tokio::sync::Notify;

#[cfg(feature = "reqwest")]
pub use self::reqwest::ReqwestClient;
use crate::transport::{
    self, Driver, Pending, RequestLimits, Step, TokenGuard, Wake, Want, apply, copy_request,
    is_unauthorized,
};
use crate::{
    Config, Credentials, Error, OutgoingRequest, RequestId, TokenId, TokenSet, TransportError,
    TransportErrorKind, Unauthorized,
};

/// A token request and the storing of its answer, detached from the caller that started it.
pub type BackgroundTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An async HTTP client the driver sends requests through. It is made without limits: each
/// request comes with its own [`RequestLimits`], from
/// [`ClientBuilder::limits`](transport::ClientBuilder::limits).
pub trait AsyncHttpClient: Send + Sync + 'static {
    /// Sends `request` within `limits` and returns its response.
    ///
    /// Implementations MUST return 4xx and 5xx answers as responses (the OAuth error body is in
    /// them), MUST NOT follow redirects, MUST give up after `limits.connect_timeout` connecting
    /// and `limits.request_timeout` in all (every task waiting for a token waits on this call),
    /// and MUST fail with [`TransportErrorKind::BodyTooLarge`] rather than read more than
    /// `limits.max_body_bytes` of body. A limit the HTTP library cannot apply must be documented
    /// by the implementation, not ignored. Never log the request: its body and `Authorization`
    /// header hold secrets, and `http::Request`'s `Debug` prints them.
    ///
    /// [`TransportErrorKind::BodyTooLarge`]: crate::TransportErrorKind::BodyTooLarge
    fn execute(
        &self,
        request: Request<Vec<u8>>,
        limits: RequestLimits,
    ) -> impl Future<Output = Result<Response<Vec<u8>>, TransportError>> + Send;

    /// Runs `task` to completion in the background, if this client can (on its runtime); hands
    /// it back otherwise, which is the default.
    ///
    /// A token request, once sent, is carried to completion and its answer stored whether or
    /// not the caller that started it still waits: the server may already have rotated the
    /// refresh token. Callers that wait for a token drive the request themselves, so it
    /// finishes as long as someone asks for a token; a spawned task also finishes it when
    /// nobody does (a timed-out caller and then silence). [`ReqwestClient`] spawns on the
    /// current Tokio runtime.
    ///
    /// # Errors
    /// The task itself, when it was not spawned.
    fn spawn(&self, task: BackgroundTask) -> Result<(), BackgroundTask> {
        Err(task)
    }
}

/// A token request that every waiting task can drive.
type SharedRequest = Shared<BackgroundTask>;

/// How async callers wait for a token request: by driving the request itself, so that it
/// finishes even when its sender is cancelled, or by sleeping until it is finished.
#[derive(Default)]
pub(crate) struct Waiters {
    notify: Notify,
    request: Mutex<Option<(RequestId, SharedRequest)>>,
}

impl Wake for Waiters {
    fn wake_all(&self) {
        self.notify.notify_waiters();
    }
}

impl Waiters {
    fn request(&self, id: RequestId) -> Option<SharedRequest> {
        let slot = self.request.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref()
            .filter(|(running, _)| *running == id)
            .map(|(_, request)| request.clone())
    }

    /// Forgets request `id`. The request is dropped after the slot's lock is released: if this
    /// was its last copy, dropping it runs [`FailUnlessAnswered`], which takes locks itself.
    fn forget(&self, id: RequestId) {
        drop(self.take_if(|running| running == id));
    }

    /// Takes the request out of the slot if `which` says so; the caller drops it outside every
    /// lock.
    fn take_if(&self, which: impl FnOnce(RequestId) -> bool) -> Option<SharedRequest> {
        let mut slot = self.request.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|(running, _)| which(*running)) {
            slot.take().map(|(_, request)| request)
        } else {
            None
        }
    }

    /// Puts `request` in the slot and returns what was there, for the caller to drop outside
    /// every lock.
    fn replace(&self, id: RequestId, request: SharedRequest) -> Option<SharedRequest> {
        let mut slot = self.request.lock().unwrap_or_else(PoisonError::into_inner);
        slot.replace((id, request)).map(|(_, old)| old)
    }
}

/// Fails the request with a transport error if its task ends without an answer (a panicking
/// HTTP client), so the session is not left waiting for it and a retry pause starts: a client
/// that panics on every request must not be retried in a busy loop.
struct FailUnlessAnswered<H: AsyncHttpClient> {
    driver: Weak<Driver<H, Waiters>>,
    id: Option<RequestId>,
}

impl<H: AsyncHttpClient> Drop for FailUnlessAnswered<H> {
    fn drop(&mut self) {
        if let (Some(id), Some(driver)) = (self.id.take(), self.driver.upgrade()) {
            let failure = TransportError::new(
                TransportErrorKind::Other,
                "the HTTP client gave no answer (it panicked, or its request was dropped)",
            );
            let _ = driver.finish(id, Err(failure));
            driver.finished.forget(id);
        }
    }
}

/// Options for an async [`Client`].
pub type ClientBuilder<H> = transport::ClientBuilder<H, transport::Async>;

/// An async OAuth client for one credential: `Send + Sync`, cheap to clone; clones share the
/// session.
pub struct Client<H> {
    inner: Arc<Driver<H, Waiters>>,
}

impl<H> Clone for Client<H> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<H: AsyncHttpClient> transport::ClientBuilder<H, transport::Async> {
    /// The client.
    pub fn build(self) -> Client<H> {
        Client {
            inner: Arc::new(self.into_driver()),
        }
    }
}

impl<H: AsyncHttpClient> Client<H> {
    /// A client with the system clock, no store and default limits.
    pub fn new(config: Config, http: H) -> Self {
        Self::builder(config, http).build()
    }

    /// A builder for a client with a store, stored tokens, another clock or other limits.
    pub fn builder(config: Config, http: H) -> ClientBuilder<H> {
        ClientBuilder::new(config, http)
    }

    /// A usable access token, fetching one if needed. While a token is valid this takes no
    /// lock; when one is needed, exactly one task sends the token request and every task
    /// waiting on it gets its outcome, failures included. Cancel-safe: the request belongs to
    /// the client, so if the task that sent it is dropped, the request is still finished and
    /// its answer stored, and the next caller waits for it rather than sending another.
    ///
    /// # Errors
    /// The [`Error`] of the token request, or why none can be sent.
    pub async fn access_token(&self) -> Result<TokenGuard, Error> {
        match self.inner.usable(self.inner.now()) {
            Some(token) => Ok(token),
            None => self.acquire(Want::Usable).await,
        }
    }

    /// Sets `Authorization` (and Keliweb's default headers) on `request`. Returns which token
    /// it used: hand it to [`report_unauthorized`](Self::report_unauthorized) if the API
    /// answers `401`.
    ///
    /// # Errors
    /// [`ErrorKind::UntrustedOrigin`](crate::ErrorKind::UntrustedOrigin) before any IO when the
    /// request's URL is not one the token may go to
    /// ([`Config::permits_token_to`](crate::Config::permits_token_to)); otherwise as
    /// [`access_token`](Self::access_token).
    pub async fn authorize<B>(&self, request: &mut Request<B>) -> Result<TokenId, Error> {
        // One clock read on the fast path: the token is checked and applied at the same now.
        let now = self.inner.now();
        if let Some(token) = self.inner.usable(now)
            && let Some(applied) = apply(&token, now, request)
        {
            return applied;
        }
        self.inner.check_origin(request)?;
        loop {
            let token = self.acquire(Want::Usable).await?;
            // Usable a moment ago; if it reached its leeway since, fetch the next one.
            if let Some(applied) = apply(&token, self.inner.now(), request) {
                return applied;
            }
        }
    }

    /// Reports that the API answered `401` to a request authorized with `token` (what
    /// [`authorize`](Self::authorize) returned), for callers that send their own requests.
    /// [`Unauthorized::RetryWithNewToken`]: the next [`access_token`](Self::access_token) or
    /// `authorize` gets a new token; retry once. [`Unauthorized::Report`]: a replacement was
    /// refused too; hand the `401` on instead of retrying (an API that refuses every token then
    /// costs at most one token request per minimum retry delay).
    pub fn report_unauthorized(&self, token: TokenId) -> Unauthorized {
        self.inner.unauthorized(token)
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
        match self.inner.unauthorized(token) {
            Unauthorized::Report => Ok(response),
            Unauthorized::RetryWithNewToken => Ok(self.send_once(retry).await?.1),
        }
    }

    async fn send_once(
        &self,
        mut request: Request<Vec<u8>>,
    ) -> Result<(TokenId, Response<Vec<u8>>), Error> {
        let token = self.authorize(&mut request).await?;
        let limits = self.inner.limits.api_request();
        let response = self.inner.http.execute(request, limits).await?;
        Ok((token, response))
    }

    /// Refreshes now, even if the current token is still valid, and returns the new token.
    /// Other tasks keep using the current token until the new one is in. A dead refresh token
    /// leads to one password login (when the password is kept), as an expiry would; the token
    /// that was current is never what this returns. Cancel-safe: the request, once sent, is
    /// finished and its answer stored even if this future is dropped.
    ///
    /// # Errors
    /// The error of the token request, or, while a retry pause or a stop keeps any request
    /// from going out, the error that caused it. The current token stays in use either way.
    pub async fn force_refresh(&self) -> Result<TokenGuard, Error> {
        let want = self.inner.force_refresh();
        self.acquire(want).await
    }

    /// Logs out: drops the tokens locally (and in the store) at once, then asks the server to
    /// revoke them as configured. Call [`login`](Self::login) to start again.
    ///
    /// # Errors
    /// The first revocation request that failed; the tokens are gone locally regardless.
    pub async fn revoke(&self) -> Result<(), Error> {
        let requests = self.inner.begin_revoke();
        // A token request still out is abandoned by the revocation; its request body holds the
        // password or the refresh token, so it is dropped now (outside every lock).
        drop(self.inner.finished.take_if(|_| true));
        // Every request is guarded before the first is sent, so a cancelled or unwinding
        // revoke still releases the ones it never reached.
        let outgoing: Vec<_> = requests
            .into_iter()
            .map(|outgoing| {
                let (id, request) = outgoing.into_parts();
                (Pending::new(&self.inner, id), request)
            })
            .collect();
        let mut first_error = None;
        for (pending, request) in outgoing {
            let limits = self.inner.limits.token_request();
            if let Err(error) = pending.finish(self.inner.http.execute(request, limits).await) {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Supplies credentials for the next token request (after `LoginRequired`,
    /// `InvalidCredentials`, or a revocation).
    pub fn login(&self, credentials: Credentials) {
        self.inner.login(credentials);
    }

    /// A copy of the current token set.
    #[must_use]
    pub fn tokens(&self) -> Option<TokenSet> {
        self.inner.tokens()
    }

    /// The slow path: drives the session until it has the token `want` asks for, or an error.
    /// The lock is never held across an await.
    async fn acquire(&self, want: Want) -> Result<TokenGuard, Error> {
        let driver = &*self.inner;
        loop {
            // Registered before the state is read, so a completion after the read wakes us.
            let mut finished = pin!(driver.finished.notify.notified());
            finished.as_mut().enable();
            // A request is registered under the same lock that hands it out, so every task
            // that is told to wait for it finds it to drive.
            let (id, request, sent) = {
                let mut core = driver.lock();
                match driver.step(&mut core, want) {
                    Step::Ready(token) => return Ok(token),
                    Step::Failed(error) => return Err(error),
                    Step::Wait(id) => (id, driver.finished.request(id), None),
                    Step::Send(outgoing) => {
                        let (request, stale) = self.start(*outgoing);
                        (request.0, Some(request.1), Some(stale))
                    }
                }
            };
            if let (Some(stale), Some(request)) = (sent, &request) {
                // Outside the locks: dropping a stale request, or an HTTP client that runs the
                // task at once, takes them.
                drop(stale);
                // The spawned copy keeps the client alive until the answer is stored, even if
                // every handle is dropped meanwhile. If it is not spawned, the tasks that wait
                // for it drive it.
                let client = Arc::clone(&self.inner);
                let request = request.clone();
                let _ = driver.http.spawn(Box::pin(async move {
                    request.await;
                    drop(client);
                }));
            }
            match request {
                Some(request) => request.await,
                None => finished.await,
            }
            if let Some(error) = driver.waited(&driver.lock(), id, want) {
                return Err(error);
            }
        }
    }

    /// Makes token request `outgoing` a task of the client's, not of the caller's: every task
    /// that waits for it drives it, and it is offered to [`AsyncHttpClient::spawn`].
    fn start(
        &self,
        outgoing: OutgoingRequest,
    ) -> ((RequestId, SharedRequest), Option<SharedRequest>) {
        let (id, request) = outgoing.into_parts();
        let http = Arc::clone(&self.inner.http);
        let limits = self.inner.limits.token_request();
        let guard = FailUnlessAnswered {
            driver: Arc::downgrade(&self.inner),
            id: Some(id),
        };
        let task = async move {
            let mut guard = guard;
            let outcome = http.execute(request, limits).await;
            if let (Some(id), Some(driver)) = (guard.id.take(), guard.driver.upgrade()) {
                // Stores and publishes any new tokens, records the outcome, wakes the waiters.
                let _ = driver.finish(id, outcome);
                driver.finished.forget(id);
            }
        };
        // A panicking HTTP client must not poison the request for every waiter: the guard
        // fails it instead.
        let task: BackgroundTask = Box::pin(AssertUnwindSafe(task).catch_unwind().map(|_| ()));
        let shared = task.shared();
        let stale = self.inner.finished.replace(id, shared.clone());
        ((id, shared), stale)
    }
}

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
//!
//! **Why the futures are `Send`.** One token request serves every task that waits for it: the
//! request is a future kept in the client and driven by whichever waiting task polls it, on
//! whichever executor thread that task runs, and it may be handed to
//! [`AsyncHttpClient::spawn`]. So it, and the HTTP client's future inside it, must be `Send`.
//! In a browser (`wasm32-unknown-unknown`), where `fetch` futures are not `Send` but everything
//! runs on one thread, wrap the HTTP client's future in a `send_wrapper::SendWrapper`: sound
//! there, since the wrapper checks that it never leaves its thread. This module builds for that
//! target (CI checks it) and reads the time with `web-time` there. Token stores run their calls
//! on threads of their own, so in a browser use none (keep the set in the session).

mod job;
#[cfg(feature = "reqwest-middleware")]
mod middleware;
#[cfg(feature = "reqwest")]
mod reqwest;
#[cfg(feature = "tower")]
mod tower;

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;

use http::{Request, Response};

pub(crate) use self::job::Waiters;
use self::job::start;
#[cfg(feature = "reqwest-middleware")]
pub use self::middleware::AuthMiddleware;
#[cfg(feature = "reqwest")]
pub use self::reqwest::ReqwestClient;
#[cfg(feature = "tower")]
pub use self::tower::{AuthLayer, AuthService, BoxError, ReplayBody};
use crate::client::{
    Driver, RequestLimits, Revocations, TokenGuard, Unauthorized, apply, copy_request,
    is_unauthorized,
};
use crate::coordinator::{Coordinator, Foreground, JobId, Step, Want, Work};
use crate::{Config, Credentials, Error, StoreError, TokenId, TokenSet, TransportError, UnixTime};

/// A token request and the storing of its answer, detached from the caller that started it.
pub type BackgroundTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// An async HTTP client the driver sends requests through. It is made without limits: each
/// request comes with its own [`RequestLimits`], from
/// [`ClientBuilder::limits`](crate::client::ClientBuilder::limits).
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
    /// nobody does (a timed-out caller and then silence). A refresh ahead
    /// ([`ConfigBuilder::refresh_ahead`](crate::ConfigBuilder::refresh_ahead)) runs only when
    /// spawned: without, the token is refreshed when a caller needs it. A client wrapping
    /// another must forward this. [`ReqwestClient`] spawns on the current Tokio runtime.
    ///
    /// With a shared [`TokenStore`](crate::client::TokenStore), implement it: a token request
    /// holds the store's lease, and one whose callers were all cancelled would otherwise hold it
    /// until the next caller of this process drives the request (a `FileStore` lock has no
    /// expiry of its own, so other processes would wait, then fail with a lease timeout).
    ///
    /// # Errors
    /// The task itself, when it was not spawned.
    fn spawn(&self, task: BackgroundTask) -> Result<(), BackgroundTask> {
        Err(task)
    }
}

/// Options for a [`Client`].
pub type ClientBuilder<H> = crate::client::ClientBuilder<H, crate::client::Nonblocking>;

/// An OAuth client for one credential: `Send + Sync`, cheap to clone; clones share the session.
/// Each task that needs a token while none is usable waits for the one token request out.
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

impl<H: AsyncHttpClient> ClientBuilder<H> {
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
    /// waiting on it gets its outcome, failures included. Once the token reaches its
    /// refresh-ahead point ([`ConfigBuilder::refresh_ahead`](crate::ConfigBuilder::refresh_ahead)),
    /// the first caller starts the refresh in the background and every caller keeps using the
    /// still-valid token. Cancel-safe: the token request belongs to the client, so if the task
    /// that sent it is dropped, the request is still finished and its answer stored, and the
    /// next caller waits for it rather than sending another.
    ///
    /// # Errors
    /// The [`Error`] of the token request, or why none can be sent.
    pub async fn authorization(&self) -> Result<TokenGuard, Error> {
        match self.usable_now().await {
            Some(token) => Ok(token),
            None => self.acquire(Want::Usable).await,
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
    pub async fn authorize<B>(&self, request: &mut Request<B>) -> Result<TokenId, Error> {
        if let Some(token) = self.usable_now().await {
            return self.inner.insert(&token, request);
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
    pub async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        let retry = copy_request(&request);
        let (token, response) = self.send_once(request).await?;
        if !is_unauthorized(&response) {
            return Ok(response);
        }
        match self.report_unauthorized(token) {
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
    /// Other callers keep using the current token until the new one is in. A dead refresh
    /// token leads to one password login (when the password is kept), as an expiry would; the
    /// token that was current is never what this returns. Cancel-safe, as
    /// [`authorization`](Self::authorization).
    ///
    /// # Errors
    /// The error of the token request, or, while a retry pause or a stop keeps any request
    /// from going out, the error that caused it. The current token stays in use either way.
    pub async fn force_refresh(&self) -> Result<TokenGuard, Error> {
        // The stored set first: adopting it is not the refresh asked for.
        self.drive(|machine, now| machine.load_step(now), None)
            .await?;
        let want = self.inner.report(|machine, _| machine.force_refresh());
        self.acquire(want).await
    }

    /// Logs out: drops the tokens locally at once, erases the stored set, then asks the
    /// server to revoke them as configured. Call [`login`](Self::login) to start again.
    ///
    /// # Errors
    /// The first revocation request that failed, else the store's failure to erase the set;
    /// the tokens are gone locally regardless.
    pub async fn revoke(&self) -> Result<(), Error> {
        let requests = self.inner.report(|machine, now| machine.revoke(now));
        // Every request is guarded before anything else, so a cancelled revoke still releases
        // the ones it never reached.
        let mut revocations = Revocations::new(&self.inner, requests);
        // Before the server hears of it: no other process adopts the revoked set.
        let erased = self.drive(|machine, _| machine.erase_step(), None).await;
        let mut first_error = None;
        while let Some(request) = revocations.next() {
            let limits = self.inner.limits.token_request();
            let answer = self.inner.http.execute(request, limits).await;
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

    /// Finishes what the client has under way, for a program about to exit: drives the token
    /// request out (a refresh ahead in the background included) and the saving of its answer
    /// to their end, then tries once more to save a set whose save failed. With refresh-token
    /// rotation the server kills the old refresh token as it answers, so a program that exits
    /// with a refresh out, or its answer unsaved, leaves a dead pair in its store; a runtime
    /// shutting down drops its spawned tasks unfinished. The wait is bounded by the HTTP
    /// client's request timeout (see [`AsyncHttpClient::execute`]) and the store's own timeouts
    /// and lease: it needs no runtime timer. From then on, for every clone of this client and
    /// for good, no refresh ahead starts in the background; callers still get tokens, and with
    /// [`foreground_refresh_ahead`](crate::client::ClientBuilder::foreground_refresh_ahead) a
    /// call still refreshes in the call, which finishes before it returns.
    ///
    /// # Errors
    /// [`ErrorKind::Store`](crate::ErrorKind::Store) when the held set is not saved (the store
    /// is down: this process holds the only live pair).
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.inner.report(|machine, _| machine.shutdown());
        self.drive(|machine, _| machine.shutdown_step(), None)
            .await
            .map(drop)
    }

    /// The usable token from the lock-free path; past its refresh-ahead point, the first
    /// caller starts the refresh in the background, or, with
    /// [`foreground_refresh_ahead`](crate::client::ClientBuilder::foreground_refresh_ahead),
    /// the caller runs it and gets the new token.
    #[inline]
    async fn usable_now(&self) -> Option<TokenGuard> {
        if self.inner.foreground_refresh_ahead {
            return self.usable_in_foreground().await;
        }
        let (token, refresh_ahead) = self.inner.usable()?;
        if refresh_ahead {
            self.start_refresh_ahead();
        }
        Some(token)
    }

    /// The foreground refresh ahead: from the token's refresh point on, replaces it in the
    /// call. With no timer of its own, it hands the token out until that point. A failed
    /// refresh ahead is nobody's error while the token works: it is handed out then.
    async fn usable_in_foreground(&self) -> Option<TokenGuard> {
        let (token, next) = self.inner.usable_foreground()?;
        match next {
            Foreground::StepAt(want, at) if self.inner.now() >= at => {
                drop(token);
                match self.acquire(want).await {
                    Ok(token) => Some(token),
                    Err(_) => self.inner.usable_foreground().map(|(token, _)| token),
                }
            }
            Foreground::Use | Foreground::StepAt(..) => Some(token),
        }
    }

    /// The slow path: steps the machine until it has the token `want` asks for, or an error.
    async fn acquire(&self, want: Want) -> Result<TokenGuard, Error> {
        self.drive(|machine, now| machine.step(want, now), Some(want))
            .await
    }

    /// Steps with `step` until it is `Ready` (the published token) or `Failed`: a job it
    /// starts becomes a task of the client's, which every task that waits for it drives and
    /// which is offered to [`AsyncHttpClient::spawn`]; a job it waits for is driven too. With
    /// `want`, a job's failure ends the wait when the caller cannot do without it. The lock is
    /// never held across an await.
    async fn drive(
        &self,
        mut step: impl FnMut(&mut Coordinator, UnixTime) -> Step,
        want: Option<Want>,
    ) -> Result<TokenGuard, Error> {
        let driver = &self.inner;
        loop {
            // Registered before the state is read, so a job's end after the read wakes us.
            let mut finished = pin!(driver.finished.notified());
            finished.as_mut().enable();
            // A job is registered under the same lock that starts it, so every task that is
            // told to wait for it finds it to drive.
            let (job, task, stale) = {
                let mut machine = driver.lock();
                let now = driver.now();
                let next = step(&mut machine, now);
                driver.mirror(&mut machine, now);
                match next {
                    Step::Ready => return Ok(driver.published()),
                    Step::Failed(error) => return Err(error),
                    Step::Wait(job) => (job, driver.finished.task(job), None),
                    Step::Work(job, work) => {
                        let (task, stale) = start(driver, job, work);
                        (job, Some(task), Some(stale))
                    }
                }
            };
            if let (Some(stale), Some(task)) = (stale, &task) {
                // Outside the locks: dropping a stale task, or an HTTP client that runs the
                // task at once, takes them.
                drop(stale);
                // If it is not spawned, the tasks that wait for it drive it.
                let _ = self.spawn(task.clone());
            }
            match task {
                Some(task) => task.await,
                None => finished.await,
            }
            if let Some(want) = want
                && let Some(error) = driver.lock().waited(job, want, driver.now())
            {
                return Err(error);
            }
        }
    }

    /// Offers `task` to [`AsyncHttpClient::spawn`]. The spawned copy keeps the client alive
    /// until the job is over, even if every handle is dropped meanwhile.
    fn spawn(&self, task: job::SharedJob) -> Result<(), BackgroundTask> {
        let client = Arc::clone(&self.inner);
        self.inner.http.spawn(Box::pin(async move {
            task.await;
            drop(client);
        }))
    }

    /// Starts the refresh that fell due (or a retried save, or the first load) in the
    /// background, so the caller that noticed goes on with the still-valid token: the job
    /// starts now, so `shutdown` finds it, and a task offered to [`AsyncHttpClient::spawn`]
    /// drives it. A client that cannot spawn gives the job up before any work was done; it
    /// gets no refresh ahead, and the token is refreshed when a caller needs it.
    fn start_refresh_ahead(&self) {
        let Some((job, task, loads_first)) = self.begin_refresh_ahead() else {
            return;
        };
        let client = self.clone();
        let background: BackgroundTask = Box::pin(async move {
            task.await;
            // A client started from `.tokens(set)` loaded the store first: now the refresh.
            if loads_first && let Some((_, task, _)) = client.begin_refresh_ahead() {
                task.await;
            }
        });
        if let Err(background) = self.inner.http.spawn(background) {
            self.inner
                .report(|machine, now| machine.abandon(job, false, now));
            self.inner.finished.forget(job);
            drop(background);
            self.inner.forgo_refresh_ahead();
        }
    }

    /// Starts the job of a refresh ahead, if one is due: its id, its task, and whether it
    /// only loads the store.
    fn begin_refresh_ahead(&self) -> Option<(JobId, job::SharedJob, bool)> {
        let driver = &self.inner;
        let (job, (task, stale), loads_first) = {
            let mut machine = driver.lock();
            let now = driver.now();
            let next = machine.refresh_ahead(now);
            driver.mirror(&mut machine, now);
            let (job, work) = next?;
            let loads_first = matches!(work, Work::Load);
            (job, start(driver, job, work), loads_first)
        };
        // Outside the locks, as in `drive`.
        drop(stale);
        Some((job, task, loads_first))
    }
}

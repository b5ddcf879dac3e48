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

#[cfg(feature = "reqwest-middleware")]
mod middleware;
#[cfg(feature = "reqwest")]
mod reqwest;
#[cfg(feature = "tower")]
mod tower;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use futures_util::FutureExt;
use futures_util::future::Shared;
use http::{Request, Response};
use tokio::sync::Notify;

#[cfg(feature = "reqwest-middleware")]
pub use self::middleware::AuthMiddleware;
#[cfg(feature = "reqwest")]
pub use self::reqwest::ReqwestClient;
#[cfg(feature = "tower")]
pub use self::tower::{AuthLayer, AuthService, BoxError, ReplayBody};
use crate::client::custody::{self, Io, StoreCall, StoreFuture};
use crate::client::{
    BackgroundJob, Driver, Foreground, OnDrop, Pending, RequestLimits, Step, TokenGuard,
    Unauthorized, Wake, Want, apply, copy_request, define_client, insert, is_unauthorized,
};
use crate::{
    Error, OutgoingRequest, RequestId, StoreError, StoreErrorKind, TransportError,
    TransportErrorKind,
};

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

    fn continued(&self, from: RequestId, to: RequestId) {
        self.rename(from, to);
    }
}

impl Waiters {
    /// Token request `from` went on as `to` in the same task: waiters of `to` drive it too.
    fn rename(&self, from: RequestId, to: RequestId) {
        let mut slot = self.request.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((running, _)) = slot.as_mut().filter(|(running, _)| *running == from) {
            *running = to;
        }
    }

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
            let _ = Pending::new(&*driver, id, OnDrop::Fail).finish(Err(failure));
            driver.finished.forget(id);
        }
    }
}

/// How waiting tasks wait for the token request out: by driving it.
type Waiter = Waiters;

define_client! {
    http: AsyncHttpClient,
    flavour: Nonblocking,
    caller: "task",
    async: async,
    await: [.await],
    cancel_note: "Cancel-safe: the token request belongs to the client, so if the task that sent it is dropped, the request is still finished and its answer stored, and the next caller waits for it rather than sending another.",
}

impl<H: AsyncHttpClient> Client<H> {
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
        let driver = &*self.inner;
        driver.close();
        loop {
            // Registered before the state is read, so a completion after the read wakes us.
            let mut finished = pin!(driver.finished.notify.notified());
            finished.as_mut().enable();
            let request = {
                let core = driver.lock();
                if !core.is_busy() {
                    break;
                }
                core.session
                    .in_flight()
                    .or(core.saving)
                    .and_then(|id| driver.finished.request(id))
            };
            match request {
                Some(request) => request.await,
                None => finished.await,
            }
        }
        let unsaved = driver.lock().is_unsaved();
        if unsaved {
            custody::persist(driver, &Offload(&*driver.http)).await;
        }
        driver.shutdown_outcome(&driver.lock())
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
            let next = {
                let mut core = driver.lock();
                match driver.step(&mut core, want) {
                    Step::Ready(token) => return Ok(token),
                    Step::Failed(error) => return Err(error),
                    Step::Wait(id) => Ok((id, driver.finished.request(id), None)),
                    Step::Load(custody) => Err(Some(custody)),
                    Step::Persist => Err(None),
                    Step::Send(outgoing) => {
                        let (request, stale) = self.start(*outgoing);
                        Ok((request.0, Some(request.1), Some(stale)))
                    }
                }
            };
            let (id, request, sent) = match next {
                Ok(next) => next,
                Err(Some(custody)) => {
                    self.load_store(custody).await?;
                    continue;
                }
                Err(None) => {
                    // A failure is kept for `store_error` and retried later.
                    custody::persist(&self.inner, &Offload(&*self.inner.http)).await;
                    continue;
                }
            };
            if let (Some(stale), Some(request)) = (sent, &request) {
                // Outside the locks: dropping a stale request, or an HTTP client that runs the
                // task at once, takes them.
                drop(stale);
                // If it is not spawned, the tasks that wait for it drive it.
                let _ = self.spawn(request.clone());
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

    /// Offers `request` to [`AsyncHttpClient::spawn`]. The spawned copy keeps the client alive
    /// until the answer is stored, even if every handle is dropped meanwhile.
    fn spawn(&self, request: SharedRequest) -> Result<(), BackgroundTask> {
        let client = Arc::clone(&self.inner);
        self.inner.http.spawn(Box::pin(async move {
            request.await;
            drop(client);
        }))
    }

    /// Starts the refresh that fell due in the background, so the caller that noticed goes on
    /// with the still-valid token: a task offered to [`AsyncHttpClient::spawn`] polls the
    /// session and drives the request. Nothing is registered before the task runs, so a client
    /// that cannot spawn leaves no request behind; it gets no refresh ahead, and the token is
    /// refreshed when a caller needs it.
    fn start_refresh_ahead(&self) {
        let client = self.clone();
        // Counted until the task ends or is dropped, so `shutdown` waits for it.
        let job = BackgroundJob::start(Arc::clone(&self.inner));
        let task: BackgroundTask = Box::pin(async move {
            client.refresh_ahead().await;
            drop(job);
        });
        if let Err(task) = self.inner.http.spawn(task) {
            drop(task);
            self.inner.forgo_refresh_ahead();
        }
    }

    /// The spawned part of [`start_refresh_ahead`](Self::start_refresh_ahead).
    async fn refresh_ahead(&self) {
        let driver = &*self.inner;
        // At most twice: a client started from `.tokens(set)` loads the store first.
        for _ in 0..2 {
            let started = {
                let mut core = driver.lock();
                let step = driver.step(&mut core, Want::Usable);
                driver.schedule_refresh_ahead(&core, driver.now());
                match step {
                    Step::Send(outgoing) => Ok(self.start(*outgoing)),
                    Step::Persist => Err(Some(None)),
                    Step::Load(custody) => Err(Some(Some(custody))),
                    Step::Ready(_) | Step::Failed(_) | Step::Wait(_) => Err(None),
                }
            };
            match started {
                Ok(((_, request), stale)) => {
                    // Outside the locks, as in `acquire`.
                    drop(stale);
                    request.await;
                }
                Err(Some(None)) => custody::persist(driver, &Offload(&*driver.http)).await,
                Err(Some(Some(custody))) => {
                    if self.load_store(custody).await.is_ok() {
                        continue;
                    }
                }
                Err(None) => {}
            }
            return;
        }
    }

    /// The foreground refresh ahead: from the token's refresh point on, replaces it in the
    /// call. With no timer of its own, it hands the token out until that point.
    async fn usable_in_foreground(&self) -> Option<TokenGuard> {
        let (token, next) = self.inner.usable_foreground()?;
        match next {
            Foreground::AcquireAt(want, at) if self.inner.now() >= at => {
                drop(token);
                self.acquire_in_foreground(want).await
            }
            Foreground::Use | Foreground::AcquireAt(..) => Some(token),
        }
    }

    /// A token request still out is abandoned by a revocation; its request body holds the
    /// password or the refresh token, so it is dropped now (outside every lock).
    fn abandon_token_request(&self) {
        drop(self.inner.finished.take_if(|_| true));
    }

    /// Makes token request `outgoing` a task of the client's, not of the caller's: every task
    /// that waits for it drives it, and it is offered to [`AsyncHttpClient::spawn`].
    fn start(
        &self,
        outgoing: OutgoingRequest,
    ) -> ((RequestId, SharedRequest), Option<SharedRequest>) {
        let id = outgoing.id();
        let guard = FailUnlessAnswered {
            driver: Arc::downgrade(&self.inner),
            id: Some(id),
        };
        let task = async move {
            let mut guard = guard;
            let Some(driver) = guard.driver.upgrade() else {
                return;
            };
            // From here the request's own guard fails it if the task is dropped or panics.
            guard.id = None;
            let io = Offload(&*driver.http);
            // Stores and publishes any new tokens, records the outcome, wakes the waiters.
            let (last, _) = custody::run(&*driver, &io, outgoing, OnDrop::Fail).await;
            driver.finished.forget(last);
        };
        // A panicking HTTP client must not poison the request for every waiter: the guard
        // fails it instead.
        let task: BackgroundTask = Box::pin(AssertUnwindSafe(task).catch_unwind().map(|_| ()));
        let shared = task.shared();
        let stale = self.inner.finished.replace(id, shared.clone());
        ((id, shared), stale)
    }

    /// Loads the store for the first time, on a thread of its own.
    async fn load_store(&self, custody: Arc<dyn crate::client::Custodian>) -> Result<(), Error> {
        custody::load(&self.inner, &Offload(&*self.inner.http), custody).await
    }

    /// Erases the stored set after a logout, on a thread of its own.
    async fn erase_store(&self) -> Result<(), crate::StoreError> {
        custody::erase(&self.inner, &Offload(&*self.inner.http)).await
    }
}

/// The async driver's IO: the HTTP client's futures, and store calls on a short-lived thread
/// each, so a store that blocks (a file lock, a network round trip) blocks no executor thread
/// and the client stays runtime-agnostic. A token request makes at most four store calls.
struct Offload<'a, H>(&'a H);

impl<H: AsyncHttpClient> Io for Offload<'_, H> {
    fn execute(
        &self,
        request: Request<Vec<u8>>,
        limits: RequestLimits,
    ) -> impl Future<Output = Result<Response<Vec<u8>>, TransportError>> + Send {
        self.0.execute(request, limits)
    }

    fn store<T: Send + 'static>(&self, work: StoreCall<T>) -> StoreFuture<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        #[allow(
            clippy::disallowed_methods,
            reason = "store calls block; the async client runs each on a thread of its own"
        )]
        let spawned = std::thread::Builder::new()
            .name("keliweb-oauth-store".to_owned())
            .spawn(move || {
                let _ = answer.send(work());
            })
            .map(drop)
            .map_err(|error| {
                StoreError::new(
                    StoreErrorKind::Unavailable,
                    format!("no thread could start for a store call: {error}"),
                )
            });
        Box::pin(async move {
            spawned?;
            answered.await.map_err(|_| {
                StoreError::new(
                    StoreErrorKind::Unavailable,
                    "a store call ended without an answer",
                )
            })
        })
    }
}

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

#[cfg(feature = "ureq")]
mod ureq;

use std::future::Future;
use std::sync::{Arc, Condvar, PoisonError};

use http::{Request, Response};

#[cfg(feature = "ureq")]
pub use self::ureq::UreqClient;
use crate::client::custody::{self, Io, StoreCall, StoreFuture};
use crate::client::{
    BackgroundJob, Driver, Foreground, OnDrop, Pending, RequestLimits, Step, TokenGuard,
    Unauthorized, Want, apply, copy_request, deadline, define_client, insert, is_unauthorized,
};
use crate::{Error, ErrorKind, TransportError, TransportErrorKind};

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

/// How blocked threads wait for the token request out.
type Waiter = Condvar;

define_client! {
    http: HttpClient,
    flavour: Blocking,
    caller: "thread",
    await: [],
    cancel_note: "",
}

impl<H: HttpClient> Client<H> {
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
    /// [`ErrorKind::Store`] when the held set is not saved (the store is down: this process
    /// holds the only live pair), or [`ErrorKind::Transport`] (a timeout) when a token request
    /// or the saving of its answer was still under way when the wait ran out.
    pub fn shutdown(&self) -> Result<(), Error> {
        let driver = &*self.inner;
        driver.close();
        let give_up = deadline(driver.lease_hold_time());
        let mut core = driver.lock();
        while core.is_busy() {
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
            core = driver
                .finished
                .wait_timeout(core, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        if core.is_unsaved() {
            drop(core);
            let _ = in_place(custody::persist(driver, &InPlace(&*driver.http)));
            core = driver.lock();
        }
        driver.shutdown_outcome(&core)
    }

    /// The slow path: drives the session until it has the token `want` asks for, or an error.
    fn acquire(&self, want: Want) -> Result<TokenGuard, Error> {
        let driver = &*self.inner;
        let io = InPlace(&*driver.http);
        let mut core = driver.lock();
        loop {
            match driver.step(&mut core, want) {
                Step::Ready(token) => return Ok(token),
                Step::Failed(error) => return Err(error),
                Step::Wait(id) => {
                    core = driver
                        .finished
                        .wait_while(core, |core| core.is_busy_with(id))
                        .unwrap_or_else(PoisonError::into_inner);
                    if let Some(error) = driver.waited(&core, id, want) {
                        return Err(error);
                    }
                }
                Step::Load(custody) => {
                    drop(core);
                    self.load_store(custody)?;
                    core = driver.lock();
                }
                Step::Persist => {
                    drop(core);
                    // A failure is kept for `store_error` and retried later.
                    let _ = in_place(custody::persist(driver, &io));
                    core = driver.lock();
                }
                Step::Send(outgoing) => {
                    drop(core);
                    let run = custody::run(driver, &io, *outgoing, OnDrop::Abandon);
                    match in_place(run)?.1 {
                        // A revocation overtook it: poll again.
                        Err(error) if error.kind() != ErrorKind::ResponseMismatch => {
                            return Err(error);
                        }
                        _ => {}
                    }
                    core = driver.lock();
                }
            }
        }
    }

    /// Sends the refresh that fell due on a thread of its own (or retries a failed save), so
    /// the caller that noticed goes on with the still-valid token. The thread keeps the client alive until the answer is
    /// stored; if no thread can start, the request is given up before it went out, and the
    /// refresh comes when a caller needs the token.
    fn start_refresh_ahead(&self) {
        let driver = Arc::clone(&self.inner);
        let step = {
            let mut core = driver.lock();
            let step = driver.step(&mut core, Want::Usable);
            driver.schedule_refresh_ahead(&core, driver.now());
            step
        };
        let (work, id) = match step {
            Step::Send(outgoing) => {
                let id = outgoing.id();
                (Background::Request(outgoing), Some(id))
            }
            Step::Persist => (Background::Persist, None),
            Step::Load(custody) => (Background::Load(custody), None),
            Step::Ready(_) | Step::Failed(_) | Step::Wait(_) => return,
        };
        let sender = Arc::clone(&driver);
        // Counted before the thread starts, so `shutdown` never misses it; a thread that cannot
        // start drops it with the closure.
        let job = BackgroundJob::start(Arc::clone(&driver));
        #[allow(
            clippy::disallowed_methods,
            reason = "the blocking client's one background refresh per token; the core starts no thread"
        )]
        let spawned = std::thread::Builder::new()
            .name("keliweb-oauth-refresh".to_owned())
            .spawn(move || {
                background(&sender, work);
                drop(job);
            });
        if let (Err(_), Some(id)) = (spawned, id) {
            driver.abandon(id);
        }
    }

    /// The foreground refresh ahead: within the hand-out margin before the token's refresh
    /// point, waits for the point instead of handing out a token about to be rotated, then
    /// replaces it in the call.
    fn usable_in_foreground(&self) -> Option<TokenGuard> {
        let (token, next) = self.inner.usable_foreground()?;
        match next {
            Foreground::Use => Some(token),
            Foreground::AcquireAt(want, at) => {
                drop(token);
                let wait = at.saturating_duration_since(self.inner.now());
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
                self.acquire_in_foreground(want)
            }
        }
    }

    /// A blocking token request belongs to the thread that sends it: nothing to drop here.
    fn abandon_token_request(&self) {}

    /// Loads the store for the first time.
    fn load_store(&self, custody: Arc<dyn crate::client::Custodian>) -> Result<(), Error> {
        let io = InPlace(&*self.inner.http);
        in_place(custody::load(&self.inner, &io, custody))?
    }

    /// Erases the stored set after a logout.
    fn erase_store(&self) -> Result<(), crate::StoreError> {
        let io = InPlace(&*self.inner.http);
        in_place(custody::erase(&self.inner, &io))
            .map_err(|error| error.store_error().cloned().unwrap_or_else(unsaved))?
    }
}

/// What a background thread of the client does.
enum Background {
    Request(Box<crate::OutgoingRequest>),
    Persist,
    /// Load the store first (a client started from `.tokens(set)`), then see.
    Load(Arc<dyn crate::client::Custodian>),
}

/// Runs `work` on the background thread; its outcome reaches every caller through the session.
fn background<H: HttpClient>(driver: &Driver<H, Waiter>, work: Background) {
    let io = InPlace(&*driver.http);
    let work = match work {
        Background::Load(custody) => {
            if !matches!(in_place(custody::load(driver, &io, custody)), Ok(Ok(()))) {
                return;
            }
            let step = {
                let mut core = driver.lock();
                let step = driver.step(&mut core, Want::Usable);
                driver.schedule_refresh_ahead(&core, driver.now());
                step
            };
            match step {
                Step::Send(outgoing) => Background::Request(outgoing),
                Step::Persist => Background::Persist,
                Step::Load(_) | Step::Ready(_) | Step::Failed(_) | Step::Wait(_) => return,
            }
        }
        work => work,
    };
    let _ = match work {
        Background::Request(outgoing) => {
            in_place(custody::run(driver, &io, *outgoing, OnDrop::Abandon)).map(drop)
        }
        Background::Persist => in_place(custody::persist(driver, &io)),
        Background::Load(_) => Ok(()),
    };
}

/// The blocking driver's IO: everything in place, on the calling thread.
struct InPlace<'a, H>(&'a H);

impl<H: HttpClient> Io for InPlace<'_, H> {
    fn execute(
        &self,
        request: Request<Vec<u8>>,
        limits: RequestLimits,
    ) -> impl Future<Output = Result<Response<Vec<u8>>, TransportError>> + Send {
        std::future::ready(self.0.execute(request, limits))
    }

    fn store<T: Send + 'static>(&self, work: StoreCall<T>) -> StoreFuture<T> {
        Box::pin(std::future::ready(Ok(work())))
    }
}

/// Runs the driver's protocol, whose IO here never waits, to its end.
fn in_place<T>(future: impl Future<Output = T>) -> Result<T, Error> {
    custody::run_in_place(future).ok_or_else(|| unsaved().into())
}

/// Unreachable: the in-place IO never waits. Reported as a store failure, not a panic.
fn unsaved() -> crate::StoreError {
    crate::StoreError::new(
        crate::StoreErrorKind::Unavailable,
        "a blocking store call did not finish in place",
    )
}

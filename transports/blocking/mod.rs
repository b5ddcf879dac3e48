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

use std::sync::{Arc, Condvar, PoisonError};

use http::{Request, Response};

#[cfg(feature = "ureq")]
pub use self::ureq::UreqClient;
use crate::client::{
    Driver, Pending, RequestLimits, Step, TokenGuard, Unauthorized, Want, apply, copy_request,
    define_client, insert, is_unauthorized,
};
use crate::{Error, TransportError};

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
    /// The slow path: drives the session until it has the token `want` asks for, or an error.
    fn acquire(&self, want: Want) -> Result<TokenGuard, Error> {
        let driver = &*self.inner;
        let mut core = driver.lock();
        loop {
            match driver.step(&mut core, want) {
                Step::Ready(token) => return Ok(token),
                Step::Failed(error) => return Err(error),
                Step::Wait(id) => {
                    core = driver
                        .finished
                        .wait_while(core, |core| core.session.in_flight() == Some(id))
                        .unwrap_or_else(PoisonError::into_inner);
                    if let Some(error) = driver.waited(&core, id, want) {
                        return Err(error);
                    }
                }
                Step::Send(outgoing) => {
                    drop(core);
                    let (id, request) = outgoing.into_parts();
                    let pending = Pending::new(driver, id);
                    let limits = driver.limits.token_request();
                    pending.settle(driver.http.execute(request, limits))?;
                    core = driver.lock();
                }
            }
        }
    }

    /// Sends the refresh that fell due on a thread of its own, so the caller that noticed goes
    /// on with the still-valid token. The thread keeps the client alive until the answer is
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
        let outgoing = match step {
            Step::Send(outgoing) => outgoing,
            Step::Ready(_) | Step::Failed(_) | Step::Wait(_) => return,
        };
        let (id, request) = outgoing.into_parts();
        let pending = Pending::new(Arc::clone(&driver), id);
        #[allow(
            clippy::disallowed_methods,
            reason = "the blocking client's one background refresh per token; the core starts no thread"
        )]
        let spawned = std::thread::Builder::new()
            .name("keliweb-oauth-refresh".to_owned())
            .spawn(move || {
                let limits = driver.limits.token_request();
                // Its outcome reaches every caller through the session.
                let _ = pending.settle(driver.http.execute(request, limits));
            });
        // On failure the closure, and with it `pending`, is dropped: the request is abandoned.
        drop(spawned);
    }

    /// A blocking token request belongs to the thread that sends it: nothing to drop here.
    fn abandon_token_request(&self) {}
}

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
use crate::transport::{
    self, Driver, Pending, RequestLimits, Step, TokenGuard, Want, apply, copy_request,
    is_unauthorized,
};
use crate::{Config, Credentials, Error, TokenId, TokenSet, TransportError, Unauthorized};

/// A blocking HTTP client the driver sends requests through. It is made without limits: each
/// request comes with its own [`RequestLimits`], from
/// [`ClientBuilder::limits`](transport::ClientBuilder::limits).
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

/// Options for a blocking [`Client`].
pub type ClientBuilder<H> = transport::ClientBuilder<H, transport::Blocking>;

/// A blocking OAuth client for one credential. Cheap to clone; clones share the session.
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

impl<H: HttpClient> transport::ClientBuilder<H, transport::Blocking> {
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
    /// waiting on it gets its outcome, failures included.
    ///
    /// # Errors
    /// The [`Error`] of the token request, or why none can be sent.
    pub fn access_token(&self) -> Result<TokenGuard, Error> {
        match self.inner.usable(self.inner.now()) {
            Some(token) => Ok(token),
            None => self.acquire(Want::Usable),
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
    pub fn authorize<B>(&self, request: &mut Request<B>) -> Result<TokenId, Error> {
        // One clock read on the fast path: the token is checked and applied at the same now.
        let now = self.inner.now();
        if let Some(token) = self.inner.usable(now)
            && let Some(applied) = apply(&token, now, request)
        {
            return applied;
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
    pub fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        let retry = copy_request(&request);
        let (token, response) = self.send_once(request)?;
        if !is_unauthorized(&response) {
            return Ok(response);
        }
        match self.inner.unauthorized(token) {
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
    /// Other callers keep using the current token until the new one is in. A dead refresh token
    /// leads to one password login (when the password is kept), as an expiry would; the token
    /// that was current is never what this returns.
    ///
    /// # Errors
    /// The error of the token request, or, while a retry pause or a stop keeps any request
    /// from going out, the error that caused it. The current token stays in use either way.
    pub fn force_refresh(&self) -> Result<TokenGuard, Error> {
        let want = self.inner.force_refresh();
        self.acquire(want)
    }

    /// Logs out: drops the tokens locally (and in the store) at once, then asks the server to
    /// revoke them as configured. Call [`login`](Self::login) to start again.
    ///
    /// # Errors
    /// The first revocation request that failed; the tokens are gone locally regardless.
    pub fn revoke(&self) -> Result<(), Error> {
        // Every request is guarded before the first is sent, so a cancelled or unwinding
        // revoke still releases the ones it never reached.
        let outgoing: Vec<_> = self
            .inner
            .begin_revoke()
            .into_iter()
            .map(|outgoing| {
                let (id, request) = outgoing.into_parts();
                (Pending::new(&self.inner, id), request)
            })
            .collect();
        let mut first_error = None;
        for (pending, request) in outgoing {
            let limits = self.inner.limits.token_request();
            if let Err(error) = pending.finish(self.inner.http.execute(request, limits)) {
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
}

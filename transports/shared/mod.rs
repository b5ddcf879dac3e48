//! What the blocking and async drivers share: the clock, the token store, the limits, and the
//! bookkeeping around one [`Session`] that makes one token request serve every caller.

use std::collections::VecDeque;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{Request, Response};

use crate::{
    Authorization, Error, Progress, RequestId, Session, TokenId, TokenSet, TransportError,
    TransportErrorKind, Unauthorized, UnixTime,
};

/// Where "now" comes from. The drivers read it; the core is only told.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> UnixTime;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place the drivers read the clock
    fn now(&self) -> UnixTime {
        UnixTime::from_system_time(std::time::SystemTime::now())
    }
}

/// A clock that moves only when told, for tests: cheap to clone, all clones share the time.
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock standing at `now`.
    #[must_use]
    pub fn new(now: UnixTime) -> Self {
        Self(Arc::new(AtomicU64::new(now.as_millis())))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let millis = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(millis))
            });
    }

    /// Sets the clock.
    pub fn set(&self, now: UnixTime) {
        self.0.store(now.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime::from_millis(self.0.load(Ordering::SeqCst))
    }
}

/// Persists the token set. Called with every new set **before** any caller can use its access
/// token (Keliweb's old refresh token is already dead by then), and with `None` on revocation.
///
/// Any `Fn(Option<&TokenSet>) + Send + Sync` closure is a store.
pub trait TokenStore: Send + Sync + 'static {
    /// Saves `tokens`, or forgets the stored set when `None`.
    fn save(&self, tokens: Option<&TokenSet>);
}

impl<F: Fn(Option<&TokenSet>) + Send + Sync + 'static> TokenStore for F {
    fn save(&self, tokens: Option<&TokenSet>) {
        self(tokens);
    }
}

/// Timeouts and size caps. The defaults are finite everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time to establish a connection (default 10 s).
    pub connect_timeout: Duration,
    /// Time for a whole request and response (default 30 s).
    pub request_timeout: Duration,
    /// Largest token or revocation response body read (default 64 KiB).
    pub max_token_response_bytes: u64,
    /// Largest API response body read by `send` (default 32 MiB).
    pub max_api_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_token_response_bytes: 64 * 1024,
            max_api_response_bytes: 32 * 1024 * 1024,
        }
    }
}

/// A usable access token, borrowed from the driver without taking a lock or touching a
/// reference count. Dereferences to [`Authorization`]; clone that to keep it.
pub struct TokenGuard(arc_swap::Guard<Arc<Authorization>>);

impl Deref for TokenGuard {
    type Target = Authorization;

    fn deref(&self) -> &Authorization {
        &self.0
    }
}

impl fmt::Debug for TokenGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The lock-free published token: readers load it, only the lock holder stores it.
pub(crate) struct Published(ArcSwap<Authorization>);

impl Published {
    pub(crate) fn new() -> Self {
        Self(ArcSwap::from_pointee(Authorization::never_usable()))
    }

    /// The hot path: a usable token, or `None` to take the slow path.
    #[inline]
    pub(crate) fn usable(&self, now: UnixTime) -> Option<TokenGuard> {
        let guard = self.0.load();
        guard.is_usable_at(now).then_some(TokenGuard(guard))
    }
}

/// How many recent outcomes are kept for callers that waited on them.
const OUTCOMES_KEPT: usize = 64;

/// The session and its bookkeeping, always behind the driver's one lock.
pub(crate) struct Core {
    pub(crate) session: Session,
    persisted_generation: u64,
    outcomes: VecDeque<(RequestId, Result<(), Error>)>,
    store: Option<Box<dyn TokenStore>>,
}

impl Core {
    pub(crate) fn new(session: Session, store: Option<Box<dyn TokenStore>>) -> Self {
        Self {
            persisted_generation: session.generation(),
            session,
            outcomes: VecDeque::with_capacity(OUTCOMES_KEPT),
            store,
        }
    }

    /// Feeds a token request's outcome to the session, stores changed tokens, then publishes
    /// them: the store always sees a new set before any caller can use it.
    pub(crate) fn complete(
        &mut self,
        id: RequestId,
        now: UnixTime,
        outcome: Result<Response<Vec<u8>>, TransportError>,
        published: &Published,
    ) -> Result<Progress, Error> {
        let result = match outcome {
            Ok(mut response) => {
                let result = self.session.handle_response(id, now, &response);
                // The body holds the new tokens; the session has its own copies now.
                zeroize::Zeroize::zeroize(response.body_mut());
                result
            }
            Err(error) => Err(self.session.handle_transport_error(id, now, error)),
        };
        self.sync(published);
        if self.outcomes.len() == OUTCOMES_KEPT {
            self.outcomes.pop_front();
        }
        let shared = match &result {
            Ok(_) => Ok(()),
            Err(error) => Err(error.clone()),
        };
        self.outcomes.push_back((id, shared));
        result
    }

    /// What became of request `id`, if it finished recently.
    pub(crate) fn outcome(&self, id: RequestId) -> Option<&Result<(), Error>> {
        self.outcomes
            .iter()
            .rev()
            .find(|(done, _)| *done == id)
            .map(|(_, outcome)| outcome)
    }

    /// Persists the token set if it changed, then publishes the current authorization.
    pub(crate) fn sync(&mut self, published: &Published) {
        if self.session.generation() != self.persisted_generation {
            if let Some(store) = &self.store {
                store.save(self.session.tokens());
            }
            self.persisted_generation = self.session.generation();
        }
        let current = self
            .session
            .authorization()
            .cloned()
            .unwrap_or_else(Authorization::never_usable);
        published.0.store(Arc::new(current));
    }

    /// Records an API `401` for `token` and unpublishes the token if the session dropped it.
    pub(crate) fn unauthorized(&mut self, token: TokenId, published: &Published) -> Unauthorized {
        let verdict = self.session.handle_unauthorized(token);
        self.sync(published);
        verdict
    }

    /// Withdraws the current token so the next acquisition refreshes, unless a token request is
    /// already in flight (its answer is the fresh token).
    pub(crate) fn force_refresh(&mut self, published: &Published) {
        if self.session.in_flight().is_none() {
            self.session.force_refresh();
            self.sync(published);
        }
    }

    /// Loads what was just published (call with the lock held, right after `sync`).
    pub(crate) fn published(published: &Published) -> TokenGuard {
        TokenGuard(published.0.load())
    }
}

/// The transport error recorded when a token request is abandoned (its future dropped, or its
/// thread unwinding), so callers waiting on it are released instead of hanging.
pub(crate) fn abandoned() -> TransportError {
    TransportError::new(
        TransportErrorKind::Other,
        "the token request was abandoned before it finished",
    )
}

/// A copy of an API request, kept so it can be sent again after a `401`.
pub(crate) fn copy_request(request: &Request<Vec<u8>>) -> Request<Vec<u8>> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

/// Whether a response is the API refusing the token.
pub(crate) fn is_unauthorized<B>(response: &Response<B>) -> bool {
    response.status() == http::StatusCode::UNAUTHORIZED
}

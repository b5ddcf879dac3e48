//! The machinery both drivers run on: one session behind one lock, the token published for
//! lock-free readers, and the outcome of each token request kept for the callers that waited.

use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;
use http::Response;

use super::published::{Published, TimeSource};
use super::{Limits, TokenGuard, TokenStore, Unauthorized};
use crate::origin::OriginPolicy;
use crate::{
    Action, Authorization, Credentials, Error, ErrorKind, NotAuthorized, OutgoingRequest,
    RequestId, RequestKind, Session, TokenId, TokenSet, TransportError, UnixTime,
};

/// How many recent outcomes are kept for callers that waited on them.
const OUTCOMES_KEPT: usize = 64;

/// Wakes every caller waiting for a token request to finish.
pub(crate) trait Wake: Default {
    fn wake_all(&self);
}

impl Wake for std::sync::Condvar {
    fn wake_all(&self) {
        self.notify_all();
    }
}

/// What a caller of the slow path wants.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Want {
    /// Any usable token.
    Usable,
    /// A token newer than this one (`force_refresh`): the current one is not good enough, and
    /// a failure to get another is the caller's error even while the current one is usable.
    NewerThan(TokenId),
}

impl Want {
    fn is_met_by(self, token: TokenId) -> bool {
        match self {
            Self::Usable => true,
            Self::NewerThan(old) => token > old,
        }
    }
}

/// What the slow path does next, decided under the lock.
pub(crate) enum Step {
    /// A usable token (already published).
    Ready(TokenGuard),
    /// No token can be had: the session says why.
    Failed(Error),
    /// Another caller's token request is out: wait for it, then step again.
    Wait(RequestId),
    /// Send this token request, then [`Driver::finish`] it.
    Send(Box<OutgoingRequest>),
}

/// One credential's shared state. `W` is how waiters wait: a `Condvar` (blocking) or the async
/// driver's `Waiters`, which drive the request in flight.
pub(crate) struct Driver<H, W> {
    /// Shared so that a token request can outlive the caller that sent it (the async driver).
    pub(crate) http: Arc<H>,
    pub(crate) limits: Limits,
    pub(crate) finished: W,
    time: TimeSource,
    origins: Arc<OriginPolicy>,
    published: ArcSwap<Published>,
    /// Unix millis before which no caller starts a refresh ahead: when the session next wants
    /// a poll (a pause's end, the next token's refresh point), `u64::MAX` while one caller is
    /// starting it or when the HTTP client cannot run it in the background.
    ahead_not_before: AtomicU64,
    core: Mutex<Core>,
}

/// The session and its bookkeeping, always behind the driver's lock.
pub(crate) struct Core {
    pub(crate) session: Session,
    persisted_generation: u64,
    published_token: Option<TokenId>,
    outcomes: VecDeque<(RequestId, Result<(), Error>)>,
    store: Option<Box<dyn TokenStore>>,
}

impl<H, W: Wake> Driver<H, W> {
    pub(crate) fn new(
        http: H,
        session: Session,
        store: Option<Box<dyn TokenStore>>,
        time: TimeSource,
        limits: Limits,
    ) -> Self {
        let driver = Self {
            http: Arc::new(http),
            limits,
            finished: W::default(),
            published: ArcSwap::from_pointee(Published::new(Authorization::never_usable(), &time)),
            time,
            origins: Arc::clone(&session.config().origins),
            ahead_not_before: AtomicU64::new(0),
            core: Mutex::new(Core {
                persisted_generation: session.generation(),
                published_token: None,
                session,
                outcomes: VecDeque::with_capacity(OUTCOMES_KEPT),
                store,
            }),
        };
        driver.sync(&mut driver.lock());
        driver
    }

    pub(crate) fn now(&self) -> UnixTime {
        self.time.now()
    }

    /// The hot path: a usable token without a lock or a reference count, or `None`.
    #[inline]
    /// `refresh_ahead`: this caller is the one to start the token's refresh ahead.
    pub(crate) fn usable(&self) -> Option<(TokenGuard, bool)> {
        let guard = self.published.load();
        let check = guard.check(&self.time)?;
        // Past the point, the precise clock decides (and the session's schedule).
        let refresh_ahead =
            check.refresh_due && self.starts_refresh_ahead(&guard.authorization, self.now());
        Some((TokenGuard(guard), refresh_ahead))
    }

    /// Whether `token`, usable at `now`, is past its refresh-ahead point and this caller is the
    /// one to start the refresh (at most one at a time, and none before the session wants one).
    #[inline]
    fn starts_refresh_ahead(&self, token: &Authorization, now: UnixTime) -> bool {
        if now < token.refresh_at() {
            return false;
        }
        let not_before = self.ahead_not_before.load(Ordering::Acquire);
        now.as_millis() >= not_before
            && self
                .ahead_not_before
                .compare_exchange(not_before, u64::MAX, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// Allows the next refresh ahead from when the session next wants a poll: after a request
    /// finished (a new token's refresh point, a pause's end), or after a caller looked.
    pub(crate) fn schedule_refresh_ahead(&self, core: &Core, now: UnixTime) {
        let next = core
            .session
            .poll_timeout(now)
            .map_or(0, UnixTime::as_millis);
        self.ahead_not_before.store(next, Ordering::Release);
    }

    /// No refresh ahead until a token request finishes: the HTTP client cannot run one in the
    /// background.
    #[cfg(feature = "nonblocking")]
    pub(crate) fn forgo_refresh_ahead(&self) {
        self.ahead_not_before.store(u64::MAX, Ordering::Release);
    }

    /// The origins the token may go to.
    pub(crate) fn origins(&self) -> &OriginPolicy {
        &self.origins
    }

    /// Refuses, before any IO, a request the token may not be sent to.
    pub(crate) fn check_origin<B>(&self, request: &http::Request<B>) -> Result<(), Error> {
        if self.origins.permits(request.uri()) {
            Ok(())
        } else {
            Err(untrusted(request.uri()))
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Polls the session and says what the slow path must do for a caller who wants `want`.
    pub(crate) fn step(&self, core: &mut Core, want: Want) -> Step {
        let now = self.now();
        loop {
            return match core.session.poll(now) {
                Action::UseToken(token) if want.is_met_by(token.token_id()) => {
                    self.sync(core);
                    Step::Ready(TokenGuard(self.published.load()))
                }
                // A forced refresh that has not happened: wait for the request out, or say what
                // blocks one, or ask again (its request was dropped by a pause that is over).
                Action::UseToken(_) => {
                    if let Some(id) = core.session.in_flight() {
                        Step::Wait(id)
                    } else if let Some(error) = core.session.token_request_blocker(now) {
                        Step::Failed(error)
                    } else {
                        core.session.force_refresh();
                        continue;
                    }
                }
                Action::Store => {
                    self.sync(core);
                    continue;
                }
                Action::Stop(error) => Step::Failed(error),
                Action::Wait(id) => Step::Wait(id),
                Action::Send(outgoing) => Step::Send(Box::new(outgoing)),
            };
        }
    }

    /// After waiting for request `id`: its error, if it failed and the caller cannot do without
    /// it (no usable token came since, or the caller forced a refresh).
    pub(crate) fn waited(&self, core: &Core, id: RequestId, want: Want) -> Option<Error> {
        let now = self.now();
        let usable = matches!(want, Want::Usable)
            && core
                .session
                .authorization()
                .is_some_and(|auth| auth.is_usable_at(now));
        match core.outcome(id) {
            Some(Err(error)) if !usable => Some(error.clone()),
            _ => None,
        }
    }

    /// Feeds request `id`'s outcome to the session, stores changed tokens, publishes them, and
    /// wakes the waiters (even if the store panics): the store always sees a new set before any
    /// caller can use it.
    pub(crate) fn finish(
        &self,
        id: RequestId,
        outcome: Result<Response<Vec<u8>>, TransportError>,
    ) -> Result<(), Error> {
        let _wake = WakeOnDrop(&self.finished);
        let now = self.now();
        let mut core = self.lock();
        let result = match outcome {
            Ok(mut response) => {
                let result = core.session.handle_response(id, now, &response);
                // The body holds the new tokens; the session has its own copies now.
                zeroize::Zeroize::zeroize(response.body_mut());
                result
            }
            Err(error) => Err(core.session.handle_transport_error(id, now, error)),
        };
        // A dead refresh token with the password kept is no failure of the callers': the
        // session logs in next, and they wait for that.
        let result = result.or_else(|error| match error.kind() {
            ErrorKind::RefreshTokenRejected => Ok(()),
            _ => Err(error),
        });
        self.sync(&mut core);
        self.schedule_refresh_ahead(&core, now);
        let refused = matches!(&result, Err(error) if error.kind() == ErrorKind::ResponseMismatch);
        if !refused {
            core.record(id, &result);
        }
        result
    }

    /// Forgets request `id` without an outcome (its sender was cancelled or unwound): no retry
    /// pause, and a waiter polls again and sends it anew.
    pub(crate) fn abandon(&self, id: RequestId) {
        let _wake = WakeOnDrop(&self.finished);
        let now = self.now();
        let mut core = self.lock();
        let _ = core.session.abandon(id);
        self.sync(&mut core);
        self.schedule_refresh_ahead(&core, now);
    }

    /// Drops the tokens locally (and in the store) and returns the revocation requests.
    pub(crate) fn begin_revoke(&self) -> Vec<OutgoingRequest> {
        let _wake = WakeOnDrop(&self.finished);
        let now = self.now();
        let mut core = self.lock();
        core.session.revoke();
        self.sync(&mut core);
        // Taken under the same lock: no other caller's poll hands them out. After a logout
        // the session has nothing else to send.
        let mut requests = Vec::new();
        while let Action::Send(outgoing) = core.session.poll(now) {
            if outgoing.kind() != RequestKind::Revocation {
                // Unreachable: a logout drops the credentials. Should it ever happen, the
                // request is given up rather than sent by the wrong caller.
                let _ = core.session.abandon(outgoing.id());
                break;
            }
            requests.push(outgoing);
        }
        requests
    }

    /// Records an API `401` for `token`, unpublishing the token if the session dropped it.
    pub(crate) fn unauthorized(&self, token: TokenId) -> Unauthorized {
        let now = self.now();
        let mut core = self.lock();
        core.session.handle_unauthorized(token, now);
        self.sync(&mut core);
        // Still the current token: the session chose to report the refusal, not replace it.
        let kept = core
            .session
            .authorization()
            .is_some_and(|auth| auth.token_id() == token);
        if kept {
            Unauthorized::Report
        } else {
            Unauthorized::RetryWithNewToken
        }
    }

    /// Asks for a refresh now; the caller then wants a token newer than the current one.
    pub(crate) fn force_refresh(&self) -> Want {
        let mut core = self.lock();
        let want = Want::NewerThan(core.session.newest_token_id());
        core.session.force_refresh();
        want
    }

    pub(crate) fn login(&self, credentials: Credentials) {
        let mut core = self.lock();
        core.session.login(credentials);
        // Another account's token leaves the lock-free path at once.
        self.sync(&mut core);
    }

    pub(crate) fn tokens(&self) -> Option<TokenSet> {
        self.lock().session.tokens().cloned()
    }

    /// Persists the token set if it changed, then publishes the current authorization if it
    /// changed.
    fn sync(&self, core: &mut Core) {
        // A withdrawn token (revoked, refused) leaves the lock-free path first, so a store that
        // fails or panics cannot keep it in use.
        if core.session.authorization().is_none() && core.published_token.is_some() {
            self.published.store(Arc::new(Published::new(
                Authorization::never_usable(),
                &self.time,
            )));
            core.published_token = None;
        }
        // By generation, not by the session's `Store`: a store that panicked is called again
        // before anything else is published.
        if core.session.generation() != core.persisted_generation {
            if let Some(store) = &core.store {
                store.save(core.session.tokens());
            }
            core.persisted_generation = core.session.generation();
            core.session.mark_saved();
        }
        let current = core.session.authorization();
        let current_id = current.map(Authorization::token_id);
        if current_id != core.published_token {
            let published = current.cloned().unwrap_or_else(Authorization::never_usable);
            self.published
                .store(Arc::new(Published::new(published, &self.time)));
            core.published_token = current_id;
        }
    }
}

impl Core {
    fn record(&mut self, id: RequestId, result: &Result<(), Error>) {
        if self.outcomes.len() == OUTCOMES_KEPT {
            self.outcomes.pop_front();
        }
        self.outcomes.push_back((id, result.clone()));
    }

    /// What became of request `id`, if it finished recently.
    fn outcome(&self, id: RequestId) -> Option<&Result<(), Error>> {
        self.outcomes
            .iter()
            .rev()
            .find(|(done, _)| *done == id)
            .map(|(_, outcome)| outcome)
    }
}

/// Puts `token`, found usable by the lock-free path, on `request` if the request's origin may
/// have it.
#[inline]
pub(crate) fn insert<B>(
    token: &Authorization,
    origins: &OriginPolicy,
    request: &mut http::Request<B>,
) -> Result<TokenId, Error> {
    if origins.permits(request.uri()) {
        Ok(token.insert_into(request))
    } else {
        Err(untrusted(request.uri()))
    }
}

/// Puts `token` on `request` at `now`: `Some(Ok(id))` when done, `Some(Err(_))` when the
/// request may never carry it, `None` when the token reached its leeway meanwhile.
pub(crate) fn apply<B>(
    token: &Authorization,
    now: UnixTime,
    request: &mut http::Request<B>,
) -> Option<Result<TokenId, Error>> {
    match token.apply(now, request) {
        Ok(id) => Some(Ok(id)),
        Err(NotAuthorized::UntrustedOrigin) => Some(Err(untrusted(request.uri()))),
        Err(_) => None,
    }
}

/// The error for authorizing a request to `uri`, which the policy refuses. It names the
/// scheme, host and port only: a path or query may carry anything.
fn untrusted(uri: &http::Uri) -> Error {
    let origin = match (uri.scheme_str(), uri.host()) {
        (Some(scheme), Some(host)) => match uri.port_u16() {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        },
        _ => "a URL without a scheme and host".to_owned(),
    };
    Error::new(ErrorKind::UntrustedOrigin).with_detail(format!(
        "{origin} is not an origin the configuration allows"
    ))
}

/// Wakes the waiters when dropped, after the lock guard declared later has been released, and
/// also when unwinding.
struct WakeOnDrop<'a, W: Wake>(&'a W);

impl<W: Wake> Drop for WakeOnDrop<'_, W> {
    fn drop(&mut self) {
        self.0.wake_all();
    }
}

/// A token or revocation request on the wire. If its sender never finishes it (a dropped
/// future, an unwinding thread, a thread that could not start), the request is abandoned so
/// waiters are released. `D` is a borrowed driver, or an `Arc` of one for a background
/// request.
pub(crate) struct Pending<D: Deref<Target = Driver<H, W>>, H, W: Wake> {
    driver: D,
    id: Option<RequestId>,
}

impl<D: Deref<Target = Driver<H, W>>, H, W: Wake> Pending<D, H, W> {
    pub(crate) fn new(driver: D, id: RequestId) -> Self {
        Self {
            driver,
            id: Some(id),
        }
    }

    /// Hands the outcome to the session.
    pub(crate) fn finish(
        mut self,
        outcome: Result<Response<Vec<u8>>, TransportError>,
    ) -> Result<(), Error> {
        match self.id.take() {
            Some(id) => self.driver.finish(id, outcome),
            None => Err(Error::new(ErrorKind::ResponseMismatch)),
        }
    }

    /// [`finish`](Self::finish) for a token request on the slow path: an answer the session
    /// refused because a revocation overtook it is no failure of the caller's, who polls again.
    #[cfg(feature = "blocking")]
    pub(crate) fn settle(
        self,
        outcome: Result<Response<Vec<u8>>, TransportError>,
    ) -> Result<(), Error> {
        match self.finish(outcome) {
            Err(error) if error.kind() != ErrorKind::ResponseMismatch => Err(error),
            // `finish` stored any new tokens before publishing them.
            _ => Ok(()),
        }
    }
}

impl<D: Deref<Target = Driver<H, W>>, H, W: Wake> Drop for Pending<D, H, W> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.driver.abandon(id);
        }
    }
}

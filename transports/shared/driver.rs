//! The machinery both drivers run on: one session behind one lock, the token published for
//! lock-free readers, and the outcome of each token request kept for the callers that waited.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;
use http::Response;

use super::{Clock, Limits, TokenGuard, TokenStore};
use crate::{
    Action, Authorization, Credentials, Error, ErrorKind, OutgoingRequest, Progress, RequestId,
    Session, TokenId, TokenSet, TransportError, Unauthorized, UnixTime,
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

#[cfg(feature = "async")]
impl Wake for tokio::sync::Notify {
    fn wake_all(&self) {
        self.notify_waiters();
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

/// One credential's shared state. `W` is how waiters sleep: a `Condvar` or a `Notify`.
pub(crate) struct Driver<H, W> {
    pub(crate) http: H,
    pub(crate) limits: Limits,
    pub(crate) finished: W,
    clock: Box<dyn Clock>,
    published: ArcSwap<Authorization>,
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
        clock: Box<dyn Clock>,
        limits: Limits,
    ) -> Self {
        let driver = Self {
            http,
            limits,
            finished: W::default(),
            clock,
            published: ArcSwap::from_pointee(Authorization::never_usable()),
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
        self.clock.now()
    }

    /// The hot path: a usable token without a lock or a reference count, or `None`.
    #[inline]
    pub(crate) fn usable(&self, now: UnixTime) -> Option<TokenGuard> {
        let guard = self.published.load();
        guard.is_usable_at(now).then_some(TokenGuard(guard))
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Polls the session and says what the slow path must do.
    pub(crate) fn step(&self, core: &mut Core) -> Step {
        match core.session.poll(self.now()) {
            Action::UseToken(_) => {
                self.sync(core);
                Step::Ready(TokenGuard(self.published.load()))
            }
            Action::Stop(error) => Step::Failed(error),
            Action::Wait(id) => Step::Wait(id),
            Action::Send(outgoing) => Step::Send(Box::new(outgoing)),
        }
    }

    /// After waiting for request `id`: its error, if it failed and no usable token came since.
    pub(crate) fn waited(&self, core: &Core, id: RequestId) -> Option<Error> {
        let now = self.now();
        let usable = core
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
    ) -> Result<Progress, Error> {
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
        self.sync(&mut core);
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
        let mut core = self.lock();
        let _ = core.session.abandon(id);
        self.sync(&mut core);
    }

    /// Drops the tokens locally (and in the store) and returns the revocation requests.
    pub(crate) fn begin_revoke(&self) -> Vec<OutgoingRequest> {
        let _wake = WakeOnDrop(&self.finished);
        let mut core = self.lock();
        let requests = core.session.revoke();
        self.sync(&mut core);
        requests
    }

    /// Records an API `401` for `token`, unpublishing the token if the session dropped it.
    pub(crate) fn unauthorized(&self, token: TokenId) -> Unauthorized {
        let mut core = self.lock();
        let verdict = core.session.handle_unauthorized(token);
        self.sync(&mut core);
        verdict
    }

    pub(crate) fn force_refresh(&self) {
        self.lock().session.force_refresh();
    }

    pub(crate) fn login(&self, credentials: Credentials) {
        self.lock().session.login(credentials);
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
            self.published
                .store(Arc::new(Authorization::never_usable()));
            core.published_token = None;
        }
        if core.session.generation() != core.persisted_generation {
            if let Some(store) = &core.store {
                store.save(core.session.tokens());
            }
            core.persisted_generation = core.session.generation();
        }
        let current = core.session.authorization();
        let current_id = current.map(Authorization::token_id);
        if current_id != core.published_token {
            let published = current.cloned().unwrap_or_else(Authorization::never_usable);
            self.published.store(Arc::new(published));
            core.published_token = current_id;
        }
    }
}

impl Core {
    fn record(&mut self, id: RequestId, result: &Result<Progress, Error>) {
        if self.outcomes.len() == OUTCOMES_KEPT {
            self.outcomes.pop_front();
        }
        let shared = match result {
            Ok(_) => Ok(()),
            Err(error) => Err(error.clone()),
        };
        self.outcomes.push_back((id, shared));
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

/// Wakes the waiters when dropped, after the lock guard declared later has been released, and
/// also when unwinding.
struct WakeOnDrop<'a, W: Wake>(&'a W);

impl<W: Wake> Drop for WakeOnDrop<'_, W> {
    fn drop(&mut self) {
        self.0.wake_all();
    }
}

/// A token or revocation request on the wire. If its sender never finishes it (a dropped
/// future, an unwinding thread), the request is abandoned so waiters are released.
pub(crate) struct Pending<'a, H, W: Wake> {
    driver: &'a Driver<H, W>,
    id: Option<RequestId>,
}

impl<'a, H, W: Wake> Pending<'a, H, W> {
    pub(crate) fn new(driver: &'a Driver<H, W>, id: RequestId) -> Self {
        Self {
            driver,
            id: Some(id),
        }
    }

    /// Hands the outcome to the session.
    pub(crate) fn finish(
        mut self,
        outcome: Result<Response<Vec<u8>>, TransportError>,
    ) -> Result<Progress, Error> {
        match self.id.take() {
            Some(id) => self.driver.finish(id, outcome),
            None => Err(Error::new(ErrorKind::ResponseMismatch)),
        }
    }
}

impl<H, W: Wake> Pending<'_, H, W> {
    /// [`finish`](Self::finish) for a token request on the slow path: an answer the session
    /// refused because a revocation overtook it is no failure of the caller's, who polls again.
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

impl<H, W: Wake> Drop for Pending<'_, H, W> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.driver.abandon(id);
        }
    }
}

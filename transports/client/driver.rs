//! The machinery both drivers run on: one session behind one lock, the token published for
//! lock-free readers, and the outcome of each token request kept for the callers that waited.

use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use arc_swap::ArcSwap;
use http::Response;

use super::published::{Published, TimeSource};
use super::store::{Custodian, Stored};
use super::{Limits, TokenGuard, Unauthorized};
use crate::origin::OriginPolicy;
use crate::{
    Action, Authorization, Credentials, Error, ErrorKind, NotAuthorized, OutgoingRequest,
    RequestId, RequestKind, Session, StoreError, StoreErrorKind, TokenId, TokenSet, TransportError,
    UnixTime,
};

/// How many recent outcomes are kept for callers that waited on them.
const OUTCOMES_KEPT: usize = 64;

/// The longest a foreground client waits for a token's refresh point rather than hand the
/// token out: a cron job should not sleep for the whole leeway.
const MAX_HAND_OUT_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Wakes every caller waiting for a token request to finish.
pub(crate) trait Wake: Default {
    fn wake_all(&self);

    /// Token request `from` goes on as `to` (the login after a refused refresh), sent by the
    /// same task.
    fn continued(&self, _from: RequestId, _to: RequestId) {}
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

/// What a foreground client does with the usable token it found
/// ([`Driver::usable_foreground`]).
pub(crate) enum Foreground {
    /// Hand it out.
    Use,
    /// From the instant given on, go the slow path in the call for what `Want` says: a token
    /// newer than this one (refresh, wait for the refresh out, or adopt the stored successor),
    /// or any usable one once the held set is saved again (its save failed).
    AcquireAt(Want, UnixTime),
}

/// What the slow path does next, decided under the lock.
pub(crate) enum Step {
    /// A usable token (already published).
    Ready(TokenGuard),
    /// No token can be had: the session says why.
    Failed(Error),
    /// Another caller's token request is out (or its answer is being saved): wait for it, then
    /// step again.
    Wait(RequestId),
    /// The store was never loaded: load it, hand it to [`Driver::loaded`], then step again.
    Load(Arc<dyn Custodian>),
    /// The held set's save failed a while ago: try again
    /// ([`custody::persist`](super::custody::persist)), then step again.
    Persist,
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
    custody: Option<Arc<dyn Custodian>>,
    time: TimeSource,
    origins: Arc<OriginPolicy>,
    published: ArcSwap<Published>,
    /// Unix millis before which no caller starts a refresh ahead: when the session next wants
    /// a poll (a pause's end, the next token's refresh point), `u64::MAX` while one caller is
    /// starting it or when the HTTP client cannot run it in the background.
    ahead_not_before: AtomicU64,
    /// A set whose save failed is held: the lock-free path starts its retry in the
    /// background, as it starts a refresh ahead.
    save_due: AtomicBool,
    /// The refresh ahead runs in the caller that finds it due
    /// ([`ClientBuilder::foreground_refresh_ahead`](super::ClientBuilder::foreground_refresh_ahead)).
    pub(crate) foreground_refresh_ahead: bool,
    /// `shutdown` was asked: no refresh ahead starts any more.
    closing: AtomicBool,
    /// How long before its refresh point a foreground client stops handing a token out.
    hand_out_margin: std::time::Duration,
    core: Mutex<Core>,
}

/// The session and its bookkeeping, always behind the driver's lock.
pub(crate) struct Core {
    pub(crate) session: Session,
    persisted_generation: u64,
    published_token: Option<TokenId>,
    outcomes: VecDeque<(RequestId, Result<(), Error>)>,
    /// The store's version the held set came from or was saved as; `None` until the store is
    /// first loaded.
    known_version: Option<u64>,
    /// A request whose answer is being saved: its tokens are not handed out until then.
    pub(crate) saving: Option<RequestId>,
    /// The last store failure, until a save succeeds.
    store_error: Option<StoreError>,
    /// When to try again to save the held set, whose save failed.
    save_retry_at: Option<UnixTime>,
    /// The first load failed: callers get its error until then, instead of each reading a
    /// store that is down.
    load_failed: Option<(UnixTime, Error)>,
    /// The set callers are handed (what `tokens()` shows), and the session's generation it is
    /// of: a set being saved is not handed out yet.
    handed_out: (u64, Option<TokenSet>),
    /// Background work running (a refresh ahead, a retried save): `shutdown` waits for it.
    background: usize,
}

/// What [`Driver::before_send`] found in the store.
pub(crate) enum BeforeSend {
    /// Another process stored a newer set: it is in use, and the request was given up.
    Adopted,
    /// Nothing newer: send the request.
    Send,
    /// The session no longer has the request out (a revocation, or a retried save that adopted
    /// a newer set, came while it waited for the lease): send nothing.
    GivenUp,
}

/// A token set to save after a request, and what the save is checked against.
pub(crate) struct SaveJob {
    /// The request whose answer it saves; `None` for a retry.
    id: Option<RequestId>,
    generation: u64,
    pub(crate) expected_version: u64,
    pub(crate) tokens: Option<TokenSet>,
}

/// How a token request went, and whether the session wants the password login next.
pub(crate) struct Finished {
    pub(crate) result: Result<(), Error>,
    refresh_token_rejected: bool,
}

impl<H, W: Wake> Driver<H, W> {
    pub(crate) fn new(
        http: H,
        session: Session,
        custody: Option<Arc<dyn Custodian>>,
        time: TimeSource,
        limits: Limits,
    ) -> Self {
        let hand_out_margin = match time {
            TimeSource::System => session.config().leeway().min(MAX_HAND_OUT_MARGIN),
            TimeSource::Custom(_) => std::time::Duration::ZERO,
        };
        let driver = Self {
            http: Arc::new(http),
            limits,
            finished: W::default(),
            custody,
            published: ArcSwap::from_pointee(Published::new(Authorization::never_usable(), &time)),
            time,
            origins: Arc::clone(&session.config().origins),
            ahead_not_before: AtomicU64::new(0),
            save_due: AtomicBool::new(false),
            foreground_refresh_ahead: false,
            closing: AtomicBool::new(false),
            hand_out_margin,
            core: Mutex::new(Core {
                persisted_generation: session.generation(),
                published_token: None,
                session,
                outcomes: VecDeque::with_capacity(OUTCOMES_KEPT),
                known_version: None,
                saving: None,
                store_error: None,
                save_retry_at: None,
                load_failed: None,
                handed_out: (u64::MAX, None),
                background: 0,
            }),
        };
        {
            let mut core = driver.lock();
            // A set of unknown age counts its life from now, before it is published.
            core.session.settle_refresh_point(driver.now());
            driver.sync(&mut core);
        }
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
        let refresh_ahead = (check.refresh_due || self.save_due.load(Ordering::Relaxed))
            && self.starts_refresh_ahead(&guard.authorization, self.now());
        Some((TokenGuard(guard), refresh_ahead))
    }

    /// For a foreground client: the usable token, and what to do with it. Within the hand-out
    /// margin before its refresh point (the leeway, at most half the token's refresh window and
    /// at most 10 s; none with a custom clock, which a real-time wait would not move), it is
    /// replaced rather than handed out: when every process of a fleet refreshes a token at its
    /// refresh point, a token handed out before the margin lives at least the margin.
    pub(crate) fn usable_foreground(&self) -> Option<(TokenGuard, Foreground)> {
        let guard = self.published.load();
        guard.check(&self.time)?;
        let token = &guard.authorization;
        let refresh_at = token.refresh_at();
        let window = token.usable_until().saturating_duration_since(refresh_at);
        let margin = self.hand_out_margin.min(window / 2);
        let now = self.now();
        let next = if self.save_due.load(Ordering::Relaxed) {
            Foreground::AcquireAt(Want::Usable, now)
        } else if now.saturating_add(margin) >= refresh_at {
            Foreground::AcquireAt(Want::NewerThan(token.token_id()), refresh_at)
        } else {
            Foreground::Use
        };
        Some((TokenGuard(guard), next))
    }

    /// Whether `token`, usable at `now`, is past its refresh-ahead point (or a failed save is to
    /// be retried) and this caller is the one to start the refresh in the background (at most
    /// one at a time, and none before the session wants one).
    #[inline]
    fn starts_refresh_ahead(&self, token: &Authorization, now: UnixTime) -> bool {
        if now < token.refresh_at() && !self.save_due.load(Ordering::Relaxed) {
            return false;
        }
        if self.closing.load(Ordering::Acquire) {
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
        let next = match (core.session.poll_timeout(now), core.save_retry_at) {
            (Some(poll), Some(save)) => poll.min(save),
            (poll, save) => poll.or(save).unwrap_or(UnixTime::EPOCH),
        };
        // A store that failed to load is not read again before its pause ends.
        let next = match &core.load_failed {
            Some((until, _)) if core.known_version.is_none() => next.max(*until),
            _ => next,
        }
        .as_millis();
        self.ahead_not_before.store(next, Ordering::Release);
    }

    /// No refresh ahead until a token request finishes: the HTTP client cannot run one in the
    /// background.
    #[cfg(feature = "nonblocking")]
    pub(crate) fn forgo_refresh_ahead(&self) {
        self.ahead_not_before.store(u64::MAX, Ordering::Release);
    }

    /// `shutdown` was asked: no refresh ahead starts from now on (callers still get tokens).
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Release);
    }

    /// What `shutdown` reports once nothing is in flight: the store's failure while the held
    /// set is not saved (the server may have rotated its predecessor: that set is the only
    /// live one).
    pub(crate) fn shutdown_outcome(&self, core: &Core) -> Result<(), Error> {
        if self.custody.is_none() || !core.is_unsaved() {
            return Ok(());
        }
        let error = core.store_error.clone().unwrap_or_else(|| {
            StoreError::new(StoreErrorKind::Unavailable, "the token set was not saved")
        });
        Err(error.into())
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

    /// The store, if the client has one.
    pub(crate) fn custody(&self) -> Option<Arc<dyn Custodian>> {
        self.custody.clone()
    }

    /// The store, while it was never loaded.
    pub(crate) fn unloaded_store(&self) -> Option<Arc<dyn Custodian>> {
        let custody = self.custody.as_ref()?;
        self.lock()
            .known_version
            .is_none()
            .then(|| Arc::clone(custody))
    }

    /// How long a token request's lease may be held: two token requests (a refused refresh and
    /// the login) and the store calls around them.
    pub(crate) fn lease_hold_time(&self) -> std::time::Duration {
        self.limits
            .request_timeout
            .saturating_mul(2)
            .saturating_add(std::time::Duration::from_secs(5))
    }

    /// The last store failure, until a save succeeds.
    pub(crate) fn store_error(&self) -> Option<StoreError> {
        self.lock().store_error.clone()
    }

    /// Polls the session and says what the slow path must do for a caller who wants `want`.
    pub(crate) fn step(&self, core: &mut Core, want: Want) -> Step {
        if let Some(custody) = &self.custody
            && core.known_version.is_none()
        {
            return match &core.load_failed {
                Some((until, error)) if self.now() < *until => Step::Failed(error.clone()),
                _ => Step::Load(Arc::clone(custody)),
            };
        }
        if let Some(id) = core.saving {
            return Step::Wait(id);
        }
        let now = self.now();
        if core.save_retry_at.is_some_and(|at| now >= at) {
            // One caller retries; the others go on meanwhile.
            core.save_retry_at = Some(now.saturating_add(core.session.config().min_retry_delay()));
            return Step::Persist;
        }
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
                // The set is saved by whoever changed it, by generation.
                Action::Store => continue,
                Action::Stop(error) => Step::Failed(error),
                Action::Wait(id) => Step::Wait(id),
                Action::Send(outgoing) => Step::Send(Box::new(outgoing)),
            };
        }
    }

    /// Adopts the store's set, loaded for the first time (no lease: a read). A failure is the
    /// caller's error, and the next caller loads again.
    pub(crate) fn loaded(&self, stored: Result<Stored, StoreError>) -> Result<(), Error> {
        let now = self.now();
        let mut core = self.lock();
        if core.known_version.is_some() {
            return Ok(());
        }
        let stored = match stored {
            Ok(stored) => stored,
            Err(error) => {
                trace_event!(error, store_error = ?error.kind(), "token store: load failed: {error}");
                let error = Error::from(error);
                let delay = core.session.config().min_retry_delay();
                core.load_failed = Some((now.saturating_add(delay), error.clone()));
                self.schedule_refresh_ahead(&core, now);
                return Err(error);
            }
        };
        core.load_failed = None;
        if stored.version > 0 {
            core.session.adopt_at(stored.tokens, now);
        }
        core.known_version = Some(stored.version);
        core.persisted_generation = core.session.generation();
        self.sync(&mut core);
        self.schedule_refresh_ahead(&core, self.now());
        Ok(())
    }

    /// Under the lease, before request `id` goes out: adopts the store's set instead when
    /// another process stored a newer one.
    pub(crate) fn before_send(&self, id: RequestId, stored: Stored) -> BeforeSend {
        let _wake = WakeOnDrop(&self.finished);
        let mut core = self.lock();
        // It goes out now, not when the session handed it out before the lease wait.
        if !core.session.mark_sent(id, self.now()) {
            return BeforeSend::GivenUp;
        }
        let known = core.known_version.unwrap_or(0);
        if stored.version == known {
            return BeforeSend::Send;
        }
        if stored.version > known && self.own_save_landed(&mut core, &stored) {
            return BeforeSend::Send;
        }
        // Whatever comes of it, the set the answer will replace is this version. An older one
        // is a store started afresh (a deleted file): nothing to adopt, and the save goes on
        // from there.
        core.known_version = Some(stored.version);
        if stored.version < known || !core.session.adopt_at(stored.tokens, self.now()) {
            return BeforeSend::Send;
        }
        core.persisted_generation = core.session.generation();
        self.sync(&mut core);
        self.schedule_refresh_ahead(&core, self.now());
        core.record(id, &Ok(()));
        trace_event!(
            info,
            request = %id,
            version = stored.version,
            "another process stored newer tokens: adopted, nothing sent"
        );
        BeforeSend::Adopted
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

    /// Feeds request `id`'s outcome to the session. Changed tokens are published at once
    /// without a store; with one, they wait for [`saved`](Self::saved), and the job to save
    /// them is returned. Wakes the waiters either way (even when unwinding).
    fn finish(
        &self,
        id: RequestId,
        outcome: Result<Response<Vec<u8>>, TransportError>,
    ) -> (Finished, Option<SaveJob>) {
        let _wake = WakeOnDrop(&self.finished);
        let now = self.now();
        let mut core = self.lock();
        let generation_before = core.session.generation();
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
        let refresh_token_rejected =
            matches!(&result, Err(error) if error.kind() == ErrorKind::RefreshTokenRejected);
        #[cfg(feature = "tracing")]
        trace_answer(id, &result, &core.session, now);
        let result = if refresh_token_rejected {
            Ok(())
        } else {
            result
        };
        let finished = Finished {
            result,
            refresh_token_rejected,
        };
        let refused =
            matches!(&finished.result, Err(error) if error.kind() == ErrorKind::ResponseMismatch);
        // Only what this answer changed is saved here; a set whose earlier save failed is the
        // retry's (`Step::Persist`).
        let generation = core.session.generation();
        if self.custody.is_some() && generation != generation_before && !refused {
            core.saving = Some(id);
            let job = SaveJob {
                id: Some(id),
                generation,
                expected_version: core.known_version.unwrap_or(0),
                tokens: core.session.tokens().cloned(),
            };
            // Withdrawals are published at once; the new set waits for its save.
            self.sync(&mut core);
            return (finished, Some(job));
        }
        self.sync(&mut core);
        self.schedule_refresh_ahead(&core, now);
        if !refused {
            core.record(id, &finished.result);
        }
        (finished, None)
    }

    /// The save of `job` is done (or failed): publishes the set either way (it works; a failed
    /// save is retried before the next token request and reported by `store_error`), records
    /// how the request went, and wakes the waiters. After a refused refresh, returns the
    /// password login, handed out under the same lock so the caller sends it under the same
    /// lease.
    pub(crate) fn saved(
        &self,
        job: SaveJob,
        saved: Result<u64, StoreError>,
        finished: &Finished,
    ) -> Option<OutgoingRequest> {
        let _wake = WakeOnDrop(&self.finished);
        let now = self.now();
        let mut core = self.lock();
        self.record_save(&mut core, &job, saved, now);
        core.saving = None;
        self.sync(&mut core);
        if let Some(id) = job.id {
            core.record(id, &finished.result);
        }
        let next = if finished.refresh_token_rejected {
            self.next_login(&mut core, now)
        } else {
            None
        };
        if let (Some(next), Some(id)) = (&next, job.id) {
            // Before the waiters wake: whoever waits for the login drives the same task.
            self.finished.continued(id, next.id());
        }
        self.schedule_refresh_ahead(&core, now);
        next
    }

    /// Notes how saving `job` went. A failed save is retried after the minimum retry delay,
    /// unless another process stored a newer set (then the next token request adopts it).
    fn record_save(
        &self,
        core: &mut Core,
        job: &SaveJob,
        saved: Result<u64, StoreError>,
        now: UnixTime,
    ) {
        match saved {
            Ok(version) => {
                core.known_version = Some(version);
                core.persisted_generation = job.generation;
                core.store_error = None;
                if core.persisted_generation == core.session.generation() {
                    core.save_retry_at = None;
                }
            }
            Err(error) => {
                trace_event!(error, store_error = ?error.kind(), "token store: save failed: {error}");
                if error.kind() != StoreErrorKind::Conflict {
                    let delay = core.session.config().min_retry_delay();
                    core.save_retry_at = Some(now.saturating_add(delay));
                }
                core.store_error = Some(error);
            }
        }
        self.save_due
            .store(core.save_retry_at.is_some(), Ordering::Relaxed);
    }

    /// Under the lease, for [`Step::Persist`]: the job that saves the held set again, or
    /// `None` when there is nothing to save or another process stored a newer set (adopted).
    pub(crate) fn persist_job(&self, stored: Stored) -> Option<SaveJob> {
        let mut core = self.lock();
        let known = core.known_version.unwrap_or(0);
        if stored.version > known && self.own_save_landed(&mut core, &stored) {
            return None;
        }
        // With a request out, its own reload under the lease adopts a newer set.
        if stored.version != known && core.session.in_flight().is_none() {
            core.known_version = Some(stored.version);
            if stored.version > known && core.session.adopt_at(stored.tokens, self.now()) {
                // The held set is the stored one: nothing of this process's is unsaved.
                self.saved_as(&mut core, stored.version);
                self.sync(&mut core);
                self.schedule_refresh_ahead(&core, self.now());
                return None;
            }
        }
        let generation = core.session.generation();
        if generation == core.persisted_generation {
            core.save_retry_at = None;
            self.save_due.store(false, Ordering::Relaxed);
            return None;
        }
        Some(SaveJob {
            id: None,
            generation,
            expected_version: core.known_version.unwrap_or(0),
            tokens: core.session.tokens().cloned(),
        })
    }

    /// Whether `stored`, newer than the version known, is the held set itself: a save that
    /// timed out here landed after all (the store answered late). Then the set is saved, as
    /// that version, and the store's error is over; adopting it instead would count it as
    /// another process's set, and a forced refresh would take it for the new token it asked for.
    fn own_save_landed(&self, core: &mut Core, stored: &Stored) -> bool {
        if stored.tokens.is_none() || stored.tokens.as_ref() != core.session.tokens() {
            return false;
        }
        self.saved_as(core, stored.version);
        true
    }

    /// The held set is the store's `version`: nothing is left to save, and no store error
    /// stands.
    fn saved_as(&self, core: &mut Core, version: u64) {
        core.known_version = Some(version);
        core.persisted_generation = core.session.generation();
        core.save_retry_at = None;
        core.store_error = None;
        self.save_due.store(false, Ordering::Relaxed);
    }

    /// A retried save could not take the lease: it is tried again a minimum retry delay from
    /// now, not from when it was started (a store that takes longer than the delay to fail
    /// must not keep a caller retrying in a loop).
    pub(crate) fn lease_failed(&self, error: StoreError) {
        trace_event!(error, store_error = ?error.kind(), "token store: lease failed: {error}");
        let now = self.now();
        let mut core = self.lock();
        core.store_error = Some(error);
        if core.save_retry_at.is_some() {
            let delay = core.session.config().min_retry_delay();
            core.save_retry_at = Some(now.saturating_add(delay));
        }
        self.schedule_refresh_ahead(&core, now);
    }

    /// The retried save of `job` is done (or failed again).
    pub(crate) fn saved_again(&self, job: &SaveJob, saved: Result<u64, StoreError>) {
        let now = self.now();
        let mut core = self.lock();
        self.record_save(&mut core, job, saved, now);
        self.schedule_refresh_ahead(&core, now);
    }

    /// The password login the session wants after a refused refresh, if it wants one now.
    fn next_login(&self, core: &mut Core, now: UnixTime) -> Option<OutgoingRequest> {
        loop {
            return match core.session.poll(now) {
                Action::Store => continue,
                Action::Send(outgoing) if outgoing.kind() == RequestKind::PasswordGrant => {
                    Some(outgoing)
                }
                // Unreachable: revocations are taken under the lock that queues them.
                Action::Send(outgoing) => {
                    let _ = core.session.abandon(outgoing.id());
                    None
                }
                Action::UseToken(_) | Action::Wait(_) | Action::Stop(_) => None,
            };
        }
    }

    /// Forgets request `id` without an outcome (its sender was cancelled or unwound): no retry
    /// pause, and a waiter polls again and sends it anew.
    pub(crate) fn abandon(&self, id: RequestId) {
        let _wake = WakeOnDrop(&self.finished);
        let now = self.now();
        let mut core = self.lock();
        let _ = core.session.abandon(id);
        if core.saving == Some(id) {
            core.saving = None;
        }
        self.sync(&mut core);
        self.schedule_refresh_ahead(&core, now);
    }

    /// Request `id` could not go out: the store failed. The session pauses, so a store that
    /// is down is not hammered; the tokens held stay in use.
    fn store_failed(&self, id: RequestId, error: StoreError) -> Error {
        trace_event!(
            error,
            request = %id,
            store_error = ?error.kind(),
            "token store failed, the request is not sent and requests pause: {error}"
        );
        let _wake = WakeOnDrop(&self.finished);
        let now = self.now();
        let mut core = self.lock();
        core.store_error = Some(error.clone());
        let error = core.session.handle_store_error(id, now, error);
        self.sync(&mut core);
        self.schedule_refresh_ahead(&core, now);
        let result = Err(error.clone());
        core.record(id, &result);
        error
    }

    /// Drops the tokens locally and returns the revocation requests; the caller then erases
    /// the stored set ([`custody::erase`](super::custody::erase)).
    pub(crate) fn begin_revoke(&self) -> Vec<OutgoingRequest> {
        let _wake = WakeOnDrop(&self.finished);
        let now = self.now();
        let mut core = self.lock();
        core.session.revoke();
        if self.custody.is_none() {
            core.persisted_generation = core.session.generation();
        }
        self.sync(&mut core);
        // Taken under the same lock: no other caller's poll hands them out. After a logout
        // the session has nothing else to send.
        let mut requests = Vec::new();
        loop {
            match core.session.poll(now) {
                // The caller erases the stored set next.
                Action::Store => {}
                Action::Send(outgoing) if outgoing.kind() == RequestKind::Revocation => {
                    requests.push(outgoing);
                }
                // Unreachable: a logout drops the credentials. Should it ever happen, the
                // request is given up rather than sent by the wrong caller.
                Action::Send(outgoing) => {
                    let _ = core.session.abandon(outgoing.id());
                    break;
                }
                Action::UseToken(_) | Action::Wait(_) | Action::Stop(_) => break,
            }
        }
        requests
    }

    /// The stored set was erased after a logout (or the erasure failed).
    pub(crate) fn erased(&self, erased: &Result<u64, StoreError>) {
        let mut core = self.lock();
        match erased {
            Ok(version) => {
                core.known_version = Some(*version);
                core.persisted_generation = core.session.generation();
                core.store_error = None;
            }
            Err(error) => core.store_error = Some(error.clone()),
        }
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
        if !kept && core.published_token == Some(token) {
            // The session is past it (its successor is being saved): the retry must not be
            // handed the refused token again, but wait for the successor.
            self.published.store(Arc::new(Published::new(
                Authorization::never_usable(),
                &self.time,
            )));
            core.published_token = None;
        }
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
        self.lock().handed_out.1.clone()
    }

    /// Publishes the current authorization if it changed. A withdrawn token leaves the
    /// lock-free path at once; a new one only once it is saved (or its save failed).
    fn sync(&self, core: &mut Core) {
        if core.session.authorization().is_none() && core.published_token.is_some() {
            self.published.store(Arc::new(Published::new(
                Authorization::never_usable(),
                &self.time,
            )));
            core.published_token = None;
        }
        if self.custody.is_none() {
            core.persisted_generation = core.session.generation();
        }
        if core.saving.is_some() {
            return;
        }
        let generation = core.session.generation();
        if core.handed_out.0 != generation {
            core.handed_out = (generation, core.session.tokens().cloned());
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

/// A background job of the client's (a refresh ahead, a retried save), counted from
/// [`start`](Self::start) until dropped (at its end, or unwinding), which wakes `shutdown`.
/// `D` is a borrowed driver, or an `Arc` of one.
pub(crate) struct BackgroundJob<D: Deref<Target = Driver<H, W>>, H, W: Wake>(D);

impl<D: Deref<Target = Driver<H, W>>, H, W: Wake> BackgroundJob<D, H, W> {
    pub(crate) fn start(driver: D) -> Self {
        driver.lock().background += 1;
        Self(driver)
    }
}

impl<D: Deref<Target = Driver<H, W>>, H, W: Wake> Drop for BackgroundJob<D, H, W> {
    fn drop(&mut self) {
        let _wake = WakeOnDrop(&self.0.finished);
        let mut core = self.0.lock();
        core.background = core.background.saturating_sub(1);
    }
}

impl Core {
    /// Whether a token request is out, an answer being saved, or background work running:
    /// what `shutdown` waits for.
    pub(crate) fn is_busy(&self) -> bool {
        self.session.in_flight().is_some() || self.saving.is_some() || self.background > 0
    }

    /// Whether the held set's save failed and is not done yet.
    pub(crate) fn is_unsaved(&self) -> bool {
        self.persisted_generation != self.session.generation()
    }

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

    /// Whether request `id` is still out, or its answer still being saved.
    #[cfg(feature = "blocking")]
    pub(crate) fn is_busy_with(&self, id: RequestId) -> bool {
        self.session.in_flight() == Some(id) || self.saving == Some(id)
    }
}

/// The events for a token request's answer: how it went, a fallback to the password, a pause.
#[cfg(feature = "tracing")]
fn trace_answer(id: RequestId, result: &Result<(), Error>, session: &Session, now: UnixTime) {
    let Err(error) = result else {
        trace_event!(info, request = %id, "token answer: new tokens");
        return;
    };
    trace_event!(
        warn,
        request = %id,
        error = ?error.kind(),
        status = ?error.status().map(|status| status.as_u16()),
        "token answer: {}",
        error.kind().summary()
    );
    if error.kind() == ErrorKind::RefreshTokenRejected {
        trace_event!(
            warn,
            request = %id,
            "the refresh token is dead: logging in with the password"
        );
    } else if error.is_retryable() && session.token_request_blocker(now).is_some() {
        trace_event!(
            warn,
            request = %id,
            error = ?error.kind(),
            retry_at_millis = ?session.poll_timeout(now).map(UnixTime::as_millis),
            "token requests paused"
        );
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

/// What a [`Pending`] request does with itself if dropped before it is finished.
#[derive(Clone, Copy, Debug)]
pub(crate) enum OnDrop {
    /// Abandons it (a cancelled caller, an unwinding thread): no retry pause.
    Abandon,
    /// Fails it as a transport failure, starting a retry pause: the async request task, which
    /// is dropped only when its HTTP client panicked or gave no answer, must not be retried in a
    /// busy loop.
    #[cfg(feature = "nonblocking")]
    Fail,
}

/// A token or revocation request on the wire. If its sender never finishes it (a dropped
/// future, an unwinding thread, a thread that could not start), the request is abandoned or
/// failed so waiters are released. `D` is a borrowed driver, or an `Arc` of one.
pub(crate) struct Pending<D: Deref<Target = Driver<H, W>>, H, W: Wake> {
    driver: D,
    id: Option<RequestId>,
    on_drop: OnDrop,
}

impl<D: Deref<Target = Driver<H, W>>, H, W: Wake> Pending<D, H, W> {
    pub(crate) fn new(driver: D, id: RequestId, on_drop: OnDrop) -> Self {
        Self {
            driver,
            id: Some(id),
            on_drop,
        }
    }

    /// Which request.
    pub(crate) fn id(&self) -> RequestId {
        self.id.unwrap_or(RequestId(0))
    }

    /// Hands the outcome to the session and publishes what it brought (no store involved: a
    /// revocation, or a client without a store).
    pub(crate) fn finish(
        mut self,
        outcome: Result<Response<Vec<u8>>, TransportError>,
    ) -> Result<(), Error> {
        let Some(id) = self.id.take() else {
            return Err(Error::new(ErrorKind::ResponseMismatch));
        };
        let (finished, job) = self.driver.finish(id, outcome);
        if let Some(job) = job {
            // Unreachable: only token requests of a client with a store make jobs, and those
            // go through `finish_unsaved`. Publish the set rather than strand it.
            let unsaved = StoreError::new(StoreErrorKind::Unavailable, "the set was not saved");
            let _ = self.driver.saved(job, Err(unsaved), &finished);
        }
        finished.result
    }

    /// Hands the outcome to the session; with a store, the changed set comes back as a job to
    /// save, and is published by [`Driver::saved`].
    pub(crate) fn finish_unsaved(
        mut self,
        outcome: Result<Response<Vec<u8>>, TransportError>,
    ) -> (Finished, Option<SaveJob>) {
        match self.id.take() {
            Some(id) => self.driver.finish(id, outcome),
            None => (
                Finished {
                    result: Err(Error::new(ErrorKind::ResponseMismatch)),
                    refresh_token_rejected: false,
                },
                None,
            ),
        }
    }

    /// The request could not go out: the store failed.
    pub(crate) fn store_failed(mut self, error: StoreError) -> Error {
        match self.id.take() {
            Some(id) => self.driver.store_failed(id, error),
            None => error.into(),
        }
    }

    /// The request needs nothing more (it was given up for an adopted set).
    pub(crate) fn disarm(mut self) {
        self.id = None;
    }
}

impl<D: Deref<Target = Driver<H, W>>, H, W: Wake> Drop for Pending<D, H, W> {
    fn drop(&mut self) {
        let Some(id) = self.id.take() else {
            return;
        };
        match self.on_drop {
            OnDrop::Abandon => self.driver.abandon(id),
            #[cfg(feature = "nonblocking")]
            OnDrop::Fail => {
                let failure = TransportError::new(
                    crate::TransportErrorKind::Other,
                    "the HTTP client gave no answer (it panicked, or its request was dropped)",
                );
                let (finished, job) = self.driver.finish(id, Err(failure));
                // A failure changes no tokens, so there is no job; should there be one, it is
                // published as an unsaved set rather than left blocking the waiters.
                if let Some(job) = job {
                    let unsaved =
                        StoreError::new(StoreErrorKind::Unavailable, "the set was not saved");
                    let _ = self.driver.saved(job, Err(unsaved), &finished);
                }
            }
        }
    }
}

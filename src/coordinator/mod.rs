//! The client layer as a pure machine: one [`Session`] shared by many callers, and a token set
//! shared with other processes through a store.
//!
//! A [`Coordinator`] owns what lies between the token lifecycle and the IO: single-flight (one
//! token request serves every caller), refresh ahead, store custody (lease, load, adopt, save,
//! release), the rule for an API `401` (retry with a new token, or report) and shutdown. Like
//! the session it holds no lock, starts no thread, reads no clock (each input carries `now`)
//! and does no IO: a driver feeds it what happened and does the [`Work`] it asks for. The
//! blocking and async clients are such drivers; the test suite drives fleets of coordinators
//! through a simulated store and server (the test named `simulation`).
//!
//! # Inputs and outputs
//!
//! | input | method | output |
//! |---|---|---|
//! | a caller wants a token (any usable one, or one newer than its own) | [`step`](Coordinator::step) | ready, an error, a job to wait for, or a new job's first work |
//! | the lock-free path found the refresh point passed (a timer fired) | [`refresh_ahead`](Coordinator::refresh_ahead) | a job to run in the background, if one is due |
//! | the lease was granted or refused | [`leased`](Coordinator::leased) | the job's next work |
//! | the lease was lost with a store call that never came back | [`lease_lost`](Coordinator::lease_lost) | |
//! | the store answered a load (version, set) | [`loaded`](Coordinator::loaded) | the next work: send, release (a newer set was adopted), save |
//! | a token response arrived (or a transport failure) | [`answered`](Coordinator::answered) | the next work: save with the expected version, the login, release |
//! | the store answered a save (done, conflict, failed) | [`saved`](Coordinator::saved) | the next work: release, or the login under the same lease |
//! | a caller got a `401` for token N | [`unauthorized`](Coordinator::unauthorized) | retry with a new token, or report |
//! | shutdown was asked | [`shutdown`](Coordinator::shutdown), [`shutdown_step`](Coordinator::shutdown_step) | wait for the job, a last save, then done or the store's error |
//! | logout, login, a forced refresh | [`revoke`](Coordinator::revoke), [`login`](Coordinator::login), [`force_refresh`](Coordinator::force_refresh) | revocations to send, the erasure's work |
//!
//! After any input: [`take_publication`](Coordinator::take_publication) is the token to publish
//! to the lock-free path (or its withdrawal), [`refresh_ahead_at`](Coordinator::refresh_ahead_at)
//! is when to look again without an input, [`waited`](Coordinator::waited) is the outcome a
//! waiting caller wakes to (a driver wakes its waiters after each input), and
//! [`take_notices`](Coordinator::take_notices) is what to log.
//!
//! # Jobs
//!
//! Everything that needs IO is a *job*, and at most one runs at a time. A caller that wants
//! a token while none is usable [`step`](Coordinator::step)s the machine: it gets the token,
//! an error, a job to [`Wait`](Step::Wait) for, or a new job's first [`Work`]. Whoever gets a
//! job's work does it and reports back ([`leased`](Coordinator::leased),
//! [`loaded`](Coordinator::loaded), [`answered`](Coordinator::answered),
//! [`saved`](Coordinator::saved)); each report hands back the job's next work, until the job
//! ends ([`Work::Release`] is always last when the job held the lease; its completion is not
//! reported). A driver whose executor is cancelled or unwinds calls
//! [`abandon`](Coordinator::abandon).
//!
//! ```text
//!                         with a store                               without
//!   token request:  Lease ─► Load ─┬─► Send ─► Save ─► Release        Send
//!                                  │     ▲        │                     │
//!                                  │     └─ Load ◄┘ refresh refused:    └─► Send (the login)
//!                                  │               the login, same lease
//!                                  └─► Release (a newer set was adopted: nothing sent)
//!   first load:     Load                              (no lease: a read)
//!   retried save:   Lease ─► Load ─► Save ─► Release  (or adopt a newer set, or nothing)
//!   erase (logout): Lease ─► Load ─► Save(None) ─► Release
//! ```
//!
//! A failed lease or load ends the job (the session pauses, as for a transport failure); a
//! failed save keeps the set in use and retries it after the minimum retry delay.
//!
//! # What callers see
//!
//! A new set is [published](Coordinator::take_publication) only once its save is done (or
//! failed: a set that works is used), so no caller is handed a token that a crash would lose;
//! a withdrawn token (refused by the API, logged out) leaves at once. The outcome of each job
//! is kept for the callers that waited on it ([`waited`](Coordinator::waited)).

mod custody;
mod jobs;
mod notice;
mod outcomes;
mod stored;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use self::jobs::{JobId, Work};
pub use self::notice::Notice;
use self::outcomes::Outcomes;
pub use self::stored::Stored;
use crate::authorization::{Authorization, TokenId};
use crate::config::Credentials;
use crate::error::{Error, ErrorKind};
use crate::request::OutgoingRequest;
use crate::session::{Action, Session};
use crate::store_error::StoreError;
use crate::time::UnixTime;
use crate::token_set::TokenSet;

/// What a caller on the slow path wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
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

/// What a caller does next, from [`Coordinator::step`] (and the shutdown and erase steps).
#[derive(Debug)]
#[must_use = "a step says what the caller must do next"]
pub enum Step {
    /// Done: for a token, the [published](Coordinator::take_publication) one meets the want.
    Ready,
    /// Nothing can be had: the error says why.
    Failed(Error),
    /// A job is running: wait until it is over
    /// ([`is_running`](Coordinator::is_running) turns false), ask
    /// [`waited`](Coordinator::waited) whether its failure is the caller's, then step again.
    Wait(JobId),
    /// A new job: do this work and report it; the job is the caller's to carry to its end.
    Work(JobId, Work),
}

/// What to do with an API call answered `401`, from [`Coordinator::unauthorized`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Unauthorized {
    /// The token was withdrawn (or had already been replaced): get a token again and retry the
    /// call once.
    RetryWithNewToken,
    /// A token obtained to replace a refused one was refused too: report the `401`, do not
    /// loop. Once the minimum retry delay has passed, a refusal counts as a first one again.
    Report,
}

/// What a foreground client does with the usable token it found
/// ([`Coordinator::foreground`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Foreground {
    /// Hand it out.
    Use,
    /// From the instant given on, step for what `Want` says instead: a token newer than this
    /// one, or any usable one once the held set is saved again (its save failed).
    StepAt(Want, UnixTime),
}

/// A logout's erasure of the stored set.
#[derive(Debug)]
enum Erasure {
    /// None asked, or one under way.
    None,
    /// A logout asked for one; it starts once no job runs.
    Due,
    /// How the last one went.
    Ended(Result<(), StoreError>),
}

/// The client layer of one credential in one process: see the [module docs](self).
#[derive(Debug)]
pub struct Coordinator {
    session: Session,
    custody: custody::Custody,
    job: Option<jobs::Job>,
    next_job: u64,
    outcomes: Outcomes,
    /// The token on the lock-free path (`None`: nothing usable is published).
    published: Option<TokenId>,
    /// A change of the published token the driver has not taken yet.
    publication: Option<Option<Authorization>>,
    /// The set callers are handed (what a client's `tokens()` shows), and the session's
    /// generation it is of.
    handed_out: (u64, Option<TokenSet>),
    /// `shutdown` was asked: no refresh ahead starts any more.
    closing: bool,
    /// The retried save `shutdown` makes was made.
    shutdown_saved: bool,
    /// A logout's erasure of the stored set.
    erasure: Erasure,
    notices: Vec<Notice>,
}

impl Coordinator {
    /// A coordinator around `session`; `with_store`: the token set lives in a store (shared
    /// with other processes, or only kept), loaded before the first token request. `now`
    /// places the refresh point of a set of unknown age.
    #[must_use]
    pub fn new(mut session: Session, with_store: bool, now: UnixTime) -> Self {
        session.settle_refresh_point(now);
        let generation = session.generation();
        let mut coordinator = Self {
            session,
            custody: custody::Custody::new(with_store, generation),
            job: None,
            next_job: 0,
            outcomes: Outcomes::default(),
            published: None,
            publication: None,
            handed_out: (u64::MAX, None),
            closing: false,
            shutdown_saved: false,
            erasure: Erasure::None,
            notices: Vec::new(),
        };
        coordinator.sync();
        coordinator
    }

    /// The session inside.
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The set callers are handed: a new set shows here once its save is done (or failed),
    /// never while it is being saved.
    #[must_use]
    pub fn tokens(&self) -> Option<&TokenSet> {
        self.handed_out.1.as_ref()
    }

    /// The store's last failure, until a save succeeds.
    #[must_use]
    pub fn store_error(&self) -> Option<&StoreError> {
        self.custody.store_error.as_ref()
    }

    /// Whether the held set's save failed and is not done yet.
    #[must_use]
    pub fn is_unsaved(&self) -> bool {
        self.custody.is_unsaved(&self.session)
    }

    /// Whether a failed save is waiting to be retried: the lock-free path steps for it.
    #[must_use]
    pub fn save_due(&self) -> bool {
        self.custody.save_retry_at.is_some()
    }

    /// Whether job `job` is still running.
    #[must_use]
    pub fn is_running(&self, job: JobId) -> bool {
        self.job.as_ref().is_some_and(|running| running.id == job)
    }

    /// The job running, if any: what `shutdown` waits for.
    #[must_use]
    pub fn running(&self) -> Option<JobId> {
        self.job.as_ref().map(|job| job.id)
    }

    /// The change of the token for the lock-free path since the last call, if any:
    /// `Some(None)` withdraws the published token.
    pub fn take_publication(&mut self) -> Option<Option<Authorization>> {
        self.publication.take()
    }

    /// What happened since the last call, for a driver's log.
    pub fn take_notices(&mut self) -> std::vec::Drain<'_, Notice> {
        self.notices.drain(..)
    }

    /// When a caller on the lock-free path should next step the machine (a refresh ahead, a
    /// retried save, a pause's end): never before. `None` while a job runs (its end changes
    /// the answer: ask again then) and once `shutdown` was asked.
    #[must_use]
    pub fn refresh_ahead_at(&self, now: UnixTime) -> Option<UnixTime> {
        if self.closing || self.job.is_some() {
            return None;
        }
        let next = match (self.session.poll_timeout(now), self.custody.save_retry_at) {
            (Some(poll), Some(save)) => poll.min(save),
            (poll, save) => poll.or(save).unwrap_or(UnixTime::EPOCH),
        };
        Some(self.custody.not_before_reload(next))
    }

    /// For a foreground client (one that refreshes in the call, not in the background): what
    /// to do with `token`, usable at `now`. Within `margin` before its refresh point (at most
    /// half its refresh window) the token is replaced rather than handed out: when every
    /// process of a fleet refreshes at the refresh point, a token handed out lives at least
    /// the margin.
    #[must_use]
    pub fn foreground(
        token: &Authorization,
        margin: Duration,
        save_due: bool,
        now: UnixTime,
    ) -> Foreground {
        let refresh_at = token.refresh_at();
        let window = token.usable_until().saturating_duration_since(refresh_at);
        // The margin first, whatever became of the set's save: a token within it is not handed
        // out (its refresh may even have been refused, the fleet having rotated it), and the
        // step for a newer token retries a due save first.
        if now.saturating_add(margin.min(window / 2)) >= refresh_at {
            Foreground::StepAt(Want::NewerThan(token.token_id()), refresh_at)
        } else if save_due {
            Foreground::StepAt(Want::Usable, now)
        } else {
            Foreground::Use
        }
    }

    /// A caller wants a token (`want`) at `now`: see [`Step`].
    pub fn step(&mut self, want: Want, now: UnixTime) -> Step {
        if let Some(step) = self.custody_step(want, now) {
            return step;
        }
        loop {
            return match self.session.poll(now) {
                Action::UseToken(token) if want.is_met_by(token.token_id()) => {
                    self.sync();
                    Step::Ready
                }
                // A forced refresh that has not happened: wait for the request out, or say what
                // blocks one, or ask again (its request was dropped by a pause that is over).
                Action::UseToken(_) => match (self.running(), self.session.in_flight()) {
                    (Some(job), Some(_)) => Step::Wait(job),
                    _ => match self.session.token_request_blocker(now) {
                        Some(error) => Step::Failed(error),
                        None => {
                            self.session.force_refresh();
                            continue;
                        }
                    },
                },
                // Saved by the job that changed the set, by generation.
                Action::Store => continue,
                Action::Stop(error) => Step::Failed(error),
                Action::Wait(_) => match self.running() {
                    Some(job) => Step::Wait(job),
                    // Unreachable: every token request is a job's.
                    None => Step::Failed(Error::new(ErrorKind::ResponseMismatch)),
                },
                Action::Send(outgoing) => self.start_request(outgoing),
            };
        }
    }

    /// Loads the store if it was never loaded: `Ready` once it is (or there is no store),
    /// `Failed` while its first load's failure stands.
    pub fn load_step(&mut self, now: UnixTime) -> Step {
        if !self.custody.needs_load() {
            return Step::Ready;
        }
        if let Some(error) = self.custody.load_failure(now) {
            return Step::Failed(error.clone());
        }
        match self.running() {
            Some(job) => Step::Wait(job),
            None => self.start_job(jobs::Task::Load, Work::Load),
        }
    }

    /// The store steps that come before the session's: the first load, waiting for a save, a
    /// retried save.
    fn custody_step(&mut self, want: Want, now: UnixTime) -> Option<Step> {
        if let Some(job) = self.job.as_ref().filter(|job| job.is_saving()) {
            return Some(Step::Wait(job.id));
        }
        if self.custody.needs_load() {
            return Some(self.load_step(now));
        }
        // A caller the held token does not serve (none is usable, or it wants a newer one)
        // while token requests pause after a failure gets that failure first: were it to run
        // the retried save, a store slower to fail than the retry delay would keep it
        // alternating retried saves and token requests for as long as the store is away.
        let paused_unserved = self.session.token_request_blocker(now).is_some()
            && !self
                .session
                .authorization()
                .is_some_and(|auth| auth.is_usable_at(now) && want.is_met_by(auth.token_id()));
        if self.job.is_none() && self.custody.save_is_due(now) && !paused_unserved {
            // One caller retries; the others go on meanwhile.
            self.custody
                .postpone_save(now, self.session.config().min_retry_delay());
            return Some(self.start_job(jobs::Task::Persist, Work::Lease));
        }
        None
    }

    /// The token's refresh ahead (or a retried save, or the first load) is due, found by a
    /// caller on the lock-free path: the job to run in the background, if one is to start.
    pub fn refresh_ahead(&mut self, now: UnixTime) -> Option<(JobId, Work)> {
        if self.closing {
            return None;
        }
        match self.step(Want::Usable, now) {
            Step::Work(job, work) => Some((job, work)),
            Step::Ready | Step::Failed(_) | Step::Wait(_) => None,
        }
    }

    /// After waiting for job `job`: its error, if it failed and the caller cannot do without
    /// it (no usable token came since, or the caller wants a newer token).
    #[must_use]
    pub fn waited(&self, job: JobId, want: Want, now: UnixTime) -> Option<Error> {
        let usable = want == Want::Usable
            && self
                .session
                .authorization()
                .is_some_and(|auth| auth.is_usable_at(now));
        match self.outcomes.get(job) {
            Some(Err(error)) if !usable => Some(error.clone()),
            _ => None,
        }
    }

    /// The API answered `401` at `now` to a call authorized with `token`.
    pub fn unauthorized(&mut self, token: TokenId, now: UnixTime) -> Unauthorized {
        self.session.handle_unauthorized(token, now);
        self.sync();
        // Still the current token: the session chose to report the refusal, not replace it.
        let kept = self
            .session
            .authorization()
            .is_some_and(|auth| auth.token_id() == token);
        if kept {
            return Unauthorized::Report;
        }
        if self.published == Some(token) {
            // The session is past it (its successor is being saved): the retry must not be
            // handed the refused token again, but wait for the successor.
            self.publish(None);
        }
        Unauthorized::RetryWithNewToken
    }

    /// Asks for a refresh now; the caller then steps for the returned want, a token newer
    /// than the current one.
    pub fn force_refresh(&mut self) -> Want {
        let want = Want::NewerThan(self.session.newest_token_id());
        self.session.force_refresh();
        want
    }

    /// Supplies credentials for the next token request.
    pub fn login(&mut self, credentials: Credentials) {
        self.session.login(credentials);
        // Another account's token leaves the lock-free path at once.
        self.sync();
    }

    /// Logs out: drops the tokens at once and returns the revocation requests to send (report
    /// each with [`revocation_answered`](Self::revocation_answered)). With a store, the stored
    /// set is erased next: [`erase_step`](Self::erase_step).
    pub fn revoke(&mut self, now: UnixTime) -> Vec<OutgoingRequest> {
        self.session.revoke();
        if self.custody.has_store() {
            self.erasure = Erasure::Due;
        } else {
            self.custody.saved_generation(&self.session);
        }
        self.sync();
        let mut requests = Vec::new();
        // After a logout the session sends nothing but the revocations it queued.
        loop {
            match self.session.poll(now) {
                Action::Store => {}
                Action::Send(outgoing) => requests.push(outgoing),
                Action::UseToken(_) | Action::Wait(_) | Action::Stop(_) => break,
            }
        }
        requests
    }

    /// After [`revoke`](Self::revoke): erases the stored set under the lease. `Ready` once it
    /// is erased (or there is no store), `Failed` with the store's error.
    pub fn erase_step(&mut self) -> Step {
        match &self.erasure {
            Erasure::Due => match self.running() {
                Some(job) => Step::Wait(job),
                None => {
                    self.erasure = Erasure::None;
                    self.start_job(jobs::Task::Erase, Work::Lease)
                }
            },
            Erasure::Ended(Err(error)) => Step::Failed(error.clone().into()),
            Erasure::Ended(Ok(())) | Erasure::None => Step::Ready,
        }
    }

    /// A program is about to exit: no refresh ahead starts from now on, and the steps of
    /// [`shutdown_step`](Self::shutdown_step) finish what is under way.
    pub fn shutdown(&mut self) {
        self.closing = true;
    }

    /// Finishing for shutdown: wait for the job running; then save once more a set whose save
    /// failed; then `Ready`, or `Failed` with the store's error when the held set is still
    /// unsaved (the server may have rotated its predecessor: it is the only live pair).
    pub fn shutdown_step(&mut self) -> Step {
        self.closing = true;
        if let Some(job) = self.running() {
            return Step::Wait(job);
        }
        if !self.is_unsaved() {
            return Step::Ready;
        }
        if !self.shutdown_saved {
            self.shutdown_saved = true;
            return self.start_job(jobs::Task::Persist, Work::Lease);
        }
        let error = self.custody.store_error.clone().unwrap_or_else(|| {
            StoreError::new(
                crate::StoreErrorKind::Unavailable,
                "the token set was not saved",
            )
        });
        Step::Failed(error.into())
    }

    /// Starts token request `outgoing` as a job, unless one runs (then the request is given
    /// back to the session, and the caller waits for the job).
    fn start_request(&mut self, outgoing: OutgoingRequest) -> Step {
        if let Some(job) = self.running() {
            let _ = self.session.abandon(outgoing.id());
            return Step::Wait(job);
        }
        let id = outgoing.id();
        if self.custody.has_store() {
            self.start_job(
                jobs::Task::Request(id, Some(Box::new(outgoing))),
                Work::Lease,
            )
        } else {
            self.notice(Notice::Sent {
                request: id,
                kind: outgoing.kind(),
                under_lease: false,
            });
            self.start_job(
                jobs::Task::Request(id, None),
                Work::Send(Box::new(outgoing)),
            )
        }
    }

    fn start_job(&mut self, task: jobs::Task, first: Work) -> Step {
        let id = JobId(self.next_job);
        self.next_job += 1;
        self.job = Some(jobs::Job::new(id, task, &first));
        Step::Work(id, first)
    }

    /// Publishes the current authorization if it changed. A withdrawn token leaves the
    /// lock-free path at once; a new one only once it is saved (or its save failed).
    fn sync(&mut self) {
        // Changes are saved by the job that made them, by generation.
        self.session.change_taken();
        if self.session.authorization().is_none() && self.published.is_some() {
            self.publish(None);
        }
        if !self.custody.has_store() {
            self.custody.saved_generation(&self.session);
        }
        if self.job.as_ref().is_some_and(jobs::Job::is_saving) {
            return;
        }
        let generation = self.session.generation();
        if self.handed_out.0 != generation {
            self.handed_out = (generation, self.session.tokens().cloned());
        }
        let current = self.session.authorization().map(Authorization::token_id);
        if current != self.published {
            let authorization = self.session.authorization().cloned();
            self.publish(authorization);
        }
    }

    fn publish(&mut self, authorization: Option<Authorization>) {
        self.published = authorization.as_ref().map(Authorization::token_id);
        self.publication = Some(authorization);
    }

    fn notice(&mut self, notice: Notice) {
        // A driver that never reads them keeps only the latest few.
        if self.notices.len() >= notice::KEPT {
            self.notices.remove(0);
        }
        self.notices.push(notice);
    }
}

//! The jobs: a token request, the first load, a retried save and a logout's erasure, each a
//! sequence of [`Work`] whose reports move it on.

use std::cmp::Ordering;

use http::Response;

use super::notice::Notice;
use super::{Coordinator, Erasure, Stored};
use crate::error::{Error, ErrorKind, TransportError};
use crate::request::{OutgoingRequest, RequestId};
use crate::session::Action;
use crate::store_error::StoreError;
use crate::time::UnixTime;
use crate::token_set::TokenSet;

/// Names one job, so callers can wait for it and its executor report to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub(super) u64);

/// IO a job needs from its driver. Do it and report the result to the method named.
#[derive(Debug)]
#[must_use = "the job waits for this work's report"]
pub enum Work {
    /// Take the store's lease (waiting while another process holds it): report to
    /// [`leased`](Coordinator::leased).
    Lease,
    /// Read the store: report to [`loaded`](Coordinator::loaded).
    Load,
    /// Send this token request: report its response (or transport failure) to
    /// [`answered`](Coordinator::answered), then drop the response's body.
    Send(Box<OutgoingRequest>),
    /// Store `tokens` (`None`: erase the stored set) provided the stored version is still
    /// `expected_version`: report to [`saved`](Coordinator::saved).
    Save {
        /// The version the save is checked against.
        expected_version: u64,
        /// The set to store.
        tokens: Option<TokenSet>,
    },
    /// Release the lease. The job is over; nothing to report.
    Release,
}

/// What a job is for.
#[derive(Debug)]
pub(super) enum Task {
    /// The first load of the store, without a lease.
    Load,
    /// Token request `RequestId`; the request itself until it goes out.
    Request(RequestId, Option<Box<OutgoingRequest>>),
    /// Save again the held set, whose save failed.
    Persist,
    /// Erase the stored set after a logout.
    Erase,
}

/// Where a job stands: what it waits for.
#[derive(Debug)]
enum Stage {
    Leasing,
    Loading,
    Sending,
    /// A save of the session's generation; for a token request, how the request went and
    /// whether the password login follows (the refresh token was dead).
    Saving {
        generation: u64,
        result: Result<(), Error>,
        login_next: bool,
    },
}

/// The job running.
#[derive(Debug)]
pub(super) struct Job {
    pub(super) id: JobId,
    task: Task,
    stage: Stage,
    /// It holds the store's lease.
    leased: bool,
}

impl Job {
    pub(super) fn new(id: JobId, task: Task, first: &Work) -> Self {
        let stage = match first {
            Work::Lease => Stage::Leasing,
            Work::Load => Stage::Loading,
            Work::Send(_) | Work::Save { .. } | Work::Release => Stage::Sending,
        };
        Self {
            id,
            task,
            stage,
            leased: false,
        }
    }

    /// The token request it carries, if it is one.
    fn request(&self) -> Option<RequestId> {
        match &self.task {
            Task::Request(id, _) => Some(*id),
            Task::Load | Task::Persist | Task::Erase => None,
        }
    }

    /// Its answer is being saved: its tokens are handed to no caller until then.
    pub(super) fn is_saving(&self) -> bool {
        matches!(self.stage, Stage::Saving { .. })
    }
}

impl Coordinator {
    /// The job `job`, if it is the one running and waits for `stage`.
    fn job_at(&mut self, job: JobId, stage: fn(&Stage) -> bool) -> Option<&mut Job> {
        self.job
            .as_mut()
            .filter(|running| running.id == job && stage(&running.stage))
    }

    /// Job `job` took the lease (or failed to).
    pub fn leased(
        &mut self,
        job: JobId,
        lease: Result<(), StoreError>,
        now: UnixTime,
    ) -> Option<Work> {
        let running = self.job_at(job, |stage| matches!(stage, Stage::Leasing))?;
        match lease {
            Ok(()) => {
                running.leased = true;
                running.stage = Stage::Loading;
                Some(Work::Load)
            }
            Err(error) => {
                self.store_failed("lease", error, now);
                self.end_job()
            }
        }
    }

    /// Job `job` read the store (or failed to).
    pub fn loaded(
        &mut self,
        job: JobId,
        stored: Result<Stored, StoreError>,
        now: UnixTime,
    ) -> Option<Work> {
        let running = self.job_at(job, |stage| matches!(stage, Stage::Loading))?;
        let task = std::mem::replace(&mut running.task, Task::Load);
        let stored = match stored {
            Ok(stored) => stored,
            Err(error) => {
                if let Some(job) = &mut self.job {
                    job.task = task;
                }
                self.store_failed("load", error, now);
                return self.end_job();
            }
        };
        match task {
            Task::Load => self.first_load(job, stored, now),
            Task::Request(id, outgoing) => self.before_send(job, id, outgoing, stored, now),
            Task::Persist => self.persist(stored, now),
            Task::Erase => {
                self.set_task(Task::Erase);
                self.save(stored.version, None)
            }
        }
    }

    /// The store's set, loaded for the first time (no lease: a read).
    fn first_load(&mut self, job: JobId, stored: Stored, now: UnixTime) -> Option<Work> {
        if self.custody.needs_load() {
            // Version 0 is a store never written: it keeps a set the client started with.
            if stored.version != 0 {
                self.session.adopt_at(stored.tokens, now);
            }
            self.custody.loaded(stored.version, &self.session);
        }
        self.outcomes.record(job, Ok(()));
        self.end_job()
    }

    /// Under the lease, before request `id` goes out: adopts the store's set instead when
    /// another process stored a newer one.
    fn before_send(
        &mut self,
        job: JobId,
        id: RequestId,
        outgoing: Option<Box<OutgoingRequest>>,
        stored: Stored,
        now: UnixTime,
    ) -> Option<Work> {
        // It goes out now, not when the session handed it out before the lease wait. A
        // request the session no longer has out (a logout came meanwhile) is not sent.
        let Some(outgoing) = outgoing.filter(|_| self.session.mark_sent(id, now)) else {
            return self.end_job();
        };
        let known = self.custody.known_version.unwrap_or(0);
        let adopted = match stored.version.cmp(&known) {
            Ordering::Equal => false,
            // A store started afresh (a deleted file): nothing to adopt, and the answer's save
            // goes on from its version.
            Ordering::Less => {
                self.custody.known_version = Some(stored.version);
                false
            }
            // A save of this process's that timed out landed after all: send.
            Ordering::Greater if self.custody.own_save_landed(&stored, &self.session) => false,
            // Whatever comes of it, the set the answer will replace is this version; an unsaved
            // set that may be the fleet's only live pair is kept over it.
            Ordering::Greater => {
                self.custody.known_version = Some(stored.version);
                !self.custody.keeps_unsaved_over(&stored, &self.session)
                    && self.session.adopt_at(stored.tokens, now)
            }
        };
        if adopted {
            self.custody.saved_generation(&self.session);
            self.outcomes.record(job, Ok(()));
            self.notice(Notice::Adopted {
                request: id,
                version: stored.version,
            });
            return self.end_job();
        }
        self.notice(Notice::Sent {
            request: id,
            kind: outgoing.kind(),
            under_lease: true,
        });
        self.set_task(Task::Request(id, None));
        if let Some(running) = &mut self.job {
            running.stage = Stage::Sending;
        }
        Some(Work::Send(outgoing))
    }

    /// Under the lease, for a retried save: saves the held set again, or adopts a newer set
    /// another process stored meanwhile, or finds nothing left to save.
    fn persist(&mut self, stored: Stored, now: UnixTime) -> Option<Work> {
        self.set_task(Task::Persist);
        let known = self.custody.known_version.unwrap_or(0);
        match stored.version.cmp(&known) {
            Ordering::Equal => {}
            // A store started afresh: the save goes on from its version.
            Ordering::Less => self.custody.known_version = Some(stored.version),
            // The held set itself: a save that timed out landed after all.
            Ordering::Greater if self.custody.own_save_landed(&stored, &self.session) => {
                return self.end_job();
            }
            Ordering::Greater => {
                self.custody.known_version = Some(stored.version);
                if !self.custody.keeps_unsaved_over(&stored, &self.session)
                    && self.session.adopt_at(stored.tokens, now)
                {
                    // The held set is the stored one: nothing of this process's is unsaved.
                    self.custody.saved_as(stored.version, &self.session);
                    return self.end_job();
                }
            }
        }
        if !self.is_unsaved() {
            self.custody.save_retry_at = None;
            return self.end_job();
        }
        let expected = self.custody.known_version.unwrap_or(0);
        let tokens = self.session.tokens().cloned();
        self.save(expected, tokens)
    }

    /// Moves the job to saving `tokens` over `expected`.
    fn save(&mut self, expected: u64, tokens: Option<TokenSet>) -> Option<Work> {
        let generation = self.session.generation();
        let running = self.job.as_mut()?;
        running.stage = Stage::Saving {
            generation,
            result: Ok(()),
            login_next: false,
        };
        Some(Work::Save {
            expected_version: expected,
            tokens,
        })
    }

    fn set_task(&mut self, task: Task) {
        if let Some(running) = &mut self.job {
            running.task = task;
        }
    }

    /// Token request `id` of job `job` was answered (or got no complete answer).
    pub fn answered<B: AsRef<[u8]>>(
        &mut self,
        job: JobId,
        id: RequestId,
        outcome: Result<&Response<B>, TransportError>,
        now: UnixTime,
    ) -> Option<Work> {
        self.job_at(job, |stage| matches!(stage, Stage::Sending))?;
        let generation_before = self.session.generation();
        let result = match outcome {
            Ok(response) => self.session.handle_response(id, now, response),
            Err(error) => Err(self.session.handle_transport_error(id, now, error)),
        };
        self.notice_answer(id, &result, now);
        // A dead refresh token with the password kept is no failure of the callers': the
        // password login follows in the same job, and they wait for that.
        let login_next =
            matches!(&result, Err(error) if error.kind() == ErrorKind::RefreshTokenRejected);
        let result = if login_next { Ok(()) } else { result };
        let refused = matches!(&result, Err(error) if error.kind() == ErrorKind::ResponseMismatch);
        let generation = self.session.generation();
        if self.custody.has_store() && generation != generation_before && !refused {
            let expected = self.custody.known_version.unwrap_or(0);
            let tokens = self.session.tokens().cloned();
            if let Some(running) = &mut self.job {
                running.stage = Stage::Saving {
                    generation,
                    result,
                    login_next,
                };
            }
            // Withdrawals are published at once; the new set waits for its save.
            self.sync();
            return Some(Work::Save {
                expected_version: expected,
                tokens,
            });
        }
        if !refused {
            self.outcomes.record(job, result);
        }
        if login_next {
            return self.next_login(now);
        }
        self.end_job()
    }

    /// Job `job`'s save is done (or failed): publishes the set either way (it works; a failed
    /// save is retried before the next token request and reported by `store_error`).
    pub fn saved(
        &mut self,
        job: JobId,
        saved: Result<u64, StoreError>,
        now: UnixTime,
    ) -> Option<Work> {
        let running = self.job_at(job, |stage| matches!(stage, Stage::Saving { .. }))?;
        let Stage::Saving {
            generation,
            result,
            login_next,
        } = std::mem::replace(&mut running.stage, Stage::Sending)
        else {
            return None;
        };
        if let Err(error) = &saved {
            self.notice(Notice::StoreFailed {
                during: "save",
                kind: error.kind(),
                request: None,
            });
        }
        if matches!(self.job.as_ref().map(|job| &job.task), Some(Task::Erase)) {
            return self.erased(saved);
        }
        self.custody
            .record_save(generation, saved, &self.session, now);
        self.sync();
        if matches!(
            self.job.as_ref().map(|job| &job.task),
            Some(Task::Request(..))
        ) {
            self.outcomes.record(job, result);
            if login_next {
                return self.next_login(now);
            }
        }
        self.end_job()
    }

    /// The stored set was erased after a logout (or the erasure failed).
    fn erased(&mut self, erased: Result<u64, StoreError>) -> Option<Work> {
        match erased {
            Ok(version) => {
                self.custody.saved_as(version, &self.session);
                self.erasure = Erasure::Ended(Ok(()));
            }
            Err(error) => {
                self.custody.store_error = Some(error.clone());
                self.erasure = Erasure::Ended(Err(error));
            }
        }
        self.end_job()
    }

    /// The lease of job `job` was lost (the store call holding it never came back): the job
    /// sends nothing more under it.
    pub fn lease_lost(&mut self, job: JobId) {
        if let Some(running) = self.job.as_mut().filter(|running| running.id == job) {
            running.leased = false;
        }
    }

    /// After a refused refresh, the password login the session wants, sent by the same job:
    /// under the same lease (reloading first), so no other process refreshes with the same
    /// dead token in between.
    fn next_login(&mut self, now: UnixTime) -> Option<Work> {
        // The session's next request after a refused refresh is the password login (no
        // revocation is queued: a logout takes its revocations in the call that queues them).
        let login = loop {
            match self.session.poll(now) {
                Action::Store => {}
                Action::Send(outgoing) => break outgoing,
                Action::UseToken(_) | Action::Wait(_) | Action::Stop(_) => return self.end_job(),
            }
        };
        let id = login.id();
        self.notice(Notice::LoggingIn { request: id });
        let has_store = self.custody.has_store();
        let leased = self.job.as_ref().is_some_and(|job| job.leased);
        if has_store && !leased {
            // The lease was lost: the login goes out under a lease of its own, from the next
            // caller.
            let _ = self.session.abandon(id);
            return self.end_job();
        }
        let running = self.job.as_mut()?;
        if has_store {
            running.task = Task::Request(id, Some(Box::new(login)));
            running.stage = Stage::Loading;
            return Some(Work::Load);
        }
        running.task = Task::Request(id, None);
        running.stage = Stage::Sending;
        self.notice(Notice::Sent {
            request: id,
            kind: login.kind(),
            under_lease: false,
        });
        Some(Work::Send(Box::new(login)))
    }

    /// The executor of job `job` stopped before its end (cancelled, unwound, or its task was
    /// dropped). `failed`: count a request out as a transport failure, which starts a retry
    /// pause (a driver whose HTTP client panics must not retry in a loop); otherwise it is
    /// forgotten, and the next caller sends it anew. An answer being saved is published as
    /// unsaved, and its save retried.
    pub fn abandon(&mut self, job: JobId, failed: bool, now: UnixTime) {
        let Some(running) = self.job.as_ref().filter(|running| running.id == job) else {
            return;
        };
        let request = running.request();
        let saving = running.is_saving();
        let sending = matches!(running.stage, Stage::Sending);
        let erasing = matches!(running.task, Task::Erase);
        if saving {
            let abandoned = StoreError::new(
                crate::StoreErrorKind::Unavailable,
                "the save was abandoned with its task",
            );
            if let Some(Work::Load | Work::Send(_)) = self.saved(job, Err(abandoned), now) {
                // The login that was to follow is forgotten: the next caller sends it.
                self.abandon(job, false, now);
            }
            return;
        }
        match request {
            Some(id) if sending && failed => {
                let failure = TransportError::new(
                    crate::TransportErrorKind::Other,
                    "the HTTP client gave no answer (it panicked, or its request was dropped)",
                );
                let _ = self.answered::<Vec<u8>>(job, id, Err(failure), now);
                // A login that was to follow is forgotten too.
                self.abandon(job, false, now);
            }
            Some(id) => {
                let _ = self.session.abandon(id);
                let _ = self.end_job();
            }
            None => {
                if erasing {
                    let abandoned = StoreError::new(
                        crate::StoreErrorKind::Unavailable,
                        "the erasure was abandoned with its task",
                    );
                    self.erasure = Erasure::Ended(Err(abandoned));
                }
                let _ = self.end_job();
            }
        }
    }

    /// A revocation request handed out by [`revoke`](Self::revoke) was answered (or failed).
    ///
    /// # Errors
    /// How the revocation failed; the tokens are gone locally regardless.
    pub fn revocation_answered<B: AsRef<[u8]>>(
        &mut self,
        id: RequestId,
        outcome: Result<&Response<B>, TransportError>,
        now: UnixTime,
    ) -> Result<(), Error> {
        let result = match outcome {
            Ok(response) => self.session.handle_response(id, now, response),
            Err(error) => Err(self.session.handle_transport_error(id, now, error)),
        };
        self.sync();
        result
    }

    /// A revocation request was never sent (its caller was cancelled).
    pub fn revocation_dropped(&mut self, id: RequestId) {
        let _ = self.session.abandon(id);
    }

    /// A store call of the running job failed: a token request is not sent, and requests
    /// pause, so a store that is down is not hammered (the tokens held stay in use); a first
    /// load's failure is every caller's until the pause ends; a retried save is tried again
    /// later; an erasure reports it.
    fn store_failed(&mut self, during: &'static str, error: StoreError, now: UnixTime) {
        let Some(running) = &self.job else {
            return;
        };
        let job = running.id;
        let request = running.request();
        self.notice(Notice::StoreFailed {
            during,
            kind: error.kind(),
            request,
        });
        let delay = self.session.config().min_retry_delay();
        match (request, self.job.as_ref().map(|job| &job.task)) {
            (Some(id), _) => {
                self.custody.store_error = Some(error.clone());
                let error = self.session.handle_store_error(id, now, error);
                self.outcomes.record(job, Err(error));
            }
            (None, Some(Task::Load)) => {
                let error = Error::from(error);
                self.custody.load_failed(now, delay, error.clone());
                self.outcomes.record(job, Err(error));
            }
            (None, Some(Task::Persist)) => self.custody.lease_failed(error, now, delay),
            (None, _) => {
                self.custody.store_error = Some(error.clone());
                self.erasure = Erasure::Ended(Err(error));
            }
        }
    }

    /// The running job is over: the lease is released next if it held one.
    fn end_job(&mut self) -> Option<Work> {
        let leased = self.job.take().is_some_and(|job| job.leased);
        self.sync();
        leased.then_some(Work::Release)
    }

    fn notice_answer(&mut self, id: RequestId, result: &Result<(), Error>, now: UnixTime) {
        let paused_until = match result {
            Err(error) if error.is_retryable() => self
                .session
                .token_request_blocker(now)
                .and_then(|_| self.session.poll_timeout(now)),
            _ => None,
        };
        self.notice(Notice::Answered {
            request: id,
            outcome: result.as_ref().map(|_| ()).map_err(|error| error.kind()),
            status: result
                .as_ref()
                .err()
                .and_then(Error::status)
                .map(|status| status.as_u16()),
            paused_until,
        });
    }
}

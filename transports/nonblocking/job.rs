//! The async client's executor: a job is a task of the client's, not of the caller that
//! started it. Every task waiting for the job drives it, and it is offered to
//! [`AsyncHttpClient::spawn`]; its store calls run on threads of their own.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError, Weak};

use futures_util::FutureExt;
use futures_util::future::Shared;
use tokio::sync::Notify;

use super::{AsyncHttpClient, BackgroundTask};
use crate::client::{AnyLease, Driver, Wake};
use crate::coordinator::{JobId, Work};
use crate::{OutgoingRequest, StoreError, StoreErrorKind};

type AsyncDriver<H> = Driver<H, Waiters>;

/// A job that every waiting task can drive.
pub(super) type SharedJob = Shared<BackgroundTask>;

/// How async callers wait for a job: by driving it, so that it finishes even when the task
/// that started it is cancelled, or by sleeping until it is over.
#[derive(Default)]
pub(crate) struct Waiters {
    notify: Notify,
    job: Mutex<Option<(JobId, SharedJob)>>,
}

impl Wake for Waiters {
    fn wake_all(&self) {
        self.notify.notify_waiters();
    }
}

impl Waiters {
    /// A wake-up of every waiter, to register before reading the machine.
    pub(super) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.notify.notified()
    }

    /// Job `job`'s task, while it runs.
    pub(super) fn task(&self, job: JobId) -> Option<SharedJob> {
        let slot = self.job.lock().unwrap_or_else(PoisonError::into_inner);
        slot.as_ref()
            .filter(|(running, _)| *running == job)
            .map(|(_, task)| task.clone())
    }

    /// Forgets job `job`'s task. It is dropped after the slot's lock is released: if this was
    /// its last copy, dropping it abandons the job, which takes locks itself.
    pub(super) fn forget(&self, job: JobId) {
        let taken = {
            let mut slot = self.job.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.as_ref().is_some_and(|(running, _)| *running == job) {
                slot.take()
            } else {
                None
            }
        };
        drop(taken);
    }

    /// Puts `task` in the slot and returns what was there, for the caller to drop outside
    /// every lock.
    fn replace(&self, job: JobId, task: SharedJob) -> Option<SharedJob> {
        let mut slot = self.job.lock().unwrap_or_else(PoisonError::into_inner);
        slot.replace((job, task)).map(|(_, old)| old)
    }
}

/// Makes job `job`, whose first work is `work`, a task of the client's, registered for the
/// tasks that will wait for it. Returns it, and the stale task it replaced (drop that outside
/// every lock).
pub(super) fn start<H: AsyncHttpClient>(
    driver: &Arc<AsyncDriver<H>>,
    job: JobId,
    work: Work,
) -> (SharedJob, Option<SharedJob>) {
    let guard = AbandonUnlessDone {
        driver: Arc::downgrade(driver),
        job,
        done: false,
    };
    let task = async move {
        let Some(driver) = guard.driver.upgrade() else {
            return;
        };
        run_job(&driver, job, work).await;
        guard.disarm();
        driver.finished.forget(job);
    };
    // A panicking HTTP client must not poison the job for every waiter: the guard fails it.
    let task: BackgroundTask = Box::pin(AssertUnwindSafe(task).catch_unwind().map(|_| ()));
    let shared = task.shared();
    let stale = driver.finished.replace(job, shared.clone());
    (shared, stale)
}

/// Fails the job's request with a transport error if its task ends before the job (a
/// panicking HTTP client, a task dropped unfinished), so waiters are released and a retry
/// pause starts: a client that panics on every request must not be retried in a busy loop.
struct AbandonUnlessDone<H: AsyncHttpClient> {
    driver: Weak<AsyncDriver<H>>,
    job: JobId,
    done: bool,
}

impl<H: AsyncHttpClient> AbandonUnlessDone<H> {
    /// The job is over.
    fn disarm(mut self) {
        self.done = true;
    }
}

impl<H: AsyncHttpClient> Drop for AbandonUnlessDone<H> {
    fn drop(&mut self) {
        if let (false, Some(driver)) = (self.done, self.driver.upgrade()) {
            let job = self.job;
            driver.report(|machine, now| machine.abandon(job, true, now));
            driver.finished.forget(job);
        }
    }
}

/// Does job `job`'s work, starting with `work`, until the job is over.
async fn run_job<H: AsyncHttpClient>(driver: &AsyncDriver<H>, job: JobId, mut work: Work) {
    let mut lease: Option<AnyLease> = None;
    loop {
        let next = match work {
            Work::Lease => {
                let hold_for = driver.lease_hold_time();
                let leased = on_store_thread(driver, move |store| store.lock(hold_for))
                    .await
                    .map(|taken| lease = Some(taken));
                driver.report(|machine, now| machine.leased(job, leased, now))
            }
            Work::Load => {
                let stored = on_store_thread(driver, |store| store.load()).await;
                driver.report(|machine, now| machine.loaded(job, stored, now))
            }
            Work::Send(outgoing) => send(driver, job, *outgoing).await,
            Work::Save {
                expected_version,
                tokens,
            } => {
                let saved = match lease.take() {
                    Some(mut held) => {
                        let saved = on_store_thread(driver, move |store| {
                            let saved = store.save(&mut held, expected_version, tokens.as_ref());
                            Ok((held, saved))
                        })
                        .await;
                        match saved {
                            Ok((held, saved)) => {
                                lease = Some(held);
                                saved
                            }
                            // The lease went with a store thread that died.
                            Err(error) => {
                                driver.report(|machine, _| machine.lease_lost(job));
                                Err(error)
                            }
                        }
                    }
                    None => Err(StoreError::new(
                        StoreErrorKind::Unavailable,
                        "the lease was not held",
                    )),
                };
                driver.report(|machine, now| machine.saved(job, saved, now))
            }
            Work::Release => {
                if let Some(held) = lease.take() {
                    // Released on a store thread: a release can be a network round trip.
                    let _ = on_store_thread(driver, move |_| {
                        drop(held);
                        Ok(())
                    })
                    .await;
                }
                None
            }
        };
        match next {
            Some(next) => work = next,
            None => return,
        }
    }
}

/// Sends token request `outgoing` and reports its answer, then wipes the answer's body: the
/// session has its own copies of the tokens in it.
async fn send<H: AsyncHttpClient>(
    driver: &AsyncDriver<H>,
    job: JobId,
    outgoing: OutgoingRequest,
) -> Option<Work> {
    #[cfg(feature = "tracing")]
    let span = tracing::info_span!(
        target: "keliweb_oauth",
        "token_request",
        request = %outgoing.id(),
        kind = ?outgoing.kind()
    );
    let (id, request) = outgoing.into_parts();
    let answer = driver.http.execute(request, driver.limits.token_request());
    #[cfg(feature = "tracing")]
    let answer = tracing::Instrument::instrument(answer, span);
    driver.report_answer(job, id, answer.await)
}

/// Runs `call` with the store on a short-lived thread of its own, so a store that blocks (a
/// file lock, a network round trip) blocks no executor thread and the client stays
/// runtime-agnostic. A job makes at most five store calls.
async fn on_store_thread<H, T: Send + 'static>(
    driver: &AsyncDriver<H>,
    call: impl FnOnce(&dyn crate::client::Custodian) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let Some(store) = driver.custody.clone() else {
        // Unreachable: the coordinator asks for store work only of a client with a store.
        return Err(StoreError::new(
            StoreErrorKind::Unavailable,
            "the client has no store",
        ));
    };
    let (answer, answered) = tokio::sync::oneshot::channel();
    #[allow(
        clippy::disallowed_methods,
        reason = "store calls block; the async client runs each on a thread of its own"
    )]
    std::thread::Builder::new()
        .name("keliweb-oauth-store".to_owned())
        .spawn(move || {
            let _ = answer.send(call(&*store));
        })
        .map_err(|error| {
            StoreError::new(
                StoreErrorKind::Unavailable,
                format!("no thread could start for a store call: {error}"),
            )
        })?;
    answered.await.unwrap_or_else(|_| {
        Err(StoreError::new(
            StoreErrorKind::Unavailable,
            "a store call ended without an answer",
        ))
    })
}

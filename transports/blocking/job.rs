//! The blocking client's executor: does a job's work on the calling thread (or on a thread of
//! its own for a refresh ahead) and reports each result to the coordinator.

use std::sync::{Arc, Condvar};

use super::HttpClient;
use crate::client::{AnyLease, Driver};
use crate::coordinator::{JobId, Work};
use crate::{OutgoingRequest, StoreError, StoreErrorKind};

type BlockingDriver<H> = Driver<H, Condvar>;

/// Does job `job`'s work, starting with `work`, until the job is over.
pub(super) fn run_job<H: HttpClient>(driver: &BlockingDriver<H>, job: JobId, mut work: Work) {
    // An unwinding thread (a panicking HTTP client) abandons the job, so waiters go on.
    let mut executor = Executor {
        driver,
        job,
        lease: None,
        done: false,
    };
    loop {
        let next = match work {
            Work::Lease => executor.lease(),
            Work::Load => {
                let stored = executor.store().and_then(|store| store.load());
                driver.report(|machine, now| machine.loaded(job, stored, now))
            }
            Work::Send(outgoing) => executor.send(*outgoing),
            Work::Save {
                expected_version,
                tokens,
            } => {
                let store = driver.custody.as_deref().ok_or_else(no_store);
                let saved = match (store, executor.lease.as_mut()) {
                    (Ok(store), Some(lease)) => {
                        store.save(lease, expected_version, tokens.as_ref())
                    }
                    (Err(error), _) => Err(error),
                    (Ok(_), None) => Err(no_lease()),
                };
                driver.report(|machine, now| machine.saved(job, saved, now))
            }
            Work::Release => {
                drop(executor.lease.take());
                None
            }
        };
        match next {
            Some(next) => work = next,
            None => break,
        }
    }
    executor.done = true;
}

/// One job's executor; abandons the job if dropped before its end.
struct Executor<'a, H: HttpClient> {
    driver: &'a BlockingDriver<H>,
    job: JobId,
    lease: Option<AnyLease>,
    done: bool,
}

impl<H: HttpClient> Executor<'_, H> {
    fn store(&self) -> Result<&dyn crate::client::Custodian, StoreError> {
        self.driver.custody.as_deref().ok_or_else(no_store)
    }

    fn lease(&mut self) -> Option<Work> {
        let hold_for = self.driver.lease_hold_time();
        let leased = self
            .store()
            .and_then(|store| store.lock(hold_for))
            .map(|lease| self.lease = Some(lease));
        let job = self.job;
        self.driver
            .report(|machine, now| machine.leased(job, leased, now))
    }

    fn send(&mut self, outgoing: OutgoingRequest) -> Option<Work> {
        #[cfg(feature = "tracing")]
        let _span = tracing::info_span!(
            target: "keliweb_oauth",
            "token_request",
            request = %outgoing.id(),
            kind = ?outgoing.kind()
        )
        .entered();
        let (id, request) = outgoing.into_parts();
        let answer = self
            .driver
            .http
            .execute(request, self.driver.limits.token_request());
        let job = self.job;
        self.driver.report_answer(job, id, answer)
    }
}

impl<H: HttpClient> Drop for Executor<'_, H> {
    fn drop(&mut self) {
        if !self.done {
            let job = self.job;
            self.driver
                .report(|machine, now| machine.abandon(job, false, now));
        }
    }
}

/// Sends the refresh that fell due on a thread of its own (or retries a failed save, or loads
/// the store first), so the caller that noticed goes on with the still-valid token. The thread
/// keeps the client alive until the job is over; if no thread can start, the job is abandoned
/// before any request went out, and the refresh comes when a caller needs the token.
pub(super) fn start_refresh_ahead<H: HttpClient>(driver: &Arc<BlockingDriver<H>>) {
    let Some((job, work)) = driver.report(|machine, now| machine.refresh_ahead(now)) else {
        return;
    };
    let worker = Arc::clone(driver);
    #[allow(
        clippy::disallowed_methods,
        reason = "the blocking client's one background refresh per token; the core starts no thread"
    )]
    let spawned = std::thread::Builder::new()
        .name("keliweb-oauth-refresh".to_owned())
        .spawn(move || {
            let loads_first = matches!(work, Work::Load);
            run_job(&worker, job, work);
            // A client started from `.tokens(set)` loaded the store first: now the refresh.
            if loads_first
                && let Some((job, work)) = worker.report(|machine, now| machine.refresh_ahead(now))
            {
                run_job(&worker, job, work);
            }
        });
    if spawned.is_err() {
        driver.report(|machine, now| machine.abandon(job, false, now));
    }
}

fn no_store() -> StoreError {
    // Unreachable: the coordinator asks for store work only of a client with a store.
    StoreError::new(StoreErrorKind::Unavailable, "the client has no store")
}

fn no_lease() -> StoreError {
    // Unreachable: the coordinator saves only under the lease it took.
    StoreError::new(StoreErrorKind::Unavailable, "the lease was not held")
}

//! One token request from start to end, written once for both drivers: under the store's lease
//! when the client has a store, so processes sharing the store take turns (adopt a newer set
//! instead of asking, save the answer before anyone uses it).

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use http::{Request, Response};

use super::driver::{BeforeSend, Driver, Finished, OnDrop, Pending, SaveJob, Wake};
use super::store::{AnyLease, Custodian};
use super::{RequestLimits, Stored};
use crate::{Error, OutgoingRequest, RequestId, StoreError, TransportError};

/// How a driver does IO: its HTTP client, and where store calls run (in place for the blocking
/// driver, on a thread of their own for the async one).
pub(crate) trait Io {
    fn execute(
        &self,
        request: Request<Vec<u8>>,
        limits: RequestLimits,
    ) -> impl Future<Output = Result<Response<Vec<u8>>, TransportError>> + Send;

    /// Runs `work`, a store call. Boxed: generic closures in the protocol's future trip the
    /// compiler's proof that the future is `Send`.
    fn store<T: Send + 'static>(&self, work: StoreCall<T>) -> StoreFuture<T>;
}

/// A store call to run.
pub(crate) type StoreCall<T> = Box<dyn FnOnce() -> T + Send>;

/// A store call's answer, once run.
pub(crate) type StoreFuture<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

/// Runs a future that never waits (the blocking driver's, whose IO completes in place) to its
/// end on this thread.
#[cfg(feature = "blocking")]
pub(crate) fn run_in_place<T>(future: impl Future<Output = T>) -> Option<T> {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(value) => Some(value),
        Poll::Pending => None,
    }
}

/// Sends token request `outgoing` and hands its answer to the session, under the store's lease
/// when there is a store: then the store is reloaded first and a newer set adopted instead of
/// sending, the answer saved before any caller can use it, and after a refused refresh the
/// password login sent under the same lease (a process taking the lease between the two would
/// refresh with the same dead token). Returns the last request's id and how it went.
pub(crate) async fn run<D, H, W, I>(
    driver: D,
    io: &I,
    outgoing: OutgoingRequest,
    on_drop: OnDrop,
) -> (RequestId, Result<(), Error>)
where
    D: Deref<Target = Driver<H, W>> + Clone,
    W: Wake,
    I: Io,
{
    #[cfg(feature = "tracing")]
    let span = tracing::info_span!(
        target: "keliweb_oauth",
        "token_request",
        request = %outgoing.id(),
        kind = ?outgoing.kind()
    );
    let run = run_token_request(driver, io, outgoing, on_drop);
    #[cfg(feature = "tracing")]
    let run = tracing::Instrument::instrument(run, span);
    run.await
}

async fn run_token_request<D, H, W, I>(
    driver: D,
    io: &I,
    outgoing: OutgoingRequest,
    on_drop: OnDrop,
) -> (RequestId, Result<(), Error>)
where
    D: Deref<Target = Driver<H, W>> + Clone,
    W: Wake,
    I: Io,
{
    #[cfg(feature = "tracing")]
    let kind = outgoing.kind();
    let (id, request) = outgoing.into_parts();
    let pending = Pending::new(driver.clone(), id, on_drop);
    let Some(custody) = driver.custody() else {
        trace_event!(info, request = %id, kind = ?kind, "token request sent");
        let outcome = io.execute(request, driver.limits.token_request()).await;
        return (id, pending.finish(outcome));
    };
    let hold_for = driver.lease_hold_time();
    let lease = {
        let custody = Arc::clone(&custody);
        io.store(Box::new(move || custody.lock(hold_for))).await
    };
    let lease = match lease.and_then(|lease| lease) {
        Ok(lease) => lease,
        Err(error) => return (id, Err(pending.store_failed(error))),
    };
    let (last, outcome, lease) =
        under_lease(&driver, io, &custody, lease, (pending, on_drop), request).await;
    if let Some(lease) = lease {
        // Released on a store thread: a release can be a network round trip.
        let _ = io.store(Box::new(move || drop(lease))).await;
    }
    (last, outcome)
}

/// The part of [`run`] under the lease; hands the lease back (unless a store thread lost it).
async fn under_lease<D, H, W, I>(
    driver: &D,
    io: &I,
    custody: &Arc<dyn Custodian>,
    mut lease: AnyLease,
    (mut pending, on_drop): (Pending<D, H, W>, OnDrop),
    mut request: Request<Vec<u8>>,
) -> (RequestId, Result<(), Error>, Option<AnyLease>)
where
    D: Deref<Target = Driver<H, W>> + Clone,
    W: Wake,
    I: Io,
{
    loop {
        let id = pending.id();
        let stored = {
            let custody = Arc::clone(custody);
            io.store(Box::new(move || custody.load())).await
        };
        let stored = match stored.and_then(|stored| stored) {
            Ok(stored) => stored,
            Err(error) => return (id, Err(pending.store_failed(error)), Some(lease)),
        };
        match driver.before_send(id, stored) {
            BeforeSend::Send => {}
            // Adopted a newer set, or the session dropped the request (a revocation, a
            // persist that adopted) while it waited for the lease: nothing goes out.
            BeforeSend::Adopted | BeforeSend::GivenUp => {
                pending.disarm();
                return (id, Ok(()), Some(lease));
            }
        }
        trace_event!(info, request = %id, "token request sent, under the store's lease");
        let outcome = io.execute(request, driver.limits.token_request()).await;
        let (finished, job) = pending.finish_unsaved(outcome);
        let Some(job) = job else {
            return (id, finished.result, Some(lease));
        };
        // From here until `saved`, a dropped task still publishes the set and wakes waiters.
        let save = SaveGuard {
            driver,
            job: Some(job),
            finished: Some(finished),
        };
        let (tokens, expected) = save.contents();
        let saved = {
            let custody = Arc::clone(custody);
            io.store(Box::new(move || {
                let saved = custody.save(&mut lease, expected, tokens.as_ref());
                (lease, saved)
            }))
            .await
        };
        let (kept_lease, saved) = match saved {
            Ok((lease, saved)) => (Some(lease), saved),
            Err(error) => (None, Err(error)),
        };
        let (next, result) = save.done(saved);
        match (next, kept_lease) {
            (Some(next), Some(kept)) => {
                lease = kept;
                let (next_id, next_request) = next.into_parts();
                pending = Pending::new(driver.clone(), next_id, on_drop);
                request = next_request;
            }
            // The lease was lost with a store thread that died: the login goes out under a
            // lease of its own, from the next caller.
            (Some(next), None) => {
                driver.abandon(next.id());
                return (id, result, None);
            }
            (None, kept) => return (id, result, kept),
        }
    }
}

/// A save in progress. Dropped before [`done`](Self::done) (its task was dropped), it reports
/// the save as not done, so the set is published, the waiters woken, and the save retried.
struct SaveGuard<'a, D: Deref<Target = Driver<H, W>>, H, W: Wake> {
    driver: &'a D,
    job: Option<SaveJob>,
    finished: Option<Finished>,
}

impl<D: Deref<Target = Driver<H, W>>, H, W: Wake> SaveGuard<'_, D, H, W> {
    fn contents(&self) -> (Option<crate::TokenSet>, u64) {
        self.job
            .as_ref()
            .map_or((None, 0), |job| (job.tokens.clone(), job.expected_version))
    }

    /// The save's outcome: the login to send next under the lease, if any, and how the
    /// request went.
    fn done(
        mut self,
        saved: Result<u64, StoreError>,
    ) -> (Option<OutgoingRequest>, Result<(), Error>) {
        match (self.job.take(), self.finished.take()) {
            (Some(job), Some(finished)) => {
                let next = self.driver.saved(job, saved, &finished);
                (next, finished.result)
            }
            _ => (None, Ok(())),
        }
    }
}

impl<D: Deref<Target = Driver<H, W>>, H, W: Wake> Drop for SaveGuard<'_, D, H, W> {
    fn drop(&mut self) {
        if let (Some(job), Some(finished)) = (self.job.take(), self.finished.take()) {
            let abandoned = StoreError::new(
                crate::StoreErrorKind::Unavailable,
                "the save was abandoned with its task",
            );
            if let Some(next) = self.driver.saved(job, Err(abandoned), &finished) {
                self.driver.abandon(next.id());
            }
        }
    }
}

/// Loads the store for a client that never did, under no lease: a read.
pub(crate) async fn load<H, W: Wake, I: Io>(
    driver: &Driver<H, W>,
    io: &I,
    custody: Arc<dyn Custodian>,
) -> Result<(), Error> {
    let stored: Result<Stored, StoreError> = io
        .store(Box::new(move || custody.load()))
        .await
        .and_then(|stored| stored);
    driver.loaded(stored)
}

/// Saves again the held set, whose save failed, under the lease ([`Step::Persist`]); adopts
/// a newer set another process stored meanwhile instead.
///
/// [`Step::Persist`]: super::Step::Persist
pub(crate) async fn persist<H, W: Wake, I: Io>(driver: &Driver<H, W>, io: &I) {
    let Some(custody) = driver.custody() else {
        return;
    };
    let hold_for = driver.lease_hold_time();
    let leased = {
        let custody = Arc::clone(&custody);
        io.store(Box::new(move || {
            let lease = custody.lock(hold_for)?;
            Ok::<_, StoreError>((lease, custody.load()?))
        }))
        .await
        .and_then(|leased| leased)
    };
    let (mut lease, stored) = match leased {
        Ok(leased) => leased,
        Err(error) => return driver.lease_failed(error),
    };
    let Some(job) = driver.persist_job(stored) else {
        return;
    };
    let (tokens, expected) = (job.tokens.clone(), job.expected_version);
    let saved = io
        .store(Box::new(move || {
            custody.save(&mut lease, expected, tokens.as_ref())
        }))
        .await
        .and_then(|saved| saved);
    driver.saved_again(&job, saved);
}

/// Erases the stored set after a logout, under the lease: the erasure wins over any version.
pub(crate) async fn erase<H, W: Wake, I: Io>(
    driver: &Driver<H, W>,
    io: &I,
) -> Result<(), StoreError> {
    let Some(custody) = driver.custody() else {
        return Ok(());
    };
    let hold_for = driver.lease_hold_time();
    let erased = io
        .store(Box::new(move || {
            let mut lease: AnyLease = custody.lock(hold_for)?;
            let stored = custody.load()?;
            custody.save(&mut lease, stored.version, None)
        }))
        .await
        .and_then(|erased| erased);
    driver.erased(&erased);
    erased.map(drop)
}

//! What both clients hold: the [`Coordinator`] behind one lock, the token it published for
//! lock-free readers, and the clock, store, limits and HTTP client its work runs on. The
//! decisions are the coordinator's; this only mirrors them where a lock-free reader sees them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;

use super::published::{Published, TimeSource};
use super::store::Custodian;
use super::{Limits, TokenGuard};
use crate::coordinator::{Coordinator, Foreground, JobId, Notice, Work};
use crate::origin::OriginPolicy;
use crate::{
    Authorization, Error, ErrorKind, NotAuthorized, RequestId, Session, TokenId, TransportError,
    UnixTime,
};

/// The longest a foreground client waits for a token's refresh point rather than hand the
/// token out: a cron job should not sleep for the whole leeway.
const MAX_HAND_OUT_MARGIN: Duration = Duration::from_secs(10);

/// Wakes every caller waiting for a job to end.
pub(crate) trait Wake: Default {
    fn wake_all(&self);
}

impl Wake for std::sync::Condvar {
    fn wake_all(&self) {
        self.notify_all();
    }
}

/// One credential's shared state. `W` is how waiters wait: a `Condvar` (blocking) or the async
/// client's `Waiters`, which drive the job running.
pub(crate) struct Driver<H, W> {
    /// Shared so that a job can outlive the caller that started it (the async client).
    pub(crate) http: Arc<H>,
    pub(crate) limits: Limits,
    pub(crate) finished: W,
    pub(crate) custody: Option<Arc<dyn Custodian>>,
    time: TimeSource,
    origins: Arc<OriginPolicy>,
    published: ArcSwap<Published>,
    /// Unix millis before which no caller on the lock-free path steps for a refresh ahead (the
    /// coordinator's `refresh_ahead_at`); `u64::MAX` while one caller is starting it, after
    /// `shutdown`, or while the HTTP client cannot run it in the background.
    ahead_not_before: AtomicU64,
    /// A set whose save failed is held: the lock-free path steps for its retry.
    save_due: AtomicBool,
    /// The refresh ahead runs in the caller that finds it due
    /// ([`ClientBuilder::foreground_refresh_ahead`](super::ClientBuilder::foreground_refresh_ahead)).
    pub(crate) foreground_refresh_ahead: bool,
    /// How long before its refresh point a foreground client stops handing a token out.
    hand_out_margin: Duration,
    machine: Mutex<Coordinator>,
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
            TimeSource::Custom(_) => Duration::ZERO,
        };
        let origins = Arc::clone(&session.config().origins);
        let machine = Coordinator::new(session, custody.is_some(), time.now());
        let driver = Self {
            http: Arc::new(http),
            limits,
            finished: W::default(),
            custody,
            published: ArcSwap::from_pointee(Published::new(Authorization::never_usable(), &time)),
            time,
            origins,
            ahead_not_before: AtomicU64::new(0),
            save_due: AtomicBool::new(false),
            foreground_refresh_ahead: false,
            hand_out_margin,
            machine: Mutex::new(machine),
        };
        {
            let mut machine = driver.lock();
            let now = driver.now();
            driver.mirror(&mut machine, now);
        }
        driver
    }

    pub(crate) fn now(&self) -> UnixTime {
        self.time.now()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Coordinator> {
        self.machine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `input` on the machine at the current time, mirrors what it changed, and wakes the
    /// waiters (after the lock is released).
    pub(crate) fn report<T>(&self, input: impl FnOnce(&mut Coordinator, UnixTime) -> T) -> T {
        let output = {
            let mut machine = self.lock();
            let now = self.now();
            let output = input(&mut machine, now);
            self.mirror(&mut machine, now);
            output
        };
        self.finished.wake_all();
        output
    }

    /// Reports token request `id`'s answer to job `job`, then wipes the answer's body: the
    /// session has its own copies of the tokens in it.
    pub(crate) fn report_answer(
        &self,
        job: JobId,
        id: RequestId,
        answer: Result<http::Response<Vec<u8>>, TransportError>,
    ) -> Option<Work> {
        match answer {
            Ok(mut response) => {
                let next =
                    self.report(|machine, now| machine.answered(job, id, Ok(&response), now));
                zeroize::Zeroize::zeroize(response.body_mut());
                next
            }
            Err(error) => {
                self.report(|machine, now| machine.answered::<Vec<u8>>(job, id, Err(error), now))
            }
        }
    }

    /// Makes what the machine decided visible to the lock-free path: the published token, when
    /// to step next for a refresh ahead, whether a save is due; and logs its notices.
    pub(crate) fn mirror(&self, machine: &mut Coordinator, now: UnixTime) {
        if let Some(publication) = machine.take_publication() {
            let authorization = publication.unwrap_or_else(Authorization::never_usable);
            self.published
                .store(Arc::new(Published::new(authorization, &self.time)));
        }
        let next = machine
            .refresh_ahead_at(now)
            .map_or(u64::MAX, UnixTime::as_millis);
        self.ahead_not_before.store(next, Ordering::Release);
        self.save_due.store(machine.save_due(), Ordering::Relaxed);
        for notice in machine.take_notices() {
            log(&notice);
        }
    }

    /// The published token, for a caller the machine told it is ready.
    pub(crate) fn published(&self) -> TokenGuard {
        TokenGuard(self.published.load())
    }

    /// The hot path: a usable token without a lock or a reference count, or `None`; and
    /// whether this caller is the one to start the refresh ahead (or a retried save).
    #[inline]
    pub(crate) fn usable(&self) -> Option<(TokenGuard, bool)> {
        let guard = self.published.load();
        let check = guard.check(&self.time)?;
        let refresh_ahead = (check.refresh_due || self.save_due.load(Ordering::Relaxed))
            && self.claims_refresh_ahead(&guard.authorization, self.now());
        Some((TokenGuard(guard), refresh_ahead))
    }

    /// For a foreground client: the usable token, and what to do with it
    /// ([`Coordinator::foreground`]). With a custom clock, which a real-time wait would not
    /// move, there is no hand-out margin.
    pub(crate) fn usable_foreground(&self) -> Option<(TokenGuard, Foreground)> {
        let guard = self.published.load();
        guard.check(&self.time)?;
        let next = Coordinator::foreground(
            &guard.authorization,
            self.hand_out_margin,
            self.save_due.load(Ordering::Relaxed),
            self.now(),
        );
        Some((TokenGuard(guard), next))
    }

    /// Whether `token`, usable at `now`, is past its refresh-ahead point (or a failed save is
    /// due) and this caller is the one to step the machine for it: at most one at a time,
    /// none before the machine wants one.
    #[inline]
    fn claims_refresh_ahead(&self, token: &Authorization, now: UnixTime) -> bool {
        if now < token.refresh_at() && !self.save_due.load(Ordering::Relaxed) {
            return false;
        }
        let not_before = self.ahead_not_before.load(Ordering::Acquire);
        now.as_millis() >= not_before
            && self
                .ahead_not_before
                .compare_exchange(not_before, u64::MAX, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    /// No refresh ahead until the machine next changes: the HTTP client cannot run one in the
    /// background.
    #[cfg(feature = "nonblocking")]
    pub(crate) fn forgo_refresh_ahead(&self) {
        self.ahead_not_before.store(u64::MAX, Ordering::Release);
    }

    /// Refuses, before any IO, a request the token may not be sent to.
    pub(crate) fn check_origin<B>(&self, request: &http::Request<B>) -> Result<(), Error> {
        if self.origins.permits(request.uri()) {
            Ok(())
        } else {
            Err(untrusted(request.uri()))
        }
    }

    /// Puts `token`, found usable by the lock-free path, on `request` if the request's origin
    /// may have it.
    #[inline]
    pub(crate) fn insert<B>(
        &self,
        token: &Authorization,
        request: &mut http::Request<B>,
    ) -> Result<TokenId, Error> {
        if self.origins.permits(request.uri()) {
            Ok(token.insert_into(request))
        } else {
            Err(untrusted(request.uri()))
        }
    }

    /// How long a job's lease may be held: two token requests (a refused refresh and the
    /// login) and the store calls around them.
    pub(crate) fn lease_hold_time(&self) -> Duration {
        self.limits
            .request_timeout
            .saturating_mul(2)
            .saturating_add(Duration::from_secs(5))
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

/// A `tracing` event for what the machine did (feature `tracing`); nothing without it.
#[cfg_attr(not(feature = "tracing"), allow(unused_variables))]
fn log(notice: &Notice) {
    match notice {
        Notice::Sent {
            request,
            kind,
            under_lease: true,
        } => {
            trace_event!(info, request = %request, kind = ?kind, "token request sent, under the store's lease");
        }
        Notice::Sent { request, kind, .. } => {
            trace_event!(info, request = %request, kind = ?kind, "token request sent");
        }
        Notice::Answered {
            request,
            outcome: Ok(()),
            ..
        } => trace_event!(info, request = %request, "token answer: new tokens"),
        Notice::Answered {
            request,
            outcome: Err(kind),
            status,
            paused_until,
        } => {
            trace_event!(warn, request = %request, error = ?kind, status = ?status, "token answer: {}", kind.summary());
            if let Some(until) = paused_until {
                trace_event!(warn, request = %request, error = ?kind, retry_at_millis = until.as_millis(), "token requests paused");
            }
        }
        Notice::LoggingIn { request } => {
            trace_event!(warn, request = %request, "the refresh token is dead: logging in with the password");
        }
        Notice::Adopted { request, version } => {
            trace_event!(info, request = %request, version = version, "another process stored newer tokens: adopted, nothing sent");
        }
        Notice::StoreFailed {
            during,
            kind,
            request: Some(request),
        } => {
            trace_event!(error, request = %request, store_error = ?kind, during = during, "token store failed, the request is not sent and requests pause");
        }
        Notice::StoreFailed { during, kind, .. } => {
            trace_event!(error, store_error = ?kind, during = during, "token store: {during} failed");
        }
    }
}

//! The token on the lock-free path, and the clock that path reads.
//!
//! With the system clock, the lock-free path reads a coarse monotonic clock (a few nanoseconds,
//! where a precise wall-clock read costs tens) against deadlines computed once, when the token
//! is published. The deadlines are moved earlier by more than the coarse clock can lag, so the
//! lock-free path never hands out a token the precise clock would call unusable: near its
//! end a token is served by the slow path, which reads the precise clock.

use std::time::Duration;

use super::{Clock, SystemClock};
use crate::{Authorization, UnixTime};

/// More than a coarse clock lags (one kernel tick: at most 10 ms at 100 Hz).
const COARSE_LAG_MARGIN: Duration = Duration::from_millis(50);

/// Where a driver reads the time.
pub(crate) enum TimeSource {
    /// The system clock: precise for decisions, coarse on the lock-free path.
    System,
    /// The caller's clock (a test's `ManualClock`), read on every path.
    Custom(Box<dyn Clock>),
}

impl TimeSource {
    /// The precise time.
    pub(crate) fn now(&self) -> UnixTime {
        match self {
            Self::System => SystemClock.now(),
            Self::Custom(clock) => clock.now(),
        }
    }
}

/// A published token, with its deadlines on the coarse clock.
pub(crate) struct Published {
    pub(crate) authorization: Authorization,
    usable_before: coarsetime::Instant,
    refresh_from: coarsetime::Instant,
}

impl Published {
    /// Publishes `authorization`, reading the clocks once for its deadlines.
    pub(crate) fn new(authorization: Authorization, time: &TimeSource) -> Self {
        let coarse_now = coarsetime::Instant::now_without_cache_update();
        let (usable_before, refresh_from) = match time {
            TimeSource::System => {
                let now = SystemClock.now();
                let deadline = |at: UnixTime| {
                    let left = at
                        .saturating_duration_since(now)
                        .saturating_sub(COARSE_LAG_MARGIN);
                    coarse_now + coarsetime::Duration::from(left)
                };
                (
                    deadline(authorization.usable_until()),
                    deadline(authorization.refresh_at()),
                )
            }
            // Unused: a custom clock is read on the lock-free path too.
            TimeSource::Custom(_) => (coarse_now, coarse_now),
        };
        Self {
            authorization,
            usable_before,
            refresh_from,
        }
    }

    /// Whether the token is usable now, and whether its refresh-ahead point has come, as far
    /// as the lock-free path can tell: `None` sends the caller to the slow path.
    #[inline]
    pub(crate) fn check(&self, time: &TimeSource) -> Option<Check> {
        match time {
            TimeSource::System => {
                let now = coarsetime::Instant::now_without_cache_update();
                (now < self.usable_before).then(|| Check {
                    refresh_due: now >= self.refresh_from,
                })
            }
            TimeSource::Custom(clock) => {
                let now = clock.now();
                self.authorization.is_usable_at(now).then(|| Check {
                    refresh_due: now >= self.authorization.refresh_at(),
                })
            }
        }
    }
}

/// What the lock-free path found.
pub(crate) struct Check {
    /// The token's refresh-ahead point has come.
    pub(crate) refresh_due: bool,
}

//! The emulator's clock: real time plus an offset that tests can move forward.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Real time plus an adjustable forward offset.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_nanos: AtomicU64,
}

impl Clock {
    /// Moves the clock forward by `by`.
    pub(crate) fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // fetch_update never fails with a closure that always returns Some.
        let _ = self
            .offset_nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |old| {
                Some(old.saturating_add(nanos))
            });
    }

    fn offset(&self) -> Duration {
        Duration::from_nanos(self.offset_nanos.load(Ordering::SeqCst))
    }

    /// The emulator's "now", as a monotonic instant.
    #[allow(
        clippy::disallowed_methods,
        reason = "the emulator is a server: this is its clock"
    )]
    pub(crate) fn now(&self) -> Instant {
        let real = Instant::now();
        real.checked_add(self.offset()).unwrap_or(real)
    }

    /// The emulator's "now", as whole seconds since the Unix epoch (for JWT claims and headers).
    #[allow(
        clippy::disallowed_methods,
        reason = "the emulator is a server: this is its clock"
    )]
    pub(crate) fn unix_secs(&self) -> u64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        (since_epoch + self.offset()).as_secs()
    }
}

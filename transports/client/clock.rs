//! Where the drivers read the time from.

#[cfg(feature = "test-util")]
use std::sync::Arc;
#[cfg(feature = "test-util")]
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(feature = "test-util")]
use std::time::Duration;

use crate::UnixTime;

/// Where "now" comes from. The drivers read it; the core is only told.
pub trait Clock: Send + Sync + 'static {
    /// The current wall-clock time.
    fn now(&self) -> UnixTime;
}

/// The system's wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    #[allow(clippy::disallowed_methods)] // the one place the drivers read the clock
    fn now(&self) -> UnixTime {
        UnixTime::from_system_time(std::time::SystemTime::now())
    }

    /// In a browser `std`'s clock panics; `web-time` reads `Date.now()`.
    #[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
    fn now(&self) -> UnixTime {
        let since_epoch = web_time::SystemTime::now()
            .duration_since(web_time::UNIX_EPOCH)
            .unwrap_or_default();
        UnixTime::from_millis(u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A clock that moves only when told, for tests (feature `test-util`): cheap to clone, all
/// clones share the time.
#[cfg(feature = "test-util")]
#[derive(Clone, Debug, Default)]
pub struct ManualClock(Arc<AtomicU64>);

#[cfg(feature = "test-util")]
impl ManualClock {
    /// A clock standing at `now`.
    #[must_use]
    pub fn new(now: UnixTime) -> Self {
        Self(Arc::new(AtomicU64::new(now.as_millis())))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let millis = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(millis))
            });
    }

    /// Sets the clock.
    pub fn set(&self, now: UnixTime) {
        self.0.store(now.as_millis(), Ordering::SeqCst);
    }
}

#[cfg(feature = "test-util")]
impl Clock for ManualClock {
    fn now(&self) -> UnixTime {
        UnixTime::from_millis(self.0.load(Ordering::SeqCst))
    }
}

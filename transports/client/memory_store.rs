//! A store in memory, shared by the clients of one process.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::Stored;
use super::store::{TokenStore, deadline, next_version};
use crate::{StoreError, StoreErrorKind, TokenSet};

/// A [`TokenStore`] in memory: clones share it, so several clients of one process (one per
/// thread pool, per library, per test) take turns as separate processes would on a
/// [`FileStore`](super::FileStore). Nothing survives the process.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    released: Condvar,
}

#[derive(Debug, Default)]
struct State {
    stored: Stored,
    /// The lease's holder number and when it expires, while held.
    lease: Option<(u64, Instant)>,
    next_holder: u64,
}

/// A lease on a [`MemoryStore`]; dropping it releases the lease.
#[derive(Debug)]
pub struct MemoryLease {
    shared: Arc<Shared>,
    holder: u64,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.shared.state()
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[allow(
    clippy::disallowed_methods,
    reason = "a lease's expiry is a deadline on the monotonic clock, outside the core"
)]
impl TokenStore for MemoryStore {
    type Lease = MemoryLease;

    fn load(&self) -> Result<Stored, StoreError> {
        Ok(self.state().stored.clone())
    }

    fn lock(&self, hold_for: Duration) -> Result<MemoryLease, StoreError> {
        // A waiter that came just after the holder took the lease waits out a whole lease.
        let give_up = deadline(hold_for.saturating_mul(2));
        let mut state = self.state();
        loop {
            let now = Instant::now();
            let free = state.lease.is_none_or(|(_, expires)| expires <= now);
            if free {
                state.next_holder += 1;
                let holder = state.next_holder;
                state.lease = Some((holder, deadline(hold_for)));
                return Ok(MemoryLease {
                    shared: Arc::clone(&self.shared),
                    holder,
                });
            }
            if now >= give_up {
                return Err(StoreError::new(
                    StoreErrorKind::LeaseTimeout,
                    format!(
                        "the in-memory store's lease stayed taken for {:?}",
                        hold_for.saturating_mul(2)
                    ),
                ));
            }
            let until = state
                .lease
                .map_or(give_up, |(_, expires)| expires.min(give_up));
            state = self
                .shared
                .released
                .wait_timeout(state, until.saturating_duration_since(now))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn save(
        &self,
        lease: &mut MemoryLease,
        expected: u64,
        tokens: Option<&TokenSet>,
    ) -> Result<u64, StoreError> {
        let mut state = self.state();
        let holds = state
            .lease
            .is_some_and(|(holder, expires)| holder == lease.holder && Instant::now() < expires);
        if !holds || state.stored.version != expected {
            return Err(StoreError::new(
                StoreErrorKind::Conflict,
                format!(
                    "the in-memory store is at version {}, not {expected}, or the lease expired",
                    state.stored.version
                ),
            ));
        }
        let version = next_version(expected, "the in-memory store")?;
        state.stored = Stored {
            version,
            tokens: tokens.cloned(),
        };
        Ok(version)
    }
}

impl Drop for MemoryLease {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        if state.lease.is_some_and(|(holder, _)| holder == self.holder) {
            state.lease = None;
            self.shared.released.notify_all();
        }
    }
}

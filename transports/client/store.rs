//! Where the token set lives between token requests, and between the processes that share it.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use super::Stored;
use crate::{StoreError, StoreErrorKind, TokenSet};

/// Keeps the token set for every process that uses the same account, so that with Passport's
/// refresh-token rotation they take turns instead of burning each other's refresh token
/// (`docs/passport.md#rotation`).
///
/// A client takes the [lease](Self::lock) before each token request and [loads](Self::load)
/// the store under it: when another process stored a newer set meanwhile, the client adopts it
/// and sends nothing. Otherwise it sends the request and [saves](Self::save) the answer before
/// any caller can use it, then drops the lease. Store calls never run under the client's lock,
/// and the async client runs them on a thread of their own, so a slow store blocks no executor
/// thread.
///
/// [`FileStore`](super::FileStore) shares a file between the processes of one host,
/// [`MemoryStore`](super::MemoryStore) the clients of one process. Any
/// `Fn(Option<&TokenSet>) + Send + Sync` closure is a write-only store: it is told every new
/// set (and `None` on logout), loads nothing and coordinates nothing.
pub trait TokenStore: Send + Sync + 'static {
    /// What holding the lease takes: a locked file, a key in a server. Dropping it releases
    /// the lease.
    type Lease: Send + 'static;

    /// The stored set and its version.
    ///
    /// # Errors
    /// [`StoreErrorKind::Unavailable`] when the store cannot be read, and
    /// [`StoreErrorKind::Corrupt`] or [`StoreErrorKind::Foreign`] when what it holds must not
    /// be used. Never an error for an empty store: that is version 0 without tokens.
    fn load(&self) -> Result<Stored, StoreError>;

    /// Takes the lease, waiting while another process holds it. The holder sends at most two
    /// token requests under it (a refused refresh, then the password login) and drops it within
    /// `hold_for`; a store whose lease can outlive a dead holder lets it expire after
    /// `hold_for`. A waiter waits up to twice `hold_for`, so one that came just after a holder
    /// took the lease outwaits the whole lease.
    ///
    /// # Errors
    /// [`StoreErrorKind::LeaseTimeout`] when other holders kept it for all of twice
    /// `hold_for`, or [`StoreErrorKind::Unavailable`].
    fn lock(&self, hold_for: Duration) -> Result<Self::Lease, StoreError>;

    /// Stores `tokens` (`None`: erases the set) as version `expected + 1`, provided the stored
    /// version is still `expected`; returns the new version.
    ///
    /// # Errors
    /// [`StoreErrorKind::Conflict`] when another writer stored a newer version (nothing is
    /// written; a store with expiring leases also refuses a holder whose lease expired), or
    /// [`StoreErrorKind::Unavailable`].
    fn save(
        &self,
        lease: &mut Self::Lease,
        expected: u64,
        tokens: Option<&TokenSet>,
    ) -> Result<u64, StoreError>;
}

impl<F: Fn(Option<&TokenSet>) + Send + Sync + 'static> TokenStore for F {
    type Lease = ();

    fn load(&self) -> Result<Stored, StoreError> {
        Ok(Stored::default())
    }

    fn lock(&self, _hold_for: Duration) -> Result<(), StoreError> {
        Ok(())
    }

    fn save(
        &self,
        _lease: &mut (),
        expected: u64,
        tokens: Option<&TokenSet>,
    ) -> Result<u64, StoreError> {
        self(tokens);
        next_version(expected, "the store")
    }
}

/// A held lease of any store.
pub(crate) type AnyLease = Box<dyn Any + Send>;

/// [`TokenStore`] with its lease type erased, so the driver can hold any store. A store that
/// panics is reported as unavailable rather than unwinding through the driver.
pub(crate) trait Custodian: Send + Sync + 'static {
    fn load(&self) -> Result<Stored, StoreError>;
    fn lock(&self, hold_for: Duration) -> Result<AnyLease, StoreError>;
    fn save(
        &self,
        lease: &mut AnyLease,
        expected: u64,
        tokens: Option<&TokenSet>,
    ) -> Result<u64, StoreError>;
}

impl<S: TokenStore> Custodian for S {
    fn load(&self) -> Result<Stored, StoreError> {
        guarded(|| TokenStore::load(self))
    }

    fn lock(&self, hold_for: Duration) -> Result<AnyLease, StoreError> {
        guarded(|| TokenStore::lock(self, hold_for)).map(|lease| Box::new(lease) as AnyLease)
    }

    fn save(
        &self,
        lease: &mut AnyLease,
        expected: u64,
        tokens: Option<&TokenSet>,
    ) -> Result<u64, StoreError> {
        let Some(lease) = lease.downcast_mut::<S::Lease>() else {
            // Unreachable: the driver hands back the lease this store made.
            return Err(StoreError::new(
                StoreErrorKind::Unavailable,
                "a lease of another store",
            ));
        };
        guarded(|| TokenStore::save(self, lease, expected, tokens))
    }
}

/// Runs a store call, turning a panic into an error.
fn guarded<T>(call: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    catch_unwind(AssertUnwindSafe(call)).unwrap_or_else(|_| {
        Err(StoreError::new(
            StoreErrorKind::Unavailable,
            "the store panicked",
        ))
    })
}

/// `wait` from now on the monotonic clock, or as far as it reaches: a lease time derived from
/// a huge request timeout must not overflow.
#[allow(
    clippy::disallowed_methods,
    reason = "a lease's wait is a deadline on the monotonic clock, outside the core"
)]
pub(crate) fn deadline(wait: std::time::Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    // About 30 years: a wait that long is "for ever".
    let far = std::time::Duration::from_secs(1 << 30);
    now.checked_add(wait.min(far)).unwrap_or(now)
}

/// The version after `version`.
pub(crate) fn next_version(version: u64, store: &str) -> Result<u64, StoreError> {
    version.checked_add(1).ok_or_else(|| {
        StoreError::new(
            StoreErrorKind::Corrupt,
            format!("{store}: its version is at the largest number; delete it"),
        )
    })
}

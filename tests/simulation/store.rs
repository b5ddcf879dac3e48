//! A simulated token store shared by the fleet: one set with a version (saves compare and
//! swap it, as `TokenStore::save`'s `expected`), and a lease.
//!
//! The lease is a file lock (`StoreKind::File`: dropped when its process dies, never
//! expiring) or a key with a lifetime (`StoreKind::Redis`: it expires `hold` after it was
//! granted, a dead holder's too, and a save is fenced by it: a holder whose lease expired
//! cannot overwrite its successor's set). Each lease has a number of its own, as
//! `RedisStore`'s holders do, so releasing an old lease never releases a newer one.
//!
//! Outages and stalls are the world's to apply (`Schedule::store_down`, `store_stalled_until`):
//! this module is the store's state and what one call does to it, at the instant it is
//! processed.

use std::collections::VecDeque;

use keliweb_oauth::TokenSet;
use keliweb_oauth::coordinator::Stored;
use keliweb_oauth::error::{StoreError, StoreErrorKind};

use crate::passport::access_number;
use crate::schedule::StoreKind;

/// Who holds or waits for a lease: a process's incarnation.
pub type Holder = (usize, u32);

#[derive(Clone, Debug)]
pub struct Lease {
    pub id: u64,
    pub holder: Holder,
    pub expires_at: Option<u64>,
}

#[derive(Clone, Debug)]
struct Waiter {
    op: u64,
    lease: u64,
    holder: Holder,
}

/// A waiter that was granted the lease: the world answers its call.
#[derive(Clone, Copy, Debug)]
pub struct Granted {
    pub op: u64,
    pub lease: u64,
}

#[derive(Debug)]
pub struct Store {
    pub kind: StoreKind,
    hold: u64,
    pub version: u64,
    pub tokens: Option<TokenSet>,
    /// The pair the stored set carries.
    pub pair: Option<usize>,
    pub lease: Option<Lease>,
    waiters: VecDeque<Waiter>,
}

impl Store {
    pub fn new(kind: StoreKind, hold: u64) -> Self {
        Self {
            kind,
            hold,
            version: 0,
            tokens: None,
            pair: None,
            lease: None,
            waiters: VecDeque::new(),
        }
    }

    /// Lease `lease` for `holder`, after releasing the holder's `orphans` (leases its earlier
    /// calls may hold without knowing: a grant that came after the call timed out, a release
    /// that failed), as `RedisStore` releases a lease it failed to release before each try.
    /// `None`: another holder has it, the call waits.
    pub fn lease(
        &mut self,
        at: u64,
        op: u64,
        lease: u64,
        holder: Holder,
        orphans: &[u64],
    ) -> (Option<Granted>, Vec<Granted>) {
        let mut granted = Vec::new();
        for orphan in orphans {
            granted.extend(self.release(*orphan, at));
        }
        self.waiters.push_back(Waiter { op, lease, holder });
        match self.grant_next(at) {
            Some(grant) if grant.op == op => (Some(grant), granted),
            Some(other) => {
                granted.push(other);
                (None, granted)
            }
            None => (None, granted),
        }
    }

    /// A waiter gives up (its wait timed out, or its process died).
    pub fn cancel(&mut self, op: u64) {
        self.waiters.retain(|waiter| waiter.op != op);
    }

    /// Every waiter fails at once (an outage begins): their calls.
    pub fn fail_waiters(&mut self) -> Vec<u64> {
        self.waiters.drain(..).map(|waiter| waiter.op).collect()
    }

    pub fn load(&self) -> Stored {
        Stored {
            version: self.version,
            tokens: self.tokens.clone(),
        }
    }

    /// Saves `tokens` as the next version, under lease `lease`, if the version is still
    /// `expected`.
    pub fn save(
        &mut self,
        at: u64,
        lease: u64,
        expected: u64,
        tokens: Option<TokenSet>,
    ) -> Result<u64, StoreError> {
        let held = self
            .lease
            .as_ref()
            .is_some_and(|held| held.id == lease && held.expires_at.is_none_or(|until| at < until));
        if !held {
            return Err(StoreError::new(
                StoreErrorKind::Conflict,
                "the simulated store: the lease is no longer this holder's",
            ));
        }
        if self.version != expected {
            return Err(StoreError::new(
                StoreErrorKind::Conflict,
                "the simulated store: another writer stored a newer version",
            ));
        }
        self.version += 1;
        self.pair = tokens
            .as_ref()
            .and_then(|set| access_number(set.access_token().expose_secret()));
        self.tokens = tokens;
        Ok(self.version)
    }

    /// Releases lease `lease` if it is still held; the next waiter, if any, gets it.
    pub fn release(&mut self, lease: u64, at: u64) -> Option<Granted> {
        if self.lease.as_ref().is_some_and(|held| held.id == lease) {
            self.lease = None;
            return self.grant_next(at);
        }
        None
    }

    /// Lease `lease` expires at `at` if still held: its id and the next grant.
    pub fn expire(&mut self, lease: u64, at: u64) -> (bool, Option<Granted>) {
        let expired = self.lease.as_ref().is_some_and(|held| held.id == lease);
        if !expired {
            return (false, None);
        }
        self.lease = None;
        (true, self.grant_next(at))
    }

    /// Process `process` died: a file lock dies with it; its waits end. The lease dropped,
    /// if one was, and the next grant.
    pub fn process_died(&mut self, process: usize, at: u64) -> (Option<u64>, Option<Granted>) {
        self.waiters.retain(|waiter| waiter.holder.0 != process);
        if self.kind == StoreKind::File
            && let Some(held) = self.lease.as_ref().filter(|held| held.holder.0 == process)
        {
            let dropped = held.id;
            self.lease = None;
            return (Some(dropped), self.grant_next(at));
        }
        (None, None)
    }

    /// The next waiter gets the lease if it is free. An expired lease is held until its
    /// expiry is processed (`expire`), so that the ledger sees every lease that ended so.
    fn grant_next(&mut self, at: u64) -> Option<Granted> {
        if self.lease.is_some() {
            return None;
        }
        let waiter = self.waiters.pop_front()?;
        let expires_at = match self.kind {
            StoreKind::File => None,
            StoreKind::Redis => Some(at + self.hold),
        };
        self.lease = Some(Lease {
            id: waiter.lease,
            holder: waiter.holder,
            expires_at,
        });
        Some(Granted {
            op: waiter.op,
            lease: waiter.lease,
        })
    }
}

//! What the coordinator knows of the store: the version its set came from, what is saved, and
//! the failures it waits out.

use std::time::Duration;

use super::Stored;
use crate::error::Error;
use crate::session::Session;
use crate::store_error::{StoreError, StoreErrorKind};
use crate::time::UnixTime;

/// The store's side of the coordinator.
#[derive(Debug)]
pub(super) struct Custody {
    has_store: bool,
    /// The store's version the held set came from or was saved as; `None` until the store is
    /// first loaded (and always without a store).
    pub(super) known_version: Option<u64>,
    /// The session's generation last saved.
    persisted_generation: u64,
    /// The last store failure, until a save succeeds.
    pub(super) store_error: Option<StoreError>,
    /// When to try again to save the held set, whose save failed.
    pub(super) save_retry_at: Option<UnixTime>,
    /// The first load failed: callers get its error until then, instead of each reading a
    /// store that is down.
    load_failed: Option<(UnixTime, Error)>,
}

impl Custody {
    pub(super) fn new(has_store: bool, generation: u64) -> Self {
        Self {
            has_store,
            known_version: None,
            persisted_generation: generation,
            store_error: None,
            save_retry_at: None,
            load_failed: None,
        }
    }

    pub(super) fn has_store(&self) -> bool {
        self.has_store
    }

    /// The store was never loaded.
    pub(super) fn needs_load(&self) -> bool {
        self.has_store && self.known_version.is_none()
    }

    /// The first load's failure, while its pause lasts.
    pub(super) fn load_failure(&self, now: UnixTime) -> Option<&Error> {
        self.load_failed
            .as_ref()
            .filter(|(until, _)| now < *until)
            .map(|(_, error)| error)
    }

    /// `next`, or the end of a failed first load's pause if later: a store that failed to load
    /// is not read again before then.
    pub(super) fn not_before_reload(&self, next: UnixTime) -> UnixTime {
        // A failure stands only until the first load succeeds.
        match &self.load_failed {
            Some((until, _)) => next.max(*until),
            None => next,
        }
    }

    pub(super) fn load_failed(&mut self, now: UnixTime, delay: Duration, error: Error) {
        self.load_failed = Some((now.saturating_add(delay), error));
    }

    /// The store was loaded at `version`, and the held set is what it holds (adopted).
    pub(super) fn loaded(&mut self, version: u64, session: &Session) {
        self.load_failed = None;
        self.known_version = Some(version);
        self.saved_generation(session);
    }

    /// Whether the held set's save failed and is not done yet.
    pub(super) fn is_unsaved(&self, session: &Session) -> bool {
        self.persisted_generation != session.generation()
    }

    /// The session's set is saved (or there is no store to save it in).
    pub(super) fn saved_generation(&mut self, session: &Session) {
        self.persisted_generation = session.generation();
    }

    pub(super) fn save_is_due(&self, now: UnixTime) -> bool {
        self.save_retry_at.is_some_and(|at| now >= at)
    }

    pub(super) fn postpone_save(&mut self, now: UnixTime, delay: Duration) {
        self.save_retry_at = Some(now.saturating_add(delay));
    }

    /// Notes how saving generation `generation` went. A failed save is retried after the
    /// minimum retry delay, unless another process stored a newer set (then the next token
    /// request adopts it).
    pub(super) fn record_save(
        &mut self,
        generation: u64,
        saved: Result<u64, StoreError>,
        session: &Session,
        now: UnixTime,
    ) {
        match saved {
            Ok(version) => {
                self.known_version = Some(version);
                self.persisted_generation = generation;
                self.store_error = None;
                if !self.is_unsaved(session) {
                    self.save_retry_at = None;
                }
            }
            Err(error) => {
                if error.kind() != StoreErrorKind::Conflict {
                    let delay = session.config().min_retry_delay();
                    self.save_retry_at = Some(now.saturating_add(delay));
                }
                self.store_error = Some(error);
            }
        }
    }

    /// Whether `stored`, newer than the version known, is the held set itself: a save that
    /// timed out here landed after all (the store answered late). Then the set is saved, as
    /// that version, and the store's error is over; adopting it instead would count it as
    /// another process's set, and a forced refresh would take it for the new token it asked for.
    pub(super) fn own_save_landed(&mut self, stored: &Stored, session: &Session) -> bool {
        if stored.tokens.is_none() || stored.tokens.as_ref() != session.tokens() {
            return false;
        }
        self.saved_as(stored.version, session);
        true
    }

    /// Whether the held set, unsaved, is to be saved over `stored` rather than dropped for it:
    /// it has a refresh token, and the stored set has none or arrived before it. No other
    /// process holds the unsaved set, so its refresh token is live, while a stored set may be
    /// dead: one a process stores after its refresh was refused (the refresh token spent by
    /// this process's rotation), or one whose rotation was lost with its process. Dropping the
    /// held set for it would throw away the only live pair. A set that arrived later is
    /// adopted: the held one's successor, when its late save landed and another process
    /// rotated it.
    pub(super) fn keeps_unsaved_over(&self, stored: &Stored, session: &Session) -> bool {
        let (Some(held), Some(theirs)) = (session.tokens(), stored.tokens.as_ref()) else {
            return false;
        };
        let older = match (held.obtained_at(), theirs.obtained_at()) {
            (Some(ours), Some(at)) => at < ours,
            (Some(_), None) => true,
            (None, _) => false,
        };
        self.is_unsaved(session)
            && held.refresh_token_str().is_some()
            && (theirs.refresh_token_str().is_none() || older)
    }

    /// The held set is the store's `version`: nothing is left to save, and no store error
    /// stands.
    pub(super) fn saved_as(&mut self, version: u64, session: &Session) {
        self.known_version = Some(version);
        self.persisted_generation = session.generation();
        self.save_retry_at = None;
        self.store_error = None;
    }

    /// A retried save could not take the lease: it is tried again a minimum retry delay from
    /// now, not from when it was started (a store that takes longer than the delay to fail
    /// must not keep a caller retrying in a loop).
    pub(super) fn lease_failed(&mut self, error: StoreError, now: UnixTime, delay: Duration) {
        self.store_error = Some(error);
        if self.save_retry_at.is_some() {
            self.save_retry_at = Some(now.saturating_add(delay));
        }
    }
}

//! What the emulator counts.

use std::sync::atomic::{AtomicU64, Ordering};

/// A snapshot of the emulator's counters (see [`crate::Emulator::counters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Password grants that issued tokens.
    pub password_grants: u64,
    /// Refresh grants that issued tokens.
    pub refresh_grants: u64,
    /// Every request to `POST /oauth/token`, including failed and fault-injected ones.
    pub token_requests: u64,
    /// Requests to `POST /oauth/token` answered with a status of 400 or more (OAuth errors,
    /// throttling, injected error statuses).
    pub token_errors: u64,
    /// Successful RFC 7009 revocation requests (`POST /oauth/revoke` answered 200).
    pub rfc7009_revocations: u64,
    /// Successful logouts (`POST /api/logout` answered 204).
    pub logouts: u64,
    /// Every request to `GET /api/user`, including fault-injected ones.
    pub api_calls: u64,
    /// Requests to `GET /api/user` answered `401 Unauthenticated`.
    pub api_unauthorized: u64,
    /// Requests (any method) to `/redirect-target`.
    pub redirect_target_hits: u64,
    /// Token and revocation requests whose client authenticated with HTTP Basic only.
    pub basic_client_auth: u64,
}

/// One counter.
#[derive(Debug, Default)]
pub(crate) struct Cell(AtomicU64);

impl Cell {
    /// Adds one.
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The live counters behind [`Counters`].
#[derive(Debug, Default)]
pub(crate) struct CounterCells {
    pub(crate) password_grants: Cell,
    pub(crate) refresh_grants: Cell,
    pub(crate) token_requests: Cell,
    pub(crate) token_errors: Cell,
    pub(crate) rfc7009_revocations: Cell,
    pub(crate) logouts: Cell,
    pub(crate) api_calls: Cell,
    pub(crate) api_unauthorized: Cell,
    pub(crate) redirect_target_hits: Cell,
    pub(crate) basic_client_auth: Cell,
}

impl CounterCells {
    /// Reads every counter.
    pub(crate) fn snapshot(&self) -> Counters {
        Counters {
            password_grants: self.password_grants.get(),
            refresh_grants: self.refresh_grants.get(),
            token_requests: self.token_requests.get(),
            token_errors: self.token_errors.get(),
            rfc7009_revocations: self.rfc7009_revocations.get(),
            logouts: self.logouts.get(),
            api_calls: self.api_calls.get(),
            api_unauthorized: self.api_unauthorized.get(),
            redirect_target_hits: self.redirect_target_hits.get(),
            basic_client_auth: self.basic_client_auth.get(),
        }
    }
}

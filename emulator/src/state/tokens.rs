//! Issued token pairs: lookup, expiry, rotation and revocation.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What the store knows about a presented token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenStatus {
    /// Issued, unexpired, unrevoked.
    Valid,
    /// Issued, but past its lifetime (checked before revocation, as league/oauth2-server does:
    /// `docs/passport.md#token-endpoint-errors`).
    Expired,
    /// Issued, then revoked (by rotation, logout, RFC 7009 or `revoke_all_tokens`).
    Revoked,
    /// Never issued here.
    Unknown,
}

#[derive(Debug)]
struct Pair {
    access_expires: Instant,
    refresh_expires: Instant,
    revoked: bool,
}

/// Every pair issued since start. Revoking either token of a pair revokes both.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    pairs: Vec<Pair>,
    by_access: HashMap<String, usize>,
    by_refresh: HashMap<String, usize>,
}

impl TokenStore {
    /// Records a newly issued pair.
    pub(crate) fn insert(
        &mut self,
        access: String,
        refresh: String,
        now: Instant,
        access_lifetime: Duration,
        refresh_lifetime: Duration,
    ) {
        let id = self.pairs.len();
        self.pairs.push(Pair {
            access_expires: now + access_lifetime,
            refresh_expires: now + refresh_lifetime,
            revoked: false,
        });
        self.by_access.insert(access, id);
        self.by_refresh.insert(refresh, id);
    }

    fn status(
        pair: Option<&Pair>,
        expires: impl Fn(&Pair) -> Instant,
        now: Instant,
    ) -> TokenStatus {
        match pair {
            None => TokenStatus::Unknown,
            Some(p) if now >= expires(p) => TokenStatus::Expired,
            Some(p) if p.revoked => TokenStatus::Revoked,
            Some(_) => TokenStatus::Valid,
        }
    }

    /// The status of an access token at `now`.
    pub(crate) fn access_status(&self, access: &str, now: Instant) -> TokenStatus {
        let pair = self.by_access.get(access).map(|&id| &self.pairs[id]);
        Self::status(pair, |p| p.access_expires, now)
    }

    /// The status of a refresh token at `now`.
    pub(crate) fn refresh_status(&self, refresh: &str, now: Instant) -> TokenStatus {
        let pair = self.by_refresh.get(refresh).map(|&id| &self.pairs[id]);
        Self::status(pair, |p| p.refresh_expires, now)
    }

    /// Spends a refresh token: if it is valid, revokes its pair (access and refresh token at
    /// once) and returns `Valid`; otherwise changes nothing and returns why it is unusable
    /// (`docs/passport.md#rotation`).
    pub(crate) fn spend_refresh(&mut self, refresh: &str, now: Instant) -> TokenStatus {
        let status = self.refresh_status(refresh, now);
        if status == TokenStatus::Valid {
            self.revoke(refresh);
        }
        status
    }

    /// Revokes the pair of `token` (an access or a refresh token). Returns whether it was known.
    pub(crate) fn revoke(&mut self, token: &str) -> bool {
        let id = self
            .by_access
            .get(token)
            .or_else(|| self.by_refresh.get(token))
            .copied();
        match id {
            Some(id) => {
                self.pairs[id].revoked = true;
                true
            }
            None => false,
        }
    }

    /// Revokes every pair issued so far.
    pub(crate) fn revoke_all(&mut self) {
        for pair in &mut self.pairs {
            pair.revoked = true;
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests need some instant to start from"
)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn rotation_revokes_both_and_works_once() {
        let mut store = TokenStore::default();
        let now = Instant::now();
        store.insert("a1".into(), "r1".into(), now, HOUR, HOUR * 24);
        assert_eq!(store.access_status("a1", now), TokenStatus::Valid);
        assert_eq!(store.spend_refresh("r1", now), TokenStatus::Valid);
        assert_eq!(store.spend_refresh("r1", now), TokenStatus::Revoked);
        assert_eq!(store.access_status("a1", now), TokenStatus::Revoked);
        assert_eq!(store.refresh_status("nope", now), TokenStatus::Unknown);
    }

    #[test]
    fn expiry_is_checked_before_revocation() {
        let mut store = TokenStore::default();
        let now = Instant::now();
        store.insert("a1".into(), "r1".into(), now, HOUR, HOUR * 2);
        let later = now + HOUR;
        assert_eq!(store.access_status("a1", later), TokenStatus::Expired);
        assert_eq!(store.refresh_status("r1", later), TokenStatus::Valid);
        assert!(store.revoke("a1"));
        assert_eq!(store.refresh_status("r1", later), TokenStatus::Revoked);
        assert_eq!(
            store.refresh_status("r1", now + HOUR * 3),
            TokenStatus::Expired
        );
        assert!(!store.revoke("zzz"));
    }
}

//! The session's phases and the data each one owns.

use crate::config::Credentials;
use crate::error::Error;
use crate::request::{RequestId, RequestKind};
use crate::time::UnixTime;

/// Where the session is in the token lifecycle, apart from the token it holds: one of these at
/// a time, so a stopped session cannot also be pausing or have a request out.
#[derive(Debug)]
pub(super) enum Phase {
    /// Nothing out, nothing blocking: `poll` decides from the token's times.
    Idle,
    /// `force_refresh`: the next token request goes out although a token is usable.
    RefreshAsked,
    /// A token request is out (a refresh or a password login).
    Requesting(InFlight),
    /// A failure worth retrying later: no token request before `until`. `refresh_asked`:
    /// `force_refresh` came after the last poll, so the first poll from `until` on sends.
    Paused {
        until: UnixTime,
        error: Error,
        refresh_asked: bool,
    },
    /// A refusal no retry can fix (bad client, bad password): no token request until `login`.
    Stopped(Error),
    /// `revoke`: no tokens and no credentials until `login`.
    LoggedOut,
}

impl Phase {
    pub(super) fn in_flight(&self) -> Option<&InFlight> {
        match self {
            Self::Requesting(in_flight) => Some(in_flight),
            _ => None,
        }
    }

    /// What blocks a token request at `now`: a stop, or a pause not over yet.
    pub(super) fn blocker(&self, now: UnixTime) -> Option<&Error> {
        match self {
            Self::Stopped(error) => Some(error),
            Self::Paused { until, error, .. } if now < *until => Some(error),
            _ => None,
        }
    }
}

/// The token request out, and what its answer will be judged by.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) id: RequestId,
    pub(super) kind: RequestKind,
    /// When it was handed out: lifetimes count from here, since the server started the clock
    /// before its answer crossed the network.
    pub(super) sent_at: UnixTime,
    /// Sent to replace a token the API refused.
    pub(super) replaces_refused_token: bool,
    /// Sent for `force_refresh`: if the refresh token turns out dead, the forced refresh goes on
    /// as a password login rather than handing the stale token back.
    pub(super) forced: bool,
    /// `login` replaced the credentials while this request was out: its answer does not judge
    /// the new ones.
    pub(super) credentials_replaced: bool,
    /// A password grant's credentials, once `login` has replaced them: the answer names their
    /// account and is scrubbed of their password.
    pub(super) superseded: Option<Credentials>,
}

impl InFlight {
    /// Whether the request went out with the credentials held now.
    pub(super) fn sent_with_current_credentials(&self) -> bool {
        !self.credentials_replaced
    }
}

/// The credentials, and whether the caller asked to log in with them.
#[derive(Debug, Default)]
pub(super) enum Login {
    /// None held: a dead refresh token means `LoginRequired`.
    #[default]
    Forgotten,
    /// Held for a password login when the refresh token dies.
    Kept(Credentials),
    /// Supplied by `login`: the next token request is a password grant with them.
    Asked(Credentials),
}

impl Login {
    pub(super) fn credentials(&self) -> Option<&Credentials> {
        match self {
            Self::Forgotten => None,
            Self::Kept(credentials) | Self::Asked(credentials) => Some(credentials),
        }
    }

    pub(super) fn is_asked(&self) -> bool {
        matches!(self, Self::Asked(_))
    }

    pub(super) fn take(&mut self) -> Option<Credentials> {
        match std::mem::take(self) {
            Self::Forgotten => None,
            Self::Kept(credentials) | Self::Asked(credentials) => Some(credentials),
        }
    }
}

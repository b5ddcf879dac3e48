//! Failures of a token store, in the core so that an [`Error`](crate::Error) can carry one and
//! a sans-IO caller with a store of its own can report one to the session
//! ([`Session::handle_store_error`](crate::Session::handle_store_error)).

use std::fmt;

/// Why a token store failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StoreErrorKind {
    /// The store could not be read or written (an IO error, a server down or timing out).
    /// Worth retrying.
    Unavailable,
    /// What the store holds is not a token set this crate wrote (truncated, not JSON, a token
    /// that breaks the rules a server answer must keep). Nothing is logged in over it: fix or
    /// delete it.
    Corrupt,
    /// The store is not this user's alone: a file (or lock file) owned by another user, one
    /// that other users may read or write, a lock file that is a symbolic link, or a directory
    /// that other users own or may write.
    Foreign,
    /// Another writer stored a newer set since this one was loaded: nothing was overwritten,
    /// and the newer set is adopted at the next token request.
    Conflict,
    /// The lease stayed with another holder for the whole wait.
    LeaseTimeout,
}

impl StoreErrorKind {
    fn describe(self) -> &'static str {
        match self {
            Self::Unavailable => "the token store is unavailable",
            Self::Corrupt => "the token store holds something that is not a token set",
            Self::Foreign => "the token store is not this user's alone",
            Self::Conflict => "another process stored a newer token set",
            Self::LeaseTimeout => "another process held the token store's lease too long",
        }
    }
}

/// A token store's failure: its kind and a message naming the store (a path, a key) and the
/// cause. It never quotes what the store holds, which may be tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreError {
    kind: StoreErrorKind,
    message: String,
}

impl StoreError {
    /// A failure of `kind`; `message` names the store and the cause, never a secret.
    pub fn new(kind: StoreErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What kind of failure.
    #[must_use]
    pub fn kind(&self) -> StoreErrorKind {
        self.kind
    }

    /// Which store, and what went wrong.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the same operation may succeed later without anyone fixing anything.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            StoreErrorKind::Unavailable | StoreErrorKind::LeaseTimeout | StoreErrorKind::Conflict
        )
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.describe(), self.message)
    }
}

impl std::error::Error for StoreError {}

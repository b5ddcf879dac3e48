//! What the machine did, for a driver's log. Notices name kinds, ids, versions and error
//! kinds: never a token, a password or a secret.

use crate::error::ErrorKind;
use crate::request::{RequestId, RequestKind};
use crate::store_error::StoreErrorKind;
use crate::time::UnixTime;

/// How many notices are kept for a driver that does not read them.
pub(super) const KEPT: usize = 16;

/// Something a driver may log ([`Coordinator::take_notices`](super::Coordinator::take_notices)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// A token request goes out.
    Sent {
        /// Which request.
        request: RequestId,
        /// A refresh or a password login.
        kind: RequestKind,
        /// Sent under the store's lease.
        under_lease: bool,
    },
    /// A token request was answered: `Ok` with new tokens, or the failure's kind.
    Answered {
        /// Which request.
        request: RequestId,
        /// How it went.
        outcome: Result<(), ErrorKind>,
        /// The status, when the server answered.
        status: Option<u16>,
        /// Token requests pause until then.
        paused_until: Option<UnixTime>,
    },
    /// The refresh token is dead: the password login follows.
    LoggingIn {
        /// The refused refresh.
        request: RequestId,
    },
    /// Another process stored a newer set: adopted, and the request was not sent.
    Adopted {
        /// The request given up.
        request: RequestId,
        /// The store's version adopted.
        version: u64,
    },
    /// The store failed.
    StoreFailed {
        /// What failed: `"load"`, `"lease"`, `"save"`.
        during: &'static str,
        /// How.
        kind: StoreErrorKind,
        /// The request that was not sent for it, if any.
        request: Option<RequestId>,
    },
}

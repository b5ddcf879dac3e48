//! What the blocking and async drivers share: the clock, the token stores, the limits, the
//! client builder, and the machinery around one [`Session`](crate::Session) that makes one
//! token request serve every caller, and one token request per expiry serve every process
//! sharing a store.

/// A `tracing` event under the target `keliweb_oauth` (feature `tracing`); nothing without
/// it. Events name kinds, ids, statuses and error kinds: never a token, a password or a secret.
macro_rules! trace_event {
    ($level:ident, $($rest:tt)*) => {{
        #[cfg(feature = "tracing")]
        tracing::$level!(target: "keliweb_oauth", $($rest)*);
    }};
}

mod builder;
mod clock;
mod driver;
mod file_store;
mod limits;
mod memory_store;
mod published;
#[cfg(any(feature = "ureq", feature = "reqwest"))]
mod redact;
#[cfg(feature = "redis")]
mod redis_store;
mod revocations;
mod store;

#[cfg(feature = "blocking")]
pub(crate) use crate::coordinator::Foreground;
pub use crate::coordinator::Stored;
pub use builder::{Blocking, ClientBuilder, Nonblocking};
#[cfg(feature = "test-util")]
pub use clock::ManualClock;
pub use clock::{Clock, SystemClock};
#[cfg(feature = "nonblocking")]
pub(crate) use driver::Wake;
pub(crate) use driver::{Driver, apply};
pub use file_store::{FileLease, FileStore};
pub use limits::{Limits, RequestLimits};
pub use memory_store::{MemoryLease, MemoryStore};
#[cfg(any(feature = "ureq", feature = "reqwest"))]
pub(crate) use redact::without_query;
#[cfg(feature = "redis")]
pub use redis_store::{RedisLease, RedisStore};
pub(crate) use revocations::Revocations;
pub use store::TokenStore;
#[cfg(feature = "blocking")]
pub(crate) use store::deadline;
pub(crate) use store::{AnyLease, Custodian};

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use http::{Request, Response};

use crate::Authorization;

/// A usable access token, borrowed from the driver without taking a lock or touching a
/// reference count. Dereferences to [`Authorization`]; clone that to keep it.
pub struct TokenGuard(arc_swap::Guard<Arc<published::Published>>);

impl Deref for TokenGuard {
    type Target = Authorization;

    fn deref(&self) -> &Authorization {
        &self.0.authorization
    }
}

impl fmt::Debug for TokenGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// How to treat an API call that was answered `401 Unauthenticated`, from a client's
/// `report_unauthorized`.
pub use crate::coordinator::Unauthorized;

/// A copy of an API request, kept so it can be sent again after a `401`.
pub(crate) fn copy_request(request: &Request<Vec<u8>>) -> Request<Vec<u8>> {
    let mut copy = Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    copy
}

/// Whether a response is the API refusing the token.
pub(crate) fn is_unauthorized<B>(response: &Response<B>) -> bool {
    response.status() == http::StatusCode::UNAUTHORIZED
}

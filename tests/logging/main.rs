//! The logging room: the crate's `tracing` events and what the HTTP libraries under it log
//! through `log`, captured with a process-wide subscriber and a process-wide logger. They have a
//! binary of their own so that no other test's requests reach the capture, and within it they
//! run one at a time ([`one_at_a_time`]).

mod tracing_events;
mod transport_logging;

#[cfg(any(feature = "ureq", feature = "reqwest"))]
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Held by each test while it logs: the capture sees its requests alone.
#[cfg(any(feature = "ureq", feature = "reqwest"))]
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    ONE.lock().unwrap_or_else(PoisonError::into_inner)
}

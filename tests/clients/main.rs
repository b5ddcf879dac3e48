//! The clients' room: the blocking client over ureq and the async one over reqwest, against the
//! emulator on 127.0.0.1 and on a `ManualClock` (every transport scenario for both, the limits,
//! transport errors, cancellation, the system clock), the tower layer and the reqwest
//! middleware, client authentication and scopes, and the allocation-free hot path.
//!
//! One test binary, with the one support module of the rooms (`tests/support/`).
//! `no_allocations` installs this binary's global allocator, which counts each thread's
//! allocations.

#[path = "../support/mod.rs"]
mod support;

mod cancellation;
mod client_auth_and_scope;
mod no_allocations;
mod reqwest_middleware;
mod system_clock;
mod tower_layer;
mod transport_async;
mod transport_blocking;
mod transport_errors;
mod transport_limits;

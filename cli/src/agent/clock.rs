//! The agent's one reading of the wall clock (tokens expire in wall-clock time).

use std::time::SystemTime;

use keliweb_oauth::UnixTime;

/// Now, in Unix milliseconds.
pub fn now_millis() -> u64 {
    #[allow(
        clippy::disallowed_methods,
        reason = "the agent is a driver: it owns its clock, as the clients do"
    )]
    let now = SystemTime::now();
    UnixTime::from_system_time(now).as_millis()
}

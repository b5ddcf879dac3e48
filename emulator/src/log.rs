//! The request log.

use std::sync::{Mutex, PoisonError};

/// One request the emulator answered (see [`crate::Emulator::requests`]).
///
/// Never holds credentials or tokens: only the method, the path (without query string), the
/// `grant_type` parameter of token requests, the status and the injected fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// The HTTP method, e.g. `"POST"`.
    pub method: String,
    /// The request path without query string, e.g. `"/oauth/token"`.
    pub path: String,
    /// The `grant_type` parameter, for requests to `/oauth/token` that sent one.
    pub grant_type: Option<String>,
    /// The status code sent (for cut-off responses, the status of the headers that went out).
    pub status: u16,
    /// The injected fault applied to this request, in its `Debug` form (e.g. `"Status(503)"`,
    /// `"Delay(50ms)"`).
    pub fault: Option<String>,
}

/// Response extension: the `grant_type` a token request carried.
#[derive(Clone, Debug)]
pub(crate) struct GrantTypeNote(pub(crate) String);

/// Response extension: the fault applied to a request.
#[derive(Clone, Debug)]
pub(crate) struct FaultNote(pub(crate) String);

/// The shared, append-only log.
#[derive(Debug, Default)]
pub(crate) struct RequestLog(Mutex<Vec<LoggedRequest>>);

impl RequestLog {
    /// Appends one entry.
    pub(crate) fn push(&self, entry: LoggedRequest) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }

    /// Copies the entries from index `from` on.
    pub(crate) fn since(&self, from: usize) -> Vec<LoggedRequest> {
        let log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        log.get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }
}

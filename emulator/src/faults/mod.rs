//! Injectable faults and their per-route queues.

pub(crate) mod respond;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use crate::state::lock;

/// A route faults can be injected into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /oauth/token`.
    Token,
    /// `POST /oauth/revoke` (RFC 7009).
    Revoke,
    /// `POST /api/logout` (Bearer-authenticated revocation).
    Logout,
    /// `GET /api/user` (the protected resource).
    Api,
}

impl Route {
    fn index(self) -> usize {
        match self {
            Route::Token => 0,
            Route::Revoke => 1,
            Route::Logout => 2,
            Route::Api => 3,
        }
    }
}

/// A misbehaviour applied to exactly one upcoming request on a [`Route`].
///
/// Unless said otherwise the request is *not* processed (no token issued, rotated or revoked):
/// the fault stands for a proxy or a broken server in front of Passport. `Delay`, `AnswerAfter`,
/// `ResetMidResponse` and `TruncatedBody` process the request normally and slow down or cut
/// the real answer, so a cut refresh response leaves the client with a dead refresh token, as in
/// production.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Waits this long, then processes the request and answers normally.
    Delay(Duration),
    /// Processes the request, sends the headers (chunked, no `Content-Length`) and part of the
    /// body, then drops the connection.
    ResetMidResponse,
    /// This status. 500 gets Passport's `{"error":"server_error",...}` on `Token` and `Revoke`
    /// and Laravel's `{"message":"Server Error"}` on `Logout` and `Api`; other statuses get an
    /// nginx-like HTML page (e.g. `502 Bad Gateway`). A number that is not a valid status
    /// becomes 500.
    Status(u16),
    /// This status with a `text/plain` body (`Server Error` for 500, else the reason phrase).
    PlainTextStatus(u16),
    /// This status with an empty body.
    EmptyStatus(u16),
    /// `429 {"message":"Too Many Attempts."}` with `Retry-After`, `X-RateLimit-Limit`,
    /// `X-RateLimit-Remaining: 0` and `X-RateLimit-Reset`.
    TooManyRequests {
        /// The `Retry-After` value, in seconds.
        retry_after_secs: u64,
    },
    /// A redirect with this status (e.g. 302, 303, 307) to `/redirect-target` (absolute URL),
    /// with Laravel's little HTML "Redirecting to" body.
    RedirectToTarget(u16),
    /// `200 text/html`: a login page, as Laravel answers when it does not see an API request.
    Html,
    /// Processes the request, sends its headers with the real `Content-Length` and only the first
    /// half of the body, then closes the connection.
    TruncatedBody,
    /// `200 application/json` with a body of exactly this many bytes, streamed in 64 KiB chunks
    /// (`{"data":"xxx…"}` when at least 11 bytes).
    HugeBody(usize),
    /// `200` with an OAuth error body: `{"error":"invalid_request",...}`.
    ErrorIn200,
    /// Waits this long, then applies the inner fault (e.g. a slow `503`, so that many clients
    /// pile up behind one request that then fails).
    DelayThen(Duration, Box<Fault>),
    /// Processes the request at once (a refresh rotates, a revocation revokes), then waits this
    /// long before answering: PHP behind nginx finishes a request whose client has hung up, so a
    /// client that gives up meanwhile has lost the only copy of the new tokens.
    AnswerAfter(Duration),
}

/// One FIFO queue of faults per route.
#[derive(Debug, Default)]
pub(crate) struct FaultQueues(Mutex<[VecDeque<Fault>; 4]>);

impl FaultQueues {
    /// Queues `fault` for the next request on `route` that has no earlier fault queued.
    pub(crate) fn push(&self, route: Route, fault: Fault) {
        lock(&self.0)[route.index()].push_back(fault);
    }

    /// Takes the fault for the request being handled on `route`, if any.
    pub(crate) fn pop(&self, route: Route) -> Option<Fault> {
        lock(&self.0)[route.index()].pop_front()
    }
}

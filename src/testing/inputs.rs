//! The session's inputs as [`arbitrary`](https://docs.rs/arbitrary) values, for fuzz targets
//! and property tests that drive a [`Session`] the way a server and callers could.

use std::time::Duration;

use super::PassportAnswer;
use crate::{Action, Credentials, Session, TransportError, TransportErrorKind, UnixTime};

/// One thing that can happen to a session.
#[derive(Clone, Debug, PartialEq, Eq, arbitrary::Arbitrary)]
pub enum SessionInput {
    /// This many seconds pass.
    Wait(u16),
    /// The token request out, if any, is answered so.
    Answer(PassportAnswer),
    /// The token request out, if any, fails in transport.
    TransportFailure,
    /// The API answers `401` to the current token.
    Unauthorized,
    /// A caller forces a refresh.
    ForceRefresh,
    /// A caller supplies credentials again.
    Login,
    /// A caller logs out.
    Revoke,
}

impl SessionInput {
    /// Applies this input to `session` at `*now` (which a `Wait` moves on), then polls as the
    /// drain rule says until the session hands out a token, waits for its token request, or
    /// stops: stores are taken as done, revocations answered `200`, and a token request is left
    /// out for the next `Answer` or `TransportFailure`. `credentials` are what `Login` supplies.
    pub fn apply(&self, session: &mut Session, now: &mut UnixTime, credentials: &Credentials) {
        match self {
            Self::Wait(seconds) => {
                *now = now.saturating_add(Duration::from_secs(u64::from(*seconds)));
            }
            Self::Answer(answer) => {
                if let Some(id) = session.in_flight() {
                    let _ = session.handle_response(id, *now, &answer.response());
                }
            }
            Self::TransportFailure => {
                if let Some(id) = session.in_flight() {
                    let failure = TransportError::new(TransportErrorKind::Io, "connection reset");
                    let _ = session.handle_transport_error(id, *now, failure);
                }
            }
            Self::Unauthorized => {
                if let Some(id) = session.authorization().map(crate::Authorization::token_id) {
                    session.handle_unauthorized(id, *now);
                }
            }
            Self::ForceRefresh => session.force_refresh(),
            Self::Login => session.login(credentials.clone()),
            Self::Revoke => session.revoke(),
        }
        drain(session, *now);
    }
}

/// Polls until a token is handed out, a token request is out, or the session stops.
fn drain(session: &mut Session, now: UnixTime) {
    // Bounded: a store, then each queued revocation, then one answer.
    for _ in 0..8 {
        match session.poll(now) {
            Action::Store => {}
            Action::Send(request) if request.kind() == crate::RequestKind::Revocation => {
                let answered = http::Response::new(Vec::new());
                let _ = session.handle_response(request.id(), now, &answered);
            }
            Action::Send(_) | Action::UseToken(_) | Action::Wait(_) | Action::Stop(_) => return,
        }
    }
}

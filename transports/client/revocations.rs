//! A logout's revocation requests on their way out, for both clients: each one never sent (a
//! cancelled task, an unwinding thread) is given up, so the session does not wait for it.

use http::{Request, Response};

use super::driver::{Driver, Wake};
use crate::{Error, OutgoingRequest, RequestId, TransportError};

/// The revocation requests [`Coordinator::revoke`](crate::coordinator::Coordinator::revoke)
/// handed out, not yet answered.
pub(crate) struct Revocations<'a, H, W: Wake> {
    driver: &'a Driver<H, W>,
    requests: Vec<OutgoingRequest>,
    /// The one on the wire.
    out: Option<RequestId>,
}

impl<'a, H, W: Wake> Revocations<'a, H, W> {
    pub(crate) fn new(driver: &'a Driver<H, W>, requests: Vec<OutgoingRequest>) -> Self {
        Self {
            driver,
            requests,
            out: None,
        }
    }

    /// The next request to send; hand its answer to [`answered`](Self::answered).
    pub(crate) fn next(&mut self) -> Option<Request<Vec<u8>>> {
        if self.requests.is_empty() {
            return None;
        }
        let (id, request) = self.requests.remove(0).into_parts();
        self.out = Some(id);
        Some(request)
    }

    /// The answer to the request [`next`](Self::next) gave out.
    pub(crate) fn answered(
        &mut self,
        answer: Result<Response<Vec<u8>>, TransportError>,
    ) -> Result<(), Error> {
        let Some(id) = self.out.take() else {
            return Ok(());
        };
        self.driver.report(|machine, now| match answer {
            Ok(response) => machine.revocation_answered(id, Ok(&response), now),
            Err(error) => machine.revocation_answered::<Vec<u8>>(id, Err(error), now),
        })
    }
}

impl<H, W: Wake> Drop for Revocations<'_, H, W> {
    fn drop(&mut self) {
        let never_sent = self.requests.drain(..).map(|request| request.id());
        let ids: Vec<RequestId> = self.out.take().into_iter().chain(never_sent).collect();
        if !ids.is_empty() {
            self.driver.report(|machine, _| {
                for id in ids {
                    machine.revocation_dropped(id);
                }
            });
        }
    }
}

//! An HTTP client made on first use: printing a cached token makes no request, so it should
//! not pay for setting up TLS either.

use std::sync::OnceLock;

use http::{Request, Response};
use keliweb_oauth::blocking::{HttpClient, UreqClient};
use keliweb_oauth::client::RequestLimits;
use keliweb_oauth::error::TransportError;

/// [`UreqClient`], built when the first request goes out.
#[derive(Default)]
pub struct LazyUreq(OnceLock<UreqClient>);

impl HttpClient for LazyUreq {
    fn execute(
        &self,
        request: Request<Vec<u8>>,
        limits: RequestLimits,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        self.0
            .get_or_init(UreqClient::default)
            .execute(request, limits)
    }
}

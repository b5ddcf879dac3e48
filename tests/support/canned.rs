//! HTTP clients that answer every request with the same token response, without a socket: for
//! tests of the clients' own paths (storing, allocations), where no server behaviour matters.

#[cfg(any(feature = "blocking", feature = "nonblocking"))]
use http::{Request, Response};
#[cfg(any(feature = "blocking", feature = "nonblocking"))]
use keliweb_oauth::{client::RequestLimits, error::TransportError};

/// A one-hour Passport token response.
pub const TOKEN_BODY: &str = r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ0.eyJ1.c2ln","refresh_token":"def50200aa"}"#;

/// Answers every request with [`TOKEN_BODY`].
pub struct Canned;

#[cfg(any(feature = "blocking", feature = "nonblocking"))]
fn answer() -> Result<Response<Vec<u8>>, TransportError> {
    Ok(Response::new(TOKEN_BODY.as_bytes().to_vec()))
}

#[cfg(feature = "blocking")]
impl keliweb_oauth::blocking::HttpClient for Canned {
    fn execute(
        &self,
        _request: Request<Vec<u8>>,
        _limits: RequestLimits,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        answer()
    }
}

#[cfg(feature = "nonblocking")]
impl keliweb_oauth::nonblocking::AsyncHttpClient for Canned {
    async fn execute(
        &self,
        _request: Request<Vec<u8>>,
        _limits: RequestLimits,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        answer()
    }
}

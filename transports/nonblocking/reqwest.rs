//! [`AsyncHttpClient`] for reqwest 0.13, with the safe settings forced on.

use std::error::Error as _;

use http::{Request, Response};

use super::{AsyncHttpClient, BackgroundTask};
use crate::transport::Limits;
use crate::{TransportError, TransportErrorKind};

/// A reqwest client that never follows redirects and has finite timeouts. reqwest returns
/// 4xx/5xx as responses already. TLS is rustls.
#[derive(Clone, Debug)]
pub struct ReqwestClient {
    client: reqwest::Client,
}

impl ReqwestClient {
    /// A client with the timeouts of `limits`.
    ///
    /// # Errors
    /// When reqwest cannot build a client (TLS backend initialisation).
    pub fn new(limits: &Limits) -> Result<Self, TransportError> {
        Self::with_builder(limits, |builder| builder)
    }

    /// A client with your own settings (proxy, TLS, pool, …) applied by `customize`. The
    /// settings that keep tokens safe are forced afterwards: no redirects and the timeouts of
    /// `limits`.
    ///
    /// # Errors
    /// When reqwest cannot build a client.
    pub fn with_builder(
        limits: &Limits,
        customize: impl FnOnce(reqwest::ClientBuilder) -> reqwest::ClientBuilder,
    ) -> Result<Self, TransportError> {
        let client = customize(reqwest::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.request_timeout)
            .build()
            .map_err(transport_error)?;
        Ok(Self { client })
    }
}

impl AsyncHttpClient for ReqwestClient {
    async fn execute(
        &self,
        request: Request<Vec<u8>>,
        max_body_bytes: u64,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        let request = reqwest::Request::try_from(request).map_err(transport_error)?;
        let mut response = self
            .client
            .execute(request)
            .await
            .map_err(transport_error)?;
        let too_large = || {
            TransportError::new(
                TransportErrorKind::BodyTooLarge,
                format!("over {max_body_bytes} bytes"),
            )
        };
        if response
            .content_length()
            .is_some_and(|length| length > max_body_bytes)
        {
            return Err(too_large());
        }
        // Sized once where the length is known: a growing buffer leaves copies of the tokens in
        // the blocks it outgrows.
        let expected = response.content_length().unwrap_or(0);
        let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() as u64 + chunk.len() as u64 > max_body_bytes {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        let mut converted = Response::new(body);
        *converted.status_mut() = response.status();
        *converted.version_mut() = response.version();
        *converted.headers_mut() = std::mem::take(response.headers_mut());
        Ok(converted)
    }

    /// Spawns on the Tokio runtime of the calling task (reqwest needs one anyway), so a token
    /// request finishes even when nobody waits for it any more.
    fn spawn(&self, task: BackgroundTask) -> Result<(), BackgroundTask> {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                drop(runtime.spawn(task));
                Ok(())
            }
            Err(_) => Err(task),
        }
    }
}

fn transport_error(error: reqwest::Error) -> TransportError {
    let kind = if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if error.is_connect() {
        TransportErrorKind::Connect
    } else if error.is_body() || error.is_decode() || error.is_request() {
        TransportErrorKind::Io
    } else {
        TransportErrorKind::Other
    };
    // The URL may carry an API query: keep it out of messages. reqwest's own message is
    // generic; the source says what actually broke.
    let error = error.without_url();
    let message = match error.source() {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    };
    TransportError::new(kind, message)
}

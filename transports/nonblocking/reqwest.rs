//! [`AsyncHttpClient`] for reqwest 0.13, with the safe settings forced on.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use http::{Request, Response};

use super::{AsyncHttpClient, BackgroundTask};
use crate::client::{RequestLimits, without_query};
use crate::{TransportError, TransportErrorKind};

type Customize = dyn Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder + Send + Sync;

/// A reqwest client that never follows redirects. reqwest returns 4xx/5xx as responses
/// already. TLS is rustls.
///
/// It has no limits of its own: each request gets the whole-request timeout (reqwest's
/// per-request `timeout`) and the body cap it comes with. reqwest applies a connect timeout
/// only to a whole `reqwest::Client`, so one is built, on first use, for each connect timeout
/// requests come with, and kept with its connection pool. A driver's requests all have the
/// same one, so that is one client per [`Limits`](crate::client::Limits).
#[derive(Clone)]
pub struct ReqwestClient {
    inner: Arc<Inner>,
}

struct Inner {
    customize: Box<Customize>,
    /// The clients built so far, by connect timeout.
    clients: RwLock<Vec<(Duration, reqwest::Client)>>,
}

impl Default for ReqwestClient {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ReqwestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestClient").finish_non_exhaustive()
    }
}

impl ReqwestClient {
    /// A client with reqwest's defaults and the safe settings. If reqwest cannot build one (TLS
    /// backend initialisation), each request fails with
    /// [`TransportErrorKind::Other`] saying why.
    #[must_use]
    pub fn new() -> Self {
        Self::with_builder(|builder| builder)
    }

    /// A client with your own settings (proxy, TLS, pool, …) applied by `customize`, which is
    /// called for every client built (see the type's description). The settings that keep
    /// tokens safe are forced afterwards: no redirects, and the connect timeout of the request.
    /// A total timeout set here is replaced on every request by that of
    /// [`Limits`](crate::client::Limits).
    #[must_use]
    pub fn with_builder(
        customize: impl Fn(reqwest::ClientBuilder) -> reqwest::ClientBuilder + Send + Sync + 'static,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                customize: Box::new(customize),
                clients: RwLock::new(Vec::new()),
            }),
        }
    }

    /// The client for `connect_timeout`, built if it is the first request with it.
    fn client(&self, connect_timeout: Duration) -> Result<reqwest::Client, TransportError> {
        let find = |clients: &[(Duration, reqwest::Client)]| {
            clients
                .iter()
                .find(|(timeout, _)| *timeout == connect_timeout)
                .map(|(_, client)| client.clone())
        };
        // The read guard is dropped at the end of this statement, before `write` below.
        let built = find(
            &self
                .inner
                .clients
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if let Some(client) = built {
            return Ok(client);
        }
        let mut clients = self
            .inner
            .clients
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Another request may have built it while this one waited for the lock.
        if let Some(client) = find(&clients) {
            return Ok(client);
        }
        let client = (self.inner.customize)(reqwest::Client::builder())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(connect_timeout)
            .build()
            .map_err(|error| {
                let message = format!("reqwest could not build a client: {}", chain(&error));
                TransportError::new(TransportErrorKind::Other, message)
            })?;
        clients.push((connect_timeout, client.clone()));
        Ok(client)
    }
}

impl AsyncHttpClient for ReqwestClient {
    async fn execute(
        &self,
        request: Request<Vec<u8>>,
        limits: RequestLimits,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        let query = request.uri().query().map(str::to_owned);
        let fail = |error| transport_error(error, query.as_deref());
        let client = self.client(limits.connect_timeout)?;
        let mut request = reqwest::Request::try_from(request).map_err(fail)?;
        // Covers connecting, the response head and the whole body.
        *request.timeout_mut() = Some(limits.request_timeout);
        let mut response = client.execute(request).await.map_err(fail)?;
        let max_body_bytes = limits.max_body_bytes;
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
        while let Some(chunk) = response.chunk().await.map_err(fail)? {
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

fn transport_error(error: reqwest::Error, query: Option<&str>) -> TransportError {
    // The URL may carry an API query: keep it out of messages.
    let error = error.without_url();
    let message = without_query(chain(&error), query);
    let kind = if error.is_timeout() {
        TransportErrorKind::Timeout
    } else if message.contains(HYPER_HEAD_TOO_LARGE) {
        TransportErrorKind::HeaderTooLarge
    } else if error.is_connect() {
        TransportErrorKind::Connect
    } else if error.is_body() || error.is_decode() || error.is_request() {
        TransportErrorKind::Io
    } else {
        TransportErrorKind::Other
    };
    TransportError::new(kind, message)
}

/// hyper's message for a response head over its size or header-count limit. hyper says so by
/// a method only when built as a server too, so its message is the one way to tell; if the
/// wording ever changes this degrades to `Io`.
const HYPER_HEAD_TOO_LARGE: &str = "message head is too large";

/// The error and every cause under it, outermost first: reqwest's own message is generic
/// ("error sending request"), the causes say what broke.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let said = inner.to_string();
        // Some errors print their cause already.
        if !message.contains(&said) {
            message.push_str(": ");
            message.push_str(&said);
        }
        cause = inner.source();
    }
    message
}

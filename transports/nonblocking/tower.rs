//! A `tower` layer: any `Service<http::Request<B>>` authorized by a [`Client`].

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use tower_layer::Layer;
use tower_service::Service;

use super::{AsyncHttpClient, Client};
use crate::client::Unauthorized;

/// The errors of an [`AuthService`]: the crate's [`Error`](crate::Error) (no token, a foreign
/// origin) or the inner service's.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Wraps a service (hyper-util's client, a tower stack with retries and timeouts) so that every
/// request it sends carries the token of a [`Client`], taken on the lock-free path while the
/// token is valid. The request body must implement [`ReplayBody`]: value bodies do; for a
/// streaming body (hyper's `Incoming`, a `StreamBody`, a boxed body), wrap it in a newtype of
/// your own that implements `http_body::Body` by delegation and `ReplayBody` with `None`.
///
/// On a `401` the token is reported ([`Client::report_unauthorized`]) and the request sent once
/// more with a new one, if its body can be sent again ([`ReplayBody`]); otherwise, and for a
/// `401` to the retry, the response is returned as it is. Requests to a URL the token may not go
/// to ([`Config::permits_token_to`](crate::Config::permits_token_to)) fail with
/// [`ErrorKind::UntrustedOrigin`](crate::ErrorKind::UntrustedOrigin) before anything is sent.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use http_body_util::Full;
/// use keliweb_oauth::{Config, nonblocking::{AuthLayer, Client, ReqwestClient}};
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// let config = Config::keliweb("client-id", "client-secret").credentials("me@example.com", "pw").build()?;
/// let tokens = Client::new(config, ReqwestClient::default());
/// let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
///     .build_http::<Full<bytes::Bytes>>();
/// let mut api = AuthLayer::new(tokens).layer(hyper);
/// std::future::poll_fn(|cx| api.poll_ready(cx)).await?;
/// let user = api.call(http::Request::get("https://apiv2.keliweb.it/api/user").body(Full::default())?).await?;
/// # Ok(()) }
/// ```
pub struct AuthLayer<H> {
    client: Client<H>,
}

impl<H> AuthLayer<H> {
    /// Authorizes with `client`'s tokens.
    pub fn new(client: Client<H>) -> Self {
        Self { client }
    }
}

impl<H> Clone for AuthLayer<H> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
        }
    }
}

impl<S, H> Layer<S> for AuthLayer<H> {
    type Service = AuthService<S, H>;

    fn layer(&self, inner: S) -> AuthService<S, H> {
        AuthService {
            inner,
            client: self.client.clone(),
        }
    }
}

/// The service [`AuthLayer`] makes.
pub struct AuthService<S, H> {
    inner: S,
    client: Client<H>,
}

impl<S: Clone, H> Clone for AuthService<S, H> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            client: self.client.clone(),
        }
    }
}

/// A request body that can be sent again after a `401`. Implemented for the bodies that are
/// values (`()`, `String`, `Vec<u8>`, `Bytes`, http-body-util's `Full` and `Empty`). A body of
/// your own (or a newtype around a streaming body of another crate) answers `None` when it
/// cannot be sent twice, and the `401` is then returned (and reported, so the next request gets
/// a new token). `tests/clients/tower_layer.rs` shows such a newtype.
pub trait ReplayBody: Sized {
    /// A copy to send again, if there can be one.
    fn replay(&self) -> Option<Self>;
}

macro_rules! replay_by_clone {
    ($($body:ty),*) => {$(
        impl ReplayBody for $body {
            fn replay(&self) -> Option<Self> {
                Some(self.clone())
            }
        }
    )*};
}

replay_by_clone!((), String, Vec<u8>, Bytes);

impl<D: Clone> ReplayBody for http_body_util::Full<D> {
    fn replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<D> ReplayBody for http_body_util::Empty<D> {
    fn replay(&self) -> Option<Self> {
        Some(Self::new())
    }
}

/// A copy of `request` to send again, when its body can be: method, URI, version and headers
/// (not its extensions, which are not all clonable).
fn replay<B: ReplayBody>(request: &Request<B>) -> Option<Request<B>> {
    let mut copy = Request::new(request.body().replay()?);
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    Some(copy)
}

impl<S, H, B, RB> Service<Request<B>> for AuthService<S, H>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    H: AsyncHttpClient,
    B: ReplayBody + Send + 'static,
    RB: Send + 'static,
{
    type Response = Response<RB>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The service that was made ready takes this request; a clone waits for the next.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let client = self.client.clone();
        Box::pin(async move {
            let again = replay(&request);
            let token = client.authorize(&mut request).await?;
            let response = inner.call(request).await.map_err(Into::into)?;
            if response.status() != StatusCode::UNAUTHORIZED {
                return Ok(response);
            }
            match (client.report_unauthorized(token), again) {
                (Unauthorized::RetryWithNewToken, Some(mut again)) => {
                    client.authorize(&mut again).await?;
                    std::future::poll_fn(|cx| inner.poll_ready(cx))
                        .await
                        .map_err(Into::into)?;
                    inner.call(again).await.map_err(Into::into)
                }
                _ => Ok(response),
            }
        })
    }
}

//! The authenticating proxy: each request goes to the API with the Bearer header added by the
//! tower `AuthLayer` (which retries a `401` once with the next token when the body can be sent
//! again), bodies streamed both ways, hop-by-hop headers dropped, no redirect followed, and the
//! caller's own `Authorization` refused.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode, Uri, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use keliweb_oauth::Config;
use keliweb_oauth::nonblocking::{AuthLayer, AuthService, Client, ReplayBody};
use tower_layer::Layer;
use tower_service::Service;

use super::access::SECRET_HEADER;
use super::counted::CountedHttp;
use super::routes::{AgentBody, json_error};
use crate::failure::Failure;

/// A body up to this size is read whole, so a `401` can be retried with it.
const REPLAYABLE: u64 = 1 << 20;

/// Where requests go, and the authorized service that sends them.
pub struct Forwarder {
    base: String,
    service: Option<AuthService<Upstream, CountedHttp>>,
}

impl Forwarder {
    /// Checks that the token may go to `upstream` (the origin policy decides), before any
    /// listener exists.
    pub fn check(config: &Config, upstream: &str) -> Result<Self, Failure> {
        let base = upstream.trim_end_matches('/').to_owned();
        let uri: Uri = format!("{base}/")
            .parse()
            .map_err(|_| Failure::usage(format!("--upstream {upstream}: not a URL")))?;
        if !config.permits_token_to(&uri) {
            return Err(Failure::usage(format!(
                "--upstream {upstream}: the token may not go there (https to the token URL's \
                 host, Keliweb's API hosts, or an origin added with --api-origin)"
            )));
        }
        Ok(Self {
            base,
            service: None,
        })
    }

    /// Authorizes with `client`'s tokens.
    pub fn with_client(self, client: Client<CountedHttp>) -> Self {
        let upstream = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .build()
            .map(Upstream);
        Self {
            service: upstream
                .ok()
                .map(|upstream| AuthLayer::new(client).layer(upstream)),
            ..self
        }
    }

    /// Forwards `request` and streams the answer back.
    pub async fn forward(&self, request: Request<Incoming>) -> Response<AgentBody> {
        let Some(service) = &self.service else {
            return json_error(
                StatusCode::BAD_GATEWAY,
                "no_http_client",
                "the HTTP client could not be built",
            );
        };
        if request.headers().contains_key(header::AUTHORIZATION) {
            return json_error(
                StatusCode::BAD_REQUEST,
                "authorization_refused",
                "send no Authorization header: the proxy adds the token",
            );
        }
        let (mut parts, body) = request.into_parts();
        let path = parts.uri.path_and_query().map_or("/", |path| path.as_str());
        parts.uri = match format!("{}{path}", self.base).parse() {
            Ok(uri) => uri,
            Err(_) => {
                return json_error(StatusCode::BAD_REQUEST, "bad_path", "the path is not valid");
            }
        };
        // Before the hop-by-hop headers go: `Transfer-Encoding` says how the body comes.
        let body = match ProxyBody::read(&parts.headers, body).await {
            Ok(body) => body,
            Err(message) => return json_error(StatusCode::BAD_REQUEST, "bad_body", message),
        };
        drop_hop_by_hop(&mut parts.headers);
        parts.headers.remove(SECRET_HEADER);
        parts.headers.remove(header::HOST);
        let mut service = service.clone();
        match service.call(Request::from_parts(parts, body)).await {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                drop_hop_by_hop(&mut parts.headers);
                Response::from_parts(parts, body.map_err(Into::into).boxed())
            }
            Err(error) => match error.downcast::<keliweb_oauth::Error>() {
                // Scrubbed: no secret in the crate's errors.
                Ok(error) => json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "no_token",
                    &error.to_string(),
                ),
                Err(_) => json_error(
                    StatusCode::BAD_GATEWAY,
                    "upstream_failed",
                    "the API could not be reached",
                ),
            },
        }
    }
}

/// Removes the headers that concern one connection only (RFC 9110, section 7.6.1), including
/// those the `Connection` header names.
fn drop_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<header::HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| name.trim().parse().ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in [
        header::CONNECTION,
        header::PROXY_AUTHENTICATE,
        header::PROXY_AUTHORIZATION,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
    ] {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// A request body: small ones read whole (sent again after a `401`), large or unsized ones
/// streamed (a `401` to them is returned, and the next request gets a new token).
pub enum ProxyBody {
    /// Read whole.
    Whole(Bytes),
    /// Streamed through.
    Streaming(Incoming),
}

impl ProxyBody {
    async fn read(headers: &HeaderMap, body: Incoming) -> Result<Self, &'static str> {
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        let chunked = headers.contains_key(header::TRANSFER_ENCODING);
        match (length, chunked) {
            (None, false) => Ok(Self::Whole(Bytes::new())),
            (Some(length), false) if length <= REPLAYABLE => {
                Limited::new(body, REPLAYABLE as usize)
                    .collect()
                    .await
                    .map(|collected| Self::Whole(collected.to_bytes()))
                    .map_err(|_| "the request body could not be read")
            }
            _ => Ok(Self::Streaming(body)),
        }
    }
}

impl ReplayBody for ProxyBody {
    fn replay(&self) -> Option<Self> {
        match self {
            Self::Whole(bytes) => Some(Self::Whole(bytes.clone())),
            Self::Streaming(_) => None,
        }
    }
}

impl From<ProxyBody> for reqwest::Body {
    fn from(body: ProxyBody) -> Self {
        match body {
            ProxyBody::Whole(bytes) => bytes.into(),
            ProxyBody::Streaming(incoming) => reqwest::Body::wrap(incoming),
        }
    }
}

/// The API, reached through reqwest (redirects not followed).
#[derive(Clone)]
pub struct Upstream(reqwest::Client);

impl Service<Request<ProxyBody>> for Upstream {
    type Response = Response<reqwest::Body>;
    type Error = reqwest::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<ProxyBody>) -> Self::Future {
        let client = self.0.clone();
        Box::pin(async move {
            let request = reqwest::Request::try_from(request.map(reqwest::Body::from))?;
            let response = client.execute(request).await?;
            Ok(Response::from(response))
        })
    }
}

//! A `reqwest-middleware` middleware: a reqwest chain authorized by a [`Client`].

use http::{HeaderMap, Uri};
use reqwest_middleware::{Middleware, Next};

use super::{AsyncHttpClient, Client};
use crate::client::Unauthorized;
use crate::{Error, ErrorKind, TokenId};

/// Authorizes every request of a `reqwest_middleware::ClientWithMiddleware` with the token of
/// a [`Client`], on its lock-free path while the token is valid. On a `401` it reports the
/// token ([`Client::report_unauthorized`]) and sends the request once more with a new token,
/// when reqwest can copy the request (`Request::try_clone`: any body but a stream); a `401`
/// to a request that cannot be copied, or to the retry, is returned as it is.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use keliweb_oauth::{Config, nonblocking::{AuthMiddleware, Client, ReqwestClient}};
///
/// let config = Config::keliweb("client-id", "client-secret").credentials("me@example.com", "pw").build()?;
/// let tokens = Client::new(config, ReqwestClient::default());
/// let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(AuthMiddleware::new(tokens))
///     .build();
/// let user = http.get("https://apiv2.keliweb.it/api/user").send().await?;
/// # Ok(()) }
/// ```
///
/// Requests to a URL the token may not go to
/// ([`Config::permits_token_to`](crate::Config::permits_token_to)) fail with
/// [`ErrorKind::UntrustedOrigin`] before anything is sent.
pub struct AuthMiddleware<H> {
    client: Client<H>,
}

impl<H> AuthMiddleware<H> {
    /// Authorizes with `client`'s tokens.
    pub fn new(client: Client<H>) -> Self {
        Self { client }
    }
}

impl<H: AsyncHttpClient> AuthMiddleware<H> {
    /// Puts the token (and Keliweb's default headers) on `request`.
    async fn authorize(&self, request: &mut reqwest::Request) -> Result<TokenId, Error> {
        let uri: Uri = request.url().as_str().parse().map_err(|_| {
            Error::new(ErrorKind::UntrustedOrigin).with_detail("the URL is not a valid URI")
        })?;
        let mut carrier = http::Request::new(());
        *carrier.uri_mut() = uri;
        let token = self.client.authorize(&mut carrier).await?;
        copy_headers(carrier.headers(), request.headers_mut());
        Ok(token)
    }
}

/// Sets `Authorization` from `from` on `to`, and the other headers of `from` (Keliweb's
/// defaults) only where `to` has none: a caller's own `Accept` or `User-Agent` stays.
fn copy_headers(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        if name == http::header::AUTHORIZATION || !to.contains_key(name) {
            to.insert(name.clone(), value.clone());
        }
    }
}

#[async_trait::async_trait]
impl<H: AsyncHttpClient> Middleware for AuthMiddleware<H> {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let retry = request.try_clone();
        let token = self
            .authorize(&mut request)
            .await
            .map_err(reqwest_middleware::Error::middleware)?;
        let response = next.clone().run(request, extensions).await?;
        if response.status() != http::StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        match (self.client.report_unauthorized(token), retry) {
            (Unauthorized::RetryWithNewToken, Some(mut again)) => {
                self.authorize(&mut again)
                    .await
                    .map_err(reqwest_middleware::Error::middleware)?;
                next.run(again, extensions).await
            }
            _ => Ok(response),
        }
    }
}

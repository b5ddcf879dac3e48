//! The hot path: putting a valid token on an API request.
//!
//! The `Authorization` header value is built once per token; applying it clones a reference-
//! counted `HeaderValue` and allocates nothing.

use std::fmt;
use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::{HeaderValue, Request};

use crate::headers;
use crate::origin::OriginPolicy;
use crate::time::UnixTime;

/// Identifies one access token the session held, so an API `401` can say which token it refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId(pub(crate) u64);

/// A ready-to-use `Authorization: Bearer …` header, valid until [`usable_until`](Self::usable_until).
///
/// Cheap to clone (reference-counted), `Send + Sync`, so a transport can publish it for lock-free
/// readers. `Debug` never shows the token.
#[derive(Clone)]
pub struct Authorization {
    header: HeaderValue,
    user_agent: HeaderValue,
    usable_until: UnixTime,
    refresh_at: UnixTime,
    token_id: TokenId,
    origins: Arc<OriginPolicy>,
}

/// Why a request could not be authorized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAuthorized {
    /// The session holds no usable access token: call [`Session::poll`](crate::Session::poll).
    #[error("no usable access token; poll the session for one")]
    NoToken,
    /// The token has reached its expiry minus the leeway.
    #[error("the access token has reached its expiry minus the leeway")]
    Expired,
    /// The request goes to a URL the token may not be sent to (see
    /// [`Config::permits_token_to`](crate::Config::permits_token_to)): another host, or plain
    /// http to a host that is not loopback.
    #[error("the request's URL is not an origin the access token may be sent to")]
    UntrustedOrigin,
}

impl Authorization {
    /// `header`: the token set's `Bearer` header (its buffer is shared, not copied).
    pub(crate) fn new(
        header: &HeaderValue,
        user_agent: &HeaderValue,
        usable_until: UnixTime,
        refresh_at: UnixTime,
        token_id: TokenId,
        origins: Arc<OriginPolicy>,
    ) -> Self {
        Self {
            header: header.clone(),
            user_agent: user_agent.clone(),
            usable_until,
            refresh_at,
            token_id,
            origins,
        }
    }

    /// A placeholder that is never usable, for drivers that publish "no token" lock-free.
    #[cfg(any(feature = "blocking", feature = "nonblocking"))]
    pub(crate) fn never_usable() -> Self {
        Self {
            header: HeaderValue::from_static("Bearer -"),
            user_agent: HeaderValue::from_static(""),
            usable_until: UnixTime::EPOCH,
            refresh_at: UnixTime::EPOCH,
            token_id: TokenId(0),
            origins: Arc::default(),
        }
    }

    /// Whether the token may still be handed out at `now` (strictly before expiry − leeway).
    #[must_use]
    #[inline]
    pub fn is_usable_at(&self, now: UnixTime) -> bool {
        now < self.usable_until
    }

    /// The instant from which this token is no longer handed out (expiry − leeway).
    #[must_use]
    pub fn usable_until(&self) -> UnixTime {
        self.usable_until
    }

    /// From when a replacement is due (refresh ahead): the token is still usable until
    /// [`usable_until`](Self::usable_until), and a driver fetches its successor meanwhile. See
    /// [`ConfigBuilder::refresh_ahead`](crate::ConfigBuilder::refresh_ahead).
    #[must_use]
    #[inline]
    pub fn refresh_at(&self) -> UnixTime {
        self.refresh_at
    }

    /// Moves the refresh-ahead point: a restored set's is placed once it is first used.
    pub(crate) fn set_refresh_at(&mut self, at: UnixTime) {
        self.refresh_at = at.min(self.usable_until);
    }

    /// Which token this is.
    #[must_use]
    pub fn token_id(&self) -> TokenId {
        self.token_id
    }

    /// The header value, marked sensitive so HTTP libraries keep it out of their logs.
    /// It holds the access token: keep it out of yours.
    #[must_use]
    pub fn expose_header_value(&self) -> &HeaderValue {
        &self.header
    }

    /// Sets `Authorization` on `request` and adds `Accept: application/json`,
    /// `X-Requested-With: XMLHttpRequest` and the `User-Agent` where the caller set none.
    ///
    /// # Errors
    /// [`NotAuthorized::UntrustedOrigin`] when the request's URL is not one the token may go to,
    /// [`NotAuthorized::Expired`] at or after [`usable_until`](Self::usable_until); either way
    /// the request is left untouched.
    #[inline]
    pub fn apply<B>(
        &self,
        now: UnixTime,
        request: &mut Request<B>,
    ) -> Result<TokenId, NotAuthorized> {
        if !self.origins.permits(request.uri()) {
            return Err(NotAuthorized::UntrustedOrigin);
        }
        if !self.is_usable_at(now) {
            return Err(NotAuthorized::Expired);
        }
        Ok(self.insert_into(request))
    }

    /// Puts the header on `request`, for a driver that checked the origin and the time itself.
    #[inline]
    pub(crate) fn insert_into<B>(&self, request: &mut Request<B>) -> TokenId {
        let headers = request.headers_mut();
        headers.insert(AUTHORIZATION, self.header.clone());
        headers::add_api_defaults(headers, &self.user_agent);
        self.token_id
    }
}

impl fmt::Debug for Authorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authorization")
            .field("header", &"Bearer [redacted]")
            .field("usable_until", &self.usable_until)
            .field("refresh_at", &self.refresh_at)
            .field("token_id", &self.token_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::AllowedOrigin;

    #[test]
    fn applies_a_sensitive_bearer_header_until_expiry_minus_leeway() {
        let agent = HeaderValue::from_static("agent");
        let origins = OriginPolicy::new(
            AllowedOrigin::of(&http::Uri::from_static("https://api.example"), false)
                .into_iter()
                .collect(),
        );
        let tokens = crate::TokenSet::new(
            crate::AccessToken::new("tok"),
            UnixTime::from_secs(200),
            None,
        )
        .unwrap();
        let auth = Authorization::new(
            tokens.bearer_header(),
            &agent,
            UnixTime::from_secs(100),
            UnixTime::from_secs(90),
            TokenId(1),
            Arc::new(origins),
        );
        let mut request = Request::get("https://api.example/x").body(()).unwrap();
        request
            .headers_mut()
            .insert("accept", HeaderValue::from_static("text/csv"));
        assert_eq!(
            auth.apply(UnixTime::from_secs(99), &mut request),
            Ok(TokenId(1))
        );
        let header = &request.headers()[AUTHORIZATION];
        assert_eq!(header, "Bearer tok");
        assert!(header.is_sensitive());
        assert_eq!(
            request.headers()["accept"],
            "text/csv",
            "a caller's own Accept is kept"
        );
        assert_eq!(request.headers()["x-requested-with"], "XMLHttpRequest");
        assert_eq!(
            request.headers()["user-agent"],
            "agent",
            "the default User-Agent is added"
        );

        // A caller's own User-Agent is kept, whatever other headers it set.
        let mut own = Request::get("https://api.example/x")
            .header("x-custom", "1")
            .header("user-agent", "mine/2")
            .body(())
            .unwrap();
        auth.apply(UnixTime::from_secs(99), &mut own).unwrap();
        assert_eq!(own.headers()["user-agent"], "mine/2");
        assert_eq!(own.headers()["accept"], "application/json");
        // Other headers alone do not count as a User-Agent.
        let mut other = Request::get("https://api.example/x")
            .header("x-custom", "1")
            .body(())
            .unwrap();
        auth.apply(UnixTime::from_secs(99), &mut other).unwrap();
        assert_eq!(other.headers()["user-agent"], "agent");

        let mut elsewhere = Request::get("https://other.example/x").body(()).unwrap();
        assert_eq!(
            auth.apply(UnixTime::from_secs(99), &mut elsewhere),
            Err(NotAuthorized::UntrustedOrigin)
        );
        assert!(elsewhere.headers().is_empty());

        let mut late = Request::get("https://api.example/x").body(()).unwrap();
        assert_eq!(
            auth.apply(UnixTime::from_secs(100), &mut late),
            Err(NotAuthorized::Expired)
        );
        assert!(late.headers().is_empty());
        let shown = format!("{auth:?}");
        assert!(!shown.contains("tok\""), "{shown}");
        assert!(
            shown.contains("Bearer [redacted]") && shown.contains("TokenId(1)"),
            "{shown}"
        );
    }
}

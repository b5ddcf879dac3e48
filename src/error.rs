//! Errors, grouped by what the caller should do about them.
//!
//! [`Error`] and its [`ErrorKind`] (also at the crate root) are what every operation returns.
//! An error carries the server's answer ([`ResponseDetails`], [`RetryAfter`]) or the failure of
//! a part: an HTTP client's [`TransportError`], a token store's [`StoreError`]. An HTTP client
//! or a store of your own reports its failures with these. [`InvalidToken`] is why
//! [`TokenSet::new`](crate::TokenSet::new) refused a set.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

pub use crate::store_error::{StoreError, StoreErrorKind};
use crate::time::UnixTime;
pub use crate::token_set::InvalidToken;

/// What went wrong, as a decision for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The server refused the client id or secret (`invalid_client`, `unauthorized_client`).
    /// Fix the configuration; retrying cannot help.
    InvalidClient,
    /// The server refused the username or password (`invalid_grant` or `invalid_credentials` on
    /// the password grant). The session stops until [`Session::login`](crate::Session::login)
    /// supplies new credentials: it never resends a refused password by itself.
    InvalidCredentials,
    /// The refresh grant was refused because the refresh token is dead (both Passport shapes:
    /// 401 `invalid_request` up to 8.x, 400 `invalid_grant` from 9.x). The refresh token is
    /// dropped and the session falls back to one password login when it has the password
    /// (`docs/passport.md#dead-refresh-token`).
    RefreshTokenRejected,
    /// No usable token and no credentials to log in with: the refresh token is dead (expired,
    /// revoked, already used) or was never there. Call [`Session::login`](crate::Session::login).
    LoginRequired,
    /// The server refused the request itself (`invalid_request`, `unsupported_grant_type`,
    /// `invalid_scope`, or an unknown error code). A bug or a server change; retrying the same
    /// request cannot help.
    InvalidRequest,
    /// Too many requests (HTTP 429). Retry after [`Error::retry_after`].
    RateLimited,
    /// The token store other processes share could not be used ([`Error::store_error`] says
    /// how): no token request was sent, so that no process refreshes a set another one may
    /// already have replaced, and the tokens held are kept.
    Store,
    /// The server failed (5xx, `server_error`, `temporarily_unavailable`). Worth retrying.
    ServerError,
    /// The response is not what a token (or revocation) endpoint sends: a 404 (the URL is
    /// probably wrong), a redirect, an HTML or plain-text page, a body that is not JSON, a token
    /// type other than Bearer, a missing or unusable access token, or an `expires_in` that is
    /// not a positive number.
    UnexpectedResponse,
    /// The request never got a complete response (connect, timeout, reset, body over the cap),
    /// as reported by the transport. Worth retrying; no token was dropped.
    Transport,
    /// The response does not answer the request in flight (unknown id, or late): it was refused
    /// and the session is unchanged.
    ResponseMismatch,
    /// The server issued a token that expires within the leeway, so it can never be handed out.
    /// The tokens are stored; lower the leeway for such a server.
    LifetimeWithinLeeway,
    /// An API request goes to a URL the access token may not be sent to (another host, or plain
    /// http to a host that is not loopback). Nothing was sent; add the origin with
    /// [`ConfigBuilder::api_origin`](crate::ConfigBuilder::api_origin) if it is trusted.
    UntrustedOrigin,
}

impl ErrorKind {
    /// Whether the same request may succeed if sent again later.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::ServerError | Self::Transport
        )
    }

    /// The kind in words.
    #[cfg(feature = "tracing")]
    pub(crate) fn summary(self) -> &'static str {
        self.describe()
    }

    fn describe(self) -> &'static str {
        match self {
            Self::InvalidClient => "the server refused the client id or secret",
            Self::InvalidCredentials => "the server refused the username or password",
            Self::RefreshTokenRejected => {
                "the server refused the refresh token (expired, revoked or already used)"
            }
            Self::LoginRequired => {
                "a password login is required (no usable token or refresh token)"
            }
            Self::InvalidRequest => "the server refused the request as invalid",
            Self::RateLimited => "the server is rate limiting token requests",
            Self::ServerError => "the server failed",
            Self::UnexpectedResponse => "the server sent a response a token endpoint does not send",
            Self::Transport => "the request failed in transport",
            Self::ResponseMismatch => "the response does not answer the request in flight",
            Self::LifetimeWithinLeeway => {
                "the server issued a token that expires within the leeway"
            }
            Self::UntrustedOrigin => "the access token may not be sent to this URL",
            Self::Store => "the token store failed, so no token request was sent",
        }
    }
}

/// When to retry, from a `Retry-After` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    /// After this long.
    Delay(Duration),
    /// At this instant (an HTTP date).
    At(UnixTime),
}

impl RetryAfter {
    /// The instant to retry at, counting a delay from `now`.
    #[must_use]
    pub fn instant(self, now: UnixTime) -> UnixTime {
        match self {
            Self::Delay(delay) => now.saturating_add(delay),
            Self::At(at) => at,
        }
    }
}

/// What the server said, kept so a caller can log and act on it. Contains no secret: the body
/// excerpt is capped, scrubbed of every secret the session knows (and of any run of six of its
/// characters, fewer for a short one), and withheld entirely when it carries tokens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResponseDetails {
    pub(crate) status: StatusCode,
    pub(crate) error: Option<String>,
    pub(crate) description: Option<String>,
    pub(crate) hint: Option<String>,
    pub(crate) retry_after: Option<RetryAfter>,
    pub(crate) body_excerpt: String,
    pub(crate) body_len: usize,
}

impl ResponseDetails {
    /// How much of a response body an error quotes, in bytes.
    pub const BODY_EXCERPT_LIMIT: usize = BODY_EXCERPT_LIMIT;

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.status
    }
    /// The OAuth `error` code, e.g. `invalid_grant`.
    #[must_use]
    pub fn error_code(&self) -> Option<&str> {
        self.error.as_deref()
    }
    /// `error_description`, or Passport's `message` when there is no description.
    #[must_use]
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// Passport's `hint` (e.g. "Token has been revoked"), if not empty.
    #[must_use]
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
    /// The parsed `Retry-After` header, if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<RetryAfter> {
        self.retry_after
    }
    /// The start of the body (at most [`BODY_EXCERPT_LIMIT`](Self::BODY_EXCERPT_LIMIT) bytes, lossily decoded, secrets
    /// scrubbed).
    #[must_use]
    pub fn body_excerpt(&self) -> &str {
        &self.body_excerpt
    }
    /// The whole body's length in bytes.
    #[must_use]
    pub fn body_len(&self) -> usize {
        self.body_len
    }
}

/// How much of a response body an error quotes.
pub(crate) const BODY_EXCERPT_LIMIT: usize = 2048;

/// A failed step of the token lifecycle. `Clone`, so one failed refresh can be handed to every
/// caller that waited on it; `PartialEq`, so tests can compare errors whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    detail: Option<String>,
    response: Option<Box<ResponseDetails>>,
    store: Option<Box<StoreError>>,
    /// The answer to a revocation, not to a token request: the message names that endpoint.
    from_revocation: bool,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            kind,
            detail: None,
            response: None,
            store: None,
            from_revocation: false,
        }
    }

    pub(crate) fn for_revocation(mut self) -> Self {
        self.from_revocation = true;
        self
    }

    /// What went wrong, in words naming the endpoint that answered.
    fn summary(&self) -> &'static str {
        let not_found = self.status() == Some(StatusCode::NOT_FOUND);
        match (self.kind, self.from_revocation) {
            // A 404 is nearly always a mistyped or outdated URL in the configuration.
            (ErrorKind::UnexpectedResponse, false) if not_found => {
                "the token URL is probably wrong: the server has no such endpoint"
            }
            (ErrorKind::UnexpectedResponse, true) if not_found => {
                "the revocation URL is probably wrong: the server has no such endpoint"
            }
            (ErrorKind::UnexpectedResponse, true) => {
                "the server sent a response a revocation endpoint does not send"
            }
            (ErrorKind::RateLimited, true) => "the server is rate limiting revocation requests",
            (kind, _) => kind.describe(),
        }
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub(crate) fn with_response(mut self, response: ResponseDetails) -> Self {
        self.response = Some(Box::new(response));
        self
    }

    pub(crate) fn with_kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }

    /// What the caller should do.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the same request may succeed later.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        match &self.store {
            Some(store) => store.is_retryable(),
            None => self.kind.is_retryable(),
        }
    }

    /// The store's failure, for [`ErrorKind::Store`].
    #[must_use]
    pub fn store_error(&self) -> Option<&StoreError> {
        self.store.as_deref()
    }

    /// What the server sent, when the error came from a response.
    #[must_use]
    pub fn response(&self) -> Option<&ResponseDetails> {
        self.response.as_deref()
    }

    /// The HTTP status, when the error came from a response.
    #[must_use]
    pub fn status(&self) -> Option<StatusCode> {
        self.response.as_ref().map(|response| response.status)
    }

    /// The `Retry-After` the server sent, if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<RetryAfter> {
        self.response
            .as_ref()
            .and_then(|response| response.retry_after)
    }

    /// A short explanation beyond the kind (which field was wrong, what the transport said).
    #[must_use]
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from_revocation {
            f.write_str("revocation failed: ")?;
        }
        f.write_str(self.summary())?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(response) = &self.response {
            write!(f, " (HTTP {}", response.status.as_u16())?;
            if let Some(code) = &response.error {
                write!(f, ", {code}")?;
            }
            if let Some(description) = &response.description {
                write!(f, ": {description}")?;
            }
            if let Some(hint) = &response.hint {
                write!(f, "; hint: {hint}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.store
            .as_deref()
            .map(|store| store as &(dyn std::error::Error + 'static))
    }
}

impl From<StoreError> for Error {
    fn from(store: StoreError) -> Self {
        let mut error = Self::new(ErrorKind::Store).with_detail(store.to_string());
        error.store = Some(Box::new(store));
        error
    }
}

/// Why a transport could not deliver a request or its response, as the transport reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Could not connect (DNS, refused, TLS handshake).
    Connect,
    /// A connect or read timeout.
    Timeout,
    /// The connection broke while sending or receiving.
    Io,
    /// The response body was larger than the transport's cap.
    BodyTooLarge,
    /// The response's status line and headers were larger than the HTTP library accepts (too
    /// long, or too many lines): a broken or hostile server, or a proxy in between.
    HeaderTooLarge,
    /// Anything else.
    Other,
}

/// A transport failure to feed back into the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransportError {
    kind: TransportErrorKind,
    message: String,
}

impl TransportError {
    /// A failure of `kind`; `message` is for humans (do not put secrets in it).
    pub fn new(kind: TransportErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// What failed.
    #[must_use]
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// What the transport said.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

impl std::error::Error for TransportError {}

impl From<TransportError> for Error {
    fn from(error: TransportError) -> Self {
        Error::new(ErrorKind::Transport).with_detail(error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_kind_status_code_and_description() {
        let error = Error::new(ErrorKind::InvalidCredentials).with_response(ResponseDetails {
            status: StatusCode::BAD_REQUEST,
            error: Some("invalid_grant".into()),
            description: Some("The user credentials were incorrect.".into()),
            hint: None,
            retry_after: None,
            body_excerpt: String::new(),
            body_len: 0,
        });
        assert_eq!(
            error.to_string(),
            "the server refused the username or password (HTTP 400, invalid_grant: The user credentials were incorrect.)"
        );
        assert!(!error.is_retryable());
        assert!(
            Error::from(TransportError::new(TransportErrorKind::Timeout, "read")).is_retryable()
        );
    }

    #[test]
    fn a_transport_error_keeps_its_kind_and_message_into_the_error() {
        let failure = TransportError::new(TransportErrorKind::Connect, "connection refused");
        assert_eq!(failure.kind(), TransportErrorKind::Connect);
        assert_eq!(failure.message(), "connection refused");
        assert_eq!(failure.to_string(), "Connect: connection refused");
        let error = Error::from(failure);
        assert_eq!(error.kind(), ErrorKind::Transport);
        assert_eq!(error.detail(), Some("Connect: connection refused"));
        assert_eq!(
            error.to_string(),
            "the request failed in transport: Connect: connection refused"
        );
    }
}

//! The token set: what a program stores so it can restart without logging in again.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderValue;
use serde::{Deserialize, Serialize};

use crate::headers;
use crate::secret::{AccessToken, RefreshToken};
use crate::shared_secret::{self, SharedText};
use crate::time::UnixTime;
use crate::wipe;

/// Longest access token accepted. Servers refuse header lines far shorter than this (nginx and
/// Apache stop at 8 KiB), so a longer one could never be used; Passport's JWTs are about 1 KiB
/// (`docs/passport.md#success-body`).
pub(crate) const MAX_ACCESS_TOKEN_LEN: usize = 16 * 1024;

/// An access token and its refresh token, with absolute expiry times.
///
/// `Serialize`/`Deserialize` write the token values themselves (this is what persistence is
/// for): protect the storage you write them to. Two sets are equal when all of their fields
/// are, [`obtained_at`](Self::obtained_at) included. Deserializing checks the same rules as a server
/// response, so a tampered file cannot smuggle a header-breaking token in.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredTokenSet", into = "StoredTokenSet")]
pub struct TokenSet {
    access_token: Bearer,
    access_token_expires_at: UnixTime,
    /// In the access token's buffer when they came together: one buffer for both, wiped when
    /// the last of the set's clones and of the headers made from it drops.
    refresh_token: Option<SharedText>,
    refresh_token_expires_at: Option<UnixTime>,
    /// Shared with the credentials that logged in, and with the sets refreshed from this one.
    username: Option<Arc<str>>,
    scope: Option<String>,
    obtained_at: Option<UnixTime>,
}

impl TokenSet {
    /// Longest access token accepted, in bytes: servers refuse header lines far shorter
    /// than this, so a longer one could never be used.
    pub const MAX_ACCESS_TOKEN_LEN: usize = MAX_ACCESS_TOKEN_LEN;

    /// A token set from its parts, checked as a server response would be.
    ///
    /// # Errors
    /// [`InvalidToken`] if the access token is empty, too long, or not printable ASCII.
    pub fn new(
        access_token: AccessToken,
        access_token_expires_at: UnixTime,
        refresh_token: Option<(RefreshToken, UnixTime)>,
    ) -> Result<Self, InvalidToken> {
        let refresh_token = refresh_token.filter(|(token, _)| !token.expose_secret().is_empty());
        let (access_token, refresh) = Bearer::with_refresh_token(
            access_token.expose_secret(),
            refresh_token
                .as_ref()
                .map(|(token, _)| token.expose_secret()),
        )?;
        let refresh = refresh.zip(refresh_token.map(|(_, expires_at)| expires_at));
        Ok(Self::from_parts(
            access_token,
            access_token_expires_at,
            refresh,
        ))
    }

    /// The same set, recorded as obtained at `at`: when the answer that brought it arrived.
    /// The refresh-ahead point of a restored set is placed from it
    /// ([`ConfigBuilder::refresh_ahead`](crate::ConfigBuilder::refresh_ahead)); sets the
    /// session makes carry it already, and it is stored with them.
    #[must_use]
    pub fn with_obtained_at(mut self, at: UnixTime) -> Self {
        self.obtained_at = Some(at);
        self
    }

    /// When the answer that brought this set arrived, when known: every set from a token
    /// answer knows it, and a set restored from an older store, or made by [`TokenSet::new`]
    /// without [`with_obtained_at`](Self::with_obtained_at), does not.
    #[must_use]
    pub fn obtained_at(&self) -> Option<UnixTime> {
        self.obtained_at
    }

    /// The same set, recorded as belonging to `username` (the account that logged in).
    #[must_use]
    pub fn with_username(self, username: impl Into<String>) -> Self {
        self.with_owner(Some(Arc::from(username.into())))
    }

    /// The account these tokens were issued to, when known: sets from a password grant know
    /// it, and a refresh keeps it. [`Session::login`](crate::Session::login) with another
    /// username stops handing out a set's token at once.
    #[must_use]
    pub fn username(&self) -> Option<&str> {
        self.username.as_deref()
    }

    /// The scope the server granted, when its answer said (see
    /// [`ConfigBuilder::scope`](crate::ConfigBuilder::scope)); a refresh that does not say keeps
    /// the previous one.
    #[must_use]
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The access token.
    #[must_use]
    pub fn access_token(&self) -> AccessToken {
        AccessToken::new(self.access_token.token())
    }

    /// When the access token expires: the server's `expires_in` (capped by
    /// [`ConfigBuilder::max_access_token_lifetime`](crate::ConfigBuilder::max_access_token_lifetime))
    /// counted from when the token request was sent, since the server's clock started before
    /// its answer crossed the network.
    #[must_use]
    pub fn access_token_expires_at(&self) -> UnixTime {
        self.access_token_expires_at
    }

    /// The refresh token, if the server sent one.
    #[must_use]
    pub fn refresh_token(&self) -> Option<RefreshToken> {
        self.refresh_token_str().map(RefreshToken::new)
    }

    /// When the refresh token expires, by the configured refresh-token lifetime.
    #[must_use]
    pub fn refresh_token_expires_at(&self) -> Option<UnixTime> {
        self.refresh_token_expires_at
    }

    pub(crate) fn access_token_str(&self) -> &str {
        self.access_token.token()
    }

    /// `Authorization: Bearer <access token>`, in the buffer the set keeps the token in.
    pub(crate) fn bearer_header(&self) -> &HeaderValue {
        self.access_token.header()
    }

    pub(crate) fn refresh_token_str(&self) -> Option<&str> {
        self.refresh_token.as_ref().map(SharedText::as_str)
    }

    pub(crate) fn shared_refresh_token(&self) -> Option<&SharedText> {
        self.refresh_token.as_ref()
    }

    /// The refresh token if it has not expired at `now`.
    pub(crate) fn live_refresh_token(&self, now: UnixTime) -> Option<&str> {
        match (self.refresh_token_str(), self.refresh_token_expires_at) {
            (Some(token), Some(expires_at)) if now < expires_at => Some(token),
            _ => None,
        }
    }

    /// Replaces the refresh token after the server rotated it (Passport revokes the old one
    /// when it issues the next). The old one is wiped when the last holder of its buffer drops:
    /// a clone of this set, or, when it came with the access token, that token (this set keeps
    /// it until it is replaced) or a header made from it.
    pub(crate) fn replace_refresh_token(&mut self, token: SharedText, expires_at: UnixTime) {
        self.refresh_token = Some(token);
        self.refresh_token_expires_at = Some(expires_at);
    }

    /// Forgets a refresh token the server refused; wiped as [`Self::replace_refresh_token`] says.
    pub(crate) fn forget_refresh_token(&mut self) {
        self.refresh_token = None;
        self.refresh_token_expires_at = None;
    }

    pub(crate) fn from_parts(
        access_token: Bearer,
        access_token_expires_at: UnixTime,
        refresh_token: Option<(SharedText, UnixTime)>,
    ) -> Self {
        let (refresh_token, refresh_token_expires_at) = refresh_token.unzip();
        Self {
            access_token,
            access_token_expires_at,
            refresh_token,
            refresh_token_expires_at,
            username: None,
            scope: None,
            obtained_at: None,
        }
    }

    /// The account name, shared rather than copied.
    pub(crate) fn shared_username(&self) -> Option<&Arc<str>> {
        self.username.as_ref()
    }

    pub(crate) fn with_owner(mut self, username: Option<Arc<str>>) -> Self {
        self.username = username;
        self
    }

    pub(crate) fn with_scope(mut self, scope: Option<String>) -> Self {
        self.scope = scope;
        self
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field("access_token_expires_at", &self.access_token_expires_at)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("refresh_token_expires_at", &self.refresh_token_expires_at)
            .field("username", &self.username)
            .field("obtained_at", &self.obtained_at)
            .finish()
    }
}

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidToken {
    /// The access token is empty.
    #[error("the access token is empty")]
    Empty,
    /// The access token is longer than [`TokenSet::MAX_ACCESS_TOKEN_LEN`] bytes.
    #[error("the access token is {0} bytes long, over the {MAX_ACCESS_TOKEN_LEN}-byte limit")]
    TooLong(usize),
    /// The access token has a byte that is not printable ASCII (space, CR, LF, a control
    /// character or non-ASCII), so it cannot go into a header safely.
    #[error("the access token has a byte that cannot go into an HTTP header (at offset {0})")]
    BadByte(usize),
}

/// What comes before the access token in the `Authorization` header.
pub(crate) const BEARER_SCHEME: &str = "Bearer ";

/// An access token, kept as the `Authorization: Bearer <token>` header that sends it: one
/// buffer (`shared_secret`), shared by the token set and every header handed out for it, and
/// wiped when the last of them drops.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Bearer(HeaderValue);

impl Bearer {
    /// The header of `access_token`, checked first, and `refresh_token` after it in the same
    /// buffer (sized once, so it never grows and leaves a copy behind).
    fn with_refresh_token(
        access_token: &str,
        refresh_token: Option<&str>,
    ) -> Result<(Self, Option<SharedText>), InvalidToken> {
        check_access_token(access_token)?;
        let refresh_token = refresh_token.unwrap_or_default();
        let header_len = BEARER_SCHEME.len() + access_token.len();
        let mut buffer = Vec::with_capacity(header_len + refresh_token.len());
        buffer.extend_from_slice(BEARER_SCHEME.as_bytes());
        buffer.extend_from_slice(access_token.as_bytes());
        buffer.extend_from_slice(refresh_token.as_bytes());
        let refresh_start = (!refresh_token.is_empty()).then_some(header_len);
        let (header, refresh) =
            shared_secret::split_tokens(buffer, Some(header_len), refresh_start);
        Ok((Self::checked(header.unwrap_or_default())?, refresh))
    }

    /// The header in `header`: [`BEARER_SCHEME`], then a token `check_access_token` passed.
    pub(crate) fn checked(header: Bytes) -> Result<Self, InvalidToken> {
        // A checked token is printable ASCII, which a header value always takes.
        headers::sensitive(header)
            .map(Self)
            .ok_or(InvalidToken::BadByte(0))
    }

    /// The access token itself.
    pub(crate) fn token(&self) -> &str {
        self.0
            .as_bytes()
            .get(BEARER_SCHEME.len()..)
            .and_then(|token| std::str::from_utf8(token).ok())
            .unwrap_or_default()
    }

    fn header(&self) -> &HeaderValue {
        &self.0
    }
}

/// Checks an access token can be sent as `Authorization: Bearer <token>`.
pub(crate) fn check_access_token(token: &str) -> Result<(), InvalidToken> {
    check_access_token_len(token.len())?;
    // One pass without an early exit (the compiler vectorizes it) for the usual good token;
    // the offending byte is looked for only in a bad one.
    if token
        .bytes()
        .fold(true, |good, byte| good & byte.is_ascii_graphic())
    {
        return Ok(());
    }
    match token.bytes().position(|byte| !byte.is_ascii_graphic()) {
        Some(offset) => Err(InvalidToken::BadByte(offset)),
        None => Ok(()),
    }
}

/// The length rules of [`check_access_token`], for a token known to be printable ASCII.
pub(crate) fn check_access_token_len(len: usize) -> Result<(), InvalidToken> {
    match len {
        0 => Err(InvalidToken::Empty),
        len if len > MAX_ACCESS_TOKEN_LEN => Err(InvalidToken::TooLong(len)),
        _ => Ok(()),
    }
}

/// The stored form; private so the checked invariants hold for every `TokenSet`.
#[derive(Serialize, Deserialize)]
struct StoredTokenSet {
    access_token: String,
    access_token_expires_at: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token_expires_at: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
    /// Absent from sets stored before it was kept: their refresh-ahead point is placed from
    /// when they are first used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    obtained_at: Option<UnixTime>,
}

impl TryFrom<StoredTokenSet> for TokenSet {
    type Error = InvalidToken;

    fn try_from(mut stored: StoredTokenSet) -> Result<Self, InvalidToken> {
        // Both copied into one buffer; `stored` wipes its own when dropped.
        let expires_at = stored.refresh_token_expires_at;
        let refresh_token = stored
            .refresh_token
            .as_deref()
            .filter(|_| expires_at.is_some());
        let (access_token, refresh) =
            Bearer::with_refresh_token(&stored.access_token, refresh_token)?;
        let refresh = refresh.zip(expires_at);
        let mut set = Self::from_parts(access_token, stored.access_token_expires_at, refresh)
            .with_owner(stored.username.take().map(Arc::from))
            .with_scope(stored.scope.take());
        set.obtained_at = stored.obtained_at;
        Ok(set)
    }
}

impl From<TokenSet> for StoredTokenSet {
    fn from(set: TokenSet) -> Self {
        Self {
            access_token: set.access_token.token().to_owned(),
            access_token_expires_at: set.access_token_expires_at,
            refresh_token: set.refresh_token_str().map(str::to_owned),
            refresh_token_expires_at: set.refresh_token_expires_at,
            username: set.username.as_deref().map(str::to_owned),
            scope: set.scope.clone(),
            obtained_at: set.obtained_at,
        }
    }
}

impl Drop for StoredTokenSet {
    fn drop(&mut self) {
        wipe::string(&mut self.access_token);
        wipe::optional(&mut self.refresh_token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json_with_absolute_times() {
        let set = TokenSet::new(
            AccessToken::new("eyJ.abc.def"),
            UnixTime::from_secs(1_800_000_000),
            Some((
                RefreshToken::new("def50200aa"),
                UnixTime::from_secs(1_800_864_000),
            )),
        )
        .unwrap();
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(
            json,
            r#"{"access_token":"eyJ.abc.def","access_token_expires_at":1800000000000,"refresh_token":"def50200aa","refresh_token_expires_at":1800864000000}"#
        );
        assert_eq!(serde_json::from_str::<TokenSet>(&json).unwrap(), set);
    }

    #[test]
    fn sets_differing_only_in_their_refresh_token_are_not_equal() {
        let at = UnixTime::from_secs(1_800_000_000);
        let with = |refresh: &str| {
            TokenSet::new(
                AccessToken::new("eyJ.abc.def"),
                at,
                Some((RefreshToken::new(refresh), at)),
            )
        };
        assert_eq!(with("def50200aa"), with("def50200aa"));
        assert_ne!(with("def50200aa"), with("def50200ab"));
    }

    #[test]
    fn an_empty_stored_refresh_token_is_no_refresh_token() {
        let json = r#"{"access_token":"a.b.c","access_token_expires_at":1,"refresh_token":"","refresh_token_expires_at":2}"#;
        let set: TokenSet = serde_json::from_str(json).unwrap();
        assert!(set.refresh_token().is_none());
        assert_eq!(set.refresh_token_expires_at(), None);
    }

    #[test]
    fn debug_shows_the_times_and_owner_but_no_token() {
        let set = TokenSet::new(
            AccessToken::new("eyJ.secret.access"),
            UnixTime::from_secs(1_800_000_000),
            Some((
                RefreshToken::new("def50200secret"),
                UnixTime::from_secs(1_800_864_000),
            )),
        )
        .unwrap()
        .with_username("me@example.com");
        let shown = format!("{set:?}");
        for expected in ["[redacted]", "1800000000", "1800864000", "me@example.com"] {
            assert!(shown.contains(expected), "{expected} missing from {shown}");
        }
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn a_tampered_store_cannot_inject_header_bytes() {
        let json = r#"{"access_token":"abc\r\nX-Evil: 1","access_token_expires_at":1}"#;
        let error = serde_json::from_str::<TokenSet>(json).unwrap_err();
        assert!(
            error.to_string().contains("cannot go into an HTTP header"),
            "{error}"
        );
    }

    #[test]
    fn access_token_rules() {
        assert_eq!(check_access_token(""), Err(InvalidToken::Empty));
        assert_eq!(check_access_token("a b"), Err(InvalidToken::BadByte(1)));
        assert_eq!(
            check_access_token("tok\u{e9}"),
            Err(InvalidToken::BadByte(3))
        );
        // 16 KiB exactly is the longest accepted.
        assert_eq!(MAX_ACCESS_TOKEN_LEN, 16_384);
        assert_eq!(check_access_token(&"a".repeat(16_384)), Ok(()));
        let long = "a".repeat(MAX_ACCESS_TOKEN_LEN + 1);
        assert_eq!(
            check_access_token(&long),
            Err(InvalidToken::TooLong(long.len()))
        );
        assert_eq!(check_access_token("eyJhbGciOi.J9-_~+/="), Ok(()));
    }
}

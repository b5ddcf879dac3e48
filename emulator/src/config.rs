//! The emulator's configuration.

use std::fmt;
use std::time::Duration;

/// Which league/oauth2-server generation (behind Laravel Passport) the emulator imitates.
///
/// The two differ only in the error bodies of the token endpoint (`docs/passport.md#error-shapes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum PassportVersion {
    /// Passport with league/oauth2-server 8.x (up to 8.5): error bodies carry a `message` copy of
    /// `error_description`; a dead refresh token is `401 invalid_request`.
    #[default]
    V8,
    /// Passport with league/oauth2-server 9.x: no `message` field; a dead refresh token is
    /// `400 invalid_grant`.
    V9,
}

/// How the emulator behaves: the one OAuth client and user it knows, token lifetimes, the
/// Passport generation to imitate and the token endpoint's throttle.
///
/// [`Default`] gives the example values from Keliweb's documentation
/// (`docs/passport.md#example-values`).
#[derive(Clone, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// The OAuth client id ("API key"). Default `ea9ea94e-a0c2-4b87-9834-26b218ed26a0`.
    pub client_id: String,
    /// The OAuth client secret ("API secret"). Default `MoQSElJG5MoLkVhRJCJ7jdQZVwfbrtwKKepwOsXO`.
    pub client_secret: String,
    /// The account e-mail accepted by the password grant. Default `test@example.com`.
    pub username: String,
    /// The account password accepted by the password grant. Default `xxxxxxx`.
    pub password: String,
    /// Lifetime of issued access tokens (also the `expires_in` of token responses, in whole
    /// seconds). Default one hour.
    pub access_lifetime: Duration,
    /// Lifetime of issued refresh tokens. Default ten days.
    pub refresh_lifetime: Duration,
    /// Which error shapes the token endpoint uses. Default [`PassportVersion::V8`].
    pub passport: PassportVersion,
    /// Laravel's `throttle` on `POST /oauth/token`: at most this many requests per 60-second
    /// window (of the emulator's clock), then `429` with `Retry-After`. Default `None` (no limit;
    /// Passport's default is 60, see `docs/passport.md#throttle`).
    pub max_token_requests_per_minute: Option<u32>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            client_id: "ea9ea94e-a0c2-4b87-9834-26b218ed26a0".to_owned(),
            client_secret: "MoQSElJG5MoLkVhRJCJ7jdQZVwfbrtwKKepwOsXO".to_owned(),
            username: "test@example.com".to_owned(),
            password: "xxxxxxx".to_owned(),
            access_lifetime: Duration::from_secs(3600),
            refresh_lifetime: Duration::from_secs(10 * 24 * 3600),
            passport: PassportVersion::V8,
            max_token_requests_per_minute: None,
        }
    }
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("access_lifetime", &self.access_lifetime)
            .field("refresh_lifetime", &self.refresh_lifetime)
            .field("passport", &self.passport)
            .field(
                "max_token_requests_per_minute",
                &self.max_token_requests_per_minute,
            )
            .finish()
    }
}

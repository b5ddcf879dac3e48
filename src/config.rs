//! Configuration: which server, which client, which account, and the timing policy.
//!
//! [`Config`] and [`ConfigBuilder`] are also at the crate root; this module adds the types of
//! the settings ([`Credentials`], [`PasswordRetention`], [`Revocation`],
//! [`ClientAuthentication`]) and [`ConfigError`], what [`ConfigBuilder::build`] refuses.
//!
//! Everything is checked once, in [`ConfigBuilder::build`], so a bad URL or an empty client id is
//! a typed error at start-up rather than a surprise on the first refresh.

use core::net::IpAddr;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Uri};

pub use crate::client_auth::ClientAuthentication;
use crate::client_auth::EncodedClient;
use crate::form::{self, Piece};
use crate::origin::{AllowedOrigin, KELIWEB_API_HOSTS, OriginPolicy};
use crate::secret::{ClientSecret, Password};
use crate::wipe;

/// The account the password grant logs in with.
#[derive(Clone)]
pub struct Credentials {
    /// Shared with every token set a login with these credentials brings, which records it.
    username: Arc<str>,
    password: Password,
    /// `username=…&password=…`, form-encoded once for every password grant they send, shared
    /// by the clones and wiped with the last of them.
    form: Arc<EncodedForm>,
}

impl Credentials {
    /// The account e-mail and its password.
    pub fn new(username: impl Into<String>, password: impl Into<Password>) -> Self {
        let username: Arc<str> = Arc::from(username.into());
        let password = password.into();
        let fields = [
            Piece::Field("username", &username),
            Piece::Field("password", password.expose_secret()),
        ];
        let form = Arc::new(EncodedForm(form::body(fields.into_iter())));
        Self {
            username,
            password,
            form,
        }
    }

    /// The credentials as a password grant's form fields, encoded.
    pub(crate) fn encoded_form(&self) -> &[u8] {
        &self.form.0
    }

    /// The account name (an e-mail address for Keliweb).
    #[must_use]
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The account name, shared rather than copied.
    pub(crate) fn shared_username(&self) -> &Arc<str> {
        &self.username
    }

    /// The password.
    #[must_use]
    pub fn password(&self) -> &Password {
        &self.password
    }
}

/// Form fields holding a secret, wiped on drop.
struct EncodedForm(Vec<u8>);

impl Drop for EncodedForm {
    fn drop(&mut self) {
        wipe::bytes(&mut self.0);
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

/// Whether the session keeps the password in memory after a successful login.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PasswordRetention {
    /// Keep it, so a dead refresh token (expired, revoked, lost in a failed rotation) is
    /// replaced by one automatic password login.
    #[default]
    KeepForRelogin,
    /// Wipe it after the first successful login; a dead refresh token then yields
    /// [`ErrorKind::LoginRequired`](crate::ErrorKind::LoginRequired) until the caller supplies
    /// credentials again with [`Session::login`](crate::Session::login).
    ForgetAfterLogin,
}

/// How tokens are revoked on the server. Keliweb has not published its revocation endpoint,
/// so the style is the caller's choice; whatever the server answers, tokens are dropped locally
/// (`docs/passport.md#revocation`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Revocation {
    /// Only forget the tokens locally (the default: stock Passport has no revocation endpoint
    /// for API clients).
    #[default]
    LocalOnly,
    /// RFC 7009: `POST url` with `token`, `token_type_hint` and the client credentials, once for
    /// the refresh token and once for the access token.
    Rfc7009 {
        /// The revocation endpoint, e.g. `https://host/oauth/revoke`.
        url: Uri,
    },
    /// A Bearer-authenticated logout call, e.g. `POST https://host/api/logout`.
    BearerLogout {
        /// The logout endpoint.
        url: Uri,
        /// The method to call it with (usually `POST`).
        method: Method,
    },
}

/// A checked configuration. Build it with [`Config::keliweb`] or [`Config::builder`].
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) token_url: Uri,
    pub(crate) client_id: String,
    pub(crate) client_secret: ClientSecret,
    pub(crate) leeway: Duration,
    pub(crate) refresh_ahead: Duration,
    pub(crate) refresh_token_lifetime: Duration,
    pub(crate) default_access_token_lifetime: Duration,
    pub(crate) max_access_token_lifetime: Duration,
    pub(crate) min_retry_delay: Duration,
    pub(crate) user_agent: HeaderValue,
    pub(crate) revocation: Revocation,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) password_retention: PasswordRetention,
    pub(crate) origins: Arc<OriginPolicy>,
    pub(crate) client_authentication: ClientAuthentication,
    /// The scopes asked for, space-separated, if any.
    pub(crate) scope: Option<String>,
    /// The client id and secret as requests present them, encoded once.
    pub(crate) encoded_client: EncodedClient,
}

impl Config {
    /// The longest `Retry-After` honoured; a longer one is cut to this.
    pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

    /// Keliweb's hosting API token endpoint (the default; `docs/passport.md#token-endpoint`).
    pub const KELIWEB_TOKEN_URL: &str = "https://apiv2.keliweb.it/oauth/token";

    /// Keliweb's e-invoicing API token endpoint (same parameters, another host).
    pub const KELIWEB_INVOICING_TOKEN_URL: &str = "https://fatture.keliweb.it/oauth/token";

    /// Default leeway: access tokens are refreshed this long before they expire.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);

    /// Default refresh-ahead window: a replacement token is fetched this long before the current
    /// one stops being handed out, at most half its usable life.
    pub const DEFAULT_REFRESH_AHEAD: Duration = Duration::from_secs(300);

    /// Keliweb's refresh-token lifetime (10 days); the server does not send it
    /// (`docs/passport.md#lifetimes`).
    pub const DEFAULT_REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(10 * 24 * 3600);

    /// Minimum pause after a failed token request before another is sent.
    pub const DEFAULT_MIN_RETRY_DELAY: Duration = Duration::from_secs(1);

    /// Access-token lifetime assumed when a response omits `expires_in` (Keliweb's is 1 hour:
    /// `docs/passport.md#lifetimes`).
    pub const DEFAULT_ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

    /// Longest access-token lifetime believed (one year): a larger `expires_in` (a broken or hostile
    /// `1e19`) is cut to this, so no token is taken to last for ever.
    pub const DEFAULT_MAX_ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

    /// A builder for Keliweb's hosting API (`apiv2.keliweb.it`); call
    /// [`ConfigBuilder::invoicing_api`] for the e-invoicing host.
    pub fn keliweb(
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> ConfigBuilder {
        Self::builder(Config::KELIWEB_TOKEN_URL, client_id, client_secret)
    }

    /// A builder for any Laravel Passport (or other RFC 6749) token endpoint.
    pub fn builder(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> ConfigBuilder {
        ConfigBuilder {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            leeway: Config::DEFAULT_LEEWAY,
            refresh_ahead: Config::DEFAULT_REFRESH_AHEAD,
            refresh_token_lifetime: Config::DEFAULT_REFRESH_TOKEN_LIFETIME,
            default_access_token_lifetime: Config::DEFAULT_ACCESS_TOKEN_LIFETIME,
            max_access_token_lifetime: Config::DEFAULT_MAX_ACCESS_TOKEN_LIFETIME,
            min_retry_delay: Config::DEFAULT_MIN_RETRY_DELAY,
            user_agent: None,
            revocation: RevocationSpec::LocalOnly,
            credentials: None,
            password_retention: PasswordRetention::default(),
            allow_plain_http: false,
            api_origins: Vec::new(),
            client_authentication: ClientAuthentication::default(),
            scopes: Vec::new(),
        }
    }

    /// The token endpoint.
    #[must_use]
    pub fn token_url(&self) -> &Uri {
        &self.token_url
    }

    /// The OAuth client id.
    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// How long before expiry an access token stops being handed out.
    #[must_use]
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// How long before the leeway a replacement token is fetched (see
    /// [`ConfigBuilder::refresh_ahead`]).
    #[must_use]
    pub fn refresh_ahead(&self) -> Duration {
        self.refresh_ahead
    }

    /// The refresh-token lifetime the client assumes.
    #[must_use]
    pub fn refresh_token_lifetime(&self) -> Duration {
        self.refresh_token_lifetime
    }

    /// The revocation style.
    #[must_use]
    pub fn revocation(&self) -> &Revocation {
        &self.revocation
    }

    /// The minimum pause after a failed token request.
    #[must_use]
    pub fn min_retry_delay(&self) -> Duration {
        self.min_retry_delay
    }

    /// The longest access-token lifetime believed; a larger `expires_in` is cut to it.
    #[must_use]
    pub fn max_access_token_lifetime(&self) -> Duration {
        self.max_access_token_lifetime
    }

    /// Whether the access token may be sent to `url`: over https (plain http only to loopback,
    /// or with [`ConfigBuilder::danger_allow_plain_http`]) to the token URL's host and port,
    /// Keliweb's API hosts (`apiv2.keliweb.it`, `fatture.keliweb.it`), or an origin added with
    /// [`ConfigBuilder::api_origin`]. Authorizing a request to any other URL fails before any
    /// IO.
    #[must_use]
    pub fn permits_token_to(&self, url: &Uri) -> bool {
        self.origins.permits(url)
    }

    /// The `User-Agent` sent with every request.
    #[must_use]
    pub fn user_agent(&self) -> &HeaderValue {
        &self.user_agent
    }

    /// How the client authenticates itself.
    #[must_use]
    pub fn client_authentication(&self) -> ClientAuthentication {
        self.client_authentication
    }

    /// The scopes asked for, space-separated (see [`ConfigBuilder::scope`]).
    #[must_use]
    pub fn scope(&self) -> Option<&str> {
        self.scope.as_deref()
    }
}

#[derive(Clone, Debug)]
enum RevocationSpec {
    LocalOnly,
    Rfc7009(String),
    BearerLogout(String, Method),
}

/// Collects settings; [`build`](ConfigBuilder::build) checks them all at once.
#[derive(Clone)]
#[must_use]
pub struct ConfigBuilder {
    token_url: String,
    client_id: String,
    client_secret: ClientSecret,
    leeway: Duration,
    refresh_ahead: Duration,
    refresh_token_lifetime: Duration,
    default_access_token_lifetime: Duration,
    max_access_token_lifetime: Duration,
    min_retry_delay: Duration,
    user_agent: Option<String>,
    revocation: RevocationSpec,
    credentials: Option<Credentials>,
    password_retention: PasswordRetention,
    allow_plain_http: bool,
    api_origins: Vec<String>,
    client_authentication: ClientAuthentication,
    scopes: Vec<String>,
}

impl ConfigBuilder {
    /// Authenticates the client with HTTP Basic (`client_secret_basic`) instead of form fields.
    pub fn client_secret_basic(self) -> Self {
        self.client_authentication(ClientAuthentication::HttpBasic)
    }

    /// How the client id and secret reach the server (default: form fields).
    pub fn client_authentication(mut self, how: ClientAuthentication) -> Self {
        self.client_authentication = how;
        self
    }

    /// Asks for `scope` (one scope, or several separated by spaces) on both grants; call again
    /// to add more. The scope the server grants, when it says, is kept in the
    /// [`TokenSet`](crate::TokenSet). Passport grants the scopes a password grant asks for, and
    /// a refresh may ask for fewer, never more.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Uses Keliweb's e-invoicing token endpoint (`fatture.keliweb.it`).
    pub fn invoicing_api(self) -> Self {
        self.token_url(Config::KELIWEB_INVOICING_TOKEN_URL)
    }

    /// Uses another token endpoint (an absolute `https` URL; `http` only to loopback).
    pub fn token_url(mut self, url: impl Into<String>) -> Self {
        self.token_url = url.into();
        self
    }

    /// The account to log in with through the password grant.
    pub fn credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<Password>,
    ) -> Self {
        self.credentials = Some(Credentials::new(username, password));
        self
    }

    /// Whether the password stays in memory for automatic re-login (default: it does).
    pub fn password_retention(mut self, retention: PasswordRetention) -> Self {
        self.password_retention = retention;
        self
    }

    /// Refresh this long before the access token expires (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Fetch the next access token this long before the leeway (default 5 minutes), while the
    /// current one still works, so that no caller waits for a refresh. The window is at most
    /// half the usable life the token had left when it arrived
    /// ([`TokenSet::obtained_at`](crate::TokenSet::obtained_at), which a stored set keeps), so
    /// a short-lived token is not refreshed on arrival, nor when another process adopts or
    /// restores it, nor when a slow server took much of its life to answer. A set whose
    /// arrival is unknown counts its life from when it is first used.
    /// `Duration::ZERO` refreshes only when a token is needed and none is usable.
    pub fn refresh_ahead(mut self, window: Duration) -> Self {
        self.refresh_ahead = window;
        self
    }

    /// The refresh token's lifetime, which the server does not send (default 10 days).
    pub fn refresh_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.refresh_token_lifetime = lifetime;
        self
    }

    /// The access-token lifetime assumed when a response has no `expires_in` (default 1 hour).
    pub fn default_access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.default_access_token_lifetime = lifetime;
        self
    }

    /// The longest access-token lifetime believed (default one year): a larger `expires_in` is
    /// cut to this, so a broken or hostile answer (`1e19`) cannot make a token last for ever.
    pub fn max_access_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_access_token_lifetime = lifetime;
        self
    }

    /// Also sends the access token to this origin (`https://host[:port]`, no path; plain
    /// `http` only to loopback or with [`danger_allow_plain_http`](Self::danger_allow_plain_http)).
    /// By default the token goes only to the token URL's host and Keliweb's API hosts, over
    /// https; a request to anything else is refused before any IO.
    pub fn api_origin(mut self, origin: impl Into<String>) -> Self {
        self.api_origins.push(origin.into());
        self
    }

    /// After a failed token request (5xx, 429, transport, unexpected response), no new one is
    /// sent for at least this long, or until `Retry-After` if later (default 1 s). Callers
    /// asking meanwhile get the same error instead of each retrying. Zero disables it.
    pub fn min_retry_delay(mut self, delay: Duration) -> Self {
        self.min_retry_delay = delay;
        self
    }

    /// Replaces the default `User-Agent` (`keliweb-oauth/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Revokes through an RFC 7009 endpoint.
    pub fn revoke_rfc7009(mut self, url: impl Into<String>) -> Self {
        self.revocation = RevocationSpec::Rfc7009(url.into());
        self
    }

    /// Revokes through a Bearer-authenticated logout call.
    pub fn revoke_bearer_logout(mut self, url: impl Into<String>, method: Method) -> Self {
        self.revocation = RevocationSpec::BearerLogout(url.into(), method);
        self
    }

    /// Only forgets tokens locally on revocation (the default).
    pub fn revoke_locally_only(mut self) -> Self {
        self.revocation = RevocationSpec::LocalOnly;
        self
    }

    /// Allows plain `http://` to hosts that are not loopback. Tokens and the password then
    /// cross the network unencrypted: only for a trusted network you control.
    pub fn danger_allow_plain_http(mut self) -> Self {
        self.allow_plain_http = true;
        self
    }

    /// Checks every setting.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first setting that is wrong.
    pub fn build(self) -> Result<Config, ConfigError> {
        if self.client_id.trim().is_empty() {
            return Err(ConfigError::EmptyClientId);
        }
        if let Some(credentials) = &self.credentials
            && credentials.username.trim().is_empty()
        {
            return Err(ConfigError::EmptyUsername);
        }
        let token_url = check_url("token URL", &self.token_url, self.allow_plain_http)?;
        let revocation = match self.revocation {
            RevocationSpec::LocalOnly => Revocation::LocalOnly,
            RevocationSpec::Rfc7009(url) => Revocation::Rfc7009 {
                url: check_url("revocation URL", &url, self.allow_plain_http)?,
            },
            RevocationSpec::BearerLogout(url, method) => Revocation::BearerLogout {
                url: check_url("logout URL", &url, self.allow_plain_http)?,
                method,
            },
        };
        let mut origins: Vec<AllowedOrigin> = AllowedOrigin::of(&token_url, self.allow_plain_http)
            .into_iter()
            .chain(KELIWEB_API_HOSTS.map(AllowedOrigin::https))
            .collect();
        for origin in &self.api_origins {
            origins.push(check_origin(origin, self.allow_plain_http)?);
        }
        let scope = scope(&self.scopes)?;
        let user_agent = match self.user_agent {
            None => HeaderValue::from_static(crate::headers::DEFAULT_USER_AGENT),
            Some(agent) => {
                HeaderValue::try_from(agent).map_err(|_| ConfigError::InvalidUserAgent)?
            }
        };
        let encoded_client = EncodedClient::new(
            &self.client_id,
            self.client_secret.expose_secret(),
            self.client_authentication,
            &user_agent,
        );
        Ok(Config {
            token_url,
            client_id: self.client_id,
            client_secret: self.client_secret,
            leeway: self.leeway,
            refresh_ahead: self.refresh_ahead,
            refresh_token_lifetime: self.refresh_token_lifetime,
            default_access_token_lifetime: self.default_access_token_lifetime,
            max_access_token_lifetime: self.max_access_token_lifetime,
            min_retry_delay: self.min_retry_delay,
            user_agent,
            revocation,
            credentials: self.credentials,
            password_retention: self.password_retention,
            origins: Arc::new(OriginPolicy::new(origins)),
            client_authentication: self.client_authentication,
            scope,
            encoded_client,
        })
    }
}

/// A configuration setting that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The client id is empty.
    #[error("the client id is empty")]
    EmptyClientId,
    /// The username is empty.
    #[error("the username is empty")]
    EmptyUsername,
    /// A URL is not an absolute `http(s)` URL with a host.
    #[error("the {which} is not an absolute http(s) URL: {reason}")]
    InvalidUrl {
        /// Which setting.
        which: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL uses plain `http` to a host that is not loopback.
    #[error(
        "the {which} uses plain http to {host}, which is not loopback; use https \
         (or opt in with `danger_allow_plain_http`)"
    )]
    PlainHttpToRemoteHost {
        /// Which setting.
        which: &'static str,
        /// The host named.
        host: String,
    },
    /// The custom `User-Agent` is not a valid header value.
    #[error("the User-Agent is not a valid header value")]
    InvalidUserAgent,
    /// A scope holds a character RFC 6749 does not allow in one (a quote, a backslash, a
    /// control character, non-ASCII), or is empty.
    #[error("the scope {0:?} is not a valid OAuth scope")]
    InvalidScope(String),
}

/// The scopes, checked (RFC 6749 section 3.3) and joined by spaces; `None` for none.
fn scope(scopes: &[String]) -> Result<Option<String>, ConfigError> {
    let mut joined: Option<String> = None;
    for scope in scopes {
        if scope.trim().is_empty() {
            return Err(ConfigError::InvalidScope(scope.clone()));
        }
        for token in scope.split_ascii_whitespace() {
            let valid = token
                .bytes()
                .all(|byte| matches!(byte, 0x21 | 0x23..=0x5B | 0x5D..=0x7E));
            if !valid {
                return Err(ConfigError::InvalidScope(token.to_owned()));
            }
            match &mut joined {
                Some(joined) => {
                    joined.push(' ');
                    joined.push_str(token);
                }
                None => joined = Some(token.to_owned()),
            }
        }
    }
    Ok(joined)
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // URLs are shown without user info: `build` refuses it, but it may hold a password.
        let revocation = match &self.revocation {
            RevocationSpec::LocalOnly => "local only".to_owned(),
            RevocationSpec::Rfc7009(url) => format!("RFC 7009 at {}", without_user_info(url)),
            RevocationSpec::BearerLogout(url, method) => {
                format!("{method} {}", without_user_info(url))
            }
        };
        f.debug_struct("ConfigBuilder")
            .field("token_url", &without_user_info(&self.token_url))
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("leeway", &self.leeway)
            .field("refresh_ahead", &self.refresh_ahead)
            .field("refresh_token_lifetime", &self.refresh_token_lifetime)
            .field("revocation", &revocation)
            .field("credentials", &self.credentials)
            .field("password_retention", &self.password_retention)
            .field("allow_plain_http", &self.allow_plain_http)
            .field(
                "api_origins",
                &self
                    .api_origins
                    .iter()
                    .map(|origin| without_user_info(origin))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// `scheme://user:pw@host/…` as `scheme://[redacted]@host/…`.
fn without_user_info(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |at| at + 3);
    let authority_end = url[authority_start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| authority_start + at);
    match url[authority_start..authority_end].rfind('@') {
        Some(at) => format!(
            "{}[redacted]{}",
            &url[..authority_start],
            &url[authority_start + at..]
        ),
        None => url.to_owned(),
    }
}

fn check_url(which: &'static str, url: &str, allow_plain_http: bool) -> Result<Uri, ConfigError> {
    let invalid = |reason: &str| ConfigError::InvalidUrl {
        which,
        reason: reason.to_owned(),
    };
    // Over a buffer whose clones only count references: every request clones the URL, and
    // a copied one's first clone would allocate.
    let uri = Uri::from_maybe_shared(Bytes::from_owner(url.to_owned()))
        .map_err(|error| invalid(&error.to_string()))?;
    let host = uri
        .host()
        .filter(|host| !host.is_empty())
        .ok_or_else(|| invalid("it has no host"))?;
    if uri
        .authority()
        .is_some_and(|authority| authority.as_str().contains('@'))
    {
        return Err(invalid(
            "it carries user info; pass credentials through the config instead",
        ));
    }
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if allow_plain_http || is_loopback(host) => Ok(uri),
        Some("http") => Err(ConfigError::PlainHttpToRemoteHost {
            which,
            host: host.to_owned(),
        }),
        _ => Err(invalid("the scheme must be http or https")),
    }
}

/// An API origin: a checked URL with nothing after the host and port.
fn check_origin(origin: &str, allow_plain_http: bool) -> Result<AllowedOrigin, ConfigError> {
    let which = "API origin";
    let uri = check_url(which, origin, allow_plain_http)?;
    if uri
        .path_and_query()
        .is_some_and(|path| path.as_str() != "/")
    {
        return Err(ConfigError::InvalidUrl {
            which,
            reason: "an origin is scheme://host[:port], with no path or query".to_owned(),
        });
    }
    AllowedOrigin::of(&uri, allow_plain_http).ok_or_else(|| ConfigError::InvalidUrl {
        which,
        reason: "it has no host".to_owned(),
    })
}

/// `localhost`, `127.0.0.0/8` or `[::1]`.
pub(crate) fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(url: &str) -> Result<Config, ConfigError> {
        Config::builder(url, "id", "secret").build()
    }

    #[test]
    fn keliweb_preset_and_invoicing_host_are_one_call_apart() {
        let hosting = Config::keliweb("id", "secret").build().unwrap();
        assert_eq!(hosting.token_url().to_string(), Config::KELIWEB_TOKEN_URL);
        let invoicing = Config::keliweb("id", "secret")
            .invoicing_api()
            .build()
            .unwrap();
        assert_eq!(
            invoicing.token_url().to_string(),
            Config::KELIWEB_INVOICING_TOKEN_URL
        );
        assert_eq!(hosting.leeway(), Duration::from_secs(60));
        assert_eq!(
            hosting.refresh_token_lifetime(),
            Duration::from_secs(864_000)
        );
    }

    #[test]
    fn every_setting_reads_back_as_set() {
        let config = Config::keliweb("the-client", "s")
            .leeway(Duration::from_secs(5))
            .refresh_token_lifetime(Duration::from_secs(6))
            .default_access_token_lifetime(Duration::from_secs(7))
            .max_access_token_lifetime(Duration::from_secs(8))
            .min_retry_delay(Duration::from_secs(9))
            .user_agent("agent/1")
            .build()
            .unwrap();
        assert_eq!(config.client_id(), "the-client");
        assert_eq!(config.leeway(), Duration::from_secs(5));
        assert_eq!(config.refresh_token_lifetime(), Duration::from_secs(6));
        assert_eq!(config.default_access_token_lifetime, Duration::from_secs(7));
        assert_eq!(config.max_access_token_lifetime(), Duration::from_secs(8));
        assert_eq!(config.min_retry_delay(), Duration::from_secs(9));
        assert_eq!(config.user_agent(), "agent/1");
        let defaults = Config::keliweb("id", "s").build().unwrap();
        assert_eq!(defaults.min_retry_delay(), Duration::from_secs(1));
        assert_eq!(
            defaults.max_access_token_lifetime(),
            Duration::from_secs(365 * 24 * 3600),
            "one year"
        );
        assert_eq!(defaults.user_agent(), crate::headers::DEFAULT_USER_AGENT);
    }

    #[test]
    fn credentials_debug_names_the_account_and_hides_the_password() {
        let shown = format!("{:?}", Credentials::new("me@example.com", "hunter2"));
        assert!(shown.contains("me@example.com"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn plain_http_is_refused_unless_loopback_or_opted_in() {
        assert!(build("http://127.0.0.1:8080/oauth/token").is_ok());
        assert!(build("http://127.1.2.3/oauth/token").is_ok());
        assert!(build("http://localhost/oauth/token").is_ok());
        assert!(build("http://[::1]:9/oauth/token").is_ok());
        assert_eq!(
            build("http://example.com/oauth/token").unwrap_err(),
            ConfigError::PlainHttpToRemoteHost {
                which: "token URL",
                host: "example.com".into()
            }
        );
        let opted_in = Config::builder("http://example.com/t", "id", "s")
            .danger_allow_plain_http()
            .build();
        assert!(opted_in.is_ok());
    }

    #[test]
    fn malformed_urls_and_empty_ids_are_typed_errors() {
        for url in [
            "",
            "/oauth/token",
            "ftp://example.com/x",
            "not a url",
            "https://user:pw@example.com/t",
        ] {
            assert!(
                matches!(build(url), Err(ConfigError::InvalidUrl { .. })),
                "{url:?} was accepted"
            );
        }
        let empty_id = Config::builder(Config::KELIWEB_TOKEN_URL, "  ", "s").build();
        assert_eq!(empty_id.unwrap_err(), ConfigError::EmptyClientId);
        let empty_user = Config::keliweb("id", "s").credentials("", "pw").build();
        assert_eq!(empty_user.unwrap_err(), ConfigError::EmptyUsername);
        let bad_agent = Config::keliweb("id", "s")
            .user_agent("bad\r\nagent")
            .build();
        assert_eq!(bad_agent.unwrap_err(), ConfigError::InvalidUserAgent);
    }

    #[test]
    fn builder_debug_hides_user_info_in_urls() {
        let builder = Config::builder("https://user:hunter2@example.com/oauth/token", "id", "s")
            .revoke_rfc7009("https://u:hunter2@example.com/revoke");
        let shown = format!("{builder:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("https://[redacted]@example.com/oauth/token"),
            "{shown}"
        );
        assert_eq!(
            without_user_info("http://127.0.0.1:9/x@y"),
            "http://127.0.0.1:9/x@y"
        );
    }

    #[test]
    fn the_token_goes_to_the_token_host_keliwebs_api_hosts_and_added_origins() {
        let permits =
            |config: &Config, url: &str| config.permits_token_to(&Uri::try_from(url).unwrap());
        let keliweb = Config::keliweb("id", "s").build().unwrap();
        assert!(permits(&keliweb, "https://apiv2.keliweb.it/api/user"));
        assert!(permits(&keliweb, "https://fatture.keliweb.it/api/invoices"));
        assert!(!permits(&keliweb, "http://fatture.keliweb.it/api/invoices"));
        assert!(!permits(&keliweb, "https://api.example.com/v1"));

        let loopback = build("http://127.0.0.1:8080/oauth/token").unwrap();
        assert!(permits(&loopback, "http://127.0.0.1:8080/api/user"));
        assert!(permits(
            &loopback,
            "https://fatture.keliweb.it/api/invoices"
        ));
        assert!(!permits(&loopback, "http://127.0.0.1:8081/api/user"));

        let added = Config::keliweb("id", "s")
            .api_origin("https://api.example.com")
            .api_origin("http://localhost:9000")
            .build()
            .unwrap();
        assert!(permits(&added, "https://api.example.com/v1?page=2"));
        assert!(permits(&added, "http://localhost:9000/x"));
        assert!(!permits(&added, "https://api.example.com:8443/v1"));
    }

    #[test]
    fn an_api_origin_is_a_checked_url_without_a_path() {
        let origin = |url: &str| Config::keliweb("id", "s").api_origin(url).build();
        assert!(matches!(
            origin("https://api.example.com/v1"),
            Err(ConfigError::InvalidUrl {
                which: "API origin",
                ..
            })
        ));
        assert!(matches!(
            origin("http://api.example.com"),
            Err(ConfigError::PlainHttpToRemoteHost {
                which: "API origin",
                ..
            })
        ));
        assert!(matches!(
            origin("not a url"),
            Err(ConfigError::InvalidUrl {
                which: "API origin",
                ..
            })
        ));
        assert!(origin("https://api.example.com/").is_ok());
        let opted_in = Config::keliweb("id", "s")
            .api_origin("http://intranet.example")
            .danger_allow_plain_http()
            .build()
            .unwrap();
        assert!(opted_in.permits_token_to(&Uri::from_static("http://intranet.example/x")));
    }

    #[test]
    fn revocation_urls_are_checked_like_the_token_url() {
        let refused = Config::keliweb("id", "s")
            .revoke_rfc7009("http://example.com/oauth/revoke")
            .build();
        assert!(matches!(
            refused,
            Err(ConfigError::PlainHttpToRemoteHost {
                which: "revocation URL",
                ..
            })
        ));
        let logout = Config::keliweb("id", "s")
            .revoke_bearer_logout("https://apiv2.keliweb.it/api/logout", Method::POST)
            .build()
            .unwrap();
        assert!(
            matches!(logout.revocation(), Revocation::BearerLogout { method, .. } if method == Method::POST)
        );
    }
}

//! OAuth2 access tokens for the [Keliweb](https://www.keliweb.it) API, and any Laravel Passport
//! server: log in with the password grant, refresh before expiry, re-login when the refresh
//! token dies, revoke, and authorize API calls.
//!
//! The core is **sans-IO**: a [`Session`] builds `http::Request<Vec<u8>>` values, consumes
//! `http::Response` values, and is told the time. It never touches a socket, a clock or a
//! thread, so every decision is testable with plain values. The `blocking`/`ureq` and
//! `async`/`reqwest` features add drivers that share one session between threads or tasks.
//!
//! The whole lifecycle, with the server's answers canned:
//!
//! ```
//! use std::time::Duration;
//! use http::Response;
//! use keliweb_oauth::{Action, Config, ErrorKind, Progress, Session, TokenSet, UnixTime};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = Config::keliweb("ea9ea94e-a0c2-4b87-9834-26b218ed26a0", "MoQSElJG5MoLkVhRJCJ7jdQZVwfbrtwKKepwOsXO")
//!     .credentials("test@example.com", "xxxxxxx")
//!     .build()?;
//! let mut session = Session::new(config);
//! let now = UnixTime::from_secs(1_800_000_000);
//! let reply = |body: &str| Response::builder().status(200).body(body.to_owned());
//!
//! // 1. No token yet: the session asks for a password login.
//! let Action::Send(login) = session.poll(now) else { panic!("expected a login") };
//! assert_eq!(login.request().uri(), "https://apiv2.keliweb.it/oauth/token");
//! // A transport sends `login.request()`; here Keliweb's answer is canned.
//! let answer = reply(r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ0.eyJ1.c2ln","refresh_token":"def50200aa"}"#)?;
//! assert_eq!(session.handle_response(login.id(), now, &answer)?, Progress::TokensChanged);
//! // Store the new set before using it: it survives a restart.
//! let stored = serde_json::to_string(session.tokens().expect("just issued"))?;
//!
//! // 2. Authorize API calls: no allocation, no request.
//! let mut call = http::Request::get("https://fatture.keliweb.it/api/invoices").body(())?;
//! session.authorize(now, &mut call)?;
//! assert_eq!(call.headers()["authorization"], "Bearer eyJ0.eyJ1.c2ln");
//!
//! // 3. 59 minutes on, inside the 60 s leeway: the session refreshes, and the server rotates
//! //    the refresh token.
//! let later = now.saturating_add(Duration::from_secs(3541));
//! let Action::Send(refresh) = session.poll(later) else { panic!("expected a refresh") };
//! assert!(matches!(session.poll(later), Action::Wait(id) if id == refresh.id()), "one request in flight");
//! let answer = reply(r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ0.eyJ2.c2ln","refresh_token":"def50200bb"}"#)?;
//! assert_eq!(session.handle_response(refresh.id(), later, &answer)?, Progress::TokensChanged);
//! assert!(matches!(session.poll(later), Action::UseToken(_)));
//!
//! // 4. A restarted program resumes from the stored set without logging in.
//! let restored: TokenSet = serde_json::from_str(&stored)?;
//! let mut resumed = Session::new(Config::keliweb("ea9ea94e-a0c2-4b87-9834-26b218ed26a0", "secret").build()?)
//!     .with_tokens(restored);
//! assert!(matches!(resumed.poll(now), Action::UseToken(_)));
//!
//! // 5. Log out: tokens are dropped locally at once, whatever the server says.
//! let revocations = session.revoke(); // none by default: Keliweb has no published endpoint
//! assert!(revocations.is_empty() && session.tokens().is_none());
//! let Action::Stop(error) = session.poll(later) else { panic!("expected a stop") };
//! assert_eq!(error.kind(), ErrorKind::LoginRequired);
//! # Ok(())
//! # }
//! ```
//!
//! # What is in scope
//! The password and refresh grants, expiry with a leeway, refresh-token rotation, fallback to one
//! password login when the refresh token is dead, API `401` recovery, revocation (RFC 7009 or a
//! Bearer logout call), persistence, and typed errors for every response Passport sends across
//! its versions. Not in scope: the authorization-code and client-credentials grants, PKCE,
//! token introspection.
//!
//! # Secrets
//! [`ClientSecret`], [`Password`], [`AccessToken`] and [`RefreshToken`] redact themselves in
//! `Debug` and `Display`, are wiped on drop, and are read only through `expose_secret`. Error
//! excerpts of server bodies are scrubbed of every secret the session knows and of the tokens of
//! the response itself, however the server escaped them (JSON, HTML entities, percent-encoding).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(any(feature = "blocking", feature = "async"))]
#[path = "../transports/shared/mod.rs"]
pub mod transport;

#[cfg(feature = "blocking")]
#[path = "../transports/blocking/mod.rs"]
pub mod blocking;

#[cfg(feature = "async")]
#[path = "../transports/nonblocking/mod.rs"]
pub mod nonblocking;

mod authorization;
mod config;
mod error;
mod headers;
mod origin;
mod request;
mod response;
mod secret;
mod session;
mod time;
mod token_set;

pub use authorization::{Authorization, NotAuthorized, TokenId};
pub use config::{
    Config, ConfigBuilder, ConfigError, Credentials, DEFAULT_ACCESS_TOKEN_LIFETIME, DEFAULT_LEEWAY,
    DEFAULT_MAX_ACCESS_TOKEN_LIFETIME, DEFAULT_MIN_RETRY_DELAY, DEFAULT_REFRESH_TOKEN_LIFETIME,
    KELIWEB_INVOICING_TOKEN_URL, KELIWEB_TOKEN_URL, PasswordRetention, Revocation,
};
pub use error::{
    BODY_EXCERPT_LIMIT, Error, ErrorKind, ResponseDetails, RetryAfter, TransportError,
    TransportErrorKind,
};
pub use request::{OutgoingRequest, RequestId, RequestKind};
pub use secret::{AccessToken, ClientSecret, Password, RefreshToken};
pub use session::{Action, MAX_RETRY_AFTER, Progress, Session, Unauthorized};
pub use time::UnixTime;
pub use token_set::{InvalidToken, MAX_ACCESS_TOKEN_LEN, TokenSet};

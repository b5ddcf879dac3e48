//! OAuth2 access tokens for the [Keliweb](https://www.keliweb.it) API, and any Laravel Passport
//! server: log in with the password grant, refresh before expiry, re-login when the refresh
//! token dies, revoke, and authorize API calls.
//!
//! The core is **sans-IO**: a [`Session`] builds `http::Request<Vec<u8>>` values, consumes
//! `http::Response` values, and is told the time. It never touches a socket, a clock or a
//! thread, so every decision is testable with plain values. The `blocking`/`ureq` and
//! `nonblocking`/`reqwest` features add drivers that share one session between threads or tasks.
//!
//! The whole lifecycle, with the server's answers canned:
//!
//! ```
//! use std::time::Duration;
//! use http::Response;
//! use keliweb_oauth::{Action, Config, ErrorKind, Session, TokenSet, UnixTime};
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
//! session.handle_response(login.id(), now, &answer)?;
//! // 2. Store the new set before using it: it survives a restart.
//! assert!(matches!(session.poll(now), Action::Store));
//! let stored = serde_json::to_string(session.tokens().expect("just issued"))?;
//!
//! // 3. Authorize API calls: no allocation, no request.
//! assert!(matches!(session.poll(now), Action::UseToken(_)));
//! let mut call = http::Request::get("https://fatture.keliweb.it/api/invoices").body(())?;
//! session.authorize(now, &mut call)?;
//! assert_eq!(call.headers()["authorization"], "Bearer eyJ0.eyJ1.c2ln");
//!
//! // 4. The next moment that needs a poll: 5 minutes before the 60 s leeway, the refresh ahead.
//! let due = session.poll_timeout(now).expect("a refresh is scheduled");
//! assert_eq!(due, now.saturating_add(Duration::from_secs(3600 - 60 - 300)));
//! let Action::Send(refresh) = session.poll(due) else { panic!("expected a refresh") };
//! // While it is out, the current token still works: nobody waits.
//! assert!(matches!(session.poll(due), Action::UseToken(_)));
//! // The server rotates the refresh token.
//! let answer = reply(r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ0.eyJ2.c2ln","refresh_token":"def50200bb"}"#)?;
//! session.handle_response(refresh.id(), due, &answer)?;
//! assert!(matches!(session.poll(due), Action::Store));
//! let Action::UseToken(token) = session.poll(due) else { panic!("expected the new token") };
//! assert_eq!(token.expose_header_value(), "Bearer eyJ0.eyJ2.c2ln");
//!
//! // 5. A restarted program resumes from the stored set without logging in.
//! let restored: TokenSet = serde_json::from_str(&stored)?;
//! let mut resumed = Session::new(Config::keliweb("ea9ea94e-a0c2-4b87-9834-26b218ed26a0", "secret").build()?)
//!     .with_tokens(restored);
//! assert!(matches!(resumed.poll(now), Action::UseToken(_)));
//!
//! // 6. Log out: tokens are dropped locally at once, whatever the server says. The store is
//! //    erased, and no revocation goes out by default (Keliweb has no published endpoint).
//! session.revoke();
//! assert!(matches!(session.poll(due), Action::Store) && session.tokens().is_none());
//! let Action::Stop(error) = session.poll(due) else { panic!("expected a stop") };
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
//! # Features
//!
//! | feature | adds |
//! |---|---|
//! | *(none)* | the sans-IO core: [`Session`], [`Config`], [`TokenSet`], the errors; builds for `wasm32-unknown-unknown` |
//! | `blocking` | [`blocking::Client`] over any [`blocking::HttpClient`], and the token stores in [`client`] ([`client::FileStore`], [`client::MemoryStore`], your own [`client::TokenStore`]) |
//! | `ureq` | `blocking` with [`blocking::UreqClient`] (ureq 3, rustls) |
//! | `nonblocking` | [`nonblocking::Client`] over any [`nonblocking::AsyncHttpClient`], runtime-agnostic, and the stores; builds for `wasm32-unknown-unknown` |
//! | `reqwest` | `nonblocking` with [`nonblocking::ReqwestClient`] (reqwest 0.13, rustls) |
//! | `redis` | [`client::RedisStore`], one token set for processes on several hosts (with a client feature) |
//! | `reqwest-middleware` | `nonblocking::AuthMiddleware`: a `reqwest_middleware` chain authorized by the async client, a `401` retried once with a new token |
//! | `test-util` | the test kit in [`testing`] (proptest strategies for every Passport answer, arbitrary session inputs, `docs/testing.md`) and [`client::ManualClock`], a clock that moves only when told |
//! | `tower` | `nonblocking::AuthLayer`: any `tower` `Service<http::Request<B>>` (hyper-util's client, a stack with retries and timeouts) authorized by the async client, a `401` retried once when the body can be sent again (`ReplayBody`; a streaming body goes in a newtype) |
//! | `tracing` | `tracing` events from the clients (target `keliweb_oauth`): each token request sent (in a span with its kind and id), each answer, the fallback to the password, pauses, adoptions and store failures; never a secret |
//!
//! # Secrets
//! [`ClientSecret`], [`Password`], [`AccessToken`] and [`RefreshToken`] redact themselves in
//! `Debug` and `Display`, are wiped on drop, and are read only through `expose_secret`. Error
//! excerpts of server bodies are scrubbed of every secret the session knows and of the tokens of
//! the response itself, however the server escaped them (JSON, HTML entities, percent-encoding),
//! and of any run of six consecutive characters of one (fewer for a short one; `SECURITY.md`).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// docs.rs builds with every feature and marks what each item needs.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(any(feature = "blocking", feature = "nonblocking"))]
#[path = "../transports/client/mod.rs"]
pub mod client;

#[cfg(feature = "blocking")]
#[path = "../transports/blocking/mod.rs"]
pub mod blocking;

#[cfg(feature = "nonblocking")]
#[path = "../transports/nonblocking/mod.rs"]
pub mod nonblocking;

#[cfg(feature = "test-util")]
pub mod testing;

pub mod coordinator;

mod authorization;
mod client_auth;
mod config;
mod error;
mod headers;
mod origin;
mod request;
mod response;
mod secret;
mod session;
mod store_error;
mod time;
mod token_set;

pub use authorization::{Authorization, NotAuthorized, TokenId};
pub use client_auth::ClientAuthentication;
pub use config::{Config, ConfigBuilder, ConfigError, Credentials, PasswordRetention, Revocation};
pub use error::{
    Error, ErrorKind, ResponseDetails, RetryAfter, TransportError, TransportErrorKind,
};
pub use request::{OutgoingRequest, RequestId, RequestKind};
pub use secret::{AccessToken, ClientSecret, Password, RefreshToken};
pub use session::{Action, Session};
pub use store_error::{StoreError, StoreErrorKind};
pub use time::UnixTime;
pub use token_set::{InvalidToken, TokenSet};

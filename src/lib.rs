//! OAuth2 access tokens for the [Keliweb](https://www.keliweb.it) API, and any Laravel Passport
//! server: a client that logs in with the password grant, refreshes before expiry, logs in again
//! when the refresh token dies, revokes, and authorizes your API calls.
//!
//! ```no_run
//! # #[cfg(feature = "ureq")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use keliweb_oauth::{Config, blocking::{Client, UreqClient}};
//!
//! let config = Config::keliweb("client-id", "client-secret").credentials("me@example.com", "password").build()?;
//! let client = Client::new(config, UreqClient::default());
//! let invoices = client.send(http::Request::get("https://fatture.keliweb.it/api/invoices").body(Vec::new())?)?;
//! # Ok(()) }
//! # #[cfg(not(feature = "ureq"))] fn main() {}
//! ```
//!
//! That is the blocking client over ureq (feature `ureq`); [`nonblocking::Client`] is the same
//! over reqwest (feature `reqwest`), and either takes any other HTTP client. A client is `Send +
//! Sync` and cheap to clone; it refreshes ahead of expiry, sends one token request however many
//! callers need one, and, given a store, saves every new token set there (module [`client`]).
//!
//! The crate root holds what that job needs: [`Config`] (built by a [`ConfigBuilder`]),
//! [`Credentials`] for a later `login`, the [`TokenSet`] a client holds and stores, the
//! [`UnixTime`] its expiries are told in, and [`Error`] with its [`ErrorKind`], which says what to
//! do about it. The rest is in modules: [`config`] (the settings' types), [`error`] (what an
//! error carries: the server's answer, `Retry-After`, the failures of HTTP clients and stores),
//! [`secret`] (the secret newtypes) and [`client`] (stores, clocks, limits).
//!
//! # The sans-IO core
//! Under the clients is a **sans-IO** state machine, [`sans_io::Session`]: it builds
//! `http::Request<Vec<u8>>` values, consumes `http::Response` values, and is told the time. It
//! never touches a socket, a clock or a thread, so every decision is testable with plain values.
//! Without a transport feature the crate is that machine alone, for any IO model: module
//! [`sans_io`] shows the loop that drives it.
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
//! | *(none)* | the sans-IO core: [`sans_io::Session`], [`Config`], [`TokenSet`], the errors; builds for `wasm32-unknown-unknown` |
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
//! [`secret::ClientSecret`], [`secret::Password`], [`secret::AccessToken`] and
//! [`secret::RefreshToken`] redact themselves in `Debug` and `Display`, are wiped on drop, and
//! are read only through `expose_secret`. Error excerpts of server bodies are scrubbed of every
//! secret the session knows and of the tokens of the response itself, however the server
//! escaped them (JSON, HTML entities, percent-encoding), and of any run of six consecutive
//! characters of one (fewer for a short one; `SECURITY.md`).
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

pub mod config;
pub mod coordinator;
pub mod error;
pub mod sans_io;
pub mod secret;

mod authorization;
mod client_auth;
mod form;
mod headers;
mod origin;
mod request;
mod response;
mod session;
mod shared_secret;
mod store_error;
mod time;
mod token_set;
mod wipe;

#[doc(inline)]
pub use config::{Config, ConfigBuilder, Credentials};
#[doc(inline)]
pub use error::{Error, ErrorKind};
pub use time::UnixTime;
pub use token_set::TokenSet;

// Every item that left the public root keeps its old path inside the crate (`crate::Session`,
// `crate::TransportError`, ...), so the crate's own code names it as before.
#[allow(
    unused_imports,
    reason = "an alias for every item that left the root; each build uses some"
)]
pub(crate) use crate::{
    config::{ClientAuthentication, ConfigError, PasswordRetention, Revocation},
    error::{
        InvalidToken, ResponseDetails, RetryAfter, StoreError, StoreErrorKind, TransportError,
        TransportErrorKind,
    },
    sans_io::{
        Action, Authorization, NotAuthorized, OutgoingRequest, RequestId, RequestKind, Session,
        TokenId,
    },
    secret::{AccessToken, ClientSecret, Password, RefreshToken},
};

//! The token lifecycle driven by hand: the sans-IO state machine the clients are built on, for a
//! program with an IO model of its own.
//!
//! A [`Session`] builds `http::Request<Vec<u8>>` values, consumes `http::Response` values, and
//! is told the time. It never touches a socket, a clock or a thread, so every decision is
//! testable with plain values. The caller drains it: [`Session::poll`] answers one [`Action`]
//! (store the set, send an [`OutgoingRequest`], use a token, wait for a request named by its
//! [`RequestId`], or stop), and the inputs (`handle_response`, `handle_transport_error`,
//! `handle_unauthorized`, `login`, `force_refresh`, `revoke`) only move the session.
//! [`Session::poll_timeout`] says when the next poll is due without an input. The session's
//! phases and every edge between them are drawn in the source, in `src/session/mod.rs`.
//!
//! The whole lifecycle, with the server's answers canned:
//!
//! ```
//! use std::time::Duration;
//! use http::Response;
//! use keliweb_oauth::sans_io::{Action, Session};
//! use keliweb_oauth::{Config, ErrorKind, TokenSet, UnixTime};
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
//! A program drains the session the same way before each API call: `examples/sans_io.rs` is
//! that loop over a plain ureq agent (the README quotes it). An API `401` goes to
//! [`Session::handle_unauthorized`] with the [`TokenId`] that [`Authorization::apply`] (or
//! [`Session::authorize`]) returned for the request; [`NotAuthorized`] says why no token was
//! put on it. An HTTP client's failure goes to the session as a
//! [`TransportError`](crate::error::TransportError), a store's as a
//! [`StoreError`](crate::error::StoreError).
//!
//! A program that shares one session between many callers, or one token set between processes,
//! needs more than the session: one token request for every caller waiting, refresh ahead, a
//! store's lease and versions, the `401` rule, a shutdown that loses nothing. That layer is a
//! pure machine too, [`Coordinator`](crate::coordinator::Coordinator): the blocking and async
//! clients are loops that do its work, and a client for another IO model can be one as well.

pub use crate::authorization::{Authorization, NotAuthorized, TokenId};
pub use crate::request::{OutgoingRequest, RequestId, RequestKind};
pub use crate::session::{Action, Session};

//! A Keliweb-compatible OAuth2 / Laravel Passport server on loopback.
//!
//! The emulator speaks the token endpoint of [Keliweb's API](https://apiv2.keliweb.it) the way a stock
//! Laravel Passport installation does (password grant, refresh grant with rotation, the error
//! bodies of league/oauth2-server 8.x and 9.x), plus two revocation styles (RFC 7009
//! `POST /oauth/revoke` and a Bearer-authenticated `POST /api/logout`) and one protected resource
//! (`GET /api/user`). Faults (delays, resets, truncated bodies, error statuses, redirects, HTML
//! pages, throttling...) can be injected per route, and its clock can be moved forward so tests
//! can expire tokens without sleeping.
//!
//! What it imitates of a stock Passport, and where it differs:
//! `docs/passport.md#what-the-emulator-imitates`.
//!
//! ```no_run
//! use keliweb_emulator::{Emulator, EmulatorConfig, Fault, Route};
//!
//! let emulator = Emulator::start(EmulatorConfig::default()).unwrap();
//! emulator.inject(Route::Token, Fault::Status(503));
//! println!("token endpoint: {}", emulator.token_url());
//! // ... point a client at it ...
//! assert_eq!(emulator.counters().token_requests, 0);
//! ```
//!
//! The server runs on its own Tokio runtime on a background thread, so it works from plain
//! `#[test]`s, `#[tokio::test]`s and benchmarks alike. Dropping the [`Emulator`] shuts it down.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod body;
mod clock;
mod config;
mod counters;
mod faults;
mod handle;
mod log;
mod passport;
mod reply;
mod rng;
mod routes;
mod state;

pub use config::{EmulatorConfig, PassportVersion};
pub use counters::Counters;
pub use faults::{Fault, Route};
pub use handle::Emulator;
pub use log::LoggedRequest;

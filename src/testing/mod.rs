//! A test kit for code built on this crate (feature `test-util`): every answer a Passport
//! server gives, as [proptest](https://docs.rs/proptest) strategies ([`strategies`]) and as
//! canned values ([`PassportAnswer`]); the session's inputs as
//! [`arbitrary`](https://docs.rs/arbitrary) values ([`SessionInput`]) for fuzz targets; and,
//! with a client feature, [`client::ManualClock`](crate::client::ManualClock). The emulator
//! (crate `keliweb-emulator`) serves the same answers over HTTP. `docs/testing.md` shows a
//! property test of a retry wrapper and a fuzz target written with them.
//!
//! ```
//! use keliweb_oauth::testing::{PassportAnswer, PassportVersion};
//!
//! let dead = PassportAnswer::DeadRefreshToken(PassportVersion::V9).response();
//! assert_eq!(dead.status(), 400);
//! ```

mod answers;
mod inputs;
pub mod strategies;

pub use answers::{PassportAnswer, PassportVersion};
pub use inputs::SessionInput;

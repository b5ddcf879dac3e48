//! The emulator's tests, one binary: its grants and rotation, the error bodies of each Passport
//! version and the throttle, revocation in both styles, every injectable fault, and starting and
//! stopping it. All of them talk HTTP to an emulator on 127.0.0.1, through one support module.

mod support;

mod errors;
mod faults;
mod grants;
mod lifecycle;
mod revocation;

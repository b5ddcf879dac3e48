//! The blocking client over ureq against the emulator on 127.0.0.1: every scenario of
//! `tests/support/transport/scenarios.rs`, plus its auto-trait checks.
#![cfg(all(feature = "ureq", feature = "test-util"))]

use keliweb_oauth::blocking::{Client, HttpClient, UreqClient};

use crate::support::transport::blocking_driver::Blocking;
use crate::support::transport::{block_on, every_scenario, scenarios};

macro_rules! blocking_tests {
    ($($scenario:ident),* $(,)?) => {
        $(
            #[test]
            fn $scenario() {
                block_on(scenarios::$scenario::<Blocking>());
            }
        )*
    };
}

every_scenario!(blocking_tests);

fn is_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

/// The client is `Send + Sync` for every `HttpClient`, not only ureq's.
fn client_is_send_sync_for<H: HttpClient>() {
    is_send_sync_clone::<Client<H>>();
}

#[test]
fn client_is_send_sync() {
    is_send_sync_clone::<Client<UreqClient>>();
    is_send_sync_clone::<UreqClient>();
    client_is_send_sync_for::<UreqClient>();
}

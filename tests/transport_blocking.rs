//! The blocking client over ureq against the emulator on 127.0.0.1: every scenario of
//! `transport_support/scenarios.rs`, plus its auto-trait checks.
#![cfg(feature = "ureq")]

mod transport_support;

use keliweb_oauth::blocking::{Client, HttpClient, UreqClient};
use transport_support::blocking_driver::Blocking;
use transport_support::{block_on, every_scenario, scenarios};

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

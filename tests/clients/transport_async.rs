//! The async client over reqwest against the emulator on 127.0.0.1: every scenario of
//! `tests/support/transport/scenarios.rs` on a multi-threaded Tokio runtime, plus its
//! auto-trait checks (the client, and the futures of its methods, are `Send`).
#![cfg(all(feature = "reqwest", feature = "test-util"))]

use keliweb_oauth::Config;
use keliweb_oauth::nonblocking::{AsyncHttpClient, Client, ReqwestClient};

use crate::support::transport::async_driver::Async;
use crate::support::transport::{every_scenario, scenarios};

macro_rules! async_tests {
    ($($scenario:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread")]
            async fn $scenario() {
                scenarios::$scenario::<Async>().await;
            }
        )*
    };
}

every_scenario!(async_tests);

fn is_send_sync_clone<T: Send + Sync + Clone + 'static>() {}

fn is_send<T: Send>(_: &T) {}

/// For every `AsyncHttpClient`: the client is `Send + Sync`, and so are the futures of its
/// methods (they can be spawned on a multi-threaded runtime).
fn futures_are_send<H: AsyncHttpClient>(client: &Client<H>) {
    is_send_sync_clone::<Client<H>>();
    is_send(&client.authorization());
    is_send(&client.force_refresh());
    is_send(&client.revoke());
    is_send(&client.send(http::Request::new(Vec::new())));
    let mut request = http::Request::new(());
    is_send(&client.authorize(&mut request));
}

#[test]
fn client_and_its_futures_are_send() {
    is_send_sync_clone::<Client<ReqwestClient>>();
    is_send_sync_clone::<ReqwestClient>();
    let config = Config::builder("http://127.0.0.1:9/oauth/token", "id", "secret")
        .build()
        .expect("a valid config");
    let http = ReqwestClient::default();
    // The futures are created and dropped, never polled: no request goes out.
    futures_are_send(&Client::new(config, http));
}

//! Clients of one process sharing a store: a `MemoryStore` between blocking clients, and a
//! `FileStore` between async clients (whose store calls run on threads of their own). One
//! login and one refresh per expiry between them, and no refused refresh.
#![cfg(all(feature = "ureq", feature = "reqwest", feature = "test-util"))]
#![allow(
    clippy::disallowed_methods,
    reason = "the tests start processes and threads and wait on the real clock; the core does not"
)]

use std::time::Duration;

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::client::{FileStore, ManualClock, MemoryStore, TokenStore};
use keliweb_oauth::{UnixTime, blocking, nonblocking};

use crate::support::emulated;

const T0: UnixTime = UnixTime::from_secs(1_800_000_000);
const PAST_EXPIRY: Duration = Duration::from_secs(3600);

fn refused_refreshes(emulator: &Emulator) -> usize {
    emulator
        .requests()
        .iter()
        .filter(|r| r.grant_type.as_deref() == Some("refresh_token") && r.status >= 400)
        .count()
}

fn blocking_client(
    emulator: &Emulator,
    store: &MemoryStore,
    clock: &ManualClock,
) -> blocking::Client<blocking::UreqClient> {
    blocking::Client::builder(emulated::config(emulator), blocking::UreqClient::default())
        .clock(clock.clone())
        .store(store.clone())
        .build()
}

#[test]
fn blocking_clients_sharing_a_memory_store_take_turns() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let store = MemoryStore::new();
    let clock = ManualClock::new(T0);
    let first = blocking_client(&emulator, &store, &clock);
    let second = blocking_client(&emulator, &store, &clock);

    let a = first.authorization().expect("a login").clone();
    let b = second.authorization().expect("the stored token").clone();
    assert_eq!(a.expose_header_value(), b.expose_header_value());
    assert_eq!(emulator.counters().password_grants, 1, "one login for both");
    assert_eq!(store.load().map(|stored| stored.version), Ok(1));

    clock.advance(PAST_EXPIRY);
    let a = first.authorization().expect("a refresh").clone();
    let b = second.authorization().expect("the refreshed token").clone();
    assert_eq!(a.expose_header_value(), b.expose_header_value());
    let counters = emulator.counters();
    assert_eq!((counters.password_grants, counters.refresh_grants), (1, 1));
    assert_eq!(refused_refreshes(&emulator), 0);
    assert_eq!(store.load().map(|stored| stored.version), Ok(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_clients_sharing_a_file_store_take_turns() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let directory = tempfile::tempdir().expect("a directory");
    let path = directory.path().join("tokens.json");
    let clock = ManualClock::new(T0);
    let client = || {
        nonblocking::Client::builder(
            emulated::config(&emulator),
            nonblocking::ReqwestClient::default(),
        )
        .clock(clock.clone())
        .store(FileStore::new(&path))
        .build()
    };
    let (first, second) = (client(), client());

    let a = first.authorization().await.expect("a login").clone();
    let b = second
        .authorization()
        .await
        .expect("the stored token")
        .clone();
    assert_eq!(a.expose_header_value(), b.expose_header_value());

    clock.advance(PAST_EXPIRY);
    let (a, b) = tokio::join!(first.authorization(), second.authorization());
    let (a, b) = (a.expect("a token").clone(), b.expect("a token").clone());
    assert_eq!(a.expose_header_value(), b.expose_header_value());
    let counters = emulator.counters();
    assert_eq!((counters.password_grants, counters.refresh_grants), (1, 1));
    assert_eq!(refused_refreshes(&emulator), 0);
    assert_eq!(
        FileStore::new(&path).load().map(|stored| stored.version),
        Ok(2)
    );
}

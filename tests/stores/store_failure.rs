//! The store-failure policy: a set the store failed to save is still used (it works), reported
//! by `store_error`, and saved again after the minimum retry delay; a logout whose erasure
//! fails still drops the token at once and says so.
#![cfg(all(feature = "blocking", feature = "test-util"))]
#![allow(
    clippy::disallowed_methods,
    reason = "the tests start processes and threads and wait on the real clock; the core does not"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use keliweb_oauth::blocking::Client;
use keliweb_oauth::client::ManualClock;
use keliweb_oauth::{Config, ErrorKind, TokenSet, UnixTime, error::StoreErrorKind};

use crate::support::canned::Canned;

const T0: UnixTime = UnixTime::from_secs(1_800_000_000);

fn config() -> Config {
    Config::keliweb("client", "secret")
        .credentials("user@example.com", "password")
        .build()
        .expect("valid config")
}

#[test]
fn a_set_whose_save_failed_is_used_reported_and_saved_again() {
    let calls = Arc::new(AtomicUsize::new(0));
    let saved = Arc::new(AtomicUsize::new(0));
    let (counted, kept) = (Arc::clone(&calls), Arc::clone(&saved));
    let clock = ManualClock::new(T0);
    let client = Client::builder(config(), Canned)
        .clock(clock.clone())
        .store(move |_: Option<&TokenSet>| {
            assert!(
                counted.fetch_add(1, Ordering::SeqCst) > 0,
                "the disk is full"
            );
            kept.fetch_add(1, Ordering::SeqCst);
        })
        .build();

    client
        .authorization()
        .expect("the new set works, saved or not");
    let error = client.store_error().expect("the failed save is reported");
    assert_eq!(error.kind(), StoreErrorKind::Unavailable);
    assert!(error.message().contains("panicked"), "{error}");
    assert_eq!(saved.load(Ordering::SeqCst), 0);

    // Before the minimum retry delay nothing is retried...
    client.authorization().expect("still usable");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // ...after it, the next caller starts the retry in the background and goes on.
    clock.advance(Config::DEFAULT_MIN_RETRY_DELAY);
    client.authorization().expect("still usable");
    let give_up = Instant::now() + Duration::from_secs(10);
    while saved.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < give_up, "the save was not retried");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        client.store_error(),
        None,
        "a successful save clears the report"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2, "retried once");
}

#[test]
fn a_logout_whose_erasure_fails_drops_the_token_and_says_so() {
    let erasures = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&erasures);
    let client = Client::builder(config(), Canned)
        .store(move |tokens: Option<&TokenSet>| {
            if tokens.is_none() {
                counted.fetch_add(1, Ordering::SeqCst);
                panic!("the disk is full");
            }
        })
        .build();
    client.authorization().expect("a login");

    let error = client.revoke().expect_err("the erasure failed");
    assert_eq!(error.kind(), ErrorKind::Store);
    assert_eq!(
        error.store_error().map(|store| store.kind()),
        Some(StoreErrorKind::Unavailable)
    );
    assert_eq!(erasures.load(Ordering::SeqCst), 1);
    let after = client.authorization().expect_err("logged out");
    assert_eq!(after.kind(), ErrorKind::LoginRequired);
}

#[test]
fn shutdown_says_when_the_set_it_holds_is_not_saved() {
    let client = Client::builder(config(), Canned)
        .store(move |_: Option<&TokenSet>| panic!("the disk is full"))
        .build();
    client
        .authorization()
        .expect("the new set works, saved or not");
    // It tries the save once more, then says the held set is the only copy.
    let error = client.shutdown().expect_err("the set is not saved");
    assert_eq!(error.kind(), ErrorKind::Store);
    assert_eq!(
        error.store_error().map(|store| store.kind()),
        Some(StoreErrorKind::Unavailable)
    );
}

//! A store that panics must not let a set it did not save be used: not a new set (the next
//! caller stores it again before it gets the token), not a revoked one (it leaves the lock-free
//! path first).
#![cfg(feature = "blocking")]

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "support/canned.rs"]
mod canned;

use canned::Canned;
use keliweb_oauth::blocking::Client;
use keliweb_oauth::{Config, ErrorKind, TokenSet};

#[test]
fn a_panicking_store_on_logout_cannot_keep_the_revoked_token_in_use() {
    let config = Config::keliweb("client", "secret")
        .credentials("user@example.com", "password")
        .build()
        .expect("valid config");
    let erasures = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&erasures);
    let client = Client::builder(config, Canned)
        .store(move |tokens: Option<&TokenSet>| {
            if tokens.is_none() {
                // The first erasure fails, the next works.
                assert!(
                    counted.fetch_add(1, Ordering::SeqCst) > 0,
                    "the disk is full"
                );
            }
        })
        .build();
    client.authorization().expect("a login");

    let revoked = catch_unwind(AssertUnwindSafe(|| client.revoke()));
    assert!(revoked.is_err(), "the store panicked during the logout");

    let after = client.authorization().expect_err("logged out");
    assert_eq!(after.kind(), ErrorKind::LoginRequired);
    assert_eq!(
        erasures.load(Ordering::SeqCst),
        2,
        "the erasure that failed was done again"
    );
}

#[test]
fn a_set_the_store_failed_to_save_is_saved_before_it_is_handed_out() {
    let config = Config::keliweb("client", "secret")
        .credentials("user@example.com", "password")
        .build()
        .expect("valid config");
    let calls = Arc::new(AtomicUsize::new(0));
    let saved = Arc::new(AtomicUsize::new(0));
    let (counted, kept) = (Arc::clone(&calls), Arc::clone(&saved));
    let client = Client::builder(config, Canned)
        .store(move |_: Option<&TokenSet>| {
            assert!(
                counted.fetch_add(1, Ordering::SeqCst) > 0,
                "the disk is full"
            );
            kept.fetch_add(1, Ordering::SeqCst);
        })
        .build();
    let failed = catch_unwind(AssertUnwindSafe(|| client.authorization()));
    assert!(failed.is_err(), "the store panicked on the first save");
    assert_eq!(saved.load(Ordering::SeqCst), 0);

    client
        .authorization()
        .expect("the login's set, saved this time");
    assert_eq!(
        saved.load(Ordering::SeqCst),
        1,
        "saved before it was handed out"
    );
}

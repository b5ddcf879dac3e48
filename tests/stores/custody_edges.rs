//! Edges of the custody protocol found by review: a request the session gave up while it
//! waited for the lease is not sent; a panicking HTTP client after a failed save does not hang
//! the async client; a client started from `.tokens(set)` still loads the store and refreshes
//! ahead; a failed first load is not retried by every caller; a huge timeout does not overflow;
//! `shutdown` finishes a refresh ahead and its save before a program ends.
#![cfg(all(feature = "ureq", feature = "reqwest", feature = "test-util"))]
#![allow(
    clippy::disallowed_methods,
    reason = "the tests start threads and wait on the real clock; the core does not"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::client::{FileStore, Limits, ManualClock, MemoryStore, TokenStore};
use keliweb_oauth::{
    Config, ErrorKind, TokenSet, UnixTime, blocking, error::TransportError, nonblocking,
};

use crate::support::canned;
use crate::support::emulated;

const T0: UnixTime = UnixTime::from_secs(1_800_000_000);

fn wait_for(what: &str, done: impl Fn() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < give_up, "waited in vain for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_refresh_revoked_while_it_waits_for_the_lease_is_not_sent() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let store = MemoryStore::new();
    let client =
        blocking::Client::builder(emulated::config(&emulator), blocking::UreqClient::default())
            .store(store.clone())
            .build();
    client.authorization().expect("a login");

    // Another process holds the lease while this one wants a refresh, then a logout.
    let held = store.lock(Duration::from_secs(30)).expect("the lease");
    let refreshing = {
        let client = client.clone();
        std::thread::spawn(move || client.force_refresh().map(drop))
    };
    std::thread::sleep(Duration::from_millis(100));
    let revoking = {
        let client = client.clone();
        std::thread::spawn(move || client.revoke())
    };
    std::thread::sleep(Duration::from_millis(100));
    drop(held);

    let refreshed = refreshing.join().expect("no panic");
    assert_eq!(
        refreshed.map_err(|error| error.kind()),
        Err(ErrorKind::LoginRequired),
        "logged out meanwhile"
    );
    revoking.join().expect("no panic").expect("the logout");
    assert_eq!(
        emulator.counters().refresh_grants,
        0,
        "the refresh the logout overtook never went out"
    );
    assert_eq!(store.load().map(|stored| stored.tokens), Ok(None));
}

/// Answers the first token request, then panics.
struct PanicsAfterOne(AtomicUsize);

impl nonblocking::AsyncHttpClient for PanicsAfterOne {
    async fn execute(
        &self,
        _request: http::Request<Vec<u8>>,
        _limits: keliweb_oauth::client::RequestLimits,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        assert_eq!(
            self.0.fetch_add(1, Ordering::SeqCst),
            0,
            "the HTTP client broke"
        );
        Ok(http::Response::new(canned::TOKEN_BODY.as_bytes().to_vec()))
    }
}

#[tokio::test]
async fn a_panicking_http_client_after_a_failed_save_fails_the_request_without_hanging() {
    let saves = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&saves);
    let config = Config::keliweb("client", "secret")
        .credentials("user@example.com", "password")
        .build()
        .expect("valid config");
    let client = nonblocking::Client::builder(config, PanicsAfterOne(AtomicUsize::new(0)))
        .store(move |_: Option<&TokenSet>| {
            counted.fetch_add(1, Ordering::SeqCst);
            panic!("the disk is full");
        })
        .build();
    client
        .authorization()
        .await
        .expect("the login's set works, unsaved");
    assert!(client.store_error().is_some());

    let refreshed = tokio::time::timeout(Duration::from_secs(10), client.force_refresh())
        .await
        .expect("no hang");
    assert_eq!(
        refreshed.map(drop).map_err(|error| error.kind()),
        Err(ErrorKind::Transport)
    );
    // The token that works is still handed out.
    let still = tokio::time::timeout(Duration::from_secs(10), client.authorization())
        .await
        .expect("no hang");
    assert!(still.is_ok());
}

#[test]
fn a_client_started_from_a_set_still_loads_the_store_and_refreshes_ahead() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let directory = tempfile::tempdir().expect("a directory");
    let path = directory.path().join("tokens.json");
    let clock = ManualClock::new(T0);
    let first =
        blocking::Client::builder(emulated::config(&emulator), blocking::UreqClient::default())
            .clock(clock.clone())
            .store(FileStore::new(&path))
            .build();
    first.authorization().expect("a login");
    let set = first.tokens().expect("a set");

    let second =
        blocking::Client::builder(emulated::config(&emulator), blocking::UreqClient::default())
            .clock(clock.clone())
            .tokens(set.clone())
            .store(FileStore::new(&path))
            .build();
    // Into the refresh-ahead window (5 minutes before the 60 s leeway of a one-hour token).
    clock.advance(Duration::from_secs(3600 - 60 - 200));
    let token = second
        .authorization()
        .expect("the still-valid token")
        .clone();
    assert!(token.is_usable_at(keliweb_oauth::client::Clock::now(&clock)));
    // `tokens()` shows a new set only once it is saved: it is in the store by then.
    wait_for("the refresh ahead, handed out", || {
        second.tokens().is_some_and(|tokens| tokens != set)
    });
    let stored = FileStore::new(&path).load().expect("the store");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.tokens, second.tokens());
    assert_eq!(emulator.counters().refresh_grants, 1);
}

#[test]
fn a_failed_first_load_is_not_retried_by_every_caller() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let directory = tempfile::tempdir().expect("a directory");
    let path = directory.path().join("tokens.json");
    std::fs::write(&path, "{").expect("written");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let clock = ManualClock::new(T0);
    let client =
        blocking::Client::builder(emulated::config(&emulator), blocking::UreqClient::default())
            .clock(clock.clone())
            .store(FileStore::new(&path))
            .build();
    let kind = |result: Result<_, keliweb_oauth::Error>| result.map(drop).map_err(|e| e.kind());
    assert_eq!(
        kind(client.authorization().map(drop)),
        Err(ErrorKind::Store)
    );

    // Fixed at once, but within the retry delay the same error comes back without a read.
    std::fs::remove_file(&path).expect("removed");
    assert_eq!(
        kind(client.authorization().map(drop)),
        Err(ErrorKind::Store)
    );
    clock.advance(Config::DEFAULT_MIN_RETRY_DELAY);
    client.authorization().expect("read again, and a login");
    assert_eq!(emulator.counters().password_grants, 1);
}

#[test]
fn a_huge_request_timeout_overflows_neither_the_lease_nor_the_http_client() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let limits = Limits {
        request_timeout: Duration::MAX,
        ..Limits::default()
    };
    let client =
        blocking::Client::builder(emulated::config(&emulator), blocking::UreqClient::default())
            .limits(limits)
            .store(MemoryStore::new())
            .build();
    client
        .authorization()
        .expect("a login under a lease of 'for ever'");
    assert_eq!(client.store_error(), None);
    assert_eq!(limits.token_request().request_timeout, Limits::MAX_TIMEOUT);
}

/// An emulator, a store file in a directory of its own, and a client clock at `T0`.
struct OnFile {
    emulator: Emulator,
    _directory: tempfile::TempDir,
    path: std::path::PathBuf,
    clock: ManualClock,
}

impl OnFile {
    fn new() -> Self {
        let directory = tempfile::tempdir().expect("a directory");
        Self {
            emulator: Emulator::start(EmulatorConfig::default()).expect("the emulator"),
            path: directory.path().join("tokens.json"),
            _directory: directory,
            clock: ManualClock::new(T0),
        }
    }

    /// A blocking client on the emulator, the store file and the clock.
    fn blocking(
        emulator: &Emulator,
        path: &std::path::Path,
        clock: &ManualClock,
    ) -> blocking::ClientBuilder<blocking::UreqClient> {
        blocking::Client::builder(emulated::config(emulator), blocking::UreqClient::default())
            .clock(clock.clone())
            .store(FileStore::new(path))
    }

    /// The same for the async client.
    fn nonblocking(
        emulator: &Emulator,
        path: &std::path::Path,
        clock: &ManualClock,
    ) -> nonblocking::ClientBuilder<nonblocking::ReqwestClient> {
        nonblocking::Client::builder(
            emulated::config(emulator),
            nonblocking::ReqwestClient::default(),
        )
        .clock(clock.clone())
        .store(FileStore::new(path))
    }
}

/// What a program that ends now must leave in the store: the rotated set its client holds.
fn assert_rotated_set_saved(path: &std::path::Path, held: Option<TokenSet>, before: &TokenSet) {
    let stored = FileStore::new(path).load().expect("the store");
    assert_eq!(stored.version, 2, "the refresh's answer was saved");
    assert_eq!(stored.tokens, held);
    assert_ne!(stored.tokens.as_ref(), Some(before));
}

#[test]
fn shutdown_waits_for_a_refresh_ahead_and_its_save() {
    let OnFile {
        emulator,
        path,
        clock,
        ..
    } = &OnFile::new();
    let client = OnFile::blocking(emulator, path, clock).build();
    client.authorization().expect("a login");
    let before = client.tokens().expect("a set");
    emulator.inject(
        keliweb_emulator::Route::Token,
        keliweb_emulator::Fault::AnswerAfter(Duration::from_secs(1)),
    );
    clock.advance(Duration::from_secs(3600 - 60 - 200));
    // Starts the refresh in the background and returns the valid token.
    client.authorization().expect("the valid token");

    client.shutdown().expect("nothing left unsaved");
    assert_rotated_set_saved(path, client.tokens(), &before);
    assert_eq!(emulator.counters().refresh_grants, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drives_a_refresh_ahead_and_its_save_to_the_end_async() {
    let OnFile {
        emulator,
        path,
        clock,
        ..
    } = &OnFile::new();
    let client = OnFile::nonblocking(emulator, path, clock).build();
    client.authorization().await.expect("a login");
    let before = client.tokens().expect("a set");
    emulator.inject(
        keliweb_emulator::Route::Token,
        keliweb_emulator::Fault::AnswerAfter(Duration::from_secs(1)),
    );
    clock.advance(Duration::from_secs(3600 - 60 - 200));
    client.authorization().await.expect("the valid token");

    client.shutdown().await.expect("nothing left unsaved");
    assert_rotated_set_saved(path, client.tokens(), &before);
    assert_eq!(emulator.counters().refresh_grants, 1);
}

#[test]
fn a_foreground_refresh_ahead_runs_in_the_call_and_returns_the_new_token() {
    let OnFile {
        emulator,
        path,
        clock,
        ..
    } = &OnFile::new();
    let client = OnFile::blocking(emulator, path, clock)
        .foreground_refresh_ahead()
        .build();
    let first = client.authorization().expect("a login").token_id();
    clock.advance(Duration::from_secs(3600 - 60 - 200));
    let fresh = client.authorization().expect("the new token");
    assert_ne!(fresh.token_id(), first, "the call refreshed and waited");
    // Saved before it was handed out: nothing is left for a background thread.
    assert_eq!(
        FileStore::new(path).load().map(|stored| stored.version),
        Ok(2)
    );
    assert_eq!(emulator.counters().refresh_grants, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreground_refresh_ahead_runs_in_the_call_and_returns_the_new_token_async() {
    let OnFile {
        emulator,
        path,
        clock,
        ..
    } = &OnFile::new();
    let client = OnFile::nonblocking(emulator, path, clock)
        .foreground_refresh_ahead()
        .build();
    let first = client.authorization().await.expect("a login").token_id();
    clock.advance(Duration::from_secs(3600 - 60 - 200));
    let fresh = client.authorization().await.expect("the new token");
    assert_ne!(fresh.token_id(), first, "the call refreshed and waited");
    assert_eq!(
        FileStore::new(path).load().map(|stored| stored.version),
        Ok(2)
    );
    assert_eq!(emulator.counters().refresh_grants, 1);
}

/// Two callers of a foreground client at the refresh point: the second finds the first's
/// refresh out and waits for its token, rather than taking the one being rotated.
#[test]
fn a_second_foreground_caller_waits_for_the_refresh_out_instead_of_taking_the_old_token() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let clock = ManualClock::new(T0);
    let client =
        blocking::Client::builder(emulated::config(&emulator), blocking::UreqClient::default())
            .clock(clock.clone())
            .foreground_refresh_ahead()
            .build();
    let first = client.authorization().expect("a login").token_id();
    emulator.inject(
        keliweb_emulator::Route::Token,
        keliweb_emulator::Fault::Delay(Duration::from_secs(1)),
    );
    clock.advance(Duration::from_secs(3600 - 60 - 200));
    let (one, two) = std::thread::scope(|scope| {
        let one = scope.spawn(|| client.authorization().map(|token| token.token_id()));
        wait_for("the refresh out", || {
            emulator.counters().token_requests == 2
        });
        let two = client.authorization().map(|token| token.token_id());
        (one.join().expect("no panic"), two)
    });
    let (one, two) = (one.expect("the new token"), two.expect("the new token"));
    assert_ne!(two, first, "the second caller got the token being rotated");
    assert_eq!(one, two);
    assert_eq!(emulator.counters().refresh_grants, 1);
}

/// On the real clock, a foreground client asked for its token shortly before the refresh
/// point does not hand it out: it waits for the point and returns the successor, so no other
/// process's refresh at the point revokes what it handed out.
#[test]
fn a_foreground_client_hands_out_no_token_just_before_its_refresh_point() {
    // 4 s tokens, leeway 1 s: usable 3 s, refreshed at +1.5 s, not handed out from +0.75 s.
    let emulator = Emulator::start(EmulatorConfig {
        access_lifetime: Duration::from_secs(4),
        ..EmulatorConfig::default()
    })
    .expect("the emulator");
    let config = emulated::config_builder(&emulator)
        .leeway(Duration::from_secs(1))
        .build()
        .expect("a valid config");
    let client = blocking::Client::builder(config, blocking::UreqClient::default())
        .foreground_refresh_ahead()
        .build();
    let first = client.authorization().expect("a login").token_id();
    // Half a second before the refresh point (later on a busy machine: still new below).
    std::thread::sleep(Duration::from_millis(1000));
    let handed = client.authorization().expect("a token").token_id();
    assert_ne!(handed, first, "a token about to be rotated was handed out");
    assert_eq!(emulator.counters().refresh_grants, 1);
}

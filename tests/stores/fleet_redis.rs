//! Several OS processes share one token set through a `RedisStore` on a real `redis-server`
//! (started on a free loopback port by the tests, never skipped): one refresh per expiry for
//! the fleet, a dead lease holder's lease expiring, a fenced save, and Redis down at start and
//! in mid-run (`docs/custody.md`).
#![cfg(all(feature = "ureq", feature = "reqwest", feature = "redis"))]
#![allow(
    clippy::disallowed_methods,
    reason = "the tests start processes and threads and wait on the real clock; the core does not"
)]

use std::time::Duration;

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::blocking::{Client, UreqClient};
use keliweb_oauth::client::{Limits, Stored, TokenStore};
use keliweb_oauth::{ErrorKind, TokenSet, error::StoreErrorKind};

use crate::support::emulated;
use crate::support::fleet::redis_server::{RedisServer, store};
use crate::support::fleet::{StoreAt, scenarios};

fn at(server: &RedisServer) -> StoreAt {
    StoreAt::Redis {
        url: server.url(),
        key: "{keliweb}:tokens".to_owned(),
    }
}

/// The workers' request timeout in the kill tests: their lease lasts twice this plus 5 s, plus
/// six times the store's 200 ms timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);
const LEASE: Duration = Duration::from_millis(8200);

fn short_requests() -> [(&'static str, String); 1] {
    [(
        "FLEET_REQUEST_TIMEOUT_MS",
        REQUEST_TIMEOUT.as_millis().to_string(),
    )]
}

#[test]
fn eight_processes_on_one_redis_make_one_login_and_one_refresh_per_expiry() {
    let server = RedisServer::start();
    scenarios::eight_processes_make_one_login_and_one_refresh_per_expiry(&at(&server));
}

#[test]
fn eight_processes_on_redis_calling_the_api_with_default_settings_refresh_each_token_once() {
    let server = RedisServer::start();
    scenarios::a_fleet_calling_the_api_with_default_settings_refreshes_each_token_once(
        &at(&server),
        "blocking",
        (8, 4),
    );
}

#[test]
fn a_redis_lease_holder_killed_before_the_server_rotated_costs_nothing() {
    let server = RedisServer::start();
    scenarios::a_lease_holder_killed_before_the_server_rotated_costs_nothing(
        &at(&server),
        LEASE,
        &short_requests(),
    );
}

#[test]
fn a_redis_lease_holder_killed_after_the_server_rotated_costs_one_login() {
    let server = RedisServer::start();
    scenarios::a_lease_holder_killed_after_the_server_rotated_costs_one_login(
        &at(&server),
        LEASE,
        &short_requests(),
    );
}

fn set(access: &str) -> TokenSet {
    serde_json::from_str(&format!(
        r#"{{"access_token":"{access}","access_token_expires_at":1800003600,"refresh_token":"def50200aa","refresh_token_expires_at":1800864000}}"#
    ))
    .expect("a set")
}

#[test]
fn a_holder_whose_lease_expired_cannot_overwrite_its_successor() {
    let server = RedisServer::start();
    // The support's 200 ms timeout: the lease lasts 100 ms + 6 × 200 ms. (A shorter timeout
    // makes a shorter test, and fails on a busy machine, where Redis takes longer to answer.)
    let store = store(&server.url(), "fenced");
    let mut late = store.lock(Duration::from_millis(100)).expect("the lease");
    std::thread::sleep(Duration::from_millis(1600));
    let mut successor = store
        .lock(Duration::from_secs(5))
        .expect("the expired lease is free");
    assert_eq!(store.save(&mut successor, 0, Some(&set("eyJ.new"))), Ok(1));

    let refused = store
        .save(&mut late, 0, Some(&set("eyJ.stale")))
        .expect_err("its lease expired");
    assert_eq!(refused.kind(), StoreErrorKind::Conflict);
    // Even at the right version, a lease it no longer holds writes nothing.
    let refused = store
        .save(&mut late, 1, Some(&set("eyJ.stale")))
        .expect_err("its lease expired");
    assert_eq!(refused.kind(), StoreErrorKind::Conflict);
    // And dropping it does not release the successor's.
    drop(late);
    let other = store.lock(Duration::from_millis(10));
    assert_eq!(
        other.map(drop).map_err(|error| error.kind()),
        Err(StoreErrorKind::LeaseTimeout)
    );
    assert_eq!(
        store.load(),
        Ok(Stored {
            version: 1,
            tokens: Some(set("eyJ.new"))
        })
    );
}

fn client(emulator: &Emulator, url: &str) -> Client<UreqClient> {
    let config = emulated::config_builder(emulator)
        .min_retry_delay(Duration::from_millis(50))
        .build()
        .expect("a valid config");
    let limits = Limits {
        request_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    Client::builder(config, UreqClient::default())
        .limits(limits)
        .store(store(url, "{keliweb}:tokens").timeout(Duration::from_millis(500)))
        .build()
}

#[test]
fn redis_down_at_start_is_a_typed_error_and_no_login() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator starts");
    let mut server = RedisServer::start();
    let url = server.url();
    server.stop();
    let client = client(&emulator, &url);
    let error = client.authorization().expect_err("Redis is down");
    assert_eq!(error.kind(), ErrorKind::Store);
    assert_eq!(
        error.store_error().map(|store| store.kind()),
        Some(StoreErrorKind::Unavailable)
    );
    assert!(error.to_string().contains("127.0.0.1"), "{error}");
    assert_eq!(
        emulator.counters().token_requests,
        0,
        "no login without the store"
    );

    // Back up: the next call logs in and stores the set.
    server.restart();
    std::thread::sleep(Duration::from_millis(60));
    client.authorization().expect("a login once Redis is back");
    assert_eq!(emulator.counters().password_grants, 1);
}

#[test]
fn redis_down_in_mid_run_keeps_the_token_and_refreshes_once_it_is_back() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator starts");
    let mut server = RedisServer::start();
    let client = client(&emulator, &server.url());
    let token = client.authorization().expect("a login").token_id();
    let held = client.tokens();

    server.stop();
    let error = client
        .force_refresh()
        .expect_err("no refresh without the store");
    assert_eq!(error.kind(), ErrorKind::Store);
    assert_eq!(client.tokens(), held, "the tokens are kept");
    assert_eq!(
        client.authorization().expect("still usable").token_id(),
        token
    );
    assert_eq!(emulator.counters().refresh_grants, 0);

    // Redis comes back empty (no persistence): the held refresh token still works.
    server.restart();
    std::thread::sleep(Duration::from_millis(60));
    let refreshed = client
        .force_refresh()
        .expect("a refresh once Redis is back");
    assert_ne!(refreshed.token_id(), token);
    let counters = emulator.counters();
    assert_eq!((counters.password_grants, counters.refresh_grants), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_clients_share_a_redis_store_too() {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator starts");
    let server = RedisServer::start();
    let client = || {
        let config = emulated::config(&emulator);
        keliweb_oauth::nonblocking::Client::builder(
            config,
            keliweb_oauth::nonblocking::ReqwestClient::default(),
        )
        .store(store(&server.url(), "async"))
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
    assert_eq!(emulator.counters().password_grants, 1);

    let refreshed = first.force_refresh().await.expect("a refresh").clone();
    let adopted = second
        .force_refresh()
        .await
        .expect("the refreshed set")
        .clone();
    assert_eq!(
        refreshed.expose_header_value(),
        adopted.expose_header_value()
    );
    let counters = emulator.counters();
    assert_eq!((counters.password_grants, counters.refresh_grants), (1, 1));
}

/// A plain connection to `url`, to put into Redis what no store writes.
fn raw(url: &str) -> redis::Connection {
    redis::Client::open(url)
        .and_then(|client| client.get_connection())
        .expect("a connection")
}

#[test]
fn a_key_of_the_wrong_type_is_corrupt_and_named_not_retried_as_unavailable() {
    let server = RedisServer::start();
    let mut redis = raw(&server.url());
    let check = |error: keliweb_oauth::error::StoreError, key: &str| {
        assert_eq!(error.kind(), StoreErrorKind::Corrupt, "{error}");
        assert!(!error.is_retryable());
        assert!(error.message().contains(&format!("`{key}`")), "{error}");
        assert!(error.message().contains("WRONGTYPE"), "{error}");
        assert!(error.message().contains(&format!("DEL {key}")), "{error}");
    };

    // The set's key holds a string: a load, and a save under a lease, are refused.
    let _: () = redis::cmd("SET")
        .arg("wrong")
        .arg("a string")
        .query(&mut redis)
        .expect("set");
    let not_a_hash = store(&server.url(), "wrong");
    check(not_a_hash.load().expect_err("not a hash"), "wrong");
    let mut lease = not_a_hash.lock(Duration::from_secs(5)).expect("the lease");
    check(
        not_a_hash
            .save(&mut lease, 0, None)
            .expect_err("not a hash"),
        "wrong",
    );
    drop(lease);

    // The holders' counter holds a hash: taking the lease is refused.
    let _: () = redis::cmd("HSET")
        .arg("counted:holders")
        .arg("field")
        .arg("value")
        .query(&mut redis)
        .expect("hset");
    let not_a_counter = store(&server.url(), "counted");
    check(
        not_a_counter
            .lock(Duration::from_secs(5))
            .map(drop)
            .expect_err("not a counter"),
        "counted:holders",
    );
}

#[test]
fn a_foreign_lease_times_out_after_the_wait_its_message_states() {
    let server = RedisServer::start();
    let timeout = Duration::from_millis(20);
    let holder = store(&server.url(), "held").timeout(timeout);
    let _held = holder.lock(Duration::from_secs(60)).expect("the lease");
    let waiter = store(&server.url(), "held").timeout(timeout);
    let hold_for = Duration::from_millis(100);
    let started = std::time::Instant::now();
    let error = waiter
        .lock(hold_for)
        .map(drop)
        .expect_err("held by the other");
    let waited = started.elapsed();
    assert_eq!(error.kind(), StoreErrorKind::LeaseTimeout);
    // Twice the lease's lifetime: 100 ms held plus six store calls of 20 ms.
    let stated = 2 * (hold_for + 6 * timeout);
    assert!(error.message().contains(&format!("{stated:?}")), "{error}");
    assert!(
        waited >= stated && waited < stated + Duration::from_secs(1),
        "waited {waited:?}: {error}"
    );
}

#[test]
fn versions_stay_exact_beyond_two_to_the_53_and_stop_at_the_largest() {
    let server = RedisServer::start();
    let mut redis = raw(&server.url());
    let store = store(&server.url(), "counted");
    let mut put = |version: u64| {
        let _: () = redis::cmd("HSET")
            .arg("counted")
            .arg("version")
            .arg(version)
            .query(&mut redis)
            .expect("hset");
    };
    let mut lease = store.lock(Duration::from_secs(5)).expect("the lease");
    let two_53 = 1_u64 << 53;
    put(two_53);
    assert_eq!(store.load().map(|stored| stored.version), Ok(two_53));
    assert_eq!(
        store.save(&mut lease, two_53, Some(&set("eyJ.a"))),
        Ok(two_53 + 1)
    );
    assert_eq!(store.load().map(|stored| stored.version), Ok(two_53 + 1));
    assert_eq!(store.save(&mut lease, two_53 + 1, None), Ok(two_53 + 2));
    assert_eq!(store.load().map(|stored| stored.version), Ok(two_53 + 2));

    put(u64::MAX - 1);
    assert_eq!(
        store.save(&mut lease, u64::MAX - 1, Some(&set("eyJ.b"))),
        Ok(u64::MAX)
    );
    assert_eq!(
        store.load(),
        Ok(Stored {
            version: u64::MAX,
            tokens: Some(set("eyJ.b"))
        })
    );
    let error = store
        .save(&mut lease, u64::MAX, None)
        .expect_err("no version after the largest");
    assert_eq!(error.kind(), StoreErrorKind::Corrupt);
    assert!(error.message().contains("largest"), "{error}");
    assert_eq!(store.load().map(|stored| stored.version), Ok(u64::MAX));

    // A form the script never writes would never match what it compares: corrupt, not a
    // conflict at every save.
    let _: () = redis::cmd("HSET")
        .arg("counted")
        .arg("version")
        .arg("01")
        .query(&mut raw(&server.url()))
        .expect("hset");
    assert_eq!(
        store.load().map_err(|error| error.kind()),
        Err(StoreErrorKind::Corrupt)
    );
}

/// Checks that neither `store`'s Debug nor `error` shows a secret, and that both name `place`.
fn redacted(
    store: &keliweb_oauth::client::RedisStore,
    error: &keliweb_oauth::error::StoreError,
    place: &str,
) {
    let debug = format!("{store:?}");
    for shown in [debug.as_str(), &error.to_string()] {
        for secret in ["query-secret", "wrong-secret", "userinfo-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains(place), "{shown}");
    }
}

#[test]
fn a_password_in_a_redis_urls_query_is_never_shown() {
    // A server on a socket that wants a password: the `pass=` of the URL is the one it gets.
    let server = RedisServer::start_on_socket("query-secret");
    let socket = server.socket().display().to_string();
    for url in [
        format!("redis+unix://{socket}?pass=query-secret"),
        format!("unix://{socket}?db=0&pass=query-secret"),
    ] {
        let on_socket = store(&url, "wrong");
        on_socket.load().expect("the password was sent");
        let _: () = redis::cmd("SET")
            .arg("wrong")
            .arg("a string")
            .query(&mut raw(&url))
            .expect("set");
        let error = on_socket.load().expect_err("a key of the wrong type");
        redacted(&on_socket, &error, &socket);
        let wrong = store(
            &url.replace("pass=query-secret", "pass=wrong-secret"),
            "wrong",
        );
        let error = wrong.load().expect_err("a wrong password");
        redacted(&wrong, &error, &socket);
        let _: () = redis::cmd("DEL")
            .arg("wrong")
            .query(&mut raw(&url))
            .expect("del");
    }

    // Nothing listens at these: the connection errors name the place, not the password.
    let mut stopped = RedisServer::start();
    let url = stopped.url();
    stopped.stop();
    let port = url.trim_start_matches("redis://").trim_end_matches('/');
    for (url, place) in [
        (
            "redis+unix:///nonexistent/redis.sock?pass=query-secret".to_owned(),
            "/nonexistent/redis.sock",
        ),
        (
            "unix:///nonexistent/redis.sock?pass=query-secret&db=1".to_owned(),
            "/nonexistent/redis.sock",
        ),
        (format!("redis://{port}/?password=query-secret"), port),
        (
            format!("redis://:userinfo-secret@{port}/0?pass=query-secret"),
            port,
        ),
        (
            format!("redis://user:userinfo-secret@{port}/?password=query-secret@{port}"),
            port,
        ),
    ] {
        let nowhere = store(&url, "{keliweb}:tokens");
        let error = nowhere.load().expect_err("nothing listens");
        assert_eq!(error.kind(), StoreErrorKind::Unavailable, "{error}");
        redacted(&nowhere, &error, place);
    }
}

/// Runs `call` while `server` freezes 100 ms after it started, for `stall`, then goes on.
fn frozen_during<T>(server: &RedisServer, stall: Duration, call: impl FnOnce() -> T) -> T {
    std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            server.pause();
            std::thread::sleep(stall);
            server.resume();
        });
        call()
    })
}

/// Redis stalls (8 s) right after a refresh went out: the refresh is answered at once, but its
/// save and the lease's release time out. The caller is back within the store's timeouts
/// (before, it retried the save in a loop while Redis was away, then waited for its own
/// orphaned lease, which outlives two token requests: 25 s here, 77 s with the default
/// timeouts); once Redis answers again, the next lease is taken at once and the set is saved.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "the stall is real time: the test measures the caller's wait against the lease's"
)]
fn a_redis_stall_after_a_refresh_never_makes_the_caller_wait_for_its_own_lease() {
    use keliweb_emulator::{Fault, Route};
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator starts");
    let server = RedisServer::start();
    let config = emulated::config_builder(&emulator)
        .min_retry_delay(Duration::from_millis(50))
        .build()
        .expect("a valid config");
    // A lease held for two 10 s requests and 5 s: about 25 s before it expires on its own.
    let limits = Limits {
        request_timeout: Duration::from_secs(10),
        ..Limits::default()
    };
    let client = Client::builder(config, UreqClient::default())
        .limits(limits)
        .store(store(&server.url(), "{keliweb}:tokens"))
        .build();
    let first = client.authorization().expect("a login").token_id();

    // The refresh is answered after 400 ms; Redis freezes 100 ms after it went out, for 8 s.
    emulator.inject(Route::Token, Fault::Delay(Duration::from_millis(400)));
    let started = std::time::Instant::now();
    let (refreshed, waited) = frozen_during(&server, Duration::from_secs(8), || {
        let refreshed = client.force_refresh().map(|token| token.token_id());
        (refreshed, started.elapsed())
    });
    let refreshed = refreshed.expect("the refresh worked; only its save failed");
    assert_ne!(refreshed, first);
    // Its calls to Redis time out in 200 ms each: it is back long before Redis, rather than
    // retrying the save in a loop until Redis answers, then waiting out its own lease.
    assert!(
        waited < Duration::from_secs(5),
        "the caller waited {waited:?}, for Redis or for its own orphaned lease"
    );

    // Redis is back: the failed save is retried under a new lease, taken at once.
    let retried = std::time::Instant::now();
    while client.store_error().is_some() {
        assert!(
            retried.elapsed() < Duration::from_secs(10),
            "the save was never retried, or waited for the orphaned lease: {:?}",
            client.store_error()
        );
        let _ = client.authorization().expect("the new token");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        store(&server.url(), "{keliweb}:tokens")
            .load()
            .expect("Redis answers")
            .tokens,
        client.tokens(),
        "the held set is the stored one"
    );
    assert_eq!(emulator.counters().refresh_grants, 1);
}

/// A save that timed out but landed once Redis came back is the process's own set: the next
/// forced refresh sends a refresh and gets a new access token, rather than adopting its own set
/// as another process's (which would hand back the same token, under a new id).
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "Redis runs the queued save in real time, once it goes on"
)]
fn a_save_that_landed_late_is_not_taken_for_another_process_s_set() {
    use keliweb_emulator::{Fault, Route};
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator starts");
    let server = RedisServer::start();
    // No retry of the failed save before the forced refresh.
    let config = emulated::config_builder(&emulator)
        .min_retry_delay(Duration::from_secs(600))
        .build()
        .expect("a valid config");
    let stored = || {
        store(&server.url(), "{keliweb}:tokens")
            .load()
            .expect("Redis answers")
    };
    let client = Client::builder(config, UreqClient::default())
        .store(store(&server.url(), "{keliweb}:tokens"))
        .build();
    client.authorization().expect("a login");
    emulator.inject(Route::Token, Fault::Delay(Duration::from_millis(400)));
    frozen_during(&server, Duration::from_millis(1500), || {
        client.force_refresh().expect("the refresh worked");
    });
    assert!(client.store_error().is_some(), "its save timed out");
    // Redis runs the save it had queued while frozen, once it goes on.
    let give_up = std::time::Instant::now() + Duration::from_secs(5);
    let landed = loop {
        let landed = stored();
        if landed.version == 2 || std::time::Instant::now() > give_up {
            break landed;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        (landed.version, &landed.tokens),
        (2, &client.tokens()),
        "the save landed late"
    );
    let held = client.tokens().expect("a set");

    let forced = client.force_refresh().expect("a new token");
    assert_ne!(
        forced.expose_header_value(),
        format!("Bearer {}", held.access_token().expose_secret()).as_str(),
        "a forced refresh hands out a new access token"
    );
    assert_eq!(client.store_error(), None, "the store answered and saved");
    assert_eq!(stored().version, 3);
    assert_eq!(stored().tokens, client.tokens());
    assert_eq!(emulator.counters().refresh_grants, 2);
}

//! `proxy`: API calls with no OAuth code, across rotations that revoke the old token.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Agent, assert_no_failures, get, short_lived};
use crate::Setup;

fn proxy(setup: &Setup, directory: &std::path::Path) -> Agent {
    let socket = directory.join("run").join("proxy.sock");
    let upstream = setup.emulator.base_url();
    let agent = Agent::start(
        setup,
        &[
            "proxy",
            "--upstream",
            &upstream,
            "--socket",
            socket.to_str().expect("UTF-8"),
        ],
        &socket,
        &directory.join("proxy.log"),
    );
    agent.wait_ready();
    agent
}

#[test]
fn the_proxy_adds_the_token_and_refuses_the_callers_own() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let agent = proxy(&setup, directory.path());
    let user = get(&agent.socket, "/api/user", &[]).expect("answers");
    assert_eq!(user.status, 200, "{user:?}");
    assert!(user.body.contains("test@example.com"), "{user:?}");
    let own = get(
        &agent.socket,
        "/api/user",
        &[("Authorization", "Bearer mine")],
    )
    .expect("answers");
    assert_eq!(own.status, 400, "{own:?}");
    assert!(own.body.contains("authorization_refused"), "{own:?}");
    // Hop-by-hop headers named by Connection go no further, and the API's 404 comes back.
    let missing = get(&agent.socket, "/api/none", &[]).expect("answers");
    assert_eq!(missing.status, 404, "{missing:?}");
    assert_eq!(agent.stop(), 0);
    assert_eq!(setup.emulator.counters().api_calls, 1);
}

#[test]
fn the_upstream_is_keliwebs_api_by_default_or_keliweb_api_url() {
    let help = Setup::new().run(&["proxy", "--help"]);
    assert_eq!(help.code, 0, "{help:?}");
    for needle in [
        "[env: KELIWEB_API_URL=]",
        "[default: https://apiv2.keliweb.it]",
    ] {
        assert!(help.stdout.contains(needle), "{needle}: {}", help.stdout);
    }
}

#[test]
fn an_upstream_the_token_may_not_go_to_is_refused_at_start() {
    let setup = Setup::new();
    let refused = setup.run(&["proxy", "--upstream", "https://evil.example"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("the token may not go there"),
        "{refused:?}"
    );
}

/// 200 callers, each calling the API again 150 ms after it answered, for two lifetimes of 4 s
/// tokens (leeway 1 s: a rotation every 1.5 s, at least three in all); at each rotation the
/// emulator revokes the old pair at once, so calls in flight with it get a `401`, which the
/// proxy retries with the new token: no call ends in a `401`. (The proxy retries once: a call
/// slower than the time between two rotations could meet two; 1.5 s is far above a call's time
/// even on a loaded machine.) The pause keeps the test from taking both cores for itself (at
/// 50 ms it spent 14 s of CPU in 8 s); it still has calls in flight at every rotation (the run
/// prints how many `401`s the proxy retried).
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "real time: the tokens expire in it"
)]
fn two_hundred_concurrent_calls_across_rotations_never_end_in_a_401() {
    const CALLERS: usize = 200;
    const LIFETIME: u64 = 4;
    let _busy = crate::busy();
    let setup = short_lived(LIFETIME);
    let directory = tempfile::tempdir().expect("a directory");
    let agent = proxy(&setup, directory.path());
    let deadline = Instant::now() + Duration::from_secs(2 * LIFETIME);
    let (calls, unauthorized) = (AtomicU64::new(0), AtomicU64::new(0));
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..CALLERS {
            scope.spawn(|| {
                while Instant::now() < deadline {
                    calls.fetch_add(1, Ordering::Relaxed);
                    match get(&agent.socket, "/api/user", &[]) {
                        Ok(answer) if answer.status == 200 => {}
                        Ok(answer) if answer.status == 401 => {
                            unauthorized.fetch_add(1, Ordering::Relaxed);
                        }
                        other => failures
                            .lock()
                            .expect("no panic")
                            .push(format!("{other:?}")),
                    }
                    std::thread::sleep(Duration::from_millis(150));
                }
            });
        }
    });
    let failures = failures.into_inner().expect("no panic");
    let counters = setup.emulator.counters();
    assert_eq!(
        unauthorized.load(Ordering::Relaxed),
        0,
        "calls that ended in a 401 ({counters:?})"
    );
    assert_no_failures(&failures);
    assert!(
        counters.refresh_grants >= 3,
        "rotations crossed: {counters:?}"
    );
    assert_eq!(
        (counters.password_grants, counters.token_errors),
        (1, 0),
        "{counters:?}"
    );
    assert_eq!(agent.stop(), 0);
    println!(
        "proxy: {CALLERS} callers, {} calls, {} rotations, {} 401s retried by the proxy",
        calls.load(Ordering::Relaxed),
        counters.refresh_grants,
        counters.api_unauthorized
    );
}

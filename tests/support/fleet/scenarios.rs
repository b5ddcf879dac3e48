//! The fleet scenarios, written once over the store the workers share.

use std::time::{Duration, Instant};

use keliweb_emulator::{Fault, Route};

use super::{Fleet, Grants, LEEWAY, LIFETIME, StoreAt, emulator, grants, reported};

/// How long a token is handed out: from its issue to its leeway.
const USABLE: Duration = LIFETIME.checked_sub(LEEWAY).expect("lifetime above leeway");

/// Every worker ran without an error and saw exactly `tokens` distinct access tokens.
pub fn assert_clean(outputs: &[Vec<String>], tokens: u64) {
    for (worker, output) in outputs.iter().enumerate() {
        assert_eq!(
            reported(output, "ERRORS "),
            Some(0),
            "worker {worker} saw errors: {output:#?}"
        );
        assert_eq!(
            reported(output, "TOKENS "),
            Some(tokens),
            "worker {worker} saw another number of tokens: {output:#?}"
        );
    }
}

/// Eight processes across three expiries: one login and three refreshes in all.
pub fn eight_processes_make_one_login_and_one_refresh_per_expiry(store: &StoreAt) {
    let emulator = emulator();
    // Three expiries: the login's token and two refreshed ones run out inside the run, the
    // third refreshed one lasts past it.
    let run_for = USABLE * 3 + USABLE / 2;
    let fleet = Fleet::start(
        &emulator,
        store,
        (8, 4),
        Duration::from_millis(500),
        run_for,
        &[],
    );
    let outputs = fleet.finish(&[]);
    assert_eq!(
        grants(&emulator.requests()),
        Grants {
            logins: 1,
            refreshes: 3,
            ..Grants::default()
        },
        "one login at start and one refresh per expiry, for all eight processes"
    );
    assert_clean(&outputs, 4);
}

/// The lease holder dies after sending its refresh, before the server processed it (a request
/// stuck in front of the server): the next process refreshes with the same refresh token,
/// which still works. No password login, no refused refresh.
pub fn a_lease_holder_killed_before_the_server_rotated_costs_nothing(
    store: &StoreAt,
    recovery: Duration,
    env: &[(&str, String)],
) {
    let (emulator, mut fleet) = logged_in_fleet(store, recovery, env);
    // The next token request, the first refresh, never reaches Passport.
    emulator.inject(
        Route::Token,
        Fault::DelayThen(Duration::from_secs(30), Box::new(Fault::Status(503))),
    );
    let holder = fleet
        .wait_for_line("SEND refresh", USABLE + Duration::from_secs(2))
        .expect("a worker sends the refresh");
    wait_until(Duration::from_secs(2), || {
        emulator.counters().token_requests >= 2
    });
    let killed_at = Instant::now();
    fleet.kill(holder);
    wait_until(recovery + Duration::from_secs(3), || {
        grants(&emulator.requests()).refreshes == 1
    });
    let recovered_in = killed_at.elapsed();
    let outputs = fleet.finish(&[holder]);
    assert_eq!(
        grants(&emulator.requests()),
        Grants {
            logins: 1,
            refreshes: 1,
            ..Grants::default()
        },
        "{:#?} {outputs:#?}",
        emulator.requests()
    );
    assert!(
        recovered_in < recovery + Duration::from_secs(2),
        "the dead holder's lease was free within {recovery:?} (took {recovered_in:?})"
    );
    let survivors: Vec<_> = (0..outputs.len()).filter(|&w| w != holder).collect();
    for worker in survivors {
        assert_eq!(
            reported(&outputs[worker], "ERRORS "),
            Some(0),
            "{:#?}",
            outputs[worker]
        );
        assert_eq!(
            reported(&outputs[worker], "TOKENS "),
            Some(2),
            "{:#?}",
            outputs[worker]
        );
    }
}

/// The lease holder dies after the server rotated: the new pair died with it. The next
/// process's refresh is refused; still under the lease it logs in, and everyone else adopts
/// that set. Exactly one refused refresh and one extra login for the whole fleet.
pub fn a_lease_holder_killed_after_the_server_rotated_costs_one_login(
    store: &StoreAt,
    recovery: Duration,
    env: &[(&str, String)],
) {
    let (emulator, mut fleet) = logged_in_fleet(store, recovery, env);
    // The first refresh is processed at once (the old refresh token dies), answered late.
    emulator.inject(Route::Token, Fault::AnswerAfter(Duration::from_secs(30)));
    let holder = fleet
        .wait_for_line("SEND refresh", USABLE + Duration::from_secs(2))
        .expect("a worker sends the refresh");
    wait_until(Duration::from_secs(2), || {
        emulator.counters().refresh_grants == 1
    });
    fleet.kill(holder);
    wait_until(recovery + Duration::from_secs(3), || {
        grants(&emulator.requests()).logins == 2
    });
    let outputs = fleet.finish(&[holder]);
    let grants = grants(&emulator.requests());
    assert_eq!(
        (
            grants.logins,
            grants.refused_refreshes,
            grants.refused_logins
        ),
        (2, 1, 0),
        "one refused refresh and one login for the fleet: {grants:?}"
    );
    for (worker, output) in outputs.iter().enumerate().filter(|(w, _)| *w != holder) {
        assert_eq!(
            reported(output, "ERRORS "),
            Some(0),
            "worker {worker}: {output:#?}"
        );
    }
}

/// Four workers of two threads, run long enough for one expiry and a recovery of `recovery`;
/// returns once their login is processed.
fn logged_in_fleet(
    store: &StoreAt,
    recovery: Duration,
    env: &[(&str, String)],
) -> (keliweb_emulator::Emulator, Fleet) {
    let emulator = emulator();
    let mut fleet = Fleet::start(
        &emulator,
        store,
        (4, 2),
        Duration::from_millis(300),
        USABLE + USABLE / 2 + recovery + Duration::from_secs(1),
        env,
    );
    let logged_in = fleet.wait_for_line("SEND password", Duration::from_secs(5));
    assert!(logged_in.is_some(), "a worker logged in");
    wait_until(Duration::from_secs(5), || {
        emulator.counters().password_grants == 1
    });
    (emulator, fleet)
}

fn wait_until(within: Duration, done: impl Fn() -> bool) {
    let give_up = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < give_up, "waited {within:?} in vain");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How often the fleet's token is replaced with the crate's default refresh ahead: at half its
/// usable life, counted from its issue (`ConfigBuilder::refresh_ahead`).
const REFRESH_PERIOD: Duration = USABLE.checked_div(2).expect("a period");

/// `count` processes of `threads` callers each (`client`: `blocking` or `async`), with the
/// crate's default refresh ahead, call the API in a loop for two lifetimes (five refresh
/// periods) against a server that revokes the old access token when it rotates: one login, at
/// most one refresh per token (each at its refresh-ahead point, never again by a process that
/// adopted it), no refused refresh, and no call that ends in a `401`.
pub fn a_fleet_calling_the_api_with_default_settings_refreshes_each_token_once(
    store: &StoreAt,
    client: &str,
    (count, threads): (usize, usize),
) {
    let emulator = emulator();
    let run_for = LIFETIME * 2;
    let fleet = Fleet::start(
        &emulator,
        store,
        (count, threads),
        Duration::from_millis(500),
        run_for,
        &[
            ("FLEET_REFRESH_AHEAD", "default".to_owned()),
            ("FLEET_API_URL", emulator.api_url()),
            ("FLEET_CLIENT", client.to_owned()),
        ],
    );
    let outputs = fleet.finish(&[]);
    let seen = grants(&emulator.requests());
    let unauthorized: u64 = outputs
        .iter()
        .filter_map(|output| reported(output, "UNAUTHORIZED "))
        .sum();
    println!(
        "fleet of {count}x{threads} ({client}): {} login(s), {} refreshes, {} refused, {unauthorized} calls ended in a 401, in {run_for:?}",
        seen.logins, seen.refreshes, seen.refused_refreshes
    );
    // Each token lives one period before its successor is asked for (later on a busy machine,
    // never sooner): the tokens of the run, plus the one asked for as it ends.
    let most =
        u128::from(u32::try_from(run_for.as_millis() / REFRESH_PERIOD.as_millis()).expect("small"))
            + 1;
    assert!(
        (seen.refreshes as u128) <= most,
        "{} refreshes in {run_for:?}: at most {most}, one per token ({seen:?})",
        seen.refreshes
    );
    assert!(seen.refreshes >= 2, "the run crossed expiries: {seen:?}");
    assert_eq!(
        (seen.logins, seen.refused_refreshes, seen.refused_logins),
        (1, 0, 0),
        "one login for the fleet, and no refresh token sent twice: {seen:?}"
    );
    for (worker, output) in outputs.iter().enumerate() {
        assert_eq!(
            (
                reported(output, "UNAUTHORIZED "),
                reported(output, "ERRORS ")
            ),
            (Some(0), Some(0)),
            "worker {worker} had calls end in a 401 or fail: {output:#?}"
        );
        assert!(
            reported(output, "CALLS ").is_some_and(|calls| calls > 0),
            "worker {worker} made no call: {output:#?}"
        );
    }
}

//! SIGKILL in mid-refresh: the server rotated, the answer never reached the store. The next
//! agent recovers with at most one login.

use std::time::{Duration, Instant};

use keliweb_emulator::{Fault, Route};

use super::{Agent, access_token, get, short_lived, wait_for_a_refresh};
use crate::api_accepts;

#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "real time: the refresh is due in it"
)]
fn an_agent_killed_mid_refresh_is_followed_by_one_that_recovers_with_at_most_one_login() {
    let setup = short_lived(4);
    let directory = tempfile::tempdir().expect("a directory");
    let agent = Agent::serve(&setup, directory.path(), &[]);
    assert_eq!(setup.emulator.counters().password_grants, 1);
    // The refresh ahead (1.5 s into a 4 s token) is answered 3 s after the server rotated.
    setup
        .emulator
        .inject(Route::Token, Fault::AnswerAfter(Duration::from_secs(3)));
    wait_for_a_refresh(&setup, &agent);
    agent.kill();
    let stored_before = setup.stored();

    let next = Agent::serve(&setup, directory.path(), &[]);
    // The stored pair is dead: the refresh at its refresh point fails, and one login follows.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answer = get(&next.socket, "/token", &[]).expect("answers");
        if answer.status == 200 {
            let token = access_token(&answer).expect("a token");
            if api_accepts(&setup, &token) {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "never recovered: {}",
            next.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let counters = setup.emulator.counters();
    assert!(
        counters.password_grants <= 2,
        "at most one login after the crash: {counters:?}"
    );
    assert_ne!(setup.stored(), stored_before, "the recovered set is stored");
    assert_eq!(next.stop(), 0);
}

/// SIGTERM while the server's answer to a refresh is on its way: the agent waits for it, saves
/// the new set, and exits 0; the stored refresh token then works, so nothing needs a login.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "real time: the refresh is due in it"
)]
fn sigterm_mid_refresh_finishes_the_refresh_and_its_save_then_exits_0() {
    let setup = short_lived(4);
    let directory = tempfile::tempdir().expect("a directory");
    let agent = Agent::serve(&setup, directory.path(), &[]);
    let before = setup.stored_access_token();
    setup
        .emulator
        .inject(Route::Token, Fault::AnswerAfter(Duration::from_secs(2)));
    wait_for_a_refresh(&setup, &agent);
    assert_eq!(agent.stop(), 0, "a clean exit after the refresh");
    let after = setup.stored_access_token();
    assert_ne!(after, before, "the rotated set was saved");
    let refreshed = setup.run(&["refresh"]);
    assert_eq!(
        refreshed.code, 0,
        "the stored refresh token works: {refreshed:?}"
    );
    let counters = setup.emulator.counters();
    assert_eq!(
        (counters.password_grants, counters.token_errors),
        (1, 0),
        "{counters:?}"
    );
}

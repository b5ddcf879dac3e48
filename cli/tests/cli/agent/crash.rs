//! SIGKILL in mid-refresh: the server rotated, the answer never reached the store. The next
//! agent recovers with at most one login.

use std::time::{Duration, Instant};

use keliweb_emulator::{Fault, Route};

use super::{Agent, access_token, get, short_lived};
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
    let deadline = Instant::now() + Duration::from_secs(30);
    while setup.emulator.counters().refresh_grants == 0 {
        assert!(Instant::now() < deadline, "no refresh: {}", agent.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
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

//! A token request whose sender goes away (a cancelled future, a dropped request) is abandoned:
//! no retry pause starts, nothing is recorded as its outcome, and the next caller sends anew.

mod support;

use keliweb_oauth::{Action, RequestKind};
use support::*;

#[test]
fn an_abandoned_request_starts_no_cooldown_and_its_late_answer_is_refused() {
    let mut scenario = Scenario::new().logged_in();
    scenario.go_to_usable_until();
    let abandoned = scenario.expect_send(RequestKind::RefreshGrant);
    let tokens = scenario.session.tokens().cloned();

    assert!(scenario.session.abandon(abandoned.id()));
    assert!(!scenario.session.abandon(abandoned.id()), "only once");
    assert_eq!(
        scenario.session.tokens(),
        tokens.as_ref(),
        "nothing was dropped"
    );

    // At once, with no pause, the next poll sends a new request.
    let again = scenario.expect_send(RequestKind::RefreshGrant);
    assert_ne!(again.id(), abandoned.id());
    let late = scenario.answer(&abandoned, &reply(200, token_body("late", 3600, None)));
    assert_eq!(
        late.expect_err("refused").kind(),
        keliweb_oauth::ErrorKind::ResponseMismatch
    );
    scenario.answer_tokens(&again);
    assert!(matches!(
        scenario.session.poll(scenario.now),
        Action::UseToken(_)
    ));
}

#[cfg(feature = "reqwest")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_refresh_does_not_fail_the_next_caller() {
    use std::time::Duration;

    use keliweb_emulator::{Emulator, EmulatorConfig, Fault, Route};
    use keliweb_oauth::Config;
    use keliweb_oauth::nonblocking::{Client, ReqwestClient};
    use keliweb_oauth::transport::{Clock, ManualClock};

    let emulator = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let defaults = EmulatorConfig::default();
    let config = Config::builder(
        emulator.token_url(),
        &defaults.client_id,
        defaults.client_secret.as_str(),
    )
    .credentials(&defaults.username, defaults.password.as_str())
    .build()
    .expect("config");
    let clock = ManualClock::new(T0);
    let http = ReqwestClient::default();
    let client = Client::builder(config, http).clock(clock.clone()).build();
    client.access_token().await.expect("first login");

    // The refresh is slow; its caller gives up after 100 ms.
    clock.advance(Duration::from_secs(3600));
    emulator.inject(Route::Token, Fault::Delay(Duration::from_millis(800)));
    let gave_up = tokio::time::timeout(Duration::from_millis(100), client.access_token()).await;
    assert!(
        gave_up.is_err(),
        "the slow refresh should not have finished"
    );

    // The next caller is not handed a cancellation error and needs no pause: it refreshes.
    let token = client.access_token().await.expect("a new token");
    assert!(token.is_usable_at(clock.now()));
}

//! On the system clock the lock-free path reads a coarse clock against deadlines set when the
//! token was published (transports/client/published.rs). Whatever the coarse clock says, no
//! token is handed out at or past its expiry minus the leeway by the precise clock: checked
//! here against real time, with tokens that live three seconds, across refreshes.
#![cfg(feature = "ureq")]
#![allow(
    clippy::disallowed_methods,
    reason = "the test compares what the client hands out with the real clock"
)]

use std::time::{Duration, Instant, SystemTime};

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::blocking::{Client, UreqClient};
use keliweb_oauth::{Config, UnixTime};

#[test]
fn the_lock_free_path_never_hands_out_a_token_past_its_usable_time() {
    let emulator = Emulator::start(EmulatorConfig {
        access_lifetime: Duration::from_secs(3),
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts on 127.0.0.1");
    let account = EmulatorConfig::default();
    let config = Config::builder(
        emulator.token_url(),
        &account.client_id,
        account.client_secret.as_str(),
    )
    .credentials(&account.username, account.password.as_str())
    .leeway(Duration::from_secs(1))
    // No refresh ahead: callers meet the token's very end, on the lock-free path first.
    .refresh_ahead(Duration::ZERO)
    .build()
    .expect("a valid config");
    let client = Client::new(config, UreqClient::default());

    let mut tokens = Vec::new();
    let mut calls = 0_u32;
    let end = Instant::now() + Duration::from_millis(4500);
    while Instant::now() < end {
        let asked_at = UnixTime::from_system_time(SystemTime::now());
        let token = client.authorization().expect("a token");
        calls += 1;
        assert!(
            asked_at < token.usable_until(),
            "handed out at {asked_at:?}, usable until {:?}",
            token.usable_until()
        );
        if !tokens.contains(&token.token_id()) {
            tokens.push(token.token_id());
        }
    }
    assert!(tokens.len() >= 2, "the token was replaced: {tokens:?}");
    assert!(
        calls > 10_000,
        "the lock-free path was taken: {calls} calls"
    );
}

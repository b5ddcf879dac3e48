//! A fuzz target as a user of the test kit writes it (`docs/testing.md`): arbitrary session
//! inputs (answers from every Passport shape, transport failures, 401s, forced refreshes,
//! logins, logouts, time passing) drive a `Session`, and after each one a token handed out
//! must be usable at that moment.
#![no_main]

use keliweb_oauth::testing::SessionInput;
use keliweb_oauth::{
    Config, Credentials, UnixTime,
    sans_io::{Action, Session},
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|inputs: Vec<SessionInput>| {
    let config = Config::keliweb("client", "secret")
        .credentials("me@example.com", "password")
        .build()
        .expect("a valid config");
    let credentials = Credentials::new("me@example.com", "password");
    let mut session = Session::new(config);
    let mut now = UnixTime::from_secs(1_800_000_000);
    for input in inputs.iter().take(64) {
        input.apply(&mut session, &mut now, &credentials);
        if let Action::UseToken(token) = session.poll(now) {
            assert!(token.is_usable_at(now), "an unusable token was handed out");
        }
    }
});

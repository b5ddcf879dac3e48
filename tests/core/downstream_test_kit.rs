//! The test kit as a downstream crate uses it (`docs/testing.md`): a property test of the
//! user's own retry wrapper against every answer Passport gives, and a property over arbitrary
//! session inputs, the way a fuzz target drives them.
#![cfg(feature = "test-util")]

use std::time::Duration;

use http::Response;
use keliweb_oauth::testing::{PassportAnswer, SessionInput, strategies};
use keliweb_oauth::{
    Config, Credentials, Error, UnixTime,
    sans_io::{Action, Authorization, OutgoingRequest, Session},
};
use proptest::prelude::*;

const START: UnixTime = UnixTime::from_secs(1_800_000_000);
/// The wrapper's budget: this many token requests, then it gives up.
const ATTEMPTS: usize = 3;

fn session() -> Session {
    Session::new(
        Config::keliweb("client", "secret")
            .credentials("me@example.com", "password")
            .build()
            .expect("valid"),
    )
}

/// The code under test, as a user might write it: a token, retrying what is worth retrying
/// (after the pause the session asks for) up to `ATTEMPTS` token requests.
fn token_with_retries(
    session: &mut Session,
    now: &mut UnixTime,
    server: &mut impl FnMut(&OutgoingRequest) -> Response<Vec<u8>>,
) -> Result<Authorization, Error> {
    let mut sent = 0;
    loop {
        match session.poll(*now) {
            Action::Store => {}
            Action::UseToken(token) => return Ok(token),
            Action::Send(request) => {
                sent += 1;
                let answer = server(&request);
                // A dead refresh token is handled by the session: it logs in next.
                let _ = session.handle_response(request.id(), *now, &answer);
            }
            Action::Wait(id) => unreachable!("one caller, nothing else out: {id}"),
            Action::Stop(error) if error.is_retryable() && sent < ATTEMPTS => {
                *now = session
                    .poll_timeout(*now)
                    .unwrap_or(now.saturating_add(Duration::from_secs(1)));
            }
            Action::Stop(error) => return Err(error),
        }
        if sent > ATTEMPTS {
            panic!("the wrapper sent more than {ATTEMPTS} token requests");
        }
    }
}

proptest! {
    #[test]
    fn the_retry_wrapper_keeps_its_budget_and_hands_out_only_usable_tokens(
        answers in proptest::collection::vec(strategies::answer(), 1..6),
    ) {
        let mut session = session();
        let mut now = START;
        let mut next = answers.iter().cycle();
        let mut sent = 0;
        let result = token_with_retries(&mut session, &mut now, &mut |_| {
            sent += 1;
            next.next().expect("cycled").response()
        });
        prop_assert!(sent <= ATTEMPTS + 1, "{sent} requests");
        if let Ok(token) = result {
            prop_assert!(token.is_usable_at(now));
        }
    }

    #[test]
    fn a_first_answer_with_a_token_is_one_request(first in strategies::tokens()) {
        let PassportAnswer::Tokens { expires_in, .. } = first else { unreachable!() };
        // Longer than the 60 s leeway, or absent (an hour then).
        prop_assume!(expires_in.is_none_or(|seconds| seconds > 60));
        let mut session = session();
        let mut now = START;
        let mut sent = 0;
        let result = token_with_retries(&mut session, &mut now, &mut |_| {
            sent += 1;
            first.response()
        });
        prop_assert!(result.is_ok(), "{result:?}");
        prop_assert_eq!(sent, 1);
    }

    #[test]
    fn transient_failures_exhaust_the_budget_and_are_reported(
        failures in proptest::collection::vec(strategies::transient(), ATTEMPTS),
    ) {
        let mut session = session();
        let mut now = START;
        let mut next = failures.iter();
        let result = token_with_retries(&mut session, &mut now, &mut |_| {
            next.next().expect("one per attempt").response()
        });
        let error = result.expect_err("only failures");
        prop_assert!(error.is_retryable(), "{error}");
    }

    /// What a fuzz target checks, run here on proptest's random bytes: whatever happens, a
    /// token handed out is usable at that moment.
    #[test]
    fn arbitrary_inputs_never_hand_out_an_unusable_token(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut unstructured = arbitrary::Unstructured::new(&bytes);
        let inputs: Vec<SessionInput> = unstructured.arbitrary().unwrap_or_default();
        let credentials = Credentials::new("me@example.com", "password");
        let mut session = session();
        let mut now = START;
        for input in &inputs {
            input.apply(&mut session, &mut now, &credentials);
            if let Action::UseToken(token) = session.poll(now) {
                prop_assert!(token.is_usable_at(now));
            }
        }
    }
}

//! A token request whose sender goes away.
//!
//! In the core, a driver that cannot finish a request abandons it: no retry pause starts,
//! nothing is recorded as its outcome, and the next poll sends anew. The async client never
//! needs to: a token request, once sent, belongs to the client and is finished, and its answer
//! stored, whether or not the caller that started it still waits, because the server may already
//! have rotated the refresh token (PHP finishes a request whose client hung up).
#![cfg(feature = "test-util")]

use keliweb_oauth::sans_io::{Action, RequestKind};

use crate::support::*;

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

/// An emulator on 127.0.0.1 and a config for its client and account.
#[cfg(feature = "nonblocking")]
fn emulator_and_config() -> (keliweb_emulator::Emulator, keliweb_oauth::Config) {
    use keliweb_emulator::{Emulator, EmulatorConfig};
    let emulator = Emulator::start(EmulatorConfig::default()).expect("emulator");
    let defaults = EmulatorConfig::default();
    let config = keliweb_oauth::Config::builder(
        emulator.token_url(),
        &defaults.client_id,
        defaults.client_secret.as_str(),
    )
    .credentials(&defaults.username, defaults.password.as_str())
    .build()
    .expect("config");
    (emulator, config)
}

#[cfg(feature = "reqwest")]
mod async_client {
    use std::sync::{Arc, Mutex, PoisonError};
    use std::time::Duration;

    use keliweb_emulator::{Counters, Emulator, Fault, Route};
    use keliweb_oauth::TokenSet;
    use keliweb_oauth::client::{Clock, ManualClock};
    use keliweb_oauth::nonblocking::{Client, ReqwestClient};

    use super::{T0, emulator_and_config};

    type Stored = Arc<Mutex<Vec<Option<TokenSet>>>>;

    /// A logged-in client on a fresh emulator, its clock, and what its store was given.
    async fn logged_in() -> (Emulator, Client<ReqwestClient>, ManualClock, Stored) {
        let (emulator, config) = emulator_and_config();
        let clock = ManualClock::new(T0);
        let stored = Stored::default();
        let store = Arc::clone(&stored);
        let client = Client::builder(config, ReqwestClient::default())
            .clock(clock.clone())
            .store(move |tokens: Option<&TokenSet>| {
                store
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(tokens.cloned());
            })
            .build();
        client.authorization().await.expect("first login");
        (emulator, client, clock, stored)
    }

    fn last_stored(stored: &Stored) -> Option<TokenSet> {
        stored
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .last()
            .cloned()
            .flatten()
    }

    fn token_requests_since(emulator: &Emulator, before: &Counters) -> (u64, u64, u64) {
        let now = emulator.counters();
        (
            now.refresh_grants - before.refresh_grants,
            now.password_grants - before.password_grants,
            now.token_errors - before.token_errors,
        )
    }

    /// The server rotates at receipt and answers after 1 s; the caller gives up after 300 ms.
    /// The answer is still read and stored, and nobody logs in with the password.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refresh_outlives_its_cancelled_caller_and_is_stored() {
        let (emulator, client, clock, stored) = logged_in().await;
        let old = client.tokens().expect("a set");
        let before = emulator.counters();
        emulator.inject(Route::Token, Fault::AnswerAfter(Duration::from_secs(1)));
        let gave_up =
            tokio::time::timeout(Duration::from_millis(300), client.force_refresh()).await;
        assert!(gave_up.is_err(), "the caller should have given up");

        // Nobody asks meanwhile: the request finishes in the background all the same.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let rotated = last_stored(&stored).expect("the rotated set was stored");
        assert_ne!(rotated, old, "a new set");
        assert_eq!(client.tokens().as_ref(), Some(&rotated));

        // The next refresh uses the rotated refresh token: it works, no password login.
        clock.advance(Duration::from_secs(3600));
        client
            .authorization()
            .await
            .expect("a refresh with the new token");
        assert_eq!(token_requests_since(&emulator, &before), (2, 0, 0));
    }

    /// The caller gives up and drops the client (a CLI run ending): the spawned request keeps
    /// what it needs alive, and the rotated set still reaches the store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refresh_outlives_the_client_itself() {
        let (emulator, client, _clock, stored) = logged_in().await;
        let old = client.tokens().expect("a set");
        emulator.inject(Route::Token, Fault::AnswerAfter(Duration::from_secs(1)));
        let gave_up =
            tokio::time::timeout(Duration::from_millis(300), client.force_refresh()).await;
        assert!(gave_up.is_err(), "the caller should have given up");
        drop(client);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let rotated = last_stored(&stored).expect("the rotated set was stored");
        assert_ne!(rotated, old, "the store has the new set");
    }

    /// The next caller waits for the request a cancelled caller sent, instead of sending another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_next_caller_waits_for_a_cancelled_callers_request() {
        let (emulator, client, clock, _stored) = logged_in().await;
        let before = emulator.counters();
        clock.advance(Duration::from_secs(3600));
        emulator.inject(Route::Token, Fault::AnswerAfter(Duration::from_secs(1)));
        let gave_up =
            tokio::time::timeout(Duration::from_millis(300), client.authorization()).await;
        assert!(gave_up.is_err(), "the caller should have given up");
        let token = client.authorization().await.expect("the refreshed token");
        assert!(token.is_usable_at(clock.now()));
        assert_eq!(token_requests_since(&emulator, &before), (1, 0, 0));
    }

    /// Callers with a 200 ms timeout against a token endpoint that hangs: one request, not one
    /// per caller.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn impatient_callers_against_a_hanging_endpoint_send_one_request() {
        let (emulator, client, clock, _stored) = logged_in().await;
        let before = emulator.counters().token_requests;
        clock.advance(Duration::from_secs(3600));
        emulator.inject(Route::Token, Fault::Delay(Duration::from_secs(4)));
        for _ in 0..10 {
            let gave_up =
                tokio::time::timeout(Duration::from_millis(200), client.authorization()).await;
            assert!(gave_up.is_err(), "the endpoint hangs");
        }
        assert_eq!(emulator.counters().token_requests - before, 1);
    }
}

/// The async client with an HTTP client of its own that cannot spawn, on no runtime at all: the
/// request a dropped caller sent is finished by the next caller that asks, not sent again.
#[cfg(feature = "nonblocking")]
#[allow(
    clippy::disallowed_methods,
    reason = "the user's HTTP client here runs each request on a thread of its own"
)]
mod without_a_runtime {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};
    use std::time::Duration;

    use http::{Request, Response};
    use keliweb_emulator::{Emulator, Fault, Route};
    use keliweb_oauth::client::{ManualClock, RequestLimits};
    use keliweb_oauth::error::{TransportError, TransportErrorKind};
    use keliweb_oauth::nonblocking::{AsyncHttpClient, Client};
    use tokio::sync::oneshot;

    use super::{T0, emulator_and_config};

    /// Sends each request with ureq on a thread of its own and hands the answer back through a
    /// channel: no runtime, and no `spawn`.
    struct ThreadClient(ureq::Agent);

    impl AsyncHttpClient for ThreadClient {
        fn execute(
            &self,
            request: Request<Vec<u8>>,
            _limits: RequestLimits,
        ) -> impl Future<Output = Result<Response<Vec<u8>>, TransportError>> + Send {
            let agent = self.0.clone();
            let (answer, answered) = oneshot::channel();
            std::thread::spawn(move || {
                let outcome = agent
                    .run(request)
                    .map_err(|error| {
                        TransportError::new(TransportErrorKind::Other, error.to_string())
                    })
                    .and_then(|mut response| {
                        let body = response.body_mut().read_to_vec().map_err(|error| {
                            TransportError::new(TransportErrorKind::Io, error.to_string())
                        })?;
                        let (parts, _) = response.into_parts();
                        Ok(Response::from_parts(parts, body))
                    });
                let _ = answer.send(outcome);
            });
            async move {
                answered.await.unwrap_or_else(|_| {
                    Err(TransportError::new(
                        TransportErrorKind::Other,
                        "thread gone",
                    ))
                })
            }
        }
    }

    /// A logged-in client over [`ThreadClient`] on a fresh emulator, and its clock.
    fn logged_in() -> (Emulator, Client<ThreadClient>, ManualClock) {
        let (emulator, config) = emulator_and_config();
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .build(),
        );
        let clock = ManualClock::new(T0);
        let client = Client::builder(config, ThreadClient(agent))
            .clock(clock.clone())
            .build();
        futures_executor::block_on(client.authorization()).expect("first login");
        (emulator, client, clock)
    }

    /// Sends a token request through `client` and drops its caller before the answer.
    fn send_and_drop_the_caller(client: &Client<ThreadClient>) {
        let mut dropped = pin!(client.authorization());
        let mut context = Context::from_waker(Waker::noop());
        assert!(dropped.as_mut().poll(&mut context).is_pending());
    }

    /// Runs `test` on a thread and fails if it has not finished within `limit` (a deadlock).
    fn within(limit: Duration, test: impl FnOnce() + Send + 'static) {
        let (done, finished) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            test();
            let _ = done.send(());
        });
        match finished.recv_timeout(limit) {
            Ok(()) => thread.join().expect("the test thread"),
            Err(_) if thread.is_finished() => {
                std::panic::resume_unwind(thread.join().expect_err("it panicked"))
            }
            Err(_) => panic!("still running after {limit:?}: a deadlock"),
        }
    }

    #[test]
    fn a_dropped_callers_request_is_finished_by_the_next_caller() {
        let (emulator, client, clock) = logged_in();
        let before = emulator.counters();

        // A refresh is sent, then its caller goes away before the answer (1 s later).
        clock.advance(Duration::from_secs(3600));
        emulator.inject(Route::Token, Fault::AnswerAfter(Duration::from_secs(1)));
        send_and_drop_the_caller(&client);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            emulator.counters().refresh_grants,
            before.refresh_grants + 1
        );

        let token =
            futures_executor::block_on(client.authorization()).expect("the refreshed token");
        assert!(token.is_usable_at(T0.saturating_add(Duration::from_secs(3600))));
        let after = emulator.counters();
        assert_eq!(
            after.token_requests - before.token_requests,
            1,
            "not sent again"
        );
        assert_eq!(after.token_errors, before.token_errors);
    }

    /// A request nobody drives is left behind by a revocation; the next login's request
    /// replaces it. Dropping the stale one must not deadlock the client.
    #[test]
    fn a_stale_request_left_by_a_revocation_is_dropped_without_a_deadlock() {
        within(Duration::from_secs(20), || {
            let (emulator, client, clock) = logged_in();
            clock.advance(Duration::from_secs(3600));
            emulator.inject(Route::Token, Fault::AnswerAfter(Duration::from_secs(1)));
            send_and_drop_the_caller(&client);
            futures_executor::block_on(client.revoke()).expect("local revocation");
            let defaults = keliweb_emulator::EmulatorConfig::default();
            client.login(keliweb_oauth::Credentials::new(
                defaults.username.as_str(),
                defaults.password.as_str(),
            ));
            futures_executor::block_on(client.authorization()).expect("a new login");
        });
    }

    /// An HTTP client that panics on every request: each caller gets a transport error, and the
    /// retry pause keeps the next caller from trying again at once (no busy loop).
    #[test]
    fn a_panicking_http_client_fails_the_request_and_starts_a_pause() {
        struct Panicking(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl AsyncHttpClient for Panicking {
            async fn execute(
                &self,
                _request: Request<Vec<u8>>,
                _limits: RequestLimits,
            ) -> Result<Response<Vec<u8>>, TransportError> {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                panic!("a bug in the HTTP client");
            }
        }
        within(Duration::from_secs(20), || {
            let (_emulator, config) = emulator_and_config();
            let calls = std::sync::Arc::default();
            let http = Panicking(std::sync::Arc::clone(&calls));
            let client = Client::builder(config, http)
                .clock(ManualClock::new(T0))
                .build();
            for _ in 0..3 {
                let error =
                    futures_executor::block_on(client.authorization()).expect_err("no answer");
                assert_eq!(error.kind(), keliweb_oauth::ErrorKind::Transport, "{error}");
            }
            assert_eq!(
                calls.load(std::sync::atomic::Ordering::SeqCst),
                1,
                "one try, then the retry pause"
            );
        });
    }

    /// A client that cannot spawn gets no refresh ahead, and leaves no request behind for it:
    /// past the refresh-ahead point callers keep the valid token and nothing is sent; at the
    /// leeway the token is refreshed as a caller needs it, once.
    #[test]
    fn without_spawn_no_refresh_ahead_and_no_request_left_behind() {
        let (emulator, client, clock) = logged_in();
        let first = futures_executor::block_on(client.authorization()).expect("the token");
        let before = emulator.counters();
        clock.set(first.refresh_at());
        for _ in 0..3 {
            let token = futures_executor::block_on(client.authorization()).expect("the token");
            assert_eq!(token.token_id(), first.token_id());
        }
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(emulator.counters().token_requests, before.token_requests);

        clock.set(first.usable_until());
        let next = futures_executor::block_on(client.authorization()).expect("a refreshed token");
        assert_ne!(next.token_id(), first.token_id());
        let after = emulator.counters();
        assert_eq!(
            (after.token_requests, after.refresh_grants),
            (before.token_requests + 1, before.refresh_grants + 1)
        );
    }
}

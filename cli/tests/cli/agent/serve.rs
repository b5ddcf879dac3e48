//! `serve`'s answers, and a thousand concurrent callers across three refreshes.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{
    Agent, access_token, assert_no_failures, get, metric, short_lived, wait_for_a_refresh,
};
use crate::Setup;

#[test]
fn token_header_health_and_metrics_answer_without_a_refresh_token() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let agent = Agent::serve(&setup, directory.path(), &[]);

    let token = get(&agent.socket, "/token", &[]).expect("answers");
    assert_eq!(token.status, 200, "{token:?}");
    assert!(token.head.contains("cache-control: no-store"), "{token:?}");
    let json: serde_json::Value = serde_json::from_str(&token.body).expect("JSON");
    assert_eq!(json["token_type"], "Bearer");
    // The stored expiry (Unix milliseconds) minus the default leeway of 60 s, in seconds.
    let expiry = setup.stored()["tokens"]["access_token_expires_at"]
        .as_u64()
        .expect("an expiry");
    assert_eq!(
        json["expires_at"].as_u64(),
        Some(expiry / 1000 - 60),
        "{json}"
    );
    let access = access_token(&token).expect("an access token");
    assert_eq!(access, setup.stored_access_token(), "the stored set's");
    assert!(
        !token.body.contains("refresh"),
        "never a refresh token: {token:?}"
    );

    let header = get(&agent.socket, "/header", &[]).expect("answers");
    assert!(
        header.head.contains("cache-control: no-store"),
        "{header:?}"
    );
    assert_eq!(
        (header.status, header.body),
        (200, format!("Bearer {access}"))
    );
    let health = get(&agent.socket, "/health", &[]).expect("answers");
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"status":"ready"}"#)
    );
    let missing = get(&agent.socket, "/nothing", &[]).expect("answers");
    assert_eq!(missing.status, 404);
    assert!(
        missing.body.contains(r#""error":"not_found""#),
        "{missing:?}"
    );

    let metrics = get(&agent.socket, "/metrics", &[]).expect("answers").body;
    let login = r#"keliweb_agent_token_requests_total{kind="login",outcome="ok"} "#;
    assert_eq!(metric(&metrics, login), 1.0, "{metrics}");
    let served = r#"keliweb_agent_answers_total{route="token",status="2xx"} "#;
    assert_eq!(metric(&metrics, served), 1.0, "{metrics}");
    assert!(
        metric(&metrics, "keliweb_agent_token_usable_seconds ") > 3000.0,
        "{metrics}"
    );
    assert!(
        metrics.ends_with("# EOF\n"),
        "the text format's end: {metrics}"
    );
    assert!(!metrics.contains(&access));
    assert_eq!(agent.stop(), 0, "SIGTERM: a clean exit");
    assert_eq!(setup.emulator.counters().password_grants, 1);
}

/// 1,000 callers, each asking again every 300 ms, for two lifetimes of 4 s tokens (leeway 1 s:
/// a refresh every 1.5 s, so at least three refreshes, with room to spare on a busy machine):
/// one login, no refresh token sent twice, every answer a token, and one refresh per token the
/// agent held (each refreshed once, at its refresh-ahead point).
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "real time: the tokens expire in it"
)]
fn a_thousand_concurrent_callers_across_three_refreshes_make_one_login_and_one_refresh_per_token() {
    const CALLERS: usize = 1000;
    const LIFETIME: u64 = 4;
    let _busy = crate::busy();
    let setup = short_lived(LIFETIME);
    let directory = tempfile::tempdir().expect("a directory");
    let agent = Agent::serve(&setup, directory.path(), &[]);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(2 * LIFETIME);
    let tokens = Mutex::new(BTreeSet::new());
    let failures = Mutex::new(Vec::new());
    let answers = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..CALLERS {
            scope.spawn(|| {
                while Instant::now() < deadline {
                    match get(&agent.socket, "/token", &[]) {
                        Ok(answer) if answer.status == 200 => {
                            let token = access_token(&answer).expect("a token");
                            tokens.lock().expect("no panic").insert(token);
                        }
                        other => failures
                            .lock()
                            .expect("no panic")
                            .push(format!("{other:?}")),
                    }
                    answers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(300));
                }
            });
        }
    });
    let elapsed = started.elapsed();
    let failures = failures.into_inner().expect("no panic");
    assert_no_failures(&failures);
    let counters = setup.emulator.counters();
    assert_eq!(
        (counters.password_grants, counters.token_errors),
        (1, 0),
        "one login, and no refresh token sent twice: {counters:?}"
    );
    let served = tokens.into_inner().expect("no panic");
    // Every token the emulator issued is one the agent held: it refreshes each once.
    let issued = counters.password_grants + counters.refresh_grants;
    assert!(
        served.len() as u64 <= issued && issued <= served.len() as u64 + 1,
        "{} tokens served, {issued} issued",
        served.len()
    );
    assert!(
        served.len() >= 4,
        "three refreshes crossed: {} tokens",
        served.len()
    );
    // A token lives 3 s before its leeway and is refreshed half way: one refresh per 1.5 s.
    let most = elapsed.as_secs_f64() / 1.5 + 1.0;
    assert!(
        (counters.refresh_grants as f64) <= most,
        "{} refreshes in {elapsed:?}",
        counters.refresh_grants
    );
    let metrics = get(&agent.socket, "/metrics", &[]).expect("answers").body;
    let total = answers.into_inner();
    let token_2xx = r#"keliweb_agent_answers_total{route="token",status="2xx"} "#;
    assert_eq!(metric(&metrics, token_2xx) as u64, total, "{metrics}");
    assert_eq!(agent.stop(), 0);
    println!(
        "agent: {CALLERS} callers, {total} answers in {elapsed:?}, {} tokens, {} refreshes, 1 login",
        served.len(),
        counters.refresh_grants
    );
}

/// Two agents on one store, and `print-access-token` runs beside them, for two lifetimes of
/// 4 s tokens (at least three rotations): they share custody through the store, so one login
/// in all, no refresh token sent twice (the emulator counts a reused one as a token error), and
/// every answer a token. Twenty callers and one command at a time make a light load: this test
/// does not wait for the busy ones, and holds beside them.
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "real time: the tokens expire in it"
)]
fn two_agents_and_the_command_line_on_one_store_never_burn_a_refresh_token() {
    const LIFETIME: u64 = 4;
    let setup = short_lived(LIFETIME);
    let first_directory = tempfile::tempdir().expect("a directory");
    let second_directory = tempfile::tempdir().expect("a directory");
    let first = Agent::serve(&setup, first_directory.path(), &[]);
    let second = Agent::serve(&setup, second_directory.path(), &[]);
    let deadline = Instant::now() + Duration::from_secs(2 * LIFETIME);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for agent in [&first, &second] {
            for _ in 0..10 {
                scope.spawn(|| {
                    while Instant::now() < deadline {
                        match get(&agent.socket, "/token", &[]) {
                            Ok(answer) if answer.status == 200 => {}
                            other => failures
                                .lock()
                                .expect("no panic")
                                .push(format!("{other:?}")),
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                });
            }
        }
        scope.spawn(|| {
            while Instant::now() < deadline {
                let run = setup.run(&["print-access-token"]);
                if run.code != 0 {
                    failures.lock().expect("no panic").push(format!("{run:?}"));
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        });
    });
    let failures = failures.into_inner().expect("no panic");
    assert_no_failures(&failures);
    let counters = setup.emulator.counters();
    assert_eq!(
        (counters.password_grants, counters.token_errors),
        (1, 0),
        "one login, no refresh token sent twice: {counters:?}"
    );
    assert!(
        counters.refresh_grants >= 3,
        "expiries crossed: {counters:?}"
    );
    assert_eq!(first.stop(), 0);
    assert_eq!(second.stop(), 0);
}

/// Nobody asks across the refresh point (1.5 s into a 4 s token, leeway 1 s): the agent
/// refreshes on its own, so the next caller finds the new token waiting.
#[test]
fn the_agent_refreshes_ahead_while_nobody_asks() {
    let setup = short_lived(4);
    let directory = tempfile::tempdir().expect("a directory");
    let agent = Agent::serve(&setup, directory.path(), &[]);
    wait_for_a_refresh(&setup, &agent);
    assert_eq!(agent.stop(), 0);
}

/// Without `XDG_RUNTIME_DIR` the socket goes to `keliweb-token-<uid>/agent.sock` in the
/// temporary directory, a directory of mode 0700.
#[test]
fn without_xdg_runtime_dir_the_socket_is_in_the_temporary_directory() {
    use std::os::unix::fs::PermissionsExt;
    let setup = Setup::new();
    let temporary = tempfile::tempdir().expect("a directory");
    let uid = rustix::process::geteuid().as_raw();
    let socket = temporary
        .path()
        .join(format!("keliweb-token-{uid}"))
        .join("agent.sock");
    let mut command = setup.command(&["serve"]);
    command.env("TMPDIR", temporary.path()).env(
        "KELIWEB_PASSWORD",
        keliweb_emulator::EmulatorConfig::default().password,
    );
    let agent = Agent::spawn(command, &socket, &temporary.path().join("agent.log"));
    agent.wait_ready();
    let directory = std::fs::metadata(socket.parent().expect("a directory")).expect("exists");
    assert_eq!(directory.permissions().mode() & 0o777, 0o700);
    assert_eq!(agent.stop(), 0);
}

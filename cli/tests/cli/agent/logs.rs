//! What the agent logs: its steps and the client's, and never a secret (client secret,
//! password, access or refresh token, the per-start secret). And SIGHUP's re-read.

use std::time::{Duration, Instant};

use keliweb_emulator::EmulatorConfig;

use super::access::free_port;
use super::{Agent, access_token, exchange, get, short_lived};

#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "real time: a refresh is due in it"
)]
fn the_logs_hold_no_secret_through_login_refresh_refusal_sighup_and_shutdown() {
    let setup = short_lived(3);
    let directory = tempfile::tempdir().expect("a directory");
    let defaults = EmulatorConfig::default();
    let mut secrets = vec![defaults.password.clone(), defaults.client_secret.clone()];
    let note_stored = |secrets: &mut Vec<String>| {
        if let Some(refresh) = setup.stored()["tokens"]["refresh_token"].as_str() {
            secrets.push(refresh.to_owned());
        }
    };

    let agent = Agent::serve(&setup, directory.path(), &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while setup.emulator.counters().refresh_grants < 2 {
        assert!(Instant::now() < deadline, "no refresh: {}", agent.logs());
        let answer = get(&agent.socket, "/token", &[]).expect("answers");
        secrets.extend(access_token(&answer));
        note_stored(&mut secrets);
        std::thread::sleep(Duration::from_millis(200));
    }
    agent.signal(rustix::process::Signal::HUP);
    std::thread::sleep(Duration::from_millis(300));
    let serve_logs = {
        let logs = agent.logs();
        assert_eq!(agent.stop(), 0);
        logs + &std::fs::read_to_string(directory.path().join("agent.log")).expect("logs")
    };
    note_stored(&mut secrets);

    // The proxy on TCP, with a refused caller and one with the secret.
    let secret_file = directory.path().join("proxy.secret");
    let address = format!("127.0.0.1:{}", free_port());
    let upstream = setup.emulator.base_url();
    let proxy = Agent::start(
        &setup,
        &[
            "proxy",
            "--upstream",
            &upstream,
            "--tcp",
            &address,
            "--secret-file",
            secret_file.to_str().expect("UTF-8"),
            "--log-format",
            "json",
        ],
        &directory.path().join("unused.sock"),
        &directory.path().join("proxy.log"),
    );
    let ask = |headers: &[(&str, &str)]| {
        let mut stream = std::net::TcpStream::connect(&address).ok()?;
        exchange(&mut stream, "/api/user", headers).ok()
    };
    let mut refused = None;
    for _ in 0..600 {
        refused = ask(&[]);
        if refused.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(refused.expect("answers").status, 401);
    let secret = std::fs::read_to_string(&secret_file)
        .expect("written")
        .trim_end()
        .to_owned();
    let called = ask(&[("X-Keliweb-Agent-Secret", &secret)]).expect("answers");
    assert_eq!(called.status, 200, "{called:?}");
    secrets.push(secret);
    note_stored(&mut secrets);
    let proxy_logs = proxy.logs();
    assert_eq!(proxy.stop(), 0);
    let logs = serve_logs
        + &proxy_logs
        + &std::fs::read_to_string(directory.path().join("proxy.log")).expect("logs");

    for needle in [
        "the agent is listening",
        "token request sent",
        "RefreshGrant",
        "a caller was refused",
        "SIGHUP",
        "stopped",
    ] {
        assert!(logs.contains(needle), "{needle} is logged: {logs}");
    }
    for line in logs.lines() {
        assert!(line.starts_with('{'), "JSON lines: {line}");
    }
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a secret in the logs: {logs}"
        );
    }
    assert!(
        secrets.len() > 6,
        "tokens were collected: {}",
        secrets.len()
    );
}

#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "real time: the agent retries its login in it"
)]
fn sighup_rereads_the_password_file() {
    let setup = super::super::Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let password_file = directory.path().join("password");
    std::fs::write(&password_file, "not-the-password\n").expect("written");
    let socket = directory.path().join("run").join("agent.sock");
    let agent = Agent::start(
        &setup,
        &[
            "serve",
            "--socket",
            socket.to_str().expect("UTF-8"),
            "--password-file",
            password_file.to_str().expect("UTF-8"),
        ],
        &socket,
        &directory.path().join("agent.log"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(health) = get(&socket, "/health", &[]) {
            assert_eq!(
                health.status, 503,
                "not ready with a wrong password: {health:?}"
            );
            if setup.emulator.counters().token_errors > 0 {
                break;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no login tried: {}",
            agent.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::write(
        &password_file,
        format!("{}\n", EmulatorConfig::default().password),
    )
    .expect("written");
    agent.signal(rustix::process::Signal::HUP);
    agent.wait_ready();
    assert_eq!(setup.emulator.counters().password_grants, 1);
    let logs = agent.logs();
    assert!(
        logs.contains("no token"),
        "the failed login is logged: {logs}"
    );
    assert!(!logs.contains("not-the-password"), "{logs}");
    assert_eq!(agent.stop(), 0);
}

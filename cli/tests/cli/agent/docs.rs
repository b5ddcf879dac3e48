//! The examples of `docs/agent.md`, run as written against the emulator: the agent and the
//! proxy started with the documented commands, then each curl and PHP example. Only the
//! proxy's port is replaced by a free one, so that tests running at once do not collide.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use keliweb_emulator::EmulatorConfig;

use super::access::free_port;
use super::{Agent, exchange};
use crate::Setup;

const DOC: &str = include_str!("../../../../docs/agent.md");

/// The fenced block after `<!-- check: name -->`.
fn example(name: &str) -> String {
    let marker = format!("<!-- check: {name} -->");
    let after = DOC
        .split_once(&marker)
        .expect("the example is in docs/agent.md")
        .1;
    let fence = after.find("```").expect("a fenced block");
    let body = &after[fence..];
    let start = body.find('\n').expect("a fence line") + 1;
    let end = body[start..].find("```").expect("a closing fence");
    body[start..start + end].to_owned()
}

/// A shell (or PHP) with the documented environment: the settings, `XDG_RUNTIME_DIR`, the API's
/// URL, and `keliweb-token` on the `PATH`.
fn documented(setup: &Setup, runtime: &Path, program: &str) -> Command {
    let defaults = EmulatorConfig::default();
    let binary = Path::new(env!("CARGO_BIN_EXE_keliweb-token"));
    let path = format!(
        "{}:/usr/local/bin:/usr/bin:/bin",
        binary.parent().expect("a directory").display()
    );
    let mut command = Command::new(program);
    command
        .env_clear()
        .env("PATH", path)
        .env("XDG_RUNTIME_DIR", runtime)
        .env("KELIWEB_TOKEN_URL", setup.emulator.token_url())
        .env("KELIWEB_API_URL", setup.emulator.base_url())
        .env("KELIWEB_CLIENT_ID", &defaults.client_id)
        .env("KELIWEB_CLIENT_SECRET", &defaults.client_secret)
        .env("KELIWEB_USERNAME", &defaults.username)
        .env("KELIWEB_PASSWORD", &defaults.password)
        .env("KELIWEB_TOKEN_STORE", &setup.store)
        .stdin(Stdio::null());
    command
}

fn run(mut command: Command, script: &str) -> String {
    let output: Output = command.arg("-c").arg(script).output().expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{script}\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn run_php(setup: &Setup, runtime: &Path, script: &str) -> String {
    let file = runtime.join("example.php");
    std::fs::write(&file, script).expect("written");
    let mut php = documented(setup, runtime, "php");
    let output = php
        .arg(&file)
        .output()
        .expect("php runs (install php-cli and php-curl; tests/run.sh does)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Starts the documented agent command (`exec`, so the signal reaches the agent).
fn start(setup: &Setup, runtime: &Path, script: &str) -> Agent {
    let log = runtime.join("agent.log");
    let child = documented(setup, runtime, "bash")
        .arg("-c")
        .arg(format!("exec {}", script.trim()))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("a log"))
        .spawn()
        .expect("the agent starts");
    Agent {
        child: Some(child),
        socket: runtime.join("keliweb-token").join("agent.sock"),
        log,
    }
}

#[test]
fn the_serve_examples_work_as_written() {
    let setup = Setup::new();
    let runtime = tempfile::tempdir().expect("a runtime directory");
    let agent = start(&setup, runtime.path(), &example("serve"));
    agent.wait_ready();

    let curl = run(
        documented(&setup, runtime.path(), "bash"),
        &example("curl-serve"),
    );
    assert!(curl.starts_with(r#"{"status":"ready"}"#), "{curl}");
    assert!(curl.contains(r#""email":"test@example.com""#), "{curl}");
    let php = run_php(&setup, runtime.path(), &example("php-serve"));
    assert!(php.contains(r#""email":"test@example.com""#), "{php}");
    assert_eq!(setup.emulator.counters().password_grants, 1);

    // The held pair revoked behind the agent's back: the example's first call gets a 401, its
    // report a new token (the refresh token is dead too: one login), its retry the user.
    setup.emulator.revoke_all_tokens();
    let refused = run(
        documented(&setup, runtime.path(), "bash"),
        &example("curl-refused"),
    );
    assert!(
        refused.contains(r#""email":"test@example.com""#),
        "{refused}"
    );
    let counters = setup.emulator.counters();
    assert_eq!(
        (counters.password_grants, counters.token_errors),
        (2, 1),
        "{counters:?}"
    );
    assert_eq!(agent.stop(), 0);
}

#[test]
fn the_proxy_examples_work_as_written() {
    let setup = Setup::new();
    let runtime = tempfile::tempdir().expect("a runtime directory");
    let port = free_port().to_string();
    let on_free_port = |script: String| script.replace("8089", &port);
    let agent = start(&setup, runtime.path(), &on_free_port(example("proxy")));
    let address = format!("127.0.0.1:{port}");
    let secret_file = runtime.path().join("keliweb-proxy.secret");
    let mut ready = false;
    for _ in 0..600 {
        if let Ok(secret) = std::fs::read_to_string(&secret_file)
            && let Ok(mut stream) = std::net::TcpStream::connect(&address)
            && let Ok(health) = exchange(
                &mut stream,
                "/health",
                &[("X-Keliweb-Agent-Secret", secret.trim())],
            )
            && health.status == 200
        {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(ready, "the proxy never became ready: {}", agent.logs());

    let curl = run(
        documented(&setup, runtime.path(), "bash"),
        &on_free_port(example("curl-proxy")),
    );
    assert!(curl.contains(r#""email":"test@example.com""#), "{curl}");
    let php = run_php(&setup, runtime.path(), &on_free_port(example("php-proxy")));
    assert!(php.contains(r#""email":"test@example.com""#), "{php}");
    assert_eq!(agent.stop(), 0);
    assert_eq!(setup.emulator.counters().api_calls, 2);
}

/// The README's two commands (`cli/examples/agent.sh serve` and `proxy`), on this build's
/// binary and this test's emulator.
#[test]
fn the_readme_demo_runs_both_modes() {
    let setup = Setup::new();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/agent.sh");
    for (mode, expected) in [
        ("serve", "\"token_type\":\"Bearer\""),
        ("proxy", "/api/user"),
    ] {
        let output = Command::new("bash")
            .arg(script)
            .arg(mode)
            .env("KELIWEB_TOKEN_BIN", env!("CARGO_BIN_EXE_keliweb-token"))
            .env("KELIWEB_EMULATOR_URL", setup.emulator.base_url())
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{mode}: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        for needle in [
            expected,
            r#""email":"test@example.com""#,
            "stopped on SIGTERM with exit code 0",
        ] {
            assert!(stdout.contains(needle), "{mode}: {needle}: {stdout}");
        }
    }
}

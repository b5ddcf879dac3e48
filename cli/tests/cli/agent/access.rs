//! Who may ask: the socket's modes, the peer-uid allow list, another user, and the TCP secret.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use super::{Agent, Answer, exchange, get, send};
use crate::Setup;

/// The `nobody` user: another uid than the tests' (root).
const NOBODY: u32 = 65534;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("exists")
        .permissions()
        .mode()
        & 0o777
}

/// Each route `serve` answers, and one it does not: all behind the same check.
const EVERY_ROUTE: [(&str, &str); 7] = [
    ("GET", "/token"),
    ("GET", "/header"),
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("POST", "/token/refused"),
    ("POST", "/header/refused"),
    ("GET", "/nothing"),
];

fn assert_refused(answer: &Answer, status: u16) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert!(
        answer.head.contains("content-type: application/json"),
        "{answer:?}"
    );
    let json: serde_json::Value = serde_json::from_str(&answer.body).expect("a JSON error");
    assert_eq!(json["error"], "refused");
    assert!(
        !answer.body.contains("access_token"),
        "never a token: {answer:?}"
    );
}

#[test]
fn the_socket_is_0600_in_a_0700_directory_and_a_uid_off_the_list_is_refused() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    // Only nobody may ask: this process (root) is refused by the agent itself.
    let agent = Agent::start(
        &setup,
        &[
            "serve",
            "--socket",
            directory
                .path()
                .join("run/agent.sock")
                .to_str()
                .expect("UTF-8"),
            "--allow-uid",
            &NOBODY.to_string(),
        ],
        &directory.path().join("run/agent.sock"),
        &directory.path().join("agent.log"),
    );
    let socket = agent.socket.clone();
    let mut answer = None;
    for _ in 0..600 {
        if let Ok(refused) = get(&socket, "/token", &[]) {
            answer = Some(refused);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_refused(&answer.expect("the agent answers"), 403);
    for (method, path) in EVERY_ROUTE {
        let mut stream = std::os::unix::net::UnixStream::connect(&socket).expect("connects");
        let answer = send(&mut stream, method, path, &[], "some-token").expect("answers");
        assert_refused(&answer, 403);
    }
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(socket.parent().expect("a directory")), 0o700);
    assert_eq!(agent.stop(), 0);
    assert!(!socket.exists(), "the socket is removed on the way out");
}

/// Another user, by default: `curl` run as `nobody` cannot even connect (the directory is
/// 0700, the socket 0600), and gets no token.
#[test]
fn a_peer_with_another_uid_gets_no_token() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    // The temporary directory itself must let nobody reach the agent's own 0700 directory.
    std::fs::set_permissions(directory.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let agent = Agent::serve(&setup, directory.path(), &[]);
    let socket = agent.socket.to_str().expect("UTF-8").to_owned();
    let output = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--unix-socket",
            &socket,
            "http://agent/token",
        ])
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("curl runs (install curl)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "refused: {stdout} {stderr}");
    assert!(
        stderr.contains("Permission denied") || stderr.contains("Couldn't connect"),
        "{stderr}"
    );
    assert!(!stdout.contains("access_token"), "{stdout}");
    // Root itself, the agent's user, is served.
    assert_eq!(
        get(&agent.socket, "/token", &[]).expect("answers").status,
        200
    );
}

#[test]
fn a_tcp_caller_without_the_secret_is_refused() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let secret_file = directory.path().join("agent.secret");
    let (agent, address) = tcp_agent(&setup, directory.path(), &secret_file);
    let ask = |headers: &[(&str, &str)]| -> Option<Answer> {
        let mut stream = std::net::TcpStream::connect(&address).ok()?;
        exchange(&mut stream, "/token", headers).ok()
    };
    assert_refused(&ask(&[]).expect("the agent answers"), 401);
    assert_eq!(mode(&secret_file), 0o600);
    let secret = std::fs::read_to_string(&secret_file).expect("written");
    let secret = secret.trim_end();
    assert_eq!(secret.len(), 64, "32 random bytes as hex");
    let wrong = "0".repeat(64);
    assert_refused(
        &ask(&[("X-Keliweb-Agent-Secret", &wrong)]).expect("answers"),
        401,
    );
    assert_refused(
        &ask(&[("Authorization", &format!("Bearer {secret}"))]).expect("answers"),
        401,
    );
    for (method, path) in EVERY_ROUTE {
        let mut stream = std::net::TcpStream::connect(&address).expect("connects");
        let answer = send(&mut stream, method, path, &[], "some-token").expect("answers");
        assert_refused(&answer, 401);
    }
    let served = ask(&[("X-Keliweb-Agent-Secret", secret)]).expect("answers");
    assert_eq!(served.status, 200, "{served:?}");
    assert!(!agent.logs().contains(secret), "the secret is never logged");
    assert_eq!(agent.stop(), 0);
    assert!(
        !secret_file.exists(),
        "the secret file is removed on the way out"
    );
}

#[test]
fn tcp_is_loopback_only() {
    let setup = Setup::new();
    let refused = setup.run(&[
        "serve",
        "--tcp",
        "0.0.0.0:0",
        "--secret-file",
        "/nonexistent/secret",
    ]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(
        refused.stderr.contains("only a loopback address"),
        "{refused:?}"
    );
}

/// An agent serving on loopback TCP (a free port) with its secret in `secret_file`, once its
/// port accepts (within a minute): the agent and its address.
#[allow(
    clippy::disallowed_methods,
    reason = "a test waits in real time for a process to listen"
)]
fn tcp_agent(setup: &Setup, directory: &Path, secret_file: &Path) -> (Agent, String) {
    let address = format!("127.0.0.1:{}", free_port());
    let agent = Agent::start(
        setup,
        &[
            "serve",
            "--tcp",
            &address,
            "--secret-file",
            secret_file.to_str().expect("UTF-8"),
        ],
        &directory.join("unused.sock"),
        &directory.join("agent.log"),
    );
    for _ in 0..600 {
        if std::net::TcpStream::connect(&address).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    (agent, address)
}

/// A loopback port nobody listens on (the OS's pick, released at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a port")
        .port()
}

#[test]
fn a_socket_directory_others_may_enter_is_refused() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let open = directory.path().join("open");
    std::fs::create_dir(&open).expect("created");
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let socket = open.join("agent.sock");
    let refused = setup.run(&["serve", "--socket", socket.to_str().expect("UTF-8")]);
    assert_eq!(refused.code, 2, "{refused:?}");
    assert!(refused.stderr.contains("mode 0700"), "{refused:?}");
    assert!(!socket.exists());
}

/// A link planted where the secret file goes is replaced, never written through.
#[test]
fn the_secret_file_is_created_new() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let target = directory.path().join("elsewhere");
    std::fs::write(&target, "kept\n").expect("written");
    let secret_file = directory.path().join("agent.secret");
    std::os::unix::fs::symlink(&target, &secret_file).expect("a link");
    let (agent, _) = tcp_agent(&setup, directory.path(), &secret_file);
    let metadata = std::fs::symlink_metadata(&secret_file).expect("written");
    assert!(metadata.file_type().is_file(), "a file, not the link");
    assert_eq!(mode(&secret_file), 0o600);
    assert_eq!(std::fs::read_to_string(&target).expect("kept"), "kept\n");
    assert_eq!(agent.stop(), 0);
}

/// A browser page can reach a loopback port, but a request with the secret header needs a
/// CORS preflight, which gets no CORS header (and no token).
#[test]
fn a_cors_preflight_gets_no_cors_headers() {
    let setup = Setup::new();
    let directory = tempfile::tempdir().expect("a directory");
    let secret_file = directory.path().join("agent.secret");
    let (agent, address) = tcp_agent(&setup, directory.path(), &secret_file);
    let mut answer = String::new();
    {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&address).expect("connects");
        stream
            .write_all(b"OPTIONS /token HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: x-keliweb-agent-secret\r\nConnection: close\r\n\r\n")
            .expect("written");
        stream.read_to_string(&mut answer).expect("read");
    }
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        !answer.to_ascii_lowercase().contains("access-control-"),
        "{answer}"
    );
    assert_eq!(agent.stop(), 0);
}

//! `keliweb-token serve` and `proxy` as real processes against the emulator: the callers, who
//! may ask, crashes, logs, and the examples of `docs/agent.md`.

mod access;
mod crash;
mod credentials;
mod docs;
mod forwarding;
mod logs;
mod proxy;
mod refused;
mod second_agent;
mod serve;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use super::Setup;

/// A running agent, stopped with SIGKILL if a test leaves it running.
struct Agent {
    child: Option<Child>,
    socket: PathBuf,
    log: PathBuf,
}

impl Agent {
    /// `keliweb-token <args>` with the password in its environment, its logs in a file of
    /// `directory`; waits until `/health` says ready when `wait` (the socket is `socket`).
    fn start(setup: &Setup, args: &[&str], socket: &Path, log: &Path) -> Self {
        let mut command = setup.command(args);
        command.env(
            "KELIWEB_PASSWORD",
            keliweb_emulator::EmulatorConfig::default().password,
        );
        Self::spawn(command, socket, log)
    }

    /// `command` (the binary with its settings), its logs in `log`.
    fn spawn(mut command: std::process::Command, socket: &Path, log: &Path) -> Self {
        let log_file = std::fs::File::create(log).expect("a log file");
        let child = command
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("the agent starts");
        Self {
            child: Some(child),
            socket: socket.to_owned(),
            log: log.to_owned(),
        }
    }

    /// `serve` on a socket in `directory`, ready.
    fn serve(setup: &Setup, directory: &Path, extra: &[&str]) -> Self {
        let socket = directory.join("run").join("agent.sock");
        let socket_arg = socket.to_str().expect("UTF-8");
        let mut args = vec!["serve", "--socket", socket_arg, "--log-format", "json"];
        args.extend_from_slice(extra);
        let agent = Self::start(setup, &args, &socket, &directory.join("agent.log"));
        agent.wait_ready();
        agent
    }

    /// Waits (up to a minute: a loaded machine) until `/health` answers 200.
    fn wait_ready(&self) {
        for _ in 0..600 {
            if let Ok(answer) = get(&self.socket, "/health", &[])
                && answer.status == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the agent never became ready: {}", self.logs());
    }

    fn pid(&self) -> i32 {
        let child = self.child.as_ref().expect("running");
        i32::try_from(child.id()).expect("a pid")
    }

    fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_raw(self.pid()).expect("a pid");
        rustix::process::kill_process(pid, signal).expect("signalled");
    }

    /// Sends SIGTERM and waits for the exit code.
    fn stop(mut self) -> i32 {
        self.signal(rustix::process::Signal::TERM);
        let status = self.child.take().expect("running").wait().expect("exits");
        status.code().expect("an exit code")
    }

    /// The exit code, if the agent exits within `within`; `None` if it is still running.
    fn wait_exit(&mut self, within: Duration) -> Option<i32> {
        let child = self.child.as_mut().expect("running");
        for _ in 0..within.as_millis() / 50 {
            if let Some(status) = child.try_wait().expect("waits") {
                self.child = None;
                return Some(status.code().expect("an exit code"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGKILL, as an OOM killer or a power cut would.
    fn kill(mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("killed");
        child.wait().expect("reaped");
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// An answer: status, headers (lowercased names), body.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// `GET path` over the Unix socket, one connection per request.
fn get(socket: &Path, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Answer> {
    let mut stream = UnixStream::connect(socket)?;
    exchange(&mut stream, path, headers)
}

/// `POST path` with `body` over the Unix socket, one connection per request.
fn post(socket: &Path, path: &str, body: &str) -> std::io::Result<Answer> {
    let mut stream = UnixStream::connect(socket)?;
    send(&mut stream, "POST", path, &[], body)
}

/// `GET path` on `stream`, with `Connection: close`, read to its end.
fn exchange<S: Read + Write>(
    stream: &mut S,
    path: &str,
    headers: &[(&str, &str)],
) -> std::io::Result<Answer> {
    send(stream, "GET", path, headers, "")
}

/// `method path` with `body` on `stream`, with `Connection: close`, read to its end.
fn send<S: Read + Write>(
    stream: &mut S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<Answer> {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no head: {raw:?}")))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("no status: {head:?}")))?;
    Ok(Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    })
}

/// The access token of a `/token` answer.
fn access_token(answer: &Answer) -> Option<String> {
    let json: serde_json::Value = serde_json::from_str(&answer.body).ok()?;
    Some(json["access_token"].as_str()?.to_owned())
}

/// The value of a counter or gauge line in `/metrics` (0 when absent).
fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(line_start))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Waits (up to 30 s) until the emulator has received a refresh.
#[allow(
    clippy::disallowed_methods,
    reason = "real time: the refresh is due in it"
)]
fn wait_for_a_refresh(setup: &Setup, agent: &Agent) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while setup.emulator.counters().refresh_grants == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no refresh: {}",
            agent.logs()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Fails with the first few of `failures`, if any.
fn assert_no_failures(failures: &[String]) {
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

/// An emulator of `lifetime`-second tokens, with a 1 s leeway for the agent.
fn short_lived(lifetime: u64) -> Setup {
    let config = keliweb_emulator::EmulatorConfig {
        access_lifetime: Duration::from_secs(lifetime),
        ..keliweb_emulator::EmulatorConfig::default()
    };
    Setup::with(config, Some("1"))
}

//! The agent's costs, side by side in one run (BENCHMARKS.md, table 10): `/token` over the Unix
//! socket against `keliweb-token print-access-token` per call, and the proxy's added latency
//! against calling the emulator's API directly. `cargo bench -p keliweb-token --bench agent`.
//!
//! Plain timing loops, not Criterion: each case is a real process answering over a socket, and
//! what matters is the distribution (p50, p99) of whole calls, which the loops record call by
//! call.

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark reads the clock and starts processes"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use keliweb_emulator::{Emulator, EmulatorConfig};

const BIN: &str = env!("CARGO_BIN_EXE_keliweb-token");

fn command(emulator: &Emulator, store: &Path) -> Command {
    let defaults = EmulatorConfig::default();
    let mut command = Command::new(BIN);
    command
        .env_clear()
        .env("KELIWEB_TOKEN_URL", emulator.token_url())
        .env("KELIWEB_CLIENT_ID", &defaults.client_id)
        .env("KELIWEB_CLIENT_SECRET", &defaults.client_secret)
        .env("KELIWEB_USERNAME", &defaults.username)
        .env("KELIWEB_PASSWORD", &defaults.password)
        .env("KELIWEB_TOKEN_STORE", store)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// One HTTP/1.1 exchange on a kept-alive stream: the head, then a `Content-Length` body.
fn call<S: Read + Write>(stream: &mut BufReader<S>, request: &[u8]) -> (u16, Vec<u8>) {
    stream.get_mut().write_all(request).expect("written");
    let mut status = 0;
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        stream.read_line(&mut line).expect("a head line");
        let lower = line.to_ascii_lowercase();
        if status == 0 {
            status = lower
                .split(' ')
                .nth(1)
                .and_then(|code| code.parse().ok())
                .expect("a status");
        } else if let Some(value) = lower.strip_prefix("content-length:") {
            length = value.trim().parse().expect("a length");
        } else if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).expect("the body");
    (status, body)
}

fn unix(socket: &Path) -> BufReader<UnixStream> {
    BufReader::new(UnixStream::connect(socket).expect("connects"))
}

/// Waits for `socket` to answer `/health` with 200.
fn wait_ready(socket: &Path) {
    for _ in 0..600 {
        if let Ok(stream) = UnixStream::connect(socket) {
            let mut stream = BufReader::new(stream);
            if call(&mut stream, b"GET /health HTTP/1.1\r\nHost: a\r\n\r\n").0 == 200 {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the agent never became ready");
}

struct Stats {
    p50: Duration,
    p99: Duration,
    per_second: f64,
}

/// Times `calls` calls of `once`, one after the other.
fn time(calls: usize, mut once: impl FnMut()) -> Stats {
    for _ in 0..calls / 10 {
        once();
    }
    let mut samples = Vec::with_capacity(calls);
    let started = Instant::now();
    for _ in 0..calls {
        let start = Instant::now();
        once();
        samples.push(start.elapsed());
    }
    let total = started.elapsed();
    samples.sort();
    #[allow(clippy::cast_precision_loss, reason = "call counts are small")]
    let per_second = calls as f64 / total.as_secs_f64();
    Stats {
        p50: samples[calls / 2],
        p99: samples[calls * 99 / 100],
        per_second,
    }
}

fn micros(duration: Duration) -> String {
    format!("{:.1} µs", duration.as_secs_f64() * 1e6)
}

fn row(case: &str, stats: &Stats) {
    println!(
        "| {case} | {} | {} | {:.0} |",
        micros(stats.p50),
        micros(stats.p99),
        stats.per_second
    );
}

/// Requests per second from `threads` callers each asking `/token` on a new connection.
fn concurrent_rate(socket: &Path, threads: usize, for_how_long: Duration) -> f64 {
    let deadline = Instant::now() + for_how_long;
    let total: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(move || {
                    let mut count = 0;
                    while Instant::now() < deadline {
                        let mut stream = unix(socket);
                        let (status, _) = call(
                            &mut stream,
                            b"GET /token HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                        );
                        assert_eq!(status, 200);
                        count += 1;
                    }
                    count
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("no panic"))
            .sum()
    });
    #[allow(clippy::cast_precision_loss, reason = "counts are small")]
    let rate = total as f64 / for_how_long.as_secs_f64();
    rate
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or `--list` (as from `cargo test --benches`) runs
    // nothing worth timing.
    if std::env::args().any(|arg| arg == "--list" || arg == "--test") {
        return;
    }
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let directory = tempfile::tempdir().expect("a directory");
    let store = directory.path().join("tokens.json");
    let socket: PathBuf = directory.path().join("run").join("agent.sock");
    let proxy_socket: PathBuf = directory.path().join("run").join("proxy.sock");
    let status = command(&emulator, &store)
        .arg("login")
        .status()
        .expect("login");
    assert!(status.success());
    let _agent = Running(
        command(&emulator, &store)
            .args(["serve", "--socket", socket.to_str().expect("UTF-8")])
            .spawn()
            .expect("serve"),
    );
    let _proxy = Running(
        command(&emulator, &store)
            .args([
                "proxy",
                "--upstream",
                &emulator.base_url(),
                "--socket",
                proxy_socket.to_str().expect("UTF-8"),
            ])
            .spawn()
            .expect("proxy"),
    );
    wait_ready(&socket);
    wait_ready(&proxy_socket);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average before: {}", load.trim());

    println!("\n| case | p50 | p99 | calls per second (one caller) |\n|---|---:|---:|---:|");
    let token_request = b"GET /token HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let per_connection = time(5_000, || {
        let mut stream = unix(&socket);
        assert_eq!(call(&mut stream, token_request).0, 200);
    });
    row(
        "`/token` over the Unix socket, a connection per call",
        &per_connection,
    );
    let mut kept = unix(&socket);
    let kept_alive = time(20_000, || {
        assert_eq!(
            call(&mut kept, b"GET /token HTTP/1.1\r\nHost: a\r\n\r\n").0,
            200
        );
    });
    row(
        "`/token` over the Unix socket, one kept-alive connection",
        &kept_alive,
    );
    let print = time(200, || {
        let status = command(&emulator, &store)
            .arg("print-access-token")
            .status()
            .expect("runs");
        assert!(status.success());
    });
    row(
        "`keliweb-token print-access-token`, a process per call",
        &print,
    );
    let rate = concurrent_rate(&socket, 8, Duration::from_secs(3));
    println!("\n`/token`, 8 callers at once, a connection per call: {rate:.0} requests per second");

    // The proxy's added latency: the same API call, direct and through the proxy, each on one
    // kept-alive connection.
    let (_, token) = call(&mut unix(&socket), token_request);
    let token: serde_json::Value = serde_json::from_slice(&token).expect("JSON");
    let token = token["access_token"].as_str().expect("a token").to_owned();
    let direct_request = format!(
        "GET /api/user HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\r\n",
        emulator.addr()
    );
    let mut direct = BufReader::new(TcpStream::connect(emulator.addr()).expect("connects"));
    direct.get_ref().set_nodelay(true).expect("nodelay");
    let mut proxied = unix(&proxy_socket);
    let proxied_request = b"GET /api/user HTTP/1.1\r\nHost: keliweb\r\n\r\n";
    // Interleaved rounds, so that a slow moment of the machine hits both alike.
    let (mut direct_samples, mut proxied_samples) = (Vec::new(), Vec::new());
    for round in 0..10 {
        let d = time(1_000, || {
            assert_eq!(call(&mut direct, direct_request.as_bytes()).0, 200)
        });
        let p = time(1_000, || {
            assert_eq!(call(&mut proxied, proxied_request).0, 200)
        });
        if round > 0 {
            direct_samples.push(d);
            proxied_samples.push(p);
        }
    }
    let median = |stats: &[Stats], pick: fn(&Stats) -> Duration| {
        let mut values: Vec<Duration> = stats.iter().map(pick).collect();
        values.sort();
        values[values.len() / 2]
    };
    let (d50, d99) = (
        median(&direct_samples, |s| s.p50),
        median(&direct_samples, |s| s.p99),
    );
    let (p50, p99) = (
        median(&proxied_samples, |s| s.p50),
        median(&proxied_samples, |s| s.p99),
    );
    println!("\n| case | p50 | p99 |\n|---|---:|---:|");
    println!(
        "| `GET /api/user` direct to the emulator (TCP, kept alive) | {} | {} |",
        micros(d50),
        micros(d99)
    );
    println!(
        "| `GET /api/user` through the proxy (Unix socket, kept alive) | {} | {} |",
        micros(p50),
        micros(p99)
    );
    println!(
        "| added by the proxy | {} | {} |",
        micros(p50.saturating_sub(d50)),
        micros(p99.saturating_sub(d99))
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("\nload average after: {}", load.trim());
}

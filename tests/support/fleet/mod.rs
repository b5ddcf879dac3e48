//! A fleet of OS processes sharing one token store: each is this test binary run as a worker
//! (the ignored test `fleet_worker`), with its settings in environment variables. Workers use
//! the blocking client with ureq against the emulator, ask for a token from several threads
//! until a deadline, and print what they saw; the test reads the emulator's log.

#![allow(
    dead_code,
    reason = "the stores' room and the shared-custody bench each use part of the harness"
)]
#![allow(
    clippy::disallowed_methods,
    reason = "the fleets start processes and threads and wait on the real clock; the core does not"
)]

#[cfg(feature = "redis")]
pub mod redis_server;
pub mod scenarios;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keliweb_emulator::{Emulator, EmulatorConfig, LoggedRequest};
use keliweb_oauth::blocking::{Client, HttpClient, UreqClient};
use keliweb_oauth::client::{FileStore, Limits, RequestLimits};
use keliweb_oauth::{Config, error::TransportError};

/// The emulator's access-token lifetime in the fleet tests.
pub const LIFETIME: Duration = Duration::from_secs(4);
/// The clients' leeway: a token is usable for `LIFETIME - LEEWAY` after it is issued.
pub const LEEWAY: Duration = Duration::from_secs(1);

/// An emulator with short-lived tokens (rotation is always on).
pub fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig {
        access_lifetime: LIFETIME,
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts on 127.0.0.1")
}

/// Where a worker keeps its tokens.
#[derive(Clone, Debug)]
pub enum StoreAt {
    File(std::path::PathBuf),
    Redis { url: String, key: String },
}

impl StoreAt {
    fn to_env(&self) -> String {
        match self {
            Self::File(path) => format!("file:{}", path.display()),
            Self::Redis { url, key } => format!("redis:{url} {key}"),
        }
    }
}

/// Wall-clock milliseconds since the Unix epoch: workers agree on start and end instants.
pub fn wall_millis() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("fits")
}

/// A worker's line of output.
#[derive(Debug)]
pub struct Line {
    pub worker: usize,
    pub text: String,
}

/// Running workers and their output.
pub struct Fleet {
    children: Vec<Child>,
    lines: Receiver<Line>,
    seen: Vec<Line>,
}

impl Fleet {
    /// Starts `count` workers with `threads` threads each, asking for tokens from `start_in`
    /// from now for `run_for`, with `env` added to their environment.
    pub fn start(
        emulator: &Emulator,
        store: &StoreAt,
        (count, threads): (usize, usize),
        start_in: Duration,
        run_for: Duration,
        env: &[(&str, String)],
    ) -> Self {
        let start = wall_millis() + millis(start_in);
        let deadline = start + millis(run_for);
        let (sender, lines) = channel();
        let children = (0..count)
            .map(|worker| {
                let settings = Settings {
                    threads,
                    start,
                    deadline,
                    env,
                };
                spawn_worker(worker, emulator, store, &settings, &sender)
            })
            .collect();
        Self {
            children,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits up to `within` for a worker to print a line starting with `prefix`; returns which.
    pub fn wait_for_line(&mut self, prefix: &str, within: Duration) -> Option<usize> {
        let give_up = Instant::now() + within;
        // libtest prints "test fleet_worker ... " before the worker's first line.
        if let Some(line) = self.seen.iter().find(|line| line.text.contains(prefix)) {
            return Some(line.worker);
        }
        while let Some(left) = give_up.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            let found = line.text.contains(prefix).then_some(line.worker);
            self.seen.push(line);
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Kills worker `worker` with SIGKILL: no destructor, no unlock, no goodbye.
    pub fn kill(&mut self, worker: usize) {
        self.children[worker]
            .kill()
            .expect("the worker can be killed");
        let _ = self.children[worker].wait();
    }

    /// Waits for every worker (but those killed) to exit and returns each one's output.
    pub fn finish(mut self, killed: &[usize]) -> Vec<Vec<String>> {
        for (worker, child) in self.children.iter_mut().enumerate() {
            let status = child.wait().expect("the worker is waited for");
            if !killed.contains(&worker) {
                assert!(status.success(), "worker {worker} failed: {status}");
            }
        }
        // The readers end when the pipes close.
        self.seen.extend(self.lines.iter());
        let mut outputs = vec![Vec::new(); self.children.len()];
        for line in self.seen {
            outputs[line.worker].push(line.text);
        }
        outputs
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).expect("fits")
}

/// What every worker of a fleet is told.
struct Settings<'a> {
    threads: usize,
    start: u64,
    deadline: u64,
    env: &'a [(&'a str, String)],
}

fn spawn_worker(
    worker: usize,
    emulator: &Emulator,
    store: &StoreAt,
    settings: &Settings<'_>,
    lines: &Sender<Line>,
) -> Child {
    let mut child = Command::new(std::env::current_exe().expect("the test binary's path"))
        .args(["fleet_worker", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env("FLEET_TOKEN_URL", emulator.token_url())
        .env("FLEET_STORE", store.to_env())
        .env("FLEET_THREADS", settings.threads.to_string())
        .env("FLEET_START", settings.start.to_string())
        .env("FLEET_DEADLINE", settings.deadline.to_string())
        .envs(settings.env.iter().map(|(name, value)| (name, value)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("a worker process starts");
    for pipe in [
        Box::new(child.stdout.take().expect("piped")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("piped")),
    ] {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for text in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = lines.send(Line { worker, text });
            }
        });
    }
    child
}

/// Token requests the emulator saw, by grant and status.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Grants {
    pub logins: usize,
    pub refreshes: usize,
    pub refused_refreshes: usize,
    pub refused_logins: usize,
}

pub fn grants(log: &[LoggedRequest]) -> Grants {
    let mut grants = Grants::default();
    for request in log.iter().filter(|request| request.path == "/oauth/token") {
        let ok = (200..300).contains(&request.status);
        match (request.grant_type.as_deref(), ok) {
            (Some("password"), true) => grants.logins += 1,
            (Some("password"), false) => grants.refused_logins += 1,
            (Some("refresh_token"), true) => grants.refreshes += 1,
            (Some("refresh_token"), false) => grants.refused_refreshes += 1,
            _ => {}
        }
    }
    grants
}

/// The value of a `KEY value` line a worker printed.
pub fn reported(output: &[String], key: &str) -> Option<u64> {
    output.iter().find_map(|line| {
        let at = line.find(key)?;
        line[at + key.len()..].trim().parse().ok()
    })
}

/// Announces each token request on stdout before sending it, so the test knows which worker
/// holds the lease.
struct Announcing(UreqClient);

impl HttpClient for Announcing {
    fn execute(
        &self,
        request: http::Request<Vec<u8>>,
        limits: RequestLimits,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let body = String::from_utf8_lossy(request.body());
        let grant = if body.contains("grant_type=refresh_token") {
            "refresh"
        } else {
            "password"
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "SEND {grant}");
        let _ = stdout.flush();
        drop(stdout);
        self.0.execute(request, limits)
    }
}

/// A caller's pause between two calls: a fleet of eight processes of four callers still makes
/// hundreds of calls a second, so calls are in flight at every rotation, and the fleet leaves
/// the cores to the other tests (at 10 ms, the `stores` room spent 37 s of CPU).
const PAUSE: Duration = Duration::from_millis(40);

/// The worker: from `FLEET_THREADS` threads (tasks with `FLEET_CLIENT=async`), every [`PAUSE`]
/// between `FLEET_START` and `FLEET_DEADLINE`, asks for a token, or with `FLEET_API_URL` calls
/// that API route through `send`; then finishes what the client has under way (`shutdown`) and
/// prints `TOKENS n` (distinct access tokens seen), `CALLS n` (API calls made),
/// `UNAUTHORIZED n` (API calls that still ended in a `401`) and `ERRORS n` (failed calls, each
/// also printed). Refresh ahead is off unless `FLEET_REFRESH_AHEAD=default`.
pub fn run_worker() {
    let setting = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} is set by the fleet tests"))
    };
    let defaults = EmulatorConfig::default();
    let mut config = Config::builder(
        setting("FLEET_TOKEN_URL"),
        defaults.client_id.clone(),
        defaults.client_secret.as_str(),
    )
    .credentials(defaults.username.clone(), defaults.password.as_str())
    .leeway(LEEWAY);
    if std::env::var("FLEET_REFRESH_AHEAD").as_deref() != Ok("default") {
        config = config.refresh_ahead(Duration::ZERO);
    }
    let config = config.build().expect("a valid config");
    let request_timeout = std::env::var("FLEET_REQUEST_TIMEOUT_MS")
        .ok()
        .and_then(|millis| millis.parse().ok())
        .map_or(Duration::from_secs(3), Duration::from_millis);
    let limits = Limits {
        connect_timeout: Duration::from_secs(1),
        request_timeout,
        ..Limits::default()
    };
    let run = Run {
        threads: setting("FLEET_THREADS").parse().expect("a count"),
        start: setting("FLEET_START").parse().expect("millis"),
        deadline: setting("FLEET_DEADLINE").parse().expect("millis"),
        api: std::env::var("FLEET_API_URL").ok(),
        tally: Tally::default(),
    };
    let store = setting("FLEET_STORE");
    if std::env::var("FLEET_CLIENT").as_deref() == Ok("async") {
        async_worker::run(config, limits, &store, &run);
    } else {
        let builder = Client::builder(config, Announcing(UreqClient::default())).limits(limits);
        let client = with_store(
            &store,
            builder,
            |builder, file| builder.store(file).build(),
            redis_client,
        );
        run.wait_for_start();
        std::thread::scope(|scope| {
            for _ in 0..run.threads {
                scope.spawn(|| {
                    while wall_millis() < run.deadline {
                        match &run.api {
                            Some(api) => run.tally.called(client.send(get(api))),
                            None => run.tally.got(client.authorization().as_deref()),
                        }
                        std::thread::sleep(PAUSE);
                    }
                });
            }
        });
        if let Err(error) = client.shutdown() {
            run.tally.failed(&error);
        }
    }
    run.tally.print();
}

/// The client `builder` makes with the store `FLEET_STORE` names (`file:PATH` or
/// `redis:URL KEY`).
fn with_store<B, C>(
    store: &str,
    builder: B,
    file: impl FnOnce(B, FileStore) -> C,
    redis: impl FnOnce(B, &str) -> C,
) -> C {
    if let Some(path) = store.strip_prefix("file:") {
        file(builder, FileStore::new(path))
    } else if let Some(setting) = store.strip_prefix("redis:") {
        redis(builder, setting)
    } else {
        panic!("unknown store {store}");
    }
}

/// What a worker does, and what it saw.
struct Run {
    threads: usize,
    start: u64,
    deadline: u64,
    api: Option<String>,
    tally: Tally,
}

impl Run {
    fn wait_for_start(&self) {
        std::thread::sleep(Duration::from_millis(
            self.start.saturating_sub(wall_millis()),
        ));
    }
}

/// A `GET` of the API route.
fn get(url: &str) -> http::Request<Vec<u8>> {
    http::Request::get(url)
        .body(Vec::new())
        .expect("a valid request")
}

/// What a worker's callers saw.
#[derive(Default)]
struct Tally {
    tokens: Mutex<HashSet<Vec<u8>>>,
    calls: std::sync::atomic::AtomicU64,
    unauthorized: std::sync::atomic::AtomicU64,
    errors: std::sync::atomic::AtomicU64,
}

impl Tally {
    fn got(&self, token: Result<&keliweb_oauth::sans_io::Authorization, &keliweb_oauth::Error>) {
        match token {
            Ok(token) => {
                let header = token.expose_header_value().as_bytes().to_vec();
                self.tokens.lock().expect("not poisoned").insert(header);
            }
            Err(error) => self.failed(error),
        }
    }

    fn called(&self, outcome: Result<http::Response<Vec<u8>>, keliweb_oauth::Error>) {
        use std::sync::atomic::Ordering::Relaxed;
        self.calls.fetch_add(1, Relaxed);
        match outcome {
            Ok(response) if response.status() == http::StatusCode::UNAUTHORIZED => {
                println!("UNAUTHORIZED call at {}", wall_millis());
                self.unauthorized.fetch_add(1, Relaxed);
            }
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                println!("ERROR the API answered {}", response.status());
                self.errors.fetch_add(1, Relaxed);
            }
            Err(error) => self.failed(&error),
        }
    }

    fn failed(&self, error: &keliweb_oauth::Error) {
        println!("ERROR {error}");
        self.errors
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn print(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        println!("TOKENS {}", self.tokens.lock().expect("not poisoned").len());
        println!("CALLS {}", self.calls.load(Relaxed));
        println!("UNAUTHORIZED {}", self.unauthorized.load(Relaxed));
        println!("ERRORS {}", self.errors.load(Relaxed));
    }
}

/// The worker on the async client (reqwest, a Tokio runtime): tasks instead of threads.
#[cfg(feature = "reqwest")]
mod async_worker {

    use keliweb_oauth::Config;
    use keliweb_oauth::client::Limits;
    use keliweb_oauth::nonblocking::{Client, ReqwestClient};

    use super::{PAUSE, Run, get, wall_millis};

    pub(super) fn run(config: Config, limits: Limits, store: &str, run: &Run) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let builder = Client::builder(config, ReqwestClient::default()).limits(limits);
            let client = super::with_store(
                store,
                builder,
                |builder, file| builder.store(file).build(),
                redis_client,
            );
            run.wait_for_start();
            let callers = (0..run.threads).map(|_| {
                let client = client.clone();
                async move {
                    while wall_millis() < run.deadline {
                        match &run.api {
                            Some(api) => run.tally.called(client.send(get(api)).await),
                            None => run.tally.got(client.authorization().await.as_deref()),
                        }
                        tokio::time::sleep(PAUSE).await;
                    }
                }
            });
            futures_util::future::join_all(callers).await;
            if let Err(error) = client.shutdown().await {
                run.tally.failed(&error);
            }
        });
    }

    #[cfg(feature = "redis")]
    fn redis_client(
        builder: keliweb_oauth::nonblocking::ClientBuilder<ReqwestClient>,
        setting: &str,
    ) -> Client<ReqwestClient> {
        let (url, key) = setting.split_once(' ').expect("redis:URL KEY");
        builder.store(super::redis_server::store(url, key)).build()
    }

    #[cfg(not(feature = "redis"))]
    fn redis_client(
        _builder: keliweb_oauth::nonblocking::ClientBuilder<ReqwestClient>,
        _setting: &str,
    ) -> Client<ReqwestClient> {
        panic!("a Redis worker needs the `redis` feature");
    }
}

#[cfg(not(feature = "reqwest"))]
mod async_worker {
    pub(super) fn run(_: keliweb_oauth::Config, _: super::Limits, _: &str, _: &super::Run) {
        panic!("an async worker needs the `reqwest` feature");
    }
}

#[cfg(feature = "redis")]
fn redis_client(
    builder: keliweb_oauth::blocking::ClientBuilder<Announcing>,
    setting: &str,
) -> Client<Announcing> {
    let (url, key) = setting.split_once(' ').expect("redis:URL KEY");
    let mut store = redis_server::store(url, key);
    if let Some(millis) = std::env::var("FLEET_REDIS_TIMEOUT_MS")
        .ok()
        .and_then(|millis| millis.parse().ok())
    {
        store = store.timeout(Duration::from_millis(millis));
    }
    builder.store(store).build()
}

#[cfg(not(feature = "redis"))]
fn redis_client(
    _builder: keliweb_oauth::blocking::ClientBuilder<Announcing>,
    _setting: &str,
) -> Client<Announcing> {
    panic!("a Redis worker needs the `redis` feature");
}

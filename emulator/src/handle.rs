//! [`Emulator`]: starting, inspecting, steering and stopping the server.

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::serve::ListenerExt;

use crate::config::{EmulatorConfig, PassportVersion};
use crate::counters::Counters;
use crate::faults::{Fault, Route};
use crate::log::LoggedRequest;
use crate::routes;
use crate::state::{Shared, lock};

/// A running emulator. Dropping it shuts the server down (in-flight requests are cut).
pub struct Emulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Starts a server on `127.0.0.1` with a free port. It runs on its own Tokio runtime on a
    /// background thread (so it works from sync tests, async tests and benchmarks alike) and is
    /// accepting connections when this returns.
    pub fn start(config: EmulatorConfig) -> io::Result<Emulator> {
        Emulator::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }

    /// Like [`Emulator::start`], on the given address (port 0 picks a free port).
    pub fn start_on(config: EmulatorConfig, addr: SocketAddr) -> io::Result<Emulator> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let seed = (u64::from(addr.port()) << 48) ^ u64::from(std::process::id());
        let shared = Arc::new(Shared::new(config, format!("http://{addr}"), seed));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("keliweb-emulator")
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let listener = listener.tap_io(|stream| {
            // Only a latency tweak: nothing to do if it fails.
            let _ = stream.set_nodelay(true);
        });
        let app = routes::router(shared.clone());
        runtime.spawn(async move {
            // `serve` only returns when the runtime is shut down.
            let _ = axum::serve(listener, app).await;
        });

        let (stop, stopped) = mpsc::channel::<()>();
        #[allow(
            clippy::disallowed_methods,
            reason = "the emulator is a server, not the sans-IO core: it owns its runtime's thread"
        )]
        let thread = std::thread::Builder::new()
            .name("keliweb-emulator-owner".to_owned())
            .spawn(move || {
                // Returns when the handle sends or is dropped.
                let _ = stopped.recv();
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;

        Ok(Emulator {
            shared,
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The token endpoint: base URL + `/oauth/token`.
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.shared.base_url)
    }

    /// The RFC 7009 revocation endpoint: base URL + `/oauth/revoke`.
    pub fn revoke_url(&self) -> String {
        format!("{}/oauth/revoke", self.shared.base_url)
    }

    /// The Bearer-authenticated logout endpoint: base URL + `/api/logout`.
    pub fn logout_url(&self) -> String {
        format!("{}/api/logout", self.shared.base_url)
    }

    /// The protected resource: base URL + `/api/user`.
    pub fn api_url(&self) -> String {
        format!("{}/api/user", self.shared.base_url)
    }

    /// Where injected redirects point: base URL + `/redirect-target`.
    pub fn redirect_target_url(&self) -> String {
        format!("{}/redirect-target", self.shared.base_url)
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.shared.counters.snapshot()
    }

    /// Every request answered so far, oldest first (see [`LoggedRequest`]; no secrets).
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.log.since(0)
    }

    /// The requests answered so far from the `from`-th on (0-based): for following the log.
    pub fn requests_since(&self, from: usize) -> Vec<LoggedRequest> {
        self.shared.log.since(from)
    }

    /// Queues `fault` for `route`. Faults on one route are applied first in, first out, each to
    /// exactly one upcoming request.
    pub fn inject(&self, route: Route, fault: Fault) {
        self.shared.faults.push(route, fault);
    }

    /// Moves the server's clock forward (token expiry, throttle window, JWT claims), so tests can
    /// expire tokens without sleeping.
    pub fn advance_clock(&self, by: Duration) {
        self.shared.clock.advance(by);
    }

    /// Revokes every token issued so far, server-side.
    pub fn revoke_all_tokens(&self) {
        lock(&self.shared.tokens).revoke_all();
    }

    /// Makes `GET /api/user` answer `401 Unauthenticated` to every token, valid or not (as an
    /// API does to a token of another Keliweb API, or of a disabled account), or stop doing so.
    pub fn refuse_every_api_token(&self, refuse: bool) {
        self.shared
            .api_refuses_every_token
            .store(refuse, std::sync::atomic::Ordering::SeqCst);
    }

    /// Switches the error shapes of the token endpoint from now on.
    pub fn set_passport(&self, version: PassportVersion) {
        self.shared.set_passport(version);
    }

    /// The configuration the emulator was started with (its `passport` field is the initial
    /// version, whatever [`Emulator::set_passport`] did since).
    pub fn config(&self) -> &EmulatorConfig {
        &self.shared.config
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The owner thread does not panic; nothing useful to do if it did.
            let _ = thread.join();
        }
    }
}

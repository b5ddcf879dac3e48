//! One schedule's world, drawn from its seed: the fleet, the server's and the store's
//! behaviour, the faults, and the rules that keep the scenario honest.
//!
//! Times are virtual milliseconds from the schedule's start; a process reads
//! `BASE + virtual time + its skew` as its clock.

use std::time::Duration;

use crate::rng::Rng;

/// The wall-clock instant (ms since the Unix epoch) virtual time 0 stands for.
pub const BASE: u64 = 1_800_000_000_000;

/// How a process uses its token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A service: refresh ahead in the background, the token handed out meanwhile.
    Background,
    /// A short-lived program (a CLI, a cron job): `Coordinator::foreground` before each
    /// hand-out, a few calls, then `shutdown`, exit, and a new run later.
    Foreground,
}

/// How the store's lease behaves when its holder dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    /// An advisory file lock: the kernel drops it when its process dies; it never expires.
    File,
    /// A key with a lifetime (Redis `SET NX PX`): it outlives a dead holder until it expires,
    /// and a save is fenced by it.
    Redis,
}

/// Which Passport generation answers (they differ in how a dead refresh token is refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassportVersion {
    V8,
    V9,
}

#[derive(Clone, Debug)]
pub struct ProcessPlan {
    pub skew: i64,
    pub mode: Mode,
    pub callers: usize,
}

/// A window of virtual time `[start, end)`.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub start: u64,
    pub end: u64,
}

impl Window {
    pub fn contains(&self, at: u64) -> bool {
        self.start <= at && at < self.end
    }
}

#[derive(Clone, Debug)]
pub struct Schedule {
    pub seed: u64,
    /// The access token's lifetime (`expires_in`).
    pub lifetime: u64,
    pub leeway: u64,
    pub refresh_ahead: u64,
    pub min_retry_delay: u64,
    /// How long the old pair keeps working after a rotation (0: revoked at once, as Passport).
    pub grace: u64,
    pub version: PassportVersion,
    /// Per mille of token requests answered 5xx (not processed), 429 (not processed), and
    /// processed but answered only after the request timed out.
    pub server_errors: u64,
    pub throttles: u64,
    pub hangs: u64,
    /// Per mille of answers that are slow, and how slow at most.
    pub slow_answers: u64,
    pub slowest_answer: u64,
    pub request_timeout: u64,
    pub store_kind: StoreKind,
    pub store_timeout: u64,
    /// How long a lease is held at most (and lives, for a lease that expires).
    pub hold: u64,
    pub outages: Vec<Window>,
    pub stalls: Vec<Window>,
    pub processes: Vec<ProcessPlan>,
    /// Per mille, at each event of a process, that it crashes there.
    pub crashes: u64,
    /// Per mille, when the server rotates a process's refresh token, that the process crashes
    /// before the answer reaches it.
    pub crashes_at_rotation: u64,
    /// Per mille, for each run of a background process, that it restarts cleanly once (a
    /// deploy): shutdown, exit, start.
    pub restarts: u64,
    /// Callers stop making calls from here; then every process shuts down.
    pub duration: u64,
    /// The pause between two calls of a caller.
    pub think: (u64, u64),
    /// A foreground program makes this many calls per caller, then exits.
    pub calls_per_run: u64,
    pub api_latency: u64,
    /// The foreground margin: no hand-out this long before the refresh point (at most half
    /// the refresh window), as the blocking client's `min(leeway, window / 2, 10 s)`.
    pub margin: u64,
    /// The largest skew any process has: the skew rule below.
    pub max_skew: u64,
}

impl Schedule {
    pub fn draw(seed: u64, rng: &mut Rng) -> Self {
        let lifetime =
            1000 * rng.weighted(&[(5, 2), (5, 3), (5, 4), (3, 6), (2, 15), (1, 60), (1, 3600)]);
        // A sixth to a third of the lifetime, as the fleet tests' 1 s of 4 s; never more than
        // the crate's default minute.
        let leeway = (lifetime * rng.between(2, 4) / 12).clamp(300, 60_000);
        let refresh_ahead = rng.weighted(&[(6, 300_000), (2, lifetime / 4), (1, 0)]);
        let min_retry_delay = rng.weighted(&[(4, 1000), (1, 250)]);
        let grace = rng.weighted(&[(6, 0), (1, 300), (1, 2000)]);
        let version = if rng.chance(500) {
            PassportVersion::V8
        } else {
            PassportVersion::V9
        };
        let faulty_server = rng.chance(400);
        let server_errors = if faulty_server {
            rng.weighted(&[(2, 10), (1, 50)])
        } else {
            0
        };
        let throttles = if faulty_server {
            rng.weighted(&[(2, 0), (1, 20)])
        } else {
            0
        };
        let hangs = if faulty_server {
            rng.weighted(&[(1, 0), (2, 10), (1, 40)])
        } else {
            0
        };
        let request_timeout = 2000;
        // A slow answer still leaves the token most of its usable life.
        let slowest_answer = ((lifetime - leeway) / 4).min(1500);
        let slow_answers = rng.weighted(&[(2, 0), (1, 100), (1, 400)]);
        let store_kind = if rng.chance(500) {
            StoreKind::File
        } else {
            StoreKind::Redis
        };
        let store_timeout = 500;
        // As the clients: twice the request timeout for a refused refresh and the login, plus
        // six store calls.
        let hold = 2 * request_timeout + 6 * store_timeout;
        let duration = (lifetime * 5 / 2).max(6_000);
        let windows = |count: u64, longest: u64, rng: &mut Rng| {
            (0..count)
                .map(|_| {
                    let start = rng.below(duration);
                    let length = match rng.weighted(&[(5, 0), (3, 1), (1, 2)]) {
                        0 => rng.between(50, 1500),
                        1 => rng.between(1500, 6000),
                        _ => rng.between(6000, longest),
                    };
                    Window {
                        start,
                        end: start + length,
                    }
                })
                .collect::<Vec<_>>()
        };
        let store_faults = rng.chance(350);
        let outages = if store_faults {
            windows(rng.below(3), 20_000, rng)
        } else {
            Vec::new()
        };
        // A stall may outlast a lease: the store frozen longer than `hold`.
        let stalls = if store_faults {
            windows(rng.below(3), 2 * hold, rng)
        } else {
            Vec::new()
        };
        let crashy = rng.weighted(&[(3, 0), (2, 1), (1, 2)]);
        let crashes = [0, 3, 15][crashy];
        let crashes_at_rotation = [0, 100, 300][crashy];
        let restarts = rng.weighted(&[(3, 0), (1, 300)]);
        let margin = leeway.min(10_000);
        // The skew rule. A token handed out at a process's clock `c` is usable until
        // `expiry - leeway` by the clock of the process that fetched it; between two processes
        // the clocks differ by up to twice the largest skew. And the foreground margin stops
        // hand-outs `min(margin, window / 2)` before the refresh point, while another process
        // may reach that point up to twice the largest skew earlier. So the largest skew is a
        // quarter of the leeway and half of the smallest foreground margin less the API's
        // latency, where the smallest refresh window is that of a token whose answer took the
        // longest.
        let slowest = 30 + slowest_answer.max(80);
        let smallest_window = refresh_ahead.min((lifetime - leeway).saturating_sub(slowest) / 2);
        // The API's latency: well within the leeway less the clocks' difference, so a token
        // handed out usable is alive when the API sees it, and within the margin less it.
        let api_latency = (leeway / 4).min(50);
        let max_skew = (leeway / 4)
            .min(margin.min(smallest_window / 2).saturating_sub(api_latency) / 2)
            .min(500);
        let mode_mix = rng.weighted(&[(3, 0), (2, 1), (2, 2)]);
        let count = rng.weighted(&[(1, 1), (4, 2), (3, 3), (1, 4)]);
        let processes = (0..count)
            .map(|index| {
                let mode = match mode_mix {
                    0 => Mode::Background,
                    1 => Mode::Foreground,
                    _ if index % 2 == 0 => Mode::Background,
                    _ => Mode::Foreground,
                };
                let skew = rng.below(2 * max_skew + 1) as i64 - max_skew as i64;
                ProcessPlan {
                    skew,
                    mode,
                    callers: rng.weighted(&[(2, 1), (2, 2), (1, 3)]),
                }
            })
            .collect();
        // A caller calls every tenth to half of a lifetime: short tokens see calls around
        // each refresh, as a service under load does.
        let think = (lifetime / 10, lifetime / 2);
        Self {
            seed,
            lifetime,
            leeway,
            refresh_ahead,
            min_retry_delay,
            grace,
            version,
            server_errors,
            throttles,
            hangs,
            slow_answers,
            slowest_answer,
            request_timeout,
            store_kind,
            store_timeout,
            hold,
            outages,
            stalls,
            processes,
            crashes,
            crashes_at_rotation,
            restarts,
            duration,
            think,
            calls_per_run: rng.between(1, 2),
            api_latency,
            margin,
            max_skew,
        }
    }

    pub fn config(&self) -> keliweb_oauth::Config {
        keliweb_oauth::Config::builder("https://passport.test/oauth/token", "client-1", "s3cret")
            .credentials("fleet@example.com", "correct horse")
            .leeway(ms(self.leeway))
            .refresh_ahead(ms(self.refresh_ahead))
            .min_retry_delay(ms(self.min_retry_delay))
            .build()
            .expect("a valid configuration")
    }

    /// Whether the store fails every call arriving at `at`.
    pub fn store_down(&self, at: u64) -> bool {
        self.outages.iter().any(|window| window.contains(at))
    }

    /// When a stall holding calls that arrive at `at` ends, if one does.
    pub fn store_stalled_until(&self, at: u64) -> Option<u64> {
        self.stalls
            .iter()
            .filter(|window| window.contains(at))
            .map(|window| window.end)
            .max()
    }

    /// Whether any store fault touches `[from, to]`.
    pub fn store_faulty_between(&self, from: u64, to: u64) -> bool {
        self.outages
            .iter()
            .chain(&self.stalls)
            .any(|window| window.start <= to && from < window.end)
    }

    /// The longest a call may take, from the configured timeouts alone (the liveness rule).
    /// A token is had within two jobs (one waited for, one run), each at most a lease wait
    /// (twice the hold), a refused refresh and a login (two requests, six store calls); a call
    /// gets a token at most twice (the retry after a `401`), and a foreground caller first
    /// waits out at most the margin. An outage or a stall makes store calls fail or time out;
    /// it never makes a caller wait longer than this.
    pub fn call_bound(&self) -> u64 {
        let job = 2 * self.hold + 2 * self.request_timeout + 6 * self.store_timeout;
        2 * (2 * job + self.margin) + 2 * self.api_latency + 1000
    }

    pub fn describe(&self) -> String {
        let modes: Vec<String> = self
            .processes
            .iter()
            .enumerate()
            .map(|(index, plan)| {
                format!(
                    "p{index} {:?} skew {:+}ms x{}",
                    plan.mode, plan.skew, plan.callers
                )
            })
            .collect();
        format!(
            "seed {}: lifetime {}s, leeway {}ms, refresh ahead {}ms, retry delay {}ms, grace {}ms, {:?}, \
             server 5xx {}‰ 429 {}‰ hang {}‰ slow {}‰ (≤{}ms), {:?} store, outages {:?}, stalls {:?}, \
             crashes {}‰ (at rotation {}‰), restarts {}‰, run {}ms, margin {}ms, max skew {}ms; {}",
            self.seed,
            self.lifetime / 1000,
            self.leeway,
            self.refresh_ahead,
            self.min_retry_delay,
            self.grace,
            self.version,
            self.server_errors,
            self.throttles,
            self.hangs,
            self.slow_answers,
            self.slowest_answer,
            self.store_kind,
            self.outages
                .iter()
                .map(|w| (w.start, w.end))
                .collect::<Vec<_>>(),
            self.stalls
                .iter()
                .map(|w| (w.start, w.end))
                .collect::<Vec<_>>(),
            self.crashes,
            self.crashes_at_rotation,
            self.restarts,
            self.duration,
            self.margin,
            self.max_skew,
            modes.join(", ")
        )
    }
}

pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

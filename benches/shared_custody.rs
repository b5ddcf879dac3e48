//! 8. Shared custody: token requests per expiry for fleets of 1, 8 and 32 OS processes of 64
//!    threads each, on a `FileStore` and on a `RedisStore` (goal: exactly one per expiry, and
//!    one login in all); and what a store adds to a refresh, against the same refresh without
//!    a store, in interleaved batches of one run.
//!
//! Prints `CUSTODY` lines for `benches/report.py --custody`. Needs `redis-server` (see
//! `tests/run.sh`). The fleets are this binary run again as workers (`fleet_worker`). Named so
//! that it runs last in `cargo bench`: its fleets leave thousands of threads' load behind.

// The clock ban in clippy.toml guards the sans-IO core; this bench times what it runs.
#![allow(clippy::disallowed_methods)]

mod common;
#[path = "../tests/support/fleet/mod.rs"]
mod fleet;

use std::time::{Duration, Instant};

use fleet::redis_server::{RedisServer, store as redis_store};
use fleet::{Fleet, LEEWAY, LIFETIME, StoreAt, emulator, grants};
use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::blocking::{Client, UreqClient};
use keliweb_oauth::client::FileStore;

/// Expiries each fleet runs across.
const EXPIRIES: u32 = 2;
/// Threads per process.
const THREADS: usize = 64;
/// Refreshes per batch, and batches per variant, in the latency part.
const BATCH: u32 = 10;
const ROUNDS: u32 = 15;

fn main() {
    if std::env::args().any(|arg| arg == "fleet_worker") {
        fleet::run_worker();
        return;
    }
    // `cargo bench` passes `--bench`; a `cargo test` of the benches passes nothing: skip there.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    common::print_machine_load();
    let server = RedisServer::start();
    let directory = tempfile::tempdir().expect("a directory");
    // First, while the machine is quiet: the fleets leave thousands of threads' load behind.
    latency(&server, &directory);
    for processes in [1, 8, 32] {
        let stores = [
            (
                "FileStore",
                StoreAt::File(directory.path().join(format!("{processes}.json"))),
            ),
            (
                "RedisStore",
                StoreAt::Redis {
                    url: server.url(),
                    key: format!("{{fleet}}:{processes}"),
                },
            ),
        ];
        for (name, store) in stores {
            fleet(name, &store, processes);
        }
    }
    common::print_machine_load();
}

/// One fleet across `EXPIRIES` expiries: its token requests.
fn fleet(name: &str, store: &StoreAt, processes: usize) {
    let emulator = emulator();
    let usable = LIFETIME - LEEWAY;
    let run_for = usable * EXPIRIES + usable / 2;
    let fleet = Fleet::start(
        &emulator,
        store,
        (processes, THREADS),
        Duration::from_millis(500 + 30 * processes as u64),
        run_for,
        // Redis's default call timeout: thousands of threads on two cores make calls slow, and
        // the tests' 200 ms (for quick lease expiry) would fail them.
        &[("FLEET_REDIS_TIMEOUT_MS", "2000".to_owned())],
    );
    let outputs = fleet.finish(&[]);
    let errors: u64 = outputs
        .iter()
        .filter_map(|output| fleet::reported(output, "ERRORS "))
        .sum();
    let grants = grants(&emulator.requests());
    println!(
        "CUSTODY\tfleet\t{name}\t{processes}\t{THREADS}\t{EXPIRIES}\t{}\t{}\t{}\t{errors}",
        grants.logins, grants.refreshes, grants.refused_refreshes
    );
}

/// Median time of a forced refresh without a store and through each store, from batches of
/// the three interleaved in one run.
fn latency(server: &RedisServer, directory: &tempfile::TempDir) {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator");
    let config = || common::emulator_config(&emulator);
    let plain = Client::new(config(), UreqClient::default());
    let file = Client::builder(config(), UreqClient::default())
        .store(FileStore::new(directory.path().join("latency.json")))
        .build();
    let redis = Client::builder(config(), UreqClient::default())
        .store(redis_store(&server.url(), "{latency}:tokens"))
        .build();
    let variants = [
        ("no store", &plain),
        ("FileStore", &file),
        ("RedisStore", &redis),
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for (_, client) in &variants {
        client.authorization().expect("a login");
    }
    for _ in 0..ROUNDS {
        for (index, (_, client)) in variants.iter().enumerate() {
            let started = Instant::now();
            for _ in 0..BATCH {
                client.force_refresh().expect("a refresh");
            }
            samples[index].push(started.elapsed().as_secs_f64() * 1e6 / f64::from(BATCH));
        }
    }
    let medians: Vec<f64> = samples.iter_mut().map(|batch| median(batch)).collect();
    for ((name, _), median) in variants.iter().zip(&medians) {
        println!(
            "CUSTODY\tlatency\t{name}\t{median:.1}\t{:.2}",
            median / medians[0]
        );
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

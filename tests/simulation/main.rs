//! Deterministic simulation of fleets: N processes × M callers, each process a `Coordinator`
//! around a `Session`, against a simulated store and a simulated Passport, with crashes, clock
//! skew, store outages and stalls, slow and failing answers, on a virtual clock.
//!
//! Each schedule is drawn from its seed (`schedule.rs`) and run as one loop over an event
//! queue (`world.rs`, `driver.rs`); the invariants (`invariants.rs`) are checked as events
//! happen. A violation prints its seed and a trace that replays it. `docs/testing.md`
//! describes the model, the invariants and their rules.
//!
//! - `SIMULATION_SCHEDULES=N`: run N schedules (default 100,000), seeds `SIMULATION_FIRST`
//!   (default 0) onwards, over every core.
//! - `SIMULATION_SEED=S`: run schedule S alone and print its trace.
//! - `SIMULATION_STATS=1`: also print what the schedules did (calls, rotations, crashes).
//! - `tests/simulation/run.sh`: ten million schedules, in release, over every core.

mod driver;
mod invariants;
mod passport;
mod rng;
mod schedule;
mod store;
mod trace;
mod world;

use std::env;

/// How many violations are printed with their whole trace.
const TRACED: usize = 3;

fn env_number(name: &str) -> Option<u64> {
    let value = env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {value:?}")),
    )
}

#[test]
fn simulation() {
    if let Some(seed) = env_number("SIMULATION_SEED") {
        let outcome = world::run(seed, true);
        println!("{}", outcome.description);
        for line in &outcome.trace {
            println!("{line}");
        }
        let violations = usize::from(outcome.violation.is_some());
        if let Some(violation) = &outcome.violation {
            println!(
                "violation, seed {seed}: {} at {} ms: {}",
                violation.rule, violation.at, violation.detail
            );
        }
        println!("simulation: 1 schedules, {violations} violations");
        assert_eq!(violations, 0, "schedule {seed} violated an invariant");
        return;
    }
    let first = env_number("SIMULATION_FIRST").unwrap_or(0);
    let count = env_number("SIMULATION_SCHEDULES").unwrap_or(100_000);
    // Schedules are independent and each is deterministic: split them over the cores, in
    // interleaved seeds so that each thread gets a like mix.
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 64) as u64;
    let (mut violations, totals) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|thread| {
                scope.spawn(move || {
                    let mut violations = Vec::new();
                    let mut totals = Totals::default();
                    let mut seed = first + thread;
                    while seed < first + count {
                        let outcome = world::run(seed, false);
                        totals.add(&outcome);
                        if let Some(violation) = outcome.violation {
                            violations.push((seed, violation));
                        }
                        seed += threads;
                    }
                    (violations, totals)
                })
            })
            .collect();
        let mut violations = Vec::new();
        let mut totals = Totals::default();
        for worker in workers {
            let (found, sums) = worker.join().expect("a simulation thread");
            violations.extend(found);
            totals.merge(&sums);
        }
        (violations, totals)
    });
    violations.sort_by_key(|(seed, _)| *seed);
    for (index, (seed, violation)) in violations.iter().enumerate() {
        if index < TRACED {
            // Deterministic: the traced run replays the same events.
            let traced = world::run(*seed, true);
            println!("{}", traced.description);
            for line in &traced.trace {
                println!("{line}");
            }
        }
        println!(
            "violation, seed {seed} (replay: SIMULATION_SEED={seed}): {} at {} ms: {}",
            violation.rule, violation.at, violation.detail
        );
    }
    if env::var_os("SIMULATION_STATS").is_some() {
        println!("{}", totals.describe());
    }
    println!(
        "simulation: {count} schedules, {} violations",
        violations.len()
    );
    let seeds: Vec<u64> = violations.iter().take(20).map(|(seed, _)| *seed).collect();
    assert!(
        violations.is_empty(),
        "{} schedules violated an invariant; seeds {seeds:?}",
        violations.len()
    );
}

/// What the schedules did, summed: one count per name in `TOTALS`.
#[derive(Default)]
struct Totals([u64; TOTALS.len()]);

const TOTALS: [&str; 11] = [
    "events",
    "calls",
    "failed calls",
    "hand-outs",
    "401s retried",
    "crashes",
    "logins",
    "rotations",
    "refused refreshes",
    "jobs",
    "losses",
];

impl Totals {
    fn merge(&mut self, other: &Self) {
        for (sum, count) in self.0.iter_mut().zip(other.0) {
            *sum += count;
        }
    }

    fn add(&mut self, outcome: &world::Outcome) {
        let ledger = &outcome.ledger;
        let losses = (0..ledger.jobs.len())
            .filter(|job| ledger.is_loss(*job))
            .count();
        self.merge(&Self([
            outcome.events,
            ledger.calls,
            ledger.failed_calls,
            ledger.hand_outs,
            ledger.retried_401s,
            ledger.crashes,
            outcome.passport.logins,
            outcome.passport.rotations,
            outcome.passport.refused,
            ledger.jobs.len() as u64,
            losses as u64,
        ]));
    }

    fn describe(&self) -> String {
        let counts: Vec<String> = TOTALS
            .iter()
            .zip(self.0)
            .map(|(name, count)| format!("{count} {name}"))
            .collect();
        format!("simulation totals: {}", counts.join(", "))
    }
}

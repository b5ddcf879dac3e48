//! 4. Thundering herd: N async tasks need a token at the moment it expires (the client's
//!    `ManualClock` is set to the token's `usable_until`), against the emulator on loopback.
//!    The tasks start behind a barrier and the token endpoint answers 20 ms late, so all N are
//!    waiting on the one request, as in the herd test. Counts the token requests the emulator
//!    saw (must be exactly one per round) and times the latency the last of the N waiters sees,
//!    against one lone refresh (N = 1).

// The clock ban in clippy.toml guards the sans-IO core; this bench times the tasks it starts.
#![allow(clippy::disallowed_methods)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use keliweb_emulator::{Emulator, EmulatorConfig, Fault, Route};
use keliweb_oauth::client::{Clock, ManualClock, SystemClock};
use keliweb_oauth::nonblocking::{Client, ReqwestClient};

#[global_allocator]
static ALLOCATOR: common::CountingAllocator = common::CountingAllocator;

fn herd(c: &mut Criterion) {
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator starts");
    let config = common::emulator_config(&emulator);
    let clock = ManualClock::new(SystemClock.now());
    let http = ReqwestClient::default();
    let client = Client::builder(config, http).clock(clock.clone()).build();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        client.authorization().await.expect("the first login works");
    });

    // One round: expire the token, release N tasks at once; the last waiter's latency.
    let round = |n: usize| -> Duration {
        runtime.block_on(async {
            let usable_until = client
                .authorization()
                .await
                .expect("a token")
                .usable_until();
            clock.set(usable_until);
            emulator.inject(Route::Token, Fault::Delay(Duration::from_millis(20)));
            let before = emulator.counters().token_requests;
            let barrier = Arc::new(tokio::sync::Barrier::new(n));
            let tasks: Vec<_> = (0..n)
                .map(|_| {
                    let client = client.clone();
                    let barrier = Arc::clone(&barrier);
                    tokio::spawn(async move {
                        barrier.wait().await;
                        let start = Instant::now();
                        client.authorization().await.expect("a refreshed token");
                        start.elapsed()
                    })
                })
                .collect();
            let mut last = Duration::ZERO;
            for task in tasks {
                last = last.max(task.await.expect("the task finished"));
            }
            let requests = emulator.counters().token_requests - before;
            assert_eq!(requests, 1, "{n} waiters caused {requests} token requests");
            last
        })
    };

    let mut group = c.benchmark_group("herd");
    group.sample_size(20);
    let mut rounds = [0_u64; 4];
    for (slot, n) in [1_usize, 10, 100, 1000].into_iter().enumerate() {
        group.bench_with_input(BenchmarkId::new("last_waiter", n), &n, |b, &n| {
            b.iter_custom(|iters| {
                rounds[slot] += iters;
                (0..iters).map(|_| round(n)).sum()
            });
        });
    }
    group.finish();
    let counters = emulator.counters();
    // Every round asserted exactly one token request; this is the run's total for the report.
    println!(
        "HERD\trounds={}\ttoken_requests={}\tpassword_grants={}\trefresh_grants={}",
        rounds.iter().sum::<u64>(),
        counters.token_requests,
        counters.password_grants,
        counters.refresh_grants
    );
    for (n, count) in [1, 10, 100, 1000].iter().zip(rounds) {
        println!("HERD_ROUNDS\t{n}\t{count}\t1");
    }
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = herd
}
criterion_main!(benches);

//! 3. Concurrent readers: `access_token()` on one shared blocking client holding a valid token,
//!    from 1 and from 2 threads; for contrast the same loop through a plain `Mutex<Session>`
//!    and `poll`. One iteration = one call on each thread, so throughput is threads / time.

// The clock ban in clippy.toml guards the sans-IO core; this bench times threads it starts.
#![allow(clippy::disallowed_methods)]

mod common;

use std::hint::black_box;
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keliweb_oauth::blocking::Client;
use keliweb_oauth::client::{Clock, SystemClock};
use keliweb_oauth::sans_io::{Action, Session};

#[global_allocator]
static ALLOCATOR: common::CountingAllocator = common::CountingAllocator;

/// Runs `call` `iters` times on each of `threads` threads started together; the wall time.
fn run_on_threads(threads: usize, iters: u64, call: &(dyn Fn() + Sync)) -> Duration {
    let start = Barrier::new(threads + 1);
    thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    for _ in 0..iters {
                        call();
                    }
                })
            })
            .collect();
        start.wait();
        let began = Instant::now();
        for worker in workers {
            worker.join().expect("a worker finished");
        }
        began.elapsed()
    })
}

fn concurrent(c: &mut Criterion) {
    let canned = common::canned_response(200, common::success_body(3));
    let client = Client::builder(common::keliweb_config(), common::Canned(canned.clone())).build();
    let _ = client.authorization().expect("the canned login succeeds");

    let mut session = Session::new(common::keliweb_config());
    let now = SystemClock.now();
    let Action::Send(login) = session.poll(now) else {
        panic!("expected a login")
    };
    session
        .handle_response(login.id(), now, &canned)
        .expect("the canned login succeeds");
    // Nothing stores here: the one `Store` is passed by.
    assert!(matches!(session.poll(now), Action::Store));
    let locked = Mutex::new(session);

    let lock_free = || {
        drop(black_box(client.authorization()));
    };
    let mutex_poll = || {
        let action = locked.lock().expect("not poisoned").poll(SystemClock.now());
        let Action::UseToken(authorization) = action else {
            panic!("the token is valid")
        };
        drop(black_box(authorization));
    };

    // Calibration: a loop sharing nothing, to show what scaling this machine gives at all.
    let clock_only = || {
        black_box(SystemClock.now());
    };

    let mut group = c.benchmark_group("concurrent");
    for threads in [1, 2] {
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function(format!("clock_only/{threads}_threads"), |b| {
            b.iter_custom(|iters| run_on_threads(threads, iters, &clock_only));
        });
        group.bench_function(format!("access_token/{threads}_threads"), |b| {
            b.iter_custom(|iters| run_on_threads(threads, iters, &lock_free));
        });
        group.bench_function(format!("mutex_session_poll/{threads}_threads"), |b| {
            b.iter_custom(|iters| run_on_threads(threads, iters, &mutex_poll));
        });
    }
    group.finish();

    common::report_allocations("concurrent/access_token/1_threads", 100_000, lock_free);
    common::report_allocations(
        "concurrent/mutex_session_poll/1_threads",
        100_000,
        mutex_poll,
    );
}

criterion_group! {
    name = benches;
    config = common::criterion();
    targets = concurrent
}
criterion_main!(benches);

//! The stores' room: `FileStore`, `MemoryStore` and `RedisStore` under the clients. Custody edges,
//! the store-failure policy, clients of one process sharing a store, and fleets of OS processes
//! sharing one (`fleet` on a file, `fleet_redis` on a real `redis-server`).
//!
//! One test binary, with the one support module of the rooms (`tests/support/`). The fleets are
//! this binary run again as workers: [`fleet_worker`] below.

#[path = "../support/mod.rs"]
mod support;

mod custody_edges;
mod file_store;
mod fleet;
mod fleet_redis;
mod shared_in_process;
mod store_failure;

/// Not a test: the worker process the fleet tests start (`support::fleet::run_worker`), by its
/// exact name, so it stays at the root of the binary.
#[cfg(feature = "ureq")]
#[test]
#[ignore = "a worker process, started by the fleet tests with its settings in the environment"]
fn fleet_worker() {
    support::fleet::run_worker();
}

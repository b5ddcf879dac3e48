//! Several OS processes share one token set through a `FileStore`: one refresh per expiry for
//! the whole fleet, one password login at start, and recovery when the process holding the
//! lease is killed in mid-refresh (`docs/custody.md`).
#![cfg(feature = "ureq")]
#![allow(
    clippy::disallowed_methods,
    reason = "the tests start processes and threads and wait on the real clock; the core does not"
)]

use std::time::Duration;

use crate::support::fleet::{StoreAt, scenarios};

fn file_store() -> (tempfile::TempDir, StoreAt) {
    let directory = tempfile::tempdir().expect("a temporary directory");
    let path = directory.path().join("tokens.json");
    (directory, StoreAt::File(path))
}

/// The kernel releases a dead process's file lock at once.
const RECOVERY: Duration = Duration::ZERO;

#[test]
fn eight_processes_on_one_file_make_one_login_and_one_refresh_per_expiry() {
    let (_directory, store) = file_store();
    scenarios::eight_processes_make_one_login_and_one_refresh_per_expiry(&store);
}

#[test]
fn eight_processes_calling_the_api_with_default_settings_refresh_each_token_once() {
    let (_directory, store) = file_store();
    scenarios::a_fleet_calling_the_api_with_default_settings_refreshes_each_token_once(
        &store,
        "blocking",
        (8, 4),
    );
}

#[cfg(feature = "reqwest")]
#[test]
fn four_async_processes_calling_the_api_with_default_settings_refresh_each_token_once() {
    let (_directory, store) = file_store();
    scenarios::a_fleet_calling_the_api_with_default_settings_refreshes_each_token_once(
        &store,
        "async",
        (4, 16),
    );
}

#[test]
fn a_file_lease_holder_killed_before_the_server_rotated_costs_nothing() {
    let (_directory, store) = file_store();
    scenarios::a_lease_holder_killed_before_the_server_rotated_costs_nothing(&store, RECOVERY, &[]);
}

#[test]
fn a_file_lease_holder_killed_after_the_server_rotated_costs_one_login() {
    let (_directory, store) = file_store();
    scenarios::a_lease_holder_killed_after_the_server_rotated_costs_one_login(
        &store,
        RECOVERY,
        &[],
    );
}

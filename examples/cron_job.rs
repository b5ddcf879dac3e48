//! A cron-style blocking script: each run is a new process that needs a token for one API call.
//! With a `FileStore`, only the first run logs in; later runs read the stored set, and the run
//! that finds it due refreshes it for the others, in the foreground, and every run finishes
//! what it started before it exits. Runs three "cron ticks" against a
//! Keliweb-compatible server on loopback.
//!
//! ```text
//! cargo run --example cron_job --features ureq
//! ```

use std::error::Error;

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::Config;
use keliweb_oauth::blocking::{Client, UreqClient};
use keliweb_oauth::client::FileStore;

/// One run of the job: what a crontab line starts.
fn run_job(
    config: Config,
    store: &std::path::Path,
    api: &str,
) -> Result<http::StatusCode, Box<dyn Error>> {
    // The process ends with this function: a refresh ahead runs in the call that finds it due,
    // not in a background thread the exit would cut off.
    let client = Client::builder(config, UreqClient::default())
        .store(FileStore::new(store))
        .foreground_refresh_ahead()
        .build();
    let response = client.send(http::Request::get(api).body(Vec::new())?)?;
    // Anything still under way (a token request, the saving of its answer) finishes before
    // the exit: with rotation, an unsaved answer leaves a dead refresh token in the store.
    client.shutdown()?;
    Ok(response.status())
}

fn main() -> Result<(), Box<dyn Error>> {
    let server = Emulator::start(EmulatorConfig::default())?;
    let account = EmulatorConfig::default();
    let directory = std::env::temp_dir().join(format!("keliweb-cron-{}", std::process::id()));
    let store = directory.join("tokens.json");
    for tick in 1..=3 {
        let config = Config::builder(
            server.token_url(),
            &account.client_id,
            account.client_secret.as_str(),
        )
        .credentials(&account.username, account.password.as_str())
        .build()?;
        let status = run_job(config, &store, &server.api_url())?;
        let counters = server.counters();
        println!(
            "tick {tick}: GET /api/user -> {status}; the server has seen {} login(s)",
            counters.password_grants
        );
    }
    assert_eq!(
        server.counters().password_grants,
        1,
        "later runs read the store"
    );
    std::fs::remove_dir_all(&directory)?;
    Ok(())
}

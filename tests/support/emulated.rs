//! The configuration of a client for the emulator's documented client and account.

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::Config;

/// A config for `emulator`, with its client and its account's credentials.
pub fn config(emulator: &Emulator) -> Config {
    let defaults = EmulatorConfig::default();
    Config::builder(
        emulator.token_url(),
        defaults.client_id.clone(),
        defaults.client_secret.as_str(),
    )
    .credentials(defaults.username.clone(), defaults.password.as_str())
    .build()
    .expect("a valid config")
}

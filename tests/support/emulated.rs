//! The configuration of a client for the emulator's documented client and account.

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::{Config, ConfigBuilder};

/// A config for `emulator`, with its client and its account's credentials.
pub fn config(emulator: &Emulator) -> Config {
    config_builder(emulator).build().expect("a valid config")
}

/// [`config`], before `build`, for tests that change a setting.
pub fn config_builder(emulator: &Emulator) -> ConfigBuilder {
    let defaults = EmulatorConfig::default();
    Config::builder(
        emulator.token_url(),
        defaults.client_id.clone(),
        defaults.client_secret.as_str(),
    )
    .credentials(defaults.username.clone(), defaults.password.as_str())
}

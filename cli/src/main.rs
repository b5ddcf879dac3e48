//! `keliweb-token`: Keliweb access tokens for shell scripts, cron jobs and curl users.
//!
//! ```sh
//! keliweb-token login                                  # once: asks for the password
//! curl -H "$(keliweb-token header)" https://apiv2.keliweb.it/api/user
//! ```
//!
//! The tokens live in a `FileStore` (mode 0600): `print-access-token` reads the file while the
//! token is usable, and otherwise refreshes under the file's lock, so twenty cron jobs asking
//! at once across an expiry make one refresh. Exit codes: see `--help`.

mod agent;
mod args;
mod commands;
mod failure;
mod lazy_http;
mod settings;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Usage errors exit with 2 from here, with clap's message.
    let cli = args::Cli::parse();
    match commands::run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("keliweb-token: {failure}");
            failure.exit_code()
        }
    }
}

//! The whole token lifecycle over real HTTP, against a Keliweb-compatible server started on
//! loopback: no Keliweb account needed.
//!
//! ```text
//! cargo run --example demo --features ureq
//! ```

// The clock ban in clippy.toml guards the sans-IO core; the demo times its steps.
#![allow(clippy::disallowed_methods)]

use std::error::Error;
use std::sync::{Arc, Mutex};
use std::thread::sleep;
use std::time::{Duration, Instant};

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::blocking::{Client, HttpClient, UreqClient};
use keliweb_oauth::client::{Limits, SystemClock};
use keliweb_oauth::{Config, TokenSet, UnixTime, client::Clock};

fn main() -> Result<(), Box<dyn Error>> {
    let started = Instant::now();
    let step = |title: &str| println!("\n[{:>6.2}s] {title}", started.elapsed().as_secs_f64());

    step("Starting a Keliweb-compatible server on 127.0.0.1 (access tokens live 4 s)");
    let server = Emulator::start(EmulatorConfig {
        access_lifetime: Duration::from_secs(4),
        refresh_lifetime: Duration::from_secs(600),
        ..EmulatorConfig::default()
    })?;
    let defaults = EmulatorConfig::default();
    println!("         token endpoint: {}", server.token_url());

    let config = Config::builder(
        server.token_url(),
        &defaults.client_id,
        defaults.client_secret.as_str(),
    )
    .credentials(&defaults.username, defaults.password.as_str())
    .leeway(Duration::from_secs(1))
    .refresh_token_lifetime(Duration::from_secs(600))
    .revoke_rfc7009(server.revoke_url())
    .build()?;

    // The store sees every new token set before anyone uses it. A real program writes it to
    // disk or a keyring; the demo only counts rotations (and never prints a token).
    let rotations = Arc::new(Mutex::new(RotationLog::default()));
    let store_log = Arc::clone(&rotations);
    let client = Client::builder(config, UreqClient::default())
        .store(move |tokens: Option<&TokenSet>| {
            if let Ok(mut log) = store_log.lock() {
                log.saw(tokens);
            }
        })
        .build();

    step("Logging in with the password grant");
    let token = client.authorization()?;
    println!(
        "         got an access token, usable for {}",
        until(token.usable_until())
    );
    show_store(&rotations);

    step("Calling the protected API (GET /api/user)");
    let response = client.send(http::Request::get(server.api_url()).body(Vec::new())?)?;
    println!(
        "         {} {}",
        response.status(),
        String::from_utf8_lossy(response.body())
    );

    step("Waiting for the access token to reach its expiry minus the 1 s leeway");
    let wait = token
        .usable_until()
        .saturating_duration_since(SystemClock.now());
    drop(token);
    sleep(wait);
    let token = client.authorization()?;
    println!(
        "         refreshed: a new access token, usable for {}",
        until(token.usable_until())
    );
    show_store(&rotations);
    drop(token);

    step("Server clock jumps 5 s ahead: the server now refuses our token (401)");
    server.advance_clock(Duration::from_secs(5));
    let response = client.send(http::Request::get(server.api_url()).body(Vec::new())?)?;
    println!(
        "         the client refreshed once and retried: {} {}",
        response.status(),
        String::from_utf8_lossy(response.body())
    );
    show_store(&rotations);

    step("Revoking (RFC 7009) and proving the old token is refused");
    let mut stale = http::Request::get(server.api_url()).body(Vec::new())?;
    client.authorize(&mut stale)?;
    client.revoke()?;
    show_store(&rotations);
    let refused = UreqClient::default().execute(stale, Limits::default().api_request())?;
    println!(
        "         the revoked token now gets: {} {}",
        refused.status(),
        String::from_utf8_lossy(refused.body())
    );
    let after = client
        .authorization()
        .err()
        .map(|error| error.to_string())
        .unwrap_or_default();
    println!("         and the client asks for a new login: {after}");

    let counters = server.counters();
    step("What the server saw");
    println!(
        "         password grants {}, refresh grants {}, revocations {}, API calls {} ({} refused)",
        counters.password_grants,
        counters.refresh_grants,
        counters.rfc7009_revocations,
        counters.api_calls,
        counters.api_unauthorized
    );
    Ok(())
}

fn show_store(rotations: &Mutex<RotationLog>) {
    let last = rotations.lock().map(|log| log.last.clone());
    println!("         store: {}", last.unwrap_or_default());
}

fn until(instant: UnixTime) -> String {
    format!(
        "{:.1} s",
        instant
            .saturating_duration_since(SystemClock.now())
            .as_secs_f64()
    )
}

/// Tells rotations apart without printing a token: it compares them and keeps only a count.
#[derive(Default)]
struct RotationLog {
    previous_refresh: Option<String>,
    versions: u32,
    last: String,
}

impl RotationLog {
    fn saw(&mut self, tokens: Option<&TokenSet>) {
        let Some(tokens) = tokens else {
            self.previous_refresh = None;
            self.last = "token set deleted (logged out)".to_owned();
            return;
        };
        let refresh = tokens
            .refresh_token()
            .map(|token| token.expose_secret().to_owned());
        let change = match (&self.previous_refresh, &refresh) {
            (None, _) => "new",
            (previous, current) if previous != current => "rotated",
            _ => "unchanged",
        };
        if change != "unchanged" {
            self.versions += 1;
        }
        self.last = format!(
            "saved token set #{} (refresh token {change}), before the new access token was used",
            self.versions
        );
        self.previous_refresh = refresh;
    }
}

//! A reqwest-middleware chain authorized by the async client: the middleware puts the token on
//! every request and retries a `401` once with a new token. Against a Keliweb-compatible server
//! on loopback.
//!
//! ```text
//! cargo run --example middleware_chain --features reqwest-middleware
//! ```

use std::error::Error;

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::Config;
use keliweb_oauth::nonblocking::{AuthMiddleware, Client, ReqwestClient};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let server = Emulator::start(EmulatorConfig::default())?;
    let account = EmulatorConfig::default();
    let config = Config::builder(
        server.token_url(),
        &account.client_id,
        account.client_secret.as_str(),
    )
    .credentials(&account.username, account.password.as_str())
    .build()?;
    let tokens = Client::new(config, ReqwestClient::default());
    let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(AuthMiddleware::new(tokens))
        .build();

    let user = http.get(server.api_url()).send().await?;
    println!("GET /api/user -> {}: {}", user.status(), user.text().await?);
    server.revoke_all_tokens();
    let again = http.get(server.api_url()).send().await?;
    println!("after the server dropped the token -> {}", again.status());
    let counters = server.counters();
    println!(
        "the server saw {} logins and {} refused call(s)",
        counters.password_grants, counters.api_unauthorized
    );
    Ok(())
}

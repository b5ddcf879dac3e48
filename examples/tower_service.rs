//! An async service whose outgoing HTTP client is a tower stack: hyper-util's client under
//! `AuthLayer`, so every request carries the token and a `401` is retried once with a new one.
//! Against a Keliweb-compatible server on loopback.
//!
//! ```text
//! cargo run --example tower_service --features tower,reqwest
//! ```

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::Config;
use keliweb_oauth::nonblocking::{AuthLayer, BoxError, Client, ReqwestClient};
use tower_layer::Layer;
use tower_service::Service;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
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
    let hyper = HyperClient::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut api = AuthLayer::new(tokens).layer(hyper);

    for round in 1..=2 {
        std::future::poll_fn(|cx| api.poll_ready(cx)).await?;
        let request = http::Request::get(server.api_url()).body(Full::default())?;
        let response = api.call(request).await?;
        println!("round {round}: GET /api/user -> {}", response.status());
        // Between the rounds the server drops every token: the layer replaces it.
        server.revoke_all_tokens();
    }
    let counters = server.counters();
    println!(
        "the server saw {} API calls ({} refused) and {} logins",
        counters.api_calls, counters.api_unauthorized, counters.password_grants
    );
    Ok(())
}

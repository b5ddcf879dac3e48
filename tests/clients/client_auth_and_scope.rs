//! Client authentication with HTTP Basic (`client_secret_basic`, RFC 6749 section 2.3.1) beside
//! the default form fields, and scopes, against the emulator, which accepts both ways and echoes a
//! scope asked for. What the sans-IO core does with them is in the core room's
//! `client_auth_and_scope.rs`.
#![cfg(feature = "ureq")]

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::blocking::{Client, UreqClient};
use keliweb_oauth::{Config, ConfigBuilder, TokenSet, config::ClientAuthentication};

/// An emulator whose client id and secret need form-encoding.
fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig {
        client_id: "client id+1".to_owned(),
        client_secret: "s3cr:t+/é%".to_owned(),
        ..EmulatorConfig::default()
    })
    .expect("the emulator starts")
}

fn builder(emulator: &Emulator) -> ConfigBuilder {
    let config = emulator.config();
    Config::builder(
        emulator.token_url(),
        config.client_id.clone(),
        config.client_secret.as_str(),
    )
    .credentials(config.username.clone(), config.password.as_str())
    .revoke_rfc7009(emulator.revoke_url())
}

#[test]
fn http_basic_authenticates_every_grant_and_revocation() {
    let emulator = emulator();
    let config = builder(&emulator)
        .client_secret_basic()
        .build()
        .expect("valid");
    assert_eq!(
        config.client_authentication(),
        ClientAuthentication::HttpBasic
    );
    let client = Client::new(config, UreqClient::default());
    client.authorization().expect("a login");
    client.force_refresh().expect("a refresh");
    client.revoke().expect("a revocation");
    let counters = emulator.counters();
    assert_eq!((counters.password_grants, counters.refresh_grants), (1, 1));
    assert_eq!(counters.rfc7009_revocations, 2);
    assert_eq!(
        counters.basic_client_auth, 4,
        "two grants and two revocations"
    );
}

#[test]
fn form_fields_are_the_default() {
    let emulator = emulator();
    let client = Client::new(
        builder(&emulator).build().expect("valid"),
        UreqClient::default(),
    );
    client.authorization().expect("a login");
    assert_eq!(emulator.counters().basic_client_auth, 0);
}

#[test]
fn scopes_go_on_both_grants_and_the_granted_one_is_kept() {
    let emulator = emulator();
    let config = builder(&emulator)
        .scope("read")
        .scope("write invoices")
        .build()
        .expect("valid");
    assert_eq!(config.scope(), Some("read write invoices"));
    let client = Client::new(config, UreqClient::default());
    client.authorization().expect("a login");
    let granted = client.tokens().expect("a set");
    assert_eq!(granted.scope(), Some("read write invoices"));
    client.force_refresh().expect("a refresh");
    assert_eq!(
        client
            .tokens()
            .and_then(|set| set.scope().map(str::to_owned))
            .as_deref(),
        Some("read write invoices")
    );
    // The stored form keeps it.
    let stored: TokenSet =
        serde_json::from_str(&serde_json::to_string(&granted).expect("serializes"))
            .expect("reads back");
    assert_eq!(stored.scope(), Some("read write invoices"));
}

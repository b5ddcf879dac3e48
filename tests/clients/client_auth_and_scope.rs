//! Client authentication with HTTP Basic (`client_secret_basic`, RFC 6749 section 2.3.1) beside
//! the default form fields, and scopes: asked for on both grants, the granted one kept in the
//! set. Against the emulator, which accepts both ways and echoes a scope asked for.
#![cfg(feature = "ureq")]

use base64::Engine;
use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::blocking::{Client, UreqClient};
use keliweb_oauth::{
    Config, ConfigBuilder, TokenSet,
    config::{ClientAuthentication, ConfigError},
    sans_io::{Action, RequestKind, Session},
};

use crate::support::{T0, form, poll, reply, token_body};

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
fn http_basic_leaves_the_body_without_client_fields_and_form_encodes_the_header() {
    let config = Config::keliweb("client id+1", "s3cr:t+/é%")
        .credentials("me@example.com", "pw")
        .client_secret_basic()
        .build()
        .expect("valid");
    let mut session = Session::new(config);
    let Action::Send(login) = poll(&mut session, T0) else {
        panic!("expected a login")
    };
    let fields = form(&login);
    assert!(!fields.contains_key("client_id") && !fields.contains_key("client_secret"));
    assert_eq!(fields["grant_type"], "password");
    let header = &login.request().headers()["authorization"];
    assert!(header.is_sensitive(), "kept out of logs that honour it");
    let encoded = header
        .to_str()
        .expect("ASCII")
        .strip_prefix("Basic ")
        .expect("Basic");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    assert_eq!(decoded, b"client+id%2B1:s3cr%3At%2B%2F%C3%A9%25");
    assert!(
        !format!("{login:?}").contains("s3cr"),
        "Debug hides the secret"
    );
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

/// A session asking for `scope`, its login checked to carry it and answered with `answer`.
fn logged_in_with_scope(scope: &str, answer: &str) -> Session {
    let config = Config::keliweb("client", "secret")
        .credentials("me@example.com", "pw")
        .scope(scope)
        .build()
        .expect("valid");
    let mut session = Session::new(config);
    let Action::Send(login) = poll(&mut session, T0) else {
        panic!("expected a login")
    };
    assert_eq!(form(&login)["scope"], scope);
    session
        .handle_response(login.id(), T0, &reply(200, answer))
        .expect("accepted");
    session
}

#[test]
fn a_refresh_answer_without_a_scope_keeps_the_granted_one() {
    let granted = r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ.a.b","refresh_token":"def50200aa","scope":"read"}"#;
    let mut session = logged_in_with_scope("read", granted);
    assert_eq!(session.tokens().and_then(TokenSet::scope), Some("read"));

    session.force_refresh();
    let Action::Send(refresh) = poll(&mut session, T0) else {
        panic!("expected a refresh")
    };
    assert_eq!(refresh.kind(), RequestKind::RefreshGrant);
    assert_eq!(form(&refresh)["scope"], "read");
    let without = reply(200, token_body("eyJ.c.d", 3600, Some("def50200bb")));
    session
        .handle_response(refresh.id(), T0, &without)
        .expect("accepted");
    assert_eq!(session.tokens().and_then(TokenSet::scope), Some("read"));
}

#[test]
fn a_scope_rfc_6749_does_not_allow_is_refused() {
    for bad in ["", "  ", "a\"b", "back\\slash", "città"] {
        let error = Config::keliweb("client", "secret")
            .scope(bad)
            .build()
            .expect_err("refused");
        assert!(
            matches!(error, ConfigError::InvalidScope(_)),
            "{bad:?}: {error}"
        );
    }
}

#[test]
fn a_scope_that_is_not_one_string_is_ignored_not_refused() {
    for body in [
        r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ.a.b","refresh_token":"def50200aa","scope":["read"]}"#,
        r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ.a.b","refresh_token":"def50200aa","scope":7}"#,
        r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ.a.b","refresh_token":"def50200aa","scope":"read","scope":"write"}"#,
    ] {
        let mut session = Session::new(
            Config::keliweb("client", "secret")
                .credentials("me@example.com", "pw")
                .build()
                .expect("valid"),
        );
        let Action::Send(login) = poll(&mut session, T0) else {
            panic!("expected a login")
        };
        session
            .handle_response(login.id(), T0, &reply(200, body))
            .unwrap_or_else(|error| panic!("{body}: {error}"));
        assert_eq!(session.tokens().and_then(TokenSet::scope), None, "{body}");
    }
}

#[test]
fn a_refresh_asks_for_the_scope_granted_not_a_broader_one() {
    let narrowed = r#"{"token_type":"Bearer","expires_in":3600,"access_token":"eyJ.a.b","refresh_token":"def50200aa","scope":"read"}"#;
    let mut session = logged_in_with_scope("read write", narrowed);
    session.force_refresh();
    let Action::Send(refresh) = poll(&mut session, T0) else {
        panic!("expected a refresh")
    };
    assert_eq!(form(&refresh)["scope"], "read");
}

#[test]
fn an_echoed_basic_credential_is_scrubbed_from_the_error() {
    let config = Config::keliweb("client id+1", "s3cr:t+/é%")
        .credentials("me@example.com", "pw")
        .client_secret_basic()
        .build()
        .expect("valid");
    let mut session = Session::new(config);
    let Action::Send(login) = poll(&mut session, T0) else {
        panic!("expected a login")
    };
    let header = login.request().headers()["authorization"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let credential = header.strip_prefix("Basic ").expect("Basic").to_owned();
    let echo = format!("<html><body>Bad request. You sent: Authorization: {header}</body></html>");
    let error = session
        .handle_response(login.id(), T0, &reply(400, echo))
        .expect_err("refused");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains(&credential), "{shown}");
}

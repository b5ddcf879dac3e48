//! With feature `tracing`, the clients tell what they do (token requests sent, answers, the
//! fallback to the password, pauses, store failures) in events that hold no secret: every event
//! at TRACE level is captured while secrets with special characters go through every path.
#![cfg(all(feature = "ureq", feature = "tracing"))]
#![allow(
    clippy::disallowed_methods,
    reason = "the test waits on the real clock; the core does not"
)]

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use keliweb_emulator::{Emulator, EmulatorConfig, Fault, Route};
use keliweb_oauth::blocking::{Client, UreqClient};
use keliweb_oauth::client::FileStore;
use keliweb_oauth::{Config, ErrorKind};

/// Every event, formatted, appended here.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

/// The forms a secret could take in a log line: as is, form-encoded, JSON-escaped.
fn forms(secret: &str) -> Vec<String> {
    vec![
        secret.to_owned(),
        form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        serde_json::to_string(secret).expect("a string")[1..]
            .trim_end_matches('"')
            .to_owned(),
    ]
}

#[test]
fn every_event_at_trace_level_names_what_happened_and_no_secret() {
    let _one = crate::one_at_a_time();
    let captured = Captured::default();
    let writer = captured.clone();
    tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish(),
    )
    .expect("the only subscriber");

    let emulator = Emulator::start(EmulatorConfig {
        client_secret: "s3cr\"t<&>%+ x".to_owned(),
        password: "p@ss w0rd\"&=\\".to_owned(),
        ..EmulatorConfig::default()
    })
    .expect("the emulator");
    let settings = emulator.config().clone();
    let directory = tempfile::tempdir().expect("a directory");
    let path = directory.path().join("tokens.json");
    let config = Config::builder(
        emulator.token_url(),
        settings.client_id.clone(),
        settings.client_secret.as_str(),
    )
    .credentials(settings.username.clone(), settings.password.as_str())
    .min_retry_delay(Duration::from_millis(20))
    .build()
    .expect("valid");
    let client = Client::builder(config, UreqClient::default())
        .store(FileStore::new(&path))
        .build();
    let mut issued = Vec::new();
    let mut keep = |client: &Client<UreqClient>| {
        if let Some(set) = client.tokens() {
            issued.push(set.access_token().expose_secret().to_owned());
            issued.extend(set.refresh_token().map(|t| t.expose_secret().to_owned()));
        }
    };

    client.authorization().expect("a login");
    keep(&client);
    client.force_refresh().expect("a refresh");
    keep(&client);
    emulator.inject(Route::Token, Fault::Status(503));
    assert_eq!(
        client.force_refresh().map(drop).map_err(|e| e.kind()),
        Err(ErrorKind::ServerError)
    );
    std::thread::sleep(Duration::from_millis(40));
    emulator.revoke_all_tokens();
    client
        .force_refresh()
        .expect("a login after the dead refresh token");
    keep(&client);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_eq!(
        client.force_refresh().map(drop).map_err(|e| e.kind()),
        Err(ErrorKind::Store)
    );

    let log = captured.text();
    for expected in [
        "token_request",
        "token request sent, under the store's lease",
        "token answer: new tokens",
        "token answer: the server failed",
        "token requests paused",
        "the refresh token is dead: logging in with the password",
        "token store failed, the request is not sent",
        "PasswordGrant",
        "RefreshGrant",
    ] {
        assert!(log.contains(expected), "no {expected:?} in:\n{log}");
    }
    let mut secrets = vec![settings.password.clone(), settings.client_secret.clone()];
    secrets.extend(issued);
    for secret in secrets {
        for form in forms(&secret) {
            assert!(!log.contains(&form), "a secret ({form}) in:\n{log}");
        }
    }
}

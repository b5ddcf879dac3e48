//! What SECURITY.md's "Logging" section says of the locked HTTP libraries, checked with a `log`
//! logger capturing everything during a login and an API call against the emulator on
//! 127.0.0.1: the crate logs nothing itself; at `DEBUG` and below no record holds a secret; at
//! `TRACE`, ureq's protocol dump (`ureq_proto::util`) holds the Bearer header and the issued
//! tokens but not the login form; reqwest, as `ReqwestClient` builds it, logs no secret at any
//! level, and with `connection_verbose(true)` logs every one of them.
#![cfg(any(feature = "ureq", feature = "reqwest"))]

use std::sync::{Mutex, MutexGuard, PoisonError};

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::{Config, TokenSet};
use log::{Level, LevelFilter, Log, Metadata, Record};

/// A record: level, target, message.
type Entry = (Level, String, String);

/// Every record logged.
struct Capture(Mutex<Vec<Entry>>);

impl Log for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let entry = (
            record.level(),
            record.target().to_owned(),
            record.args().to_string(),
        );
        lock(&self.0).push(entry);
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Installs the capturing logger at `TRACE` (once) and empties it; hold the guard while logging.
fn capture() -> MutexGuard<'static, ()> {
    // The logger is global: one test at a time.
    let serial = crate::one_at_a_time();
    // Only the first call installs it; later ones find it there.
    let _ = log::set_logger(&CAPTURE);
    log::set_max_level(LevelFilter::Trace);
    lock(&CAPTURE.0).clear();
    serial
}

/// Everything logged while `session` logs in and makes one API call with a client on the
/// config it is given (the second argument is the API URL) and returns the client's tokens;
/// checked for the crate's own records. Returns the records, the secrets (password, client
/// secret, tokens) and the tokens.
fn logged_during(
    session: impl FnOnce(Config, String) -> TokenSet,
) -> (Vec<Entry>, Vec<String>, TokenSet) {
    let _serial = capture();
    let emulator = Emulator::start(EmulatorConfig::default()).expect("the emulator starts");
    let account = emulator.config();
    let config = Config::builder(
        emulator.token_url(),
        account.client_id.as_str(),
        account.client_secret.as_str(),
    )
    .credentials(account.username.as_str(), account.password.as_str())
    .build()
    .expect("a valid config");
    let tokens = session(config, emulator.api_url());
    let records = lock(&CAPTURE.0).clone();
    assert!(
        records
            .iter()
            .all(|(_, target, _)| !target.starts_with("keliweb_oauth")),
        "the crate logged"
    );
    let mut secrets = vec![
        account.password.clone(),
        account.client_secret.clone(),
        tokens.access_token().expose_secret().to_owned(),
    ];
    secrets.extend(
        tokens
            .refresh_token()
            .map(|token| token.expose_secret().to_owned()),
    );
    (records, secrets, tokens)
}

fn get(url: &str) -> http::Request<Vec<u8>> {
    http::Request::get(url)
        .body(Vec::new())
        .expect("a valid request")
}

/// Asserts no record at `max` or less verbose quotes any of `secrets`.
fn assert_no_secret_up_to(max: Level, records: &[Entry], secrets: &[String]) {
    for (level, target, message) in records.iter().filter(|(level, ..)| *level <= max) {
        for secret in secrets {
            assert!(
                !message.contains(secret.as_str()),
                "{level} {target} quotes a secret"
            );
        }
    }
}

#[cfg(feature = "ureq")]
#[test]
fn ureq_logs_secrets_only_in_its_trace_wire_dump() {
    use keliweb_oauth::blocking::{Client, UreqClient};

    let (records, secrets, tokens) = logged_during(|config, api_url| {
        let client = Client::new(config, UreqClient::default());
        client.authorization().expect("a login");
        client.send(get(&api_url)).expect("an API call");
        client.tokens().expect("tokens after login")
    });

    assert!(
        records
            .iter()
            .any(|(level, target, _)| *level == Level::Debug && target == "ureq::run"),
        "ureq logged no request at DEBUG: the check below would prove nothing"
    );
    assert_no_secret_up_to(Level::Debug, &records, &secrets);

    // Each dump row ends with the text of its 16 bytes (spaces and control bytes as '.').
    let wire: String = records
        .iter()
        .filter(|(level, target, _)| *level == Level::Trace && target == "ureq_proto::util")
        .map(|(.., row)| &row[row.len().saturating_sub(16)..])
        .collect();
    let access = tokens.access_token();
    let access = access.expose_secret();
    assert!(wire.contains(&format!("authorization:.Bearer.{access}")));
    assert!(wire.contains(access), "the issued access token");
    let refresh = tokens.refresh_token().expect("a refresh token");
    assert!(
        wire.contains(refresh.expose_secret()),
        "the issued refresh token"
    );
    // A body of known length is written around the dump: the login form is not in it.
    assert!(wire.contains("POST./oauth/token") && !wire.contains("grant_type"));
}

/// What is logged while a client over `http` logs in and makes one API call.
#[cfg(feature = "reqwest")]
fn logged_with_reqwest(
    http: keliweb_oauth::nonblocking::ReqwestClient,
) -> (Vec<Entry>, Vec<String>, TokenSet) {
    logged_during(|config, api_url| {
        let client = keliweb_oauth::nonblocking::Client::new(config, http);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a one-thread runtime");
        runtime.block_on(async {
            client.authorization().await.expect("a login");
            client.send(get(&api_url)).await.expect("an API call");
        });
        client.tokens().expect("tokens after login")
    })
}

#[cfg(feature = "reqwest")]
#[test]
fn reqwest_as_built_by_reqwest_client_logs_no_secret() {
    let (records, secrets, _) = logged_with_reqwest(Default::default());
    assert!(
        records
            .iter()
            .any(|(_, target, _)| target.starts_with("reqwest")),
        "reqwest logged nothing: the check below would prove nothing"
    );
    assert_no_secret_up_to(Level::Trace, &records, &secrets);
}

#[cfg(feature = "reqwest")]
#[test]
fn reqwest_connection_verbose_logs_the_wire_with_its_secrets() {
    use keliweb_oauth::nonblocking::ReqwestClient;

    let verbose = ReqwestClient::with_builder(|builder| builder.connection_verbose(true));
    let (records, secrets, tokens) = logged_with_reqwest(verbose);
    let wire: Vec<&str> = records
        .iter()
        .filter(|(level, target, _)| {
            *level == Level::Trace && target == "reqwest::connect::verbose"
        })
        .map(|(.., message)| message.as_str())
        .collect();
    let access = tokens.access_token();
    let bearer = format!("Bearer {}", access.expose_secret());
    assert!(
        wire.iter().any(|message| message.contains(&bearer)),
        "the Bearer header"
    );
    for secret in &secrets {
        assert!(wire.iter().any(|message| message.contains(secret.as_str())));
    }
}

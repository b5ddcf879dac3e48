//! The bare sans-IO loop, as a program with its own HTTP client writes it: no transport feature,
//! just `Session` and a plain ureq agent, against a Keliweb-compatible server started on
//! loopback. It logs in, calls the API, refreshes ahead of expiry (sleeping until
//! `poll_timeout`), and meets tokens the server has revoked (a refused refresh, then a `401`
//! from the API), storing the token set every time it moves, that error included.
//!
//! ```text
//! cargo run --example sans_io
//! ```
//!
//! The README quotes `authorize` (between the `README:` markers) verbatim;
//! `tests/docs/readme_quotes_examples.rs` keeps the two equal.

// The clock ban in clippy.toml guards the sans-IO core; a program using it reads the clock.
#![allow(clippy::disallowed_methods)]

use std::error::Error;
use std::thread::sleep;
use std::time::{Duration, SystemTime};

use keliweb_emulator::{Emulator, EmulatorConfig};
use keliweb_oauth::{
    Config, Credentials, TokenSet, UnixTime,
    config::PasswordRetention,
    error::{TransportError, TransportErrorKind},
    sans_io::{Action, Session, TokenId},
};

/// Token responses are small; a bigger body is not one.
const MAX_TOKEN_BODY: u64 = 64 * 1024;

fn main() -> Result<(), Box<dyn Error>> {
    // Access tokens live 2 s and stop being handed out 1.5 s early; the refresh ahead of that
    // is due half way, after 0.25 s.
    let server = Emulator::start(EmulatorConfig {
        access_lifetime: Duration::from_secs(2),
        ..EmulatorConfig::default()
    })?;
    let account = EmulatorConfig::default();
    let config = Config::builder(
        server.token_url(),
        &account.client_id,
        account.client_secret.as_str(),
    )
    .credentials(&account.username, account.password.as_str())
    // This program asks for the password again rather than keep it in memory.
    .password_retention(PasswordRetention::ForgetAfterLogin)
    .leeway(Duration::from_millis(1500))
    .build()?;
    let agent = agent();
    let mut store = Store::default();
    let mut session = Session::new(config);

    println!("server on {}", server.base_url());
    call_api(&mut session, &agent, &mut store, &server)?;

    wait_for_refresh(&session);
    call_api(&mut session, &agent, &mut store, &server)?;

    println!("server revokes every token (say, the password was changed elsewhere)");
    server.revoke_all_tokens();
    wait_for_refresh(&session);
    let Err(error) = call_api(&mut session, &agent, &mut store, &server) else {
        return Err("the revoked refresh token went unnoticed".into());
    };
    println!("{error}");
    // The error moved the set (the dead refresh token was dropped), and the loop stored it.
    let stored_refresh = store
        .saved
        .as_deref()
        .is_some_and(|json| json.contains("refresh_token"));
    expect(
        !stored_refresh,
        "the dead refresh token is gone from the store",
    )?;

    println!("asking for the password again");
    session.login(Credentials::new(
        &account.username,
        account.password.as_str(),
    ));
    call_api(&mut session, &agent, &mut store, &server)?;

    let seen = server.counters();
    println!(
        "server saw {} password grants, {} refresh grants, {} API calls; the set was stored {} times",
        seen.password_grants, seen.refresh_grants, seen.api_calls, store.saves
    );
    let counts = (seen.password_grants, seen.refresh_grants, seen.api_calls);
    expect(
        counts == (2, 1, 4),
        "two logins, one refresh, four API calls (one refused with the revoked token)",
    )?;
    expect(store.saves == 4, "the set stored at each of its four moves")
}

/// CI runs this example: it fails when the loop did not do what it printed.
fn expect(holds: bool, what: &str) -> Result<(), Box<dyn Error>> {
    if holds {
        Ok(())
    } else {
        Err(format!("expected: {what}").into())
    }
}

/// `GET /api/user`, authorized by the loop. A `401` is reported to the session and the call
/// retried once, if the session has another token to offer.
fn call_api(
    session: &mut Session,
    agent: &ureq::Agent,
    store: &mut Store,
    server: &Emulator,
) -> Result<(), Box<dyn Error>> {
    let mut retried = false;
    loop {
        let mut request = http::Request::get(server.api_url()).body(Vec::new())?;
        let token = authorize(session, agent, store, &mut request)?;
        let response = send(agent, request)?;
        println!(
            "GET /api/user: {} {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        );
        if response.status() != http::StatusCode::UNAUTHORIZED || retried {
            return Ok(());
        }
        session.handle_unauthorized(token, now());
        retried = true;
    }
}

fn now() -> UnixTime {
    UnixTime::from_system_time(SystemTime::now())
}

// README: begin
/// Puts a valid access token on `request`, logging in or refreshing first when needed.
fn authorize(
    session: &mut Session,
    agent: &ureq::Agent,
    store: &mut Store,
    request: &mut http::Request<Vec<u8>>,
) -> Result<TokenId, Box<dyn Error>> {
    loop {
        let now = UnixTime::from_system_time(SystemTime::now());
        match session.poll(now) {
            // The set moved (new tokens, a dead refresh token dropped): store it before use.
            Action::Store => store.save(session.tokens())?,
            Action::UseToken(authorization) => return Ok(authorization.apply(now, request)?),
            Action::Send(outgoing) => {
                println!("sending a {:?}", outgoing.kind());
                let (id, token_request) = outgoing.into_parts();
                // `send`: no redirects followed, 4xx/5xx returned as responses.
                let outcome = match send(agent, token_request) {
                    Ok(response) => session.handle_response(id, now, &response),
                    Err(error) => Err(session.handle_transport_error(id, now, error)),
                };
                // How it went; what to do about it is the next poll's answer.
                if let Err(error) = outcome {
                    println!("{error}");
                }
            }
            // Each request sent above is answered before the next poll, so one in flight was
            // handed to someone else: this loop must be the session's only caller.
            Action::Wait(id) => return Err(format!("{id} is in flight elsewhere").into()),
            // Log in again, fix the configuration, or wait out a rate limit or server failure.
            Action::Stop(error) => return Err(error.into()),
        }
    }
}
// README: end

/// Stands in for a file or a keyring: the serialized set.
#[derive(Default)]
struct Store {
    saved: Option<String>,
    saves: u32,
}

impl Store {
    fn save(&mut self, tokens: Option<&TokenSet>) -> serde_json::Result<()> {
        self.saved = tokens.map(serde_json::to_string).transpose()?;
        self.saves += 1;
        Ok(())
    }
}

/// Sleeps until the session next needs a poll with no input in between: here, the refresh
/// ahead of the token's expiry.
fn wait_for_refresh(session: &Session) {
    let now = now();
    if let Some(due) = session.poll_timeout(now) {
        let wait = due.saturating_duration_since(now);
        println!("waiting {} ms for the refresh", wait.as_millis());
        sleep(wait);
    }
}

/// A ureq agent the way the session needs it: redirects are not followed (the token request
/// carries the client secret and the password) and 4xx/5xx come back as responses (the OAuth
/// error is in their body).
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// Sends `request`, reading at most `MAX_TOKEN_BODY` bytes of the answer.
fn send(
    agent: &ureq::Agent,
    request: http::Request<Vec<u8>>,
) -> Result<http::Response<Vec<u8>>, TransportError> {
    let failed = |error: ureq::Error| {
        let kind = match &error {
            ureq::Error::Timeout(_) => TransportErrorKind::Timeout,
            ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => {
                TransportErrorKind::Connect
            }
            ureq::Error::BodyExceedsLimit(_) => TransportErrorKind::BodyTooLarge,
            _ => TransportErrorKind::Io,
        };
        TransportError::new(kind, error.to_string())
    };
    let (parts, mut body) = agent.run(request).map_err(failed)?.into_parts();
    let bytes = body
        .with_config()
        .limit(MAX_TOKEN_BODY)
        .read_to_vec()
        .map_err(failed)?;
    Ok(http::Response::from_parts(parts, bytes))
}

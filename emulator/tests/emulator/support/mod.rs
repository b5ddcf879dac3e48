//! The support module of the emulator's tests: a ureq agent that reports every status, form
//! posts, Bearer calls and raw HTTP over a `TcpStream`.
#![allow(dead_code, reason = "not every module uses every helper")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use keliweb_emulator::{Emulator, EmulatorConfig};
use serde_json::Value;

/// What a client saw.
#[derive(Debug)]
pub struct Seen {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An agent that returns 4xx/5xx as responses and never follows redirects.
pub fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(10)))
        .build();
    ureq::Agent::new_with_config(config)
}

fn finish(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<Seen, ureq::Error> {
    let mut response = result?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.body_mut().read_to_string()?;
    Ok(Seen {
        status,
        headers,
        body,
    })
}

/// POSTs a form the way Keliweb's docs do.
pub fn try_post_form(url: &str, fields: &[(&str, &str)]) -> Result<Seen, ureq::Error> {
    finish(
        agent()
            .post(url)
            .header("Accept", "application/json")
            .header("X-Requested-With", "XMLHttpRequest")
            .send_form(fields.iter().copied()),
    )
}

pub fn post_form(url: &str, fields: &[(&str, &str)]) -> Seen {
    try_post_form(url, fields).expect("transport error")
}

pub fn try_get_bearer(url: &str, token: &str) -> Result<Seen, ureq::Error> {
    finish(
        agent()
            .get(url)
            .header("Accept", "application/json")
            .header("Authorization", &format!("Bearer {token}"))
            .call(),
    )
}

pub fn get_bearer(url: &str, token: &str) -> Seen {
    try_get_bearer(url, token).expect("transport error")
}

pub fn post_bearer(url: &str, token: &str) -> Seen {
    finish(
        agent()
            .post(url)
            .header("Accept", "application/json")
            .header("Authorization", &format!("Bearer {token}"))
            .send_empty(),
    )
    .expect("transport error")
}

pub fn password_fields(config: &EmulatorConfig) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "password".to_owned()),
        ("client_id", config.client_id.clone()),
        ("client_secret", config.client_secret.clone()),
        ("username", config.username.clone()),
        ("password", config.password.clone()),
    ]
}

fn borrow<'a>(fields: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// A password grant with the emulator's own credentials.
pub fn try_login(emu: &Emulator) -> Result<Seen, ureq::Error> {
    try_post_form(&emu.token_url(), &borrow(&password_fields(emu.config())))
}

pub fn login_raw(emu: &Emulator) -> Seen {
    try_login(emu).expect("transport error")
}

/// A refresh grant.
pub fn try_refresh(emu: &Emulator, refresh_token: &str) -> Result<Seen, ureq::Error> {
    let config = emu.config();
    try_post_form(
        &emu.token_url(),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &config.client_id),
            ("client_secret", &config.client_secret),
            ("refresh_token", refresh_token),
        ],
    )
}

pub fn refresh_raw(emu: &Emulator, refresh_token: &str) -> Seen {
    try_refresh(emu, refresh_token).expect("transport error")
}

/// An issued pair.
#[derive(Clone, Debug)]
pub struct Pair {
    pub access: String,
    pub refresh: String,
}

pub fn pair_of(seen: &Seen) -> Pair {
    assert_eq!(seen.status, 200, "{}", seen.body);
    let json = seen.json();
    Pair {
        access: json["access_token"].as_str().unwrap().to_owned(),
        refresh: json["refresh_token"].as_str().unwrap().to_owned(),
    }
}

pub fn login(emu: &Emulator) -> Pair {
    pair_of(&login_raw(emu))
}

pub fn refresh(emu: &Emulator, refresh_token: &str) -> Pair {
    pair_of(&refresh_raw(emu, refresh_token))
}

/// Sends `request` as is and reads until the server closes (or fails) the connection.
/// Returns what arrived and the read error, if any.
pub fn raw_exchange(addr: SocketAddr, request: &str) -> (Vec<u8>, Option<std::io::Error>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (received, None),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) => return (received, Some(e)),
        }
    }
}

/// A raw password-grant request with `Connection: close`.
pub fn raw_login_request(emu: &Emulator) -> String {
    let c = emu.config();
    let body = format!(
        "grant_type=password&client_id={}&client_secret={}&username={}&password={}",
        c.client_id,
        c.client_secret,
        c.username.replace('@', "%40"),
        c.password
    );
    format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        emu.addr(),
        body.len()
    )
}

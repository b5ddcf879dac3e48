//! A simulated Passport: the token endpoint (password grant, refresh grant with rotation) and
//! the API's check of an access token, answering with the bodies and statuses
//! `docs/passport.md` describes.
//!
//! A rotation revokes the old access token and the old refresh token (after the grace, when
//! the schedule has one) and issues a new pair. The server's clock is virtual time itself.

use http::Response;

use crate::rng::Rng;
use crate::schedule::{PassportVersion, Schedule};

/// A token pair the server issued; its number names both tokens.
#[derive(Clone, Debug)]
pub struct Pair {
    /// The job (the ledger's number) whose request obtained it.
    pub job: usize,
    pub issued_at: u64,
    pub expires_at: u64,
    /// From when the API refuses the access token (rotation plus grace).
    pub revoked_at: Option<u64>,
    /// The first rotation of its refresh token, and the pair it gave.
    pub rotated: Option<(u64, usize)>,
    /// From when its refresh token is refused (the first rotation plus grace).
    pub refresh_dead_at: Option<u64>,
    /// The jobs that presented its refresh token to the server, in the server's order, with
    /// the number of their call (the order they sent it in).
    pub presented_by: Vec<(u64, usize)>,
}

/// What the token endpoint did with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// A new pair, for a login or for a rotation of `rotated`.
    Issued { pair: usize, rotated: Option<usize> },
    /// The refresh token of `pair` was refused (spent, revoked).
    Refused { pair: usize },
    /// A 5xx or a 429: nothing processed.
    NotProcessed(u16),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiAnswer {
    Ok,
    Unauthorized,
}

#[derive(Debug, Default)]
pub struct Passport {
    pub pairs: Vec<Pair>,
    pub logins: u64,
    pub rotations: u64,
    pub refused: u64,
}

impl Passport {
    /// Handles a token request whose form body is `body`, at `at`, sent by job `job` as the
    /// fleet's `sent`-th call (calls are numbered as they leave their process).
    #[allow(clippy::too_many_arguments)]
    pub fn token_request(
        &mut self,
        body: &[u8],
        at: u64,
        sent: u64,
        job: usize,
        schedule: &Schedule,
        rng: &mut Rng,
    ) -> (Response<Vec<u8>>, Handled) {
        if rng.chance(schedule.server_errors) {
            let status = [500, 502, 503][rng.below(3) as usize];
            return (server_error(status), Handled::NotProcessed(status));
        }
        if rng.chance(schedule.throttles) {
            return (
                too_many_attempts(rng.between(1, 3)),
                Handled::NotProcessed(429),
            );
        }
        let mut grant = None;
        let mut refresh = None;
        for (key, value) in form_urlencoded::parse(body) {
            match &*key {
                "grant_type" => grant = Some(value.into_owned()),
                "refresh_token" => refresh = Some(value.into_owned()),
                _ => {}
            }
        }
        match (grant.as_deref(), refresh) {
            (Some("password"), _) => {
                self.logins += 1;
                let pair = self.issue(job, at, schedule);
                (
                    self.tokens(pair, schedule),
                    Handled::Issued {
                        pair,
                        rotated: None,
                    },
                )
            }
            (Some("refresh_token"), Some(token)) => {
                let Some(old) = refresh_number(&token).filter(|n| *n < self.pairs.len()) else {
                    return (
                        dead_refresh_token(schedule.version),
                        Handled::NotProcessed(400),
                    );
                };
                self.pairs[old].presented_by.push((sent, job));
                let dead = self.pairs[old]
                    .refresh_dead_at
                    .is_some_and(|dead_at| dead_at <= at);
                if dead {
                    self.refused += 1;
                    return (
                        dead_refresh_token(schedule.version),
                        Handled::Refused { pair: old },
                    );
                }
                self.rotations += 1;
                let pair = self.issue(job, at, schedule);
                let spent = &mut self.pairs[old];
                if spent.rotated.is_none() {
                    spent.rotated = Some((at, pair));
                    spent.refresh_dead_at = Some(at + schedule.grace);
                }
                let revoked = at + schedule.grace;
                spent.revoked_at = Some(spent.revoked_at.map_or(revoked, |r| r.min(revoked)));
                (
                    self.tokens(pair, schedule),
                    Handled::Issued {
                        pair,
                        rotated: Some(old),
                    },
                )
            }
            _ => (
                missing_parameter(schedule.version),
                Handled::NotProcessed(400),
            ),
        }
    }

    /// The API's check of a Bearer token at `at`: a missing, expired or revoked token is a
    /// `401` (`docs/passport.md#api-401`).
    pub fn api(&self, access_token: &str, at: u64) -> ApiAnswer {
        match access_number(access_token).and_then(|n| self.pairs.get(n)) {
            Some(pair) if at < pair.expires_at && pair.revoked_at.is_none_or(|r| at < r) => {
                ApiAnswer::Ok
            }
            _ => ApiAnswer::Unauthorized,
        }
    }

    fn issue(&mut self, job: usize, at: u64, schedule: &Schedule) -> usize {
        self.pairs.push(Pair {
            job,
            issued_at: at,
            expires_at: at + schedule.lifetime,
            revoked_at: None,
            rotated: None,
            refresh_dead_at: None,
            presented_by: Vec::new(),
        });
        self.pairs.len() - 1
    }

    fn tokens(&self, pair: usize, schedule: &Schedule) -> Response<Vec<u8>> {
        let body = format!(
            r#"{{"token_type":"Bearer","expires_in":{},"access_token":"{}","refresh_token":"{}"}}"#,
            schedule.lifetime / 1000,
            access_token(pair),
            refresh_token(pair)
        );
        json(200, body)
    }
}

/// Pair `n`'s access token: shaped as Passport's JWTs (three base64url parts), short.
pub fn access_token(n: usize) -> String {
    format!("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.{n}.c2ln")
}

/// Pair `n`'s refresh token: Passport's start an encrypted payload with `def50200`.
pub fn refresh_token(n: usize) -> String {
    format!("def50200{n:08x}")
}

/// The pair an access token belongs to.
pub fn access_number(token: &str) -> Option<usize> {
    token.split('.').nth(1)?.parse().ok()
}

fn refresh_number(token: &str) -> Option<usize> {
    usize::from_str_radix(token.strip_prefix("def50200")?, 16).ok()
}

fn json(status: u16, body: String) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .body(body.into_bytes())
        .expect("a valid response")
}

fn oauth_error(
    status: u16,
    error: &str,
    description: &str,
    hint: &str,
    version: PassportVersion,
) -> Response<Vec<u8>> {
    let message = match version {
        PassportVersion::V8 => format!(r#","message":"{description}""#),
        PassportVersion::V9 => String::new(),
    };
    json(
        status,
        format!(
            r#"{{"error":"{error}","error_description":"{description}","hint":"{hint}"{message}}}"#
        ),
    )
}

/// A spent or revoked refresh token, as league/oauth2-server 8 and 9 refuse it.
fn dead_refresh_token(version: PassportVersion) -> Response<Vec<u8>> {
    match version {
        PassportVersion::V8 => oauth_error(
            401,
            "invalid_request",
            "The refresh token is invalid.",
            "Token has been revoked",
            version,
        ),
        PassportVersion::V9 => oauth_error(
            400,
            "invalid_grant",
            "The refresh token is invalid.",
            "Token has been revoked",
            version,
        ),
    }
}

fn missing_parameter(version: PassportVersion) -> Response<Vec<u8>> {
    oauth_error(
        400,
        "invalid_request",
        "The request is missing a required parameter.",
        "Check the `grant_type` parameter",
        version,
    )
}

fn server_error(status: u16) -> Response<Vec<u8>> {
    match status {
        500 => json(
            500,
            r#"{"error":"server_error","error_description":"The authorization server encountered an unexpected condition which prevented it from fulfilling the request."}"#.to_owned(),
        ),
        502 => Response::builder()
            .status(502)
            .header("content-type", "text/html")
            .body(b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>".to_vec())
            .expect("a valid response"),
        _ => json(503, r#"{"message":"Service Unavailable"}"#.to_owned()),
    }
}

fn too_many_attempts(retry_after: u64) -> Response<Vec<u8>> {
    Response::builder()
        .status(429)
        .header("content-type", "application/json")
        .header("retry-after", retry_after.to_string())
        .body(br#"{"message":"Too Many Attempts."}"#.to_vec())
        .expect("a valid response")
}

//! Who may ask: on the Unix socket, a peer whose user id is on the allow list; on loopback TCP,
//! a request carrying the per-start secret, compared in constant time.

use std::fmt;

use http::{HeaderMap, StatusCode};
use subtle::ConstantTimeEq;

use crate::failure::Failure;

/// The header a TCP caller sends the secret in. Not `Authorization`: the proxy refuses that
/// one, which is the API's.
pub const SECRET_HEADER: &str = "x-keliweb-agent-secret";

/// The per-start secret: 32 random bytes, as hex. Never printed: `Debug` hides it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// A new secret from the operating system's random source.
    pub fn generate() -> Result<Self, Failure> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| {
            Failure::cannot_serve(format!("no random source for the secret: {error}"))
        })?;
        let hex = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        Ok(Self(hex))
    }

    /// The secret, for the file it is written to.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Who is on the other end of a connection.
#[derive(Clone, Copy, Debug)]
pub enum Peer {
    /// A Unix socket peer, with its user id when the kernel told it.
    Unix(Option<u32>),
    /// A loopback TCP peer: anyone on the host, hence the secret.
    Tcp,
}

/// What a refused request gets: a status and a message for its JSON error.
#[derive(Debug)]
pub struct Refusal {
    /// 401 or 403.
    pub status: StatusCode,
    /// Why, without a secret.
    pub message: &'static str,
}

/// The rule for one listener.
pub enum Access {
    /// Unix socket peers with these user ids.
    Uids(Vec<u32>),
    /// TCP callers with this secret.
    Secret(Secret),
}

impl Access {
    /// Whether `peer`, sending `headers`, may ask.
    pub fn check(&self, peer: Peer, headers: &HeaderMap) -> Result<(), Refusal> {
        match (self, peer) {
            (Self::Uids(allowed), Peer::Unix(Some(uid))) if allowed.contains(&uid) => Ok(()),
            (Self::Uids(_), _) => Err(Refusal {
                status: StatusCode::FORBIDDEN,
                message: "this user may not ask this agent",
            }),
            (Self::Secret(secret), _) => {
                let sent = headers
                    .get(SECRET_HEADER)
                    .map(http::HeaderValue::as_bytes)
                    .unwrap_or_default();
                // Equal lengths compare every byte; the length itself is no secret (64 hex).
                if bool::from(sent.ct_eq(secret.0.as_bytes())) {
                    Ok(())
                } else {
                    Err(Refusal {
                        status: StatusCode::UNAUTHORIZED,
                        message: "missing or wrong X-Keliweb-Agent-Secret",
                    })
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_compared_whole_and_never_printed() {
        let secret = Secret::generate().expect("random");
        assert_eq!(secret.expose().len(), 64);
        assert!(!format!("{secret:?}").contains(secret.expose()));
        let right = secret.expose().to_owned();
        let access = Access::Secret(secret);
        let mut headers = HeaderMap::new();
        assert!(access.check(Peer::Tcp, &headers).is_err());
        headers.insert(SECRET_HEADER, right[..63].parse().expect("a value"));
        assert!(access.check(Peer::Tcp, &headers).is_err(), "a prefix");
        headers.insert(SECRET_HEADER, right.parse().expect("a value"));
        assert!(access.check(Peer::Tcp, &headers).is_ok());
    }

    #[test]
    fn only_listed_uids_and_never_an_unknown_peer() {
        let access = Access::Uids(vec![1000]);
        let headers = HeaderMap::new();
        assert!(access.check(Peer::Unix(Some(1000)), &headers).is_ok());
        assert!(access.check(Peer::Unix(Some(0)), &headers).is_err());
        assert!(access.check(Peer::Unix(None), &headers).is_err());
        assert!(access.check(Peer::Tcp, &headers).is_err());
    }
}

//! Every timeout and size cap, set in one place: `ClientBuilder::limits`.

use std::time::Duration;

/// Timeouts and size caps for one client, set with
/// [`ClientBuilder::limits`](crate::client::ClientBuilder::limits). The defaults are finite
/// everywhere.
///
/// HTTP clients are made without limits: the driver hands each request its share as
/// [`RequestLimits`], so the HTTP client and the driver can never disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time to establish a connection, TLS handshake included (default 10 s).
    pub connect_timeout: Duration,
    /// Time for a whole request and response, from the name lookup to the body's last byte
    /// (default 30 s).
    pub request_timeout: Duration,
    /// Largest token or revocation response body read (default 64 KiB).
    pub max_token_response_bytes: u64,
    /// Largest API response body read by `send` (default 32 MiB).
    pub max_api_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_token_response_bytes: 64 * 1024,
            max_api_response_bytes: 32 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// The limits of a token or revocation request.
    #[must_use]
    pub fn token_request(&self) -> RequestLimits {
        self.request(self.max_token_response_bytes)
    }

    /// The limits of an API request sent by `send`.
    #[must_use]
    pub fn api_request(&self) -> RequestLimits {
        self.request(self.max_api_response_bytes)
    }

    /// The longest timeout handed to an HTTP client: a longer one (`Duration::MAX` meant as "no
    /// timeout") would overflow the deadline arithmetic of the HTTP libraries.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

    fn request(&self, max_body_bytes: u64) -> RequestLimits {
        RequestLimits {
            connect_timeout: self.connect_timeout.min(Self::MAX_TIMEOUT),
            request_timeout: self.request_timeout.min(Self::MAX_TIMEOUT),
            max_body_bytes,
        }
    }
}

/// What one request may take, handed to the HTTP client with the request. Made from
/// [`Limits`] by [`Limits::token_request`] or [`Limits::api_request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLimits {
    /// Time to establish a connection, TLS handshake included.
    pub connect_timeout: Duration,
    /// Time for the whole request and response, body included.
    pub request_timeout: Duration,
    /// Largest response body to read: fail with
    /// [`TransportErrorKind::BodyTooLarge`](crate::TransportErrorKind::BodyTooLarge) rather
    /// than read more.
    pub max_body_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_request_gets_both_timeouts_and_its_own_cap() {
        let limits = Limits {
            connect_timeout: Duration::from_millis(1),
            request_timeout: Duration::from_millis(2),
            max_token_response_bytes: 3,
            max_api_response_bytes: 4,
        };
        let token = limits.token_request();
        let api = limits.api_request();
        assert_eq!(
            (
                token.connect_timeout,
                token.request_timeout,
                token.max_body_bytes
            ),
            (Duration::from_millis(1), Duration::from_millis(2), 3)
        );
        assert_eq!(
            (api.connect_timeout, api.request_timeout, api.max_body_bytes),
            (Duration::from_millis(1), Duration::from_millis(2), 4)
        );
    }
}

//! [`HttpClient`] for ureq 3, with the safe settings forced on.

use std::io;

use http::{Request, Response};
use ureq::config::ConfigBuilder;
use ureq::typestate::AgentScope;

use super::HttpClient;
use crate::client::{RequestLimits, without_query};
use crate::{TransportError, TransportErrorKind};

/// A ureq agent that never follows redirects and returns 4xx/5xx as responses. TLS is rustls
/// with the webpki roots.
///
/// It has no limits of its own: each request gets the connect timeout, the whole-request
/// timeout (`timeout_global`) and the body cap it comes with, as ureq's per-request settings.
///
/// With a timeout set, ureq looks the host up on a new thread for every request (so it can
/// give up on the lookup), IP literals included; `BENCHMARKS.md` measures what that costs.
#[derive(Clone, Debug)]
pub struct UreqClient {
    agent: ureq::Agent,
}

impl Default for UreqClient {
    fn default() -> Self {
        Self::new()
    }
}

impl UreqClient {
    /// An agent with ureq's defaults and the safe settings.
    #[must_use]
    pub fn new() -> Self {
        Self::with_config(|builder| builder)
    }

    /// An agent with your own settings (proxy, TLS, pool, …) applied by `customize`. The
    /// settings that keep tokens safe are forced afterwards: no redirects and status codes as
    /// responses. The connect and whole-request timeouts set here are replaced on every request
    /// by those of [`Limits`](crate::client::Limits); ureq's other per-phase timeouts, if you
    /// set any, stay.
    #[must_use]
    pub fn with_config(
        customize: impl FnOnce(ConfigBuilder<AgentScope>) -> ConfigBuilder<AgentScope>,
    ) -> Self {
        let config = customize(ureq::Agent::config_builder())
            .max_redirects(0)
            .max_redirects_will_error(false)
            .http_status_as_error(false)
            .build();
        Self {
            agent: ureq::Agent::new_with_config(config),
        }
    }
}

impl HttpClient for UreqClient {
    fn execute(
        &self,
        request: Request<Vec<u8>>,
        limits: RequestLimits,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        let query = request.uri().query().map(str::to_owned);
        let fail = |error| transport_error(&error, query.as_deref());
        // Per-request timeouts leave the agent's connection pool shared.
        let request = self
            .agent
            .configure_request(request)
            .timeout_connect(Some(limits.connect_timeout))
            .timeout_global(Some(limits.request_timeout))
            .build();
        let response = self.agent.run(request).map_err(fail)?;
        let (parts, mut body) = response.into_parts();
        let bytes = body
            .with_config()
            .limit(limits.max_body_bytes)
            .read_to_vec()
            .map_err(fail)?;
        Ok(Response::from_parts(parts, bytes))
    }
}

fn transport_error(error: &ureq::Error, query: Option<&str>) -> TransportError {
    let kind = match error {
        ureq::Error::Timeout(_) => TransportErrorKind::Timeout,
        ureq::Error::BodyExceedsLimit(_) => TransportErrorKind::BodyTooLarge,
        ureq::Error::LargeResponseHeader(..) => TransportErrorKind::HeaderTooLarge,
        // Over 128 header lines. ureq does not export the protocol error type, so its message
        // is the only way to tell; if the wording ever changes this degrades to `Io`.
        ureq::Error::Protocol(protocol) if protocol.to_string().contains("too many headers") => {
            TransportErrorKind::HeaderTooLarge
        }
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Tls(_) => {
            TransportErrorKind::Connect
        }
        ureq::Error::Io(io) if io.kind() == io::ErrorKind::TimedOut => TransportErrorKind::Timeout,
        ureq::Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => {
            TransportErrorKind::Connect
        }
        ureq::Error::Io(_) | ureq::Error::Protocol(_) => TransportErrorKind::Io,
        _ => TransportErrorKind::Other,
    };
    // Some ureq errors (a bad or non-https URL) quote the whole URL.
    TransportError::new(kind, without_query(error.to_string(), query))
}

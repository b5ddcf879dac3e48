//! Where an access token may be sent: the origin policy behind every `Authorization` header.
//!
//! A Bearer token works for whoever holds it, so it goes only to the hosts the configuration
//! names, and only over https (plain http only to loopback, or where the configuration opted
//! in). A Laravel `next_page_url` built behind a TLS-terminating proxy is `http://…`: refusing
//! it before any IO is what keeps the token off the network in clear.

use http::Uri;

use crate::config::is_loopback;

/// Keliweb's API hosts: a token from either token endpoint may be sent to them over https.
pub(crate) const KELIWEB_API_HOSTS: [&str; 2] = ["apiv2.keliweb.it", "fatture.keliweb.it"];

/// One host and port a token may go to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AllowedOrigin {
    host: Box<str>,
    port: u16,
    /// Plain `http` is allowed too (loopback, or `danger_allow_plain_http`).
    plain_http: bool,
}

impl AllowedOrigin {
    /// The origin of `uri` (which must have a scheme and a host, as checked URLs do).
    pub(crate) fn of(uri: &Uri, allow_plain_http: bool) -> Option<Self> {
        let host = uri.host().filter(|host| !host.is_empty())?;
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Some(Self {
            host: host.to_ascii_lowercase().into_boxed_str(),
            port,
            plain_http: !https && (allow_plain_http || is_loopback(host)),
        })
    }

    pub(crate) fn https(host: &str) -> Self {
        Self {
            host: host.into(),
            port: 443,
            plain_http: false,
        }
    }
}

/// The origins a token may be sent to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OriginPolicy {
    allowed: Vec<AllowedOrigin>,
}

impl OriginPolicy {
    pub(crate) fn new(allowed: Vec<AllowedOrigin>) -> Self {
        let mut policy = Self::default();
        for origin in allowed {
            if !policy.allowed.contains(&origin) {
                policy.allowed.push(origin);
            }
        }
        policy
    }

    /// Whether a request to `uri` may carry the token: https to an allowed host and port, or
    /// plain http where that origin allows it. A URI without a scheme or host is refused.
    #[inline]
    pub(crate) fn permits(&self, uri: &Uri) -> bool {
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return false,
        };
        // The common case, on every authorized request: the authority is exactly an allowed
        // host with no port (or its default one), compared without parsing it.
        let exact = uri.authority().is_some_and(|authority| {
            self.allowed.iter().any(|allowed| {
                (https || allowed.plain_http)
                    && allowed.port == if https { 443 } else { 80 }
                    && allowed.host.eq_ignore_ascii_case(authority.as_str())
            })
        });
        if exact {
            return true;
        }
        let Some(host) = uri.host() else {
            return false;
        };
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        self.allowed.iter().any(|allowed| {
            allowed.port == port
                && (https || allowed.plain_http)
                && allowed.host.eq_ignore_ascii_case(host)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(urls: &[&str]) -> OriginPolicy {
        OriginPolicy::new(
            urls.iter()
                .filter_map(|url| AllowedOrigin::of(&Uri::try_from(*url).ok()?, false))
                .collect(),
        )
    }

    fn permits(policy: &OriginPolicy, url: &str) -> bool {
        policy.permits(&Uri::try_from(url).unwrap())
    }

    #[test]
    fn https_to_a_named_host_and_port_only() {
        let policy = policy(&["https://apiv2.keliweb.it/oauth/token"]);
        assert!(permits(&policy, "https://apiv2.keliweb.it/api/user"));
        assert!(permits(
            &policy,
            "https://APIv2.Keliweb.IT:443/api/user?page=2"
        ));
        assert!(!permits(&policy, "http://apiv2.keliweb.it/api/user"));
        assert!(!permits(&policy, "https://apiv2.keliweb.it:8443/api/user"));
        assert!(!permits(
            &policy,
            "https://apiv2.keliweb.it.evil.example/api"
        ));
        assert!(!permits(&policy, "https://evil.example.net/api"));
        assert!(!permits(&policy, "/api/user"));
        assert!(!permits(&policy, "ftp://apiv2.keliweb.it/x"));
    }

    #[test]
    fn an_origin_on_another_port_does_not_permit_the_default_one() {
        let policy = policy(&["https://api.example:8443/", "http://127.0.0.1:8080/"]);
        assert!(permits(&policy, "https://api.example:8443/api"));
        assert!(!permits(&policy, "https://api.example/api"), "443");
        assert!(permits(&policy, "http://127.0.0.1:8080/api"));
        assert!(!permits(&policy, "http://127.0.0.1/api"), "80");
    }

    #[test]
    fn plain_http_only_to_loopback_unless_opted_in() {
        let loopback = policy(&["http://127.0.0.1:8080/oauth/token"]);
        assert!(permits(&loopback, "http://127.0.0.1:8080/api/user"));
        assert!(permits(&loopback, "https://127.0.0.1:8080/api/user"));
        assert!(!permits(&loopback, "http://127.0.0.1:8081/api/user"));
        let remote = Uri::from_static("http://intranet.example/t");
        let refused = OriginPolicy::new(AllowedOrigin::of(&remote, false).into_iter().collect());
        assert!(!refused.permits(&remote));
        let opted_in = OriginPolicy::new(AllowedOrigin::of(&remote, true).into_iter().collect());
        assert!(opted_in.permits(&remote));
    }
}

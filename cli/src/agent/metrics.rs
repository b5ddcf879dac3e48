//! `/metrics`: token requests by kind and outcome, refreshes ahead, store failures, callers
//! served and the held token's remaining life, encoded by `prometheus-client`. Labels are fixed
//! words: no secret, no URL, no user name.

use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = [(&'static str, &'static str); 2];

/// The agent's metrics.
pub struct Metrics {
    registry: Registry,
    token_requests: Family<Labels, Counter>,
    refreshes_ahead: Counter,
    store_failures: Family<[(&'static str, &'static str); 1], Counter>,
    answers: Family<Labels, Counter>,
    usable_seconds: Gauge<f64, AtomicU64>,
    /// Until when (Unix milliseconds) the held token is handed out; 0 when none is held.
    usable_until: AtomicU64,
}

impl Metrics {
    /// Every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("keliweb_agent");
        let token_requests = Family::<Labels, Counter>::default();
        registry.register(
            "token_requests",
            "Token requests sent, by kind (login, refresh, revoke) and outcome (ok, refused, failed)",
            token_requests.clone(),
        );
        let refreshes_ahead = Counter::default();
        registry.register(
            "refreshes_ahead",
            "Refreshes sent while the held token was still usable",
            refreshes_ahead.clone(),
        );
        let store_failures = Family::default();
        registry.register(
            "store_failures",
            "Token store calls that failed, by operation (load, lock, save)",
            store_failures.clone(),
        );
        let answers = Family::<Labels, Counter>::default();
        registry.register(
            "answers",
            "Requests answered, by route and status class",
            answers.clone(),
        );
        let usable_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "token_usable_seconds",
            "Seconds the held access token is still handed out (0: none)",
            usable_seconds.clone(),
        );
        Self {
            registry,
            token_requests,
            refreshes_ahead,
            store_failures,
            answers,
            usable_seconds,
            usable_until: AtomicU64::new(0),
        }
    }

    /// A token request of `kind` ended with `outcome`.
    pub fn token_request(&self, kind: &'static str, outcome: &'static str) {
        self.token_requests
            .get_or_create(&[("kind", kind), ("outcome", outcome)])
            .inc();
    }

    /// A refresh went out while a usable token was held (at `now`, Unix milliseconds).
    pub fn refresh_sent(&self, now_millis: u64) {
        if now_millis < self.usable_until.load(Ordering::Relaxed) {
            self.refreshes_ahead.inc();
        }
    }

    /// A store call failed.
    pub fn store_failure(&self, operation: &'static str) {
        self.store_failures
            .get_or_create(&[("operation", operation)])
            .inc();
    }

    /// A request to `route` was answered with `status`.
    pub fn answered(&self, route: &'static str, status: http::StatusCode) {
        let class = match status.as_u16() {
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.answers
            .get_or_create(&[("route", route), ("status", class)])
            .inc();
    }

    /// The held token is handed out until `until_millis`.
    pub fn held_until(&self, until_millis: u64) {
        self.usable_until.fetch_max(until_millis, Ordering::Relaxed);
    }

    /// Whether a usable token is held at `now_millis`.
    pub fn ready(&self, now_millis: u64) -> bool {
        now_millis < self.usable_until.load(Ordering::Relaxed)
    }

    /// The text format, as of `now_millis`.
    pub fn encode(&self, now_millis: u64) -> String {
        let left = self
            .usable_until
            .load(Ordering::Relaxed)
            .saturating_sub(now_millis);
        #[allow(
            clippy::cast_precision_loss,
            reason = "milliseconds of a token's life fit a f64 exactly"
        )]
        self.usable_seconds.set(left as f64 / 1000.0);
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

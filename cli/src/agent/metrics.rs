//! `/metrics`: token requests by kind and outcome, refreshes ahead, tokens withdrawn on a
//! caller's report, store failures, callers served and the held token's remaining life,
//! encoded by `prometheus-client`. Labels are fixed words: no secret, no URL, no user name.
//! It also keeps the held token's state that `/health` reads.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use keliweb_oauth::sans_io::TokenId;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = [(&'static str, &'static str); 2];

/// The newest token handed out, as far as the agent has seen.
#[derive(Clone, Copy, Debug)]
struct HeldToken {
    id: TokenId,
    /// Until when (Unix milliseconds) it is handed out.
    usable_until: u64,
    /// A caller reported the API refused it: it is being replaced, and handed out no more.
    withdrawn: bool,
}

/// The agent's metrics.
pub struct Metrics {
    registry: Registry,
    token_requests: Family<Labels, Counter>,
    refreshes_ahead: Counter,
    tokens_withdrawn: Counter,
    store_failures: Family<[(&'static str, &'static str); 1], Counter>,
    answers: Family<Labels, Counter>,
    usable_seconds: Gauge<f64, AtomicU64>,
    /// Keyed by token id, not by time: a caller still holding an older token, or the withdrawn
    /// one, must not make a newer state look older (or a withdrawn token usable again).
    held: Mutex<Option<HeldToken>>,
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
            "Refreshes sent while the held token was still usable (not those replacing a withdrawn one)",
            refreshes_ahead.clone(),
        );
        let tokens_withdrawn = Counter::default();
        registry.register(
            "tokens_withdrawn",
            "Held tokens withdrawn on a caller's report that the API refused them, each replaced by a token request",
            tokens_withdrawn.clone(),
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
            "Seconds the held access token is still handed out (0: none, or withdrawn)",
            usable_seconds.clone(),
        );
        Self {
            registry,
            token_requests,
            refreshes_ahead,
            tokens_withdrawn,
            store_failures,
            answers,
            usable_seconds,
            held: Mutex::new(None),
        }
    }

    /// A token request of `kind` ended with `outcome`.
    pub fn token_request(&self, kind: &'static str, outcome: &'static str) {
        self.token_requests
            .get_or_create(&[("kind", kind), ("outcome", outcome)])
            .inc();
    }

    /// A refresh went out at `now_millis`: ahead if the held token was still usable then.
    pub fn refresh_sent(&self, now_millis: u64) {
        if self.usable_millis(now_millis) > 0 {
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

    /// Token `id` was handed out, usable until `until_millis`. An older token than the newest
    /// seen changes nothing.
    pub fn handed_out(&self, id: TokenId, until_millis: u64) {
        let mut held = self.lock();
        if held.is_none_or(|newest| id > newest.id) {
            *held = Some(HeldToken {
                id,
                usable_until: until_millis,
                withdrawn: false,
            });
        }
    }

    /// Token `id` is about to be reported refused to the client, which will replace it:
    /// from now on it is not usable, and the refresh that replaces it is not one ahead.
    /// Returns whether this call withdrew it (`false`: withdrawn already, or replaced).
    pub fn withdraw(&self, id: TokenId) -> bool {
        let mut held = self.lock();
        match &mut *held {
            Some(newest) if newest.id > id => false,
            Some(newest) if newest.id == id => !std::mem::replace(&mut newest.withdrawn, true),
            // Reported before the agent saw it handed out: usable no more all the same.
            _ => {
                *held = Some(HeldToken {
                    id,
                    usable_until: 0,
                    withdrawn: true,
                });
                true
            }
        }
    }

    /// The client kept token `id` after all (a replacement refused at once too): it is handed
    /// out again.
    pub fn keep(&self, id: TokenId) {
        if let Some(newest) = &mut *self.lock()
            && newest.id == id
        {
            newest.withdrawn = false;
        }
    }

    /// A withdrawn token was replaced by a token request (counted once per token).
    pub fn token_withdrawn(&self) {
        self.tokens_withdrawn.inc();
    }

    /// Whether a usable token is held at `now_millis`.
    pub fn ready(&self, now_millis: u64) -> bool {
        self.usable_millis(now_millis) > 0
    }

    /// The text format, as of `now_millis`.
    pub fn encode(&self, now_millis: u64) -> String {
        #[allow(
            clippy::cast_precision_loss,
            reason = "milliseconds of a token's life fit a f64 exactly"
        )]
        self.usable_seconds
            .set(self.usable_millis(now_millis) as f64 / 1000.0);
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// How long the held token is still handed out: 0 when none is, or it was withdrawn.
    fn usable_millis(&self, now_millis: u64) -> u64 {
        match *self.lock() {
            Some(newest) if !newest.withdrawn => newest.usable_until.saturating_sub(now_millis),
            _ => 0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<HeldToken>> {
        // Every critical section leaves the state whole: a panic elsewhere changes nothing.
        self.held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

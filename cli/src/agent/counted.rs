//! The agent's HTTP client and store, counted: each token request by kind and outcome, each
//! refresh sent while a usable token was held, each failed store call. They wrap what the
//! client uses, so what is counted is what happened, whatever the client decided.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use keliweb_oauth::TokenSet;
use keliweb_oauth::client::{FileLease, FileStore, RequestLimits, Stored, TokenStore};
use keliweb_oauth::error::{StoreError, TransportError};
use keliweb_oauth::nonblocking::{AsyncHttpClient, BackgroundTask, ReqwestClient};

use super::clock::now_millis;
use super::metrics::Metrics;

/// [`ReqwestClient`], counting the token requests that go through it.
pub struct CountedHttp {
    inner: ReqwestClient,
    metrics: Arc<Metrics>,
    token_path: String,
}

impl CountedHttp {
    /// Counts requests to the token endpoint at `token_path` (others are revocations).
    pub fn new(inner: ReqwestClient, metrics: Arc<Metrics>, token_path: String) -> Self {
        Self {
            inner,
            metrics,
            token_path,
        }
    }

    /// `login`, `refresh` or `revoke`, read from the URL and the form's `grant_type` (never
    /// anything else of a body that holds secrets).
    fn kind(&self, request: &Request<Vec<u8>>) -> &'static str {
        if request.uri().path() != self.token_path {
            return "revoke";
        }
        let refresh = request
            .body()
            .split(|byte| *byte == b'&')
            .any(|field| field == b"grant_type=refresh_token");
        if refresh { "refresh" } else { "login" }
    }
}

impl AsyncHttpClient for CountedHttp {
    async fn execute(
        &self,
        request: Request<Vec<u8>>,
        limits: RequestLimits,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        let kind = self.kind(&request);
        if kind == "refresh" {
            self.metrics.refresh_sent(now_millis());
        }
        let answer = self.inner.execute(request, limits).await;
        let outcome = match &answer {
            Ok(response) if response.status().is_success() => "ok",
            Ok(response) if response.status().is_client_error() => "refused",
            _ => "failed",
        };
        self.metrics.token_request(kind, outcome);
        answer
    }

    fn spawn(&self, task: BackgroundTask) -> Result<(), BackgroundTask> {
        self.inner.spawn(task)
    }
}

/// [`FileStore`], counting its failures.
pub struct CountedStore {
    inner: FileStore,
    metrics: Arc<Metrics>,
}

impl CountedStore {
    /// Counts `inner`'s failures in `metrics`.
    pub fn new(inner: FileStore, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn count<T>(
        &self,
        operation: &'static str,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if result.is_err() {
            self.metrics.store_failure(operation);
        }
        result
    }
}

impl TokenStore for CountedStore {
    type Lease = FileLease;

    fn load(&self) -> Result<Stored, StoreError> {
        self.count("load", self.inner.load())
    }

    fn lock(&self, hold_for: Duration) -> Result<FileLease, StoreError> {
        self.count("lock", self.inner.lock(hold_for))
    }

    fn save(
        &self,
        lease: &mut FileLease,
        expected: u64,
        tokens: Option<&TokenSet>,
    ) -> Result<u64, StoreError> {
        self.count("save", self.inner.save(lease, expected, tokens))
    }
}

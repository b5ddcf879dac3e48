//! [`Driver`] for the async client over reqwest: herds are Tokio tasks.

use std::sync::Arc;

use http::{Request, Response};
use keliweb_oauth::nonblocking::{Client, ReqwestClient};
use keliweb_oauth::{Credentials, Error, ErrorKind, TokenId, TokenSet, Unauthorized};
use tokio::sync::Barrier;

use super::{ClientSetup, Driver, Recording, Token, get, status_or_kind};

#[derive(Clone)]
pub struct Async(pub Client<Recording<ReqwestClient>>);

impl Driver for Async {
    const HERD: usize = 1000;

    fn build(setup: ClientSetup) -> Self {
        let http = Recording {
            // Made without limits: the builder's are the only ones.
            inner: ReqwestClient::default(),
            log: setup.log,
        };
        let mut builder = Client::builder(setup.config, http)
            .clock(setup.clock)
            .limits(setup.limits)
            .store(setup.store);
        if let Some(tokens) = setup.tokens {
            builder = builder.tokens(tokens);
        }
        Self(builder.build())
    }

    async fn access_token(&self) -> Result<Token, Error> {
        self.0.access_token().await.map(|token| Token::of(&token))
    }

    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        self.0.send(request).await
    }

    async fn force_refresh(&self) -> Result<Token, Error> {
        self.0.force_refresh().await.map(|token| Token::of(&token))
    }

    async fn revoke(&self) -> Result<(), Error> {
        self.0.revoke().await
    }

    fn login(&self, credentials: Credentials) {
        self.0.login(credentials);
    }

    fn tokens(&self) -> Option<TokenSet> {
        self.0.tokens()
    }

    async fn herd(&self) -> Vec<Result<Token, Error>> {
        let start = Arc::new(Barrier::new(Self::HERD));
        let callers: Vec<_> = (0..Self::HERD)
            .map(|_| {
                let client = self.0.clone();
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    start.wait().await;
                    client.access_token().await.map(|token| Token::of(&token))
                })
            })
            .collect();
        let mut results = Vec::with_capacity(Self::HERD);
        for caller in callers {
            results.push(caller.await.expect("a herd task panicked"));
        }
        results
    }

    fn access_token_blocking(&self) -> Result<Token, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a one-thread runtime");
        runtime.block_on(self.access_token())
    }

    async fn authorize(&self, request: &mut Request<Vec<u8>>) -> Result<TokenId, Error> {
        self.0.authorize(request).await
    }

    fn report_unauthorized(&self, token: TokenId) -> Unauthorized {
        self.0.report_unauthorized(token)
    }

    #[allow(
        clippy::disallowed_methods,
        reason = "the callers run for a stretch of real time"
    )]
    async fn send_until(
        &self,
        callers: usize,
        url: &str,
        deadline: std::time::Instant,
    ) -> Vec<Result<u16, ErrorKind>> {
        let callers: Vec<_> = (0..callers)
            .map(|_| {
                let client = self.0.clone();
                let url = url.to_owned();
                tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    while std::time::Instant::now() < deadline {
                        outcomes.push(status_or_kind(client.send(get(&url)).await));
                    }
                    outcomes
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for caller in callers {
            outcomes.extend(caller.await.expect("a caller task panicked"));
        }
        outcomes
    }
}

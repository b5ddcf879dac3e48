//! [`Driver`] for the async client over reqwest: herds are Tokio tasks.
#![allow(
    clippy::disallowed_methods,
    reason = "`send_until`'s callers run for a stretch of real time"
)]

use std::sync::Arc;
use std::time::Instant;

use keliweb_oauth::Error;
use keliweb_oauth::nonblocking::{Client, ReqwestClient};
use tokio::sync::Barrier;

use super::{Driver, Outcome, Recording, Token, get, status_or_kind};

#[derive(Clone)]
pub struct Async(pub Client<Recording<ReqwestClient>>);

impl Driver for Async {
    super::pass_through!(ReqwestClient::default(), [.await]);

    const HERD: usize = 1000;

    async fn access_token(&self) -> Result<Token, Error> {
        self.0.authorization().await.map(|token| Token::of(&token))
    }

    async fn herd(&self) -> Vec<Result<Token, Error>> {
        let start = Arc::new(Barrier::new(Self::HERD));
        let callers: Vec<_> = (0..Self::HERD)
            .map(|_| {
                let client = self.0.clone();
                let start = Arc::clone(&start);
                tokio::spawn(async move {
                    start.wait().await;
                    client.authorization().await.map(|token| Token::of(&token))
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

    async fn send_until(&self, callers: usize, url: &str, until: Instant) -> Vec<Outcome> {
        let callers: Vec<_> = (0..callers)
            .map(|_| {
                let client = self.0.clone();
                let url = url.to_owned();
                tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    while Instant::now() < until {
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

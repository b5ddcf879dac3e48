//! [`Driver`] for the blocking client over ureq: herds are threads.
#![allow(
    clippy::disallowed_methods,
    reason = "`send_until`'s callers run for a stretch of real time"
)]

use std::sync::Barrier;
use std::thread;
use std::time::Instant;

use keliweb_oauth::Error;
use keliweb_oauth::blocking::{Client, UreqClient};

use super::{Driver, Outcome, Recording, Token, get, status_or_kind};

#[derive(Clone)]
pub struct Blocking(pub Client<Recording<UreqClient>>);

impl Driver for Blocking {
    super::pass_through!(UreqClient::default(), []);

    const HERD: usize = 64;

    async fn access_token(&self) -> Result<Token, Error> {
        self.access_token_blocking()
    }

    async fn herd(&self) -> Vec<Result<Token, Error>> {
        let start = Barrier::new(Self::HERD);
        thread::scope(|scope| {
            let callers: Vec<_> = (0..Self::HERD)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        self.access_token_blocking()
                    })
                })
                .collect();
            callers
                .into_iter()
                .map(|caller| caller.join().expect("a herd thread panicked"))
                .collect()
        })
    }

    fn access_token_blocking(&self) -> Result<Token, Error> {
        self.0.authorization().map(|token| Token::of(&token))
    }

    async fn send_until(&self, callers: usize, url: &str, until: Instant) -> Vec<Outcome> {
        thread::scope(|scope| {
            let callers: Vec<_> = (0..callers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut outcomes = Vec::new();
                        while Instant::now() < until {
                            outcomes.push(status_or_kind(self.0.send(get(url))));
                        }
                        outcomes
                    })
                })
                .collect();
            callers
                .into_iter()
                .flat_map(|caller| caller.join().expect("a caller thread panicked"))
                .collect()
        })
    }
}

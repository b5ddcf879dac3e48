//! [`Driver`] for the blocking client over ureq: herds are threads.

use std::sync::Barrier;
use std::thread;

use http::{Request, Response};
use keliweb_oauth::blocking::{Client, UreqClient};
use keliweb_oauth::{Credentials, Error, ErrorKind, TokenId, TokenSet, Unauthorized};

use super::{ClientSetup, Driver, Recording, Token, get, status_or_kind};

#[derive(Clone)]
pub struct Blocking(pub Client<Recording<UreqClient>>);

impl Driver for Blocking {
    const HERD: usize = 64;

    fn build(setup: ClientSetup) -> Self {
        let http = Recording {
            // Made without limits: the builder's are the only ones.
            inner: UreqClient::default(),
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
        self.access_token_blocking()
    }

    async fn send(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, Error> {
        self.0.send(request)
    }

    async fn force_refresh(&self) -> Result<Token, Error> {
        self.0.force_refresh().map(|token| Token::of(&token))
    }

    async fn revoke(&self) -> Result<(), Error> {
        self.0.revoke()
    }

    fn login(&self, credentials: Credentials) {
        self.0.login(credentials);
    }

    fn tokens(&self) -> Option<TokenSet> {
        self.0.tokens()
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
        self.0.access_token().map(|token| Token::of(&token))
    }

    async fn authorize(&self, request: &mut Request<Vec<u8>>) -> Result<TokenId, Error> {
        self.0.authorize(request)
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
        thread::scope(|scope| {
            let callers: Vec<_> = (0..callers)
                .map(|_| {
                    scope.spawn(|| {
                        let mut outcomes = Vec::new();
                        while std::time::Instant::now() < deadline {
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

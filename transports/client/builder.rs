//! One builder for both drivers; the marker `D` says which client `build` makes.

use std::marker::PhantomData;

use super::published::TimeSource;
use std::sync::Arc;

use super::store::Custodian;
use super::{Clock, Driver, Limits, TokenStore, driver::Wake};
use crate::{Config, Session, TokenSet};

/// Marks a builder of [`blocking::Client`](crate::blocking::Client).
#[derive(Debug)]
pub enum Blocking {}

/// Marks a builder of [`nonblocking::Client`](crate::nonblocking::Client).
#[derive(Debug)]
pub enum Nonblocking {}

/// Options for a client: `blocking::Client::builder` or `nonblocking::Client::builder`.
#[must_use = "call build() to get the client"]
pub struct ClientBuilder<H, D> {
    config: Config,
    http: H,
    store: Option<Arc<dyn Custodian>>,
    tokens: Option<TokenSet>,
    time: TimeSource,
    limits: Limits,
    foreground_refresh_ahead: bool,
    driver: PhantomData<D>,
}

impl<H, D> ClientBuilder<H, D> {
    pub(crate) fn new(config: Config, http: H) -> Self {
        Self {
            config,
            http,
            store: None,
            tokens: None,
            time: TimeSource::System,
            limits: Limits::default(),
            foreground_refresh_ahead: false,
            driver: PhantomData,
        }
    }

    /// Keeps the token set in `store`: loaded before the first token request, reloaded under
    /// its lease before each one (a newer set another process stored is adopted instead of
    /// asking the server), saved with every new set before any caller uses it, and erased on
    /// revocation. See [`TokenStore`].
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Starts from this token set instead of logging in. With a [`store`](Self::store) that
    /// holds a set, the store's set wins.
    pub fn tokens(mut self, tokens: TokenSet) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// Reads the time from `clock` instead of the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.time = TimeSource::Custom(Box::new(clock));
        self
    }

    /// Every timeout and body cap. This is the one place they are set: the HTTP client gets
    /// them with each request.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// For a program that exits soon after it got its token (a command line, a cron job): the
    /// refresh ahead ([`ConfigBuilder::refresh_ahead`](crate::ConfigBuilder::refresh_ahead))
    /// runs in the call that finds it due, which waits for it and returns the new token,
    /// instead of in the background. A background refresh cut off by the program's exit loses
    /// the set the server already rotated (the old refresh token is dead, the new one never
    /// saved); and a token handed out just before its refresh ahead dies with the rotation.
    /// So the blocking client, within a short margin before a token's refresh point (the
    /// leeway, at most half the refresh window and at most 10 s), does not hand the token out:
    /// the call sleeps until the point and returns the successor, and every call made in that
    /// margin waits so. (None with a custom [`Clock`](super::Clock), which a sleep would not
    /// move; the async client, with no timer of its own, hands the token out until the point.)
    /// When every process of a fleet refreshes at the refresh point, a token handed out lives
    /// at least the margin. A failed refresh ahead is still nobody's error: the call returns
    /// the token that works.
    pub fn foreground_refresh_ahead(mut self) -> Self {
        self.foreground_refresh_ahead = true;
        self
    }

    pub(crate) fn into_driver<W: Wake>(self) -> Driver<H, W> {
        let mut session = Session::new(self.config);
        if let Some(tokens) = self.tokens {
            session = session.with_tokens(tokens);
        }
        let mut driver = Driver::new(self.http, session, self.store, self.time, self.limits);
        driver.foreground_refresh_ahead = self.foreground_refresh_ahead;
        driver
    }
}

//! The state shared by every request handler and the [`crate::Emulator`] handle.

pub(crate) mod mint;
pub(crate) mod throttle;
pub(crate) mod tokens;

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::clock::Clock;
use crate::config::{EmulatorConfig, PassportVersion};
use crate::counters::CounterCells;
use crate::faults::FaultQueues;
use crate::log::RequestLog;
use crate::rng::Rng;

use throttle::Throttle;
use tokens::TokenStore;

/// A freshly issued token pair.
#[derive(Debug)]
pub(crate) struct IssuedPair {
    pub(crate) access_token: String,
    pub(crate) refresh_token: String,
    pub(crate) expires_in: u64,
}

/// Everything the server knows.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: EmulatorConfig,
    pub(crate) base_url: String,
    passport: AtomicU8,
    pub(crate) clock: Clock,
    pub(crate) tokens: Mutex<TokenStore>,
    rng: Mutex<Rng>,
    seq: AtomicU64,
    pub(crate) throttle: Mutex<Throttle>,
    pub(crate) faults: FaultQueues,
    pub(crate) counters: CounterCells,
    pub(crate) log: RequestLog,
    /// The API refuses every token (a token of another API, a disabled account).
    pub(crate) api_refuses_every_token: std::sync::atomic::AtomicBool,
}

/// Locks a mutex, ignoring poisoning (no invariant spans a panic here).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// New state for a server reachable at `base_url`; `seed` feeds the token generator.
    pub(crate) fn new(config: EmulatorConfig, base_url: String, seed: u64) -> Shared {
        let passport = AtomicU8::new(encode(config.passport));
        Shared {
            config,
            base_url,
            passport,
            clock: Clock::default(),
            tokens: Mutex::default(),
            rng: Mutex::new(Rng::seeded(seed)),
            seq: AtomicU64::new(0),
            throttle: Mutex::default(),
            faults: FaultQueues::default(),
            counters: CounterCells::default(),
            log: RequestLog::default(),
            api_refuses_every_token: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The Passport generation currently imitated.
    pub(crate) fn passport(&self) -> PassportVersion {
        match self.passport.load(Ordering::SeqCst) {
            9 => PassportVersion::V9,
            _ => PassportVersion::V8,
        }
    }

    /// Switches the Passport generation.
    pub(crate) fn set_passport(&self, version: PassportVersion) {
        self.passport.store(encode(version), Ordering::SeqCst);
    }

    /// Issues and records a new token pair.
    pub(crate) fn issue_pair(&self) -> IssuedPair {
        let config = &self.config;
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let expires_in = config.access_lifetime.as_secs();
        let (access_token, refresh_token) = {
            let mut rng = lock(&self.rng);
            let access = mint::access_token(
                &mut rng,
                seq,
                &config.client_id,
                self.clock.unix_secs(),
                expires_in,
            );
            (access, mint::refresh_token(&mut rng, seq))
        };
        lock(&self.tokens).insert(
            access_token.clone(),
            refresh_token.clone(),
            self.clock.now(),
            config.access_lifetime,
            config.refresh_lifetime,
        );
        IssuedPair {
            access_token,
            refresh_token,
            expires_in,
        }
    }
}

fn encode(version: PassportVersion) -> u8 {
    match version {
        PassportVersion::V8 => 8,
        PassportVersion::V9 => 9,
    }
}

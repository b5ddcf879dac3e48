//! The invariants, checked as the events happen, and the ledger they are checked against.
//!
//! The ledger knows what the world knows and no process does: which pair the server issued to
//! which job, when the store first held it, which job's outcome a fault cut off. The rules
//! that make an invariant precise are written beside its check (and in `docs/testing.md`).
//!
//! **Losses.** A job is *disrupted* when a fault cut it: its process crashed while it ran, one
//! of its store calls failed or timed out, the server processed its request but the answer
//! never came (a timeout), or its lease ended (expired, or died with its process) before the
//! job did. A disrupted job is a *loss* when what the server last gave it did not reach the
//! store: a new pair never stored, or a refusal of a spent refresh token not followed by a
//! stored login. A loss is the only thing that excuses a spent refresh token presented again
//! or a login beyond the fleet's first, and it excuses one of each.

use keliweb_oauth::TokenSet;

use crate::passport::{Handled, Passport, access_number};
use crate::schedule::{BASE, Mode, Schedule};

#[derive(Clone, Debug)]
pub struct Violation {
    pub at: u64,
    pub rule: &'static str,
    pub detail: String,
}

/// A job of a coordinator, as the ledger follows it.
#[derive(Clone, Debug)]
pub struct JobRecord {
    pub process: usize,
    pub incarnation: u32,
    pub disrupted: bool,
    /// Its executor still works on it (the release included).
    pub active: bool,
    /// It was seen a loss once: what it excused stays excused when its pair lands later (a
    /// set saved after the fleet logged in without it).
    pub lost: bool,
    pub lease: Option<u64>,
    /// What the server did with its requests, in order.
    pub outcomes: Vec<Handled>,
    /// The pairs whose answers reached it.
    pub received: Vec<usize>,
}

/// What the fleet knows of a pair's set.
#[derive(Clone, Debug, Default)]
pub struct SetRecord {
    /// Its refresh point by the clocks (ms since the epoch), once a process saved the set.
    pub refresh_point: Option<u64>,
    /// When the store first held it.
    pub landed: Option<u64>,
    /// A save of it was reported failed (a set that works is used unsaved, by design).
    pub save_failed: bool,
}

/// How a call ended.
#[derive(Clone, Debug)]
pub enum CallEnd {
    Ok,
    /// A `401` the caller got back, for this pair's token, handed out at that clock (ms since
    /// the epoch), and on the retry after a 401 for the token of `refused`.
    Unauthorized {
        pair: usize,
        handed: u64,
        refused: Option<usize>,
    },
    Failed,
}

#[derive(Debug, Default)]
pub struct Ledger {
    pub jobs: Vec<JobRecord>,
    pub sets: Vec<SetRecord>,
    pub violation: Option<Violation>,
    pub hand_outs: u64,
    pub retried_401s: u64,
    pub calls: u64,
    pub failed_calls: u64,
    pub crashes: u64,
}

impl Ledger {
    pub fn violated(&mut self, at: u64, rule: &'static str, detail: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation { at, rule, detail });
        }
    }

    pub fn set(&mut self, pair: usize) -> &mut SetRecord {
        if self.sets.len() <= pair {
            self.sets.resize(pair + 1, SetRecord::default());
        }
        &mut self.sets[pair]
    }

    fn landed(&self, pair: usize) -> bool {
        self.sets.get(pair).is_some_and(|set| set.landed.is_some())
    }

    /// A process saves `tokens` (pair `pair`): the fleet's refresh point of the set, by the
    /// rule `docs/custody.md` states: the configured window before the leeway, at most half
    /// the usable life left when the answer arrived.
    pub fn set_seen(&mut self, pair: usize, tokens: &TokenSet, schedule: &Schedule) {
        if self.set(pair).refresh_point.is_some() {
            return;
        }
        let usable_until = tokens
            .access_token_expires_at()
            .as_millis()
            .saturating_sub(schedule.leeway);
        let point = match tokens.obtained_at() {
            Some(obtained) => {
                let life = usable_until.saturating_sub(obtained.as_millis());
                usable_until - schedule.refresh_ahead.min(life / 2)
            }
            None => usable_until,
        };
        self.set(pair).refresh_point = Some(point);
    }

    /// Whether job `job` is a loss (see the module docs).
    pub fn is_loss(&self, job: usize) -> bool {
        let record = &self.jobs[job];
        record.lost
            || record.disrupted
                && match record
                    .outcomes
                    .iter()
                    .rev()
                    .find(|o| !matches!(o, Handled::NotProcessed(_)))
                {
                    Some(Handled::Issued { pair, .. }) => !self.landed(*pair),
                    Some(Handled::Refused { .. }) => true,
                    _ => false,
                }
    }

    fn losses(&mut self) -> u64 {
        for job in 0..self.jobs.len() {
            if !self.jobs[job].lost && self.is_loss(job) {
                self.jobs[job].lost = true;
            }
        }
        self.jobs.iter().filter(|job| job.lost).count() as u64
    }

    /// The server handled job `job`'s token request at `at`.
    pub fn token_request(
        &mut self,
        at: u64,
        job: usize,
        handled: Handled,
        presenter_skew: i64,
        passport: &Passport,
        schedule: &Schedule,
    ) {
        // A job seen a loss before this answer stays one.
        let _ = self.losses();
        self.jobs[job].outcomes.push(handled);
        let presented = match handled {
            Handled::Issued {
                rotated: Some(old), ..
            } => Some(old),
            Handled::Refused { pair } => Some(pair),
            _ => None,
        };
        if let Some(old) = presented {
            // Invariant 1. A refresh token is *spent* once the server processed a refresh
            // with it (a 5xx or a 429 processes nothing, and resending then is right). Of two
            // jobs that presented it, the one that sent it first was a loss: a crash between
            // the rotation and the save, a save that failed, a stall longer than the lease, an
            // answer that never came. (First by sending, not by the server's order: the
            // request of a process that died under its lease may reach the server after its
            // successor's.)
            let uses = &passport.pairs[old].presented_by;
            let (sent, _) = uses[uses.len() - 1];
            for &(other_sent, other) in &uses[..uses.len() - 1] {
                let first = if other_sent < sent { other } else { job };
                if !self.is_loss(first) {
                    self.violated(
                        at,
                        "a spent refresh token was sent again",
                        format!(
                            "pair {old}'s refresh token sent by job {other} ({}) and job {job} ({}); job {first}, the first to send it, was no loss",
                            self.describe_job(other),
                            self.describe_job(job)
                        ),
                    );
                    break;
                }
            }
        }
        if let Handled::Issued {
            rotated: Some(old), ..
        } = handled
        {
            // Invariant 2, each token once: no process rotates a token before its refresh
            // point by its own clock (the server's instant plus the sender's skew). A set's
            // point is the same in every process, so with one rotation per point the fleet
            // makes one refresh per token.
            let clock = BASE as i64 + at as i64 + presenter_skew;
            if let Some(point) = self.sets.get(old).and_then(|set| set.refresh_point)
                && clock < point as i64
            {
                self.violated(
                    at,
                    "a token was rotated before its refresh point",
                    format!(
                        "pair {old} rotated by job {job} at its clock {}, {} ms before the refresh point",
                        clock - BASE as i64,
                        point as i64 - clock
                    ),
                );
            }
            // Refreshes ≤ expiries + 1 (+ one per loss): the sets whose refresh point the
            // fastest clock has reached.
            let due = self
                .sets
                .iter()
                .filter_map(|set| set.refresh_point)
                .filter(|point| point.saturating_sub(BASE + schedule.max_skew) <= at)
                .count() as u64;
            let losses = self.losses();
            if passport.rotations > due + 1 + losses {
                self.violated(
                    at,
                    "more refreshes than expiries",
                    format!(
                        "{} rotations, {due} tokens due, {losses} losses",
                        passport.rotations
                    ),
                );
            }
        }
        if let Handled::Issued { rotated: None, .. } = handled {
            // Exactly one login per fleet start, plus one per loss.
            let losses = self.losses();
            if passport.logins > 1 + losses {
                self.violated(
                    at,
                    "more logins than the fleet's start and its losses",
                    format!("{} logins, {losses} losses", passport.logins),
                );
            }
        }
    }

    /// Invariant 3: a caller of process `process` (in `mode`) is handed pair `pair`'s token
    /// at `at`.
    pub fn hand_out(
        &mut self,
        at: u64,
        process: usize,
        mode: Mode,
        pair: usize,
        passport: &Passport,
    ) {
        self.hand_outs += 1;
        let Some(issued) = passport.pairs.get(pair) else {
            return self.violated(at, "handed out an unknown token", format!("pair {pair}"));
        };
        // Expired: by the server's clock. Holds under the skew rule (`Schedule::max_skew`).
        if issued.expires_at <= at {
            return self.violated(
                at,
                "handed out an expired token",
                format!(
                    "p{process} handed out pair {pair}, expired at {}",
                    issued.expires_at
                ),
            );
        }
        // Unsaved: in the store, or its save reported failed (then it is used: it works, and
        // the old refresh token is already dead).
        let set = self.set(pair);
        if set.landed.is_none() && !set.save_failed {
            return self.violated(
                at,
                "handed out an unsaved token",
                format!("p{process} handed out pair {pair} before its save was done"),
            );
        }
        // Rotated by the fleet: a foreground process never hands one out (its margin stops
        // hand-outs before the refresh point, and no one rotates before it, which
        // `token_request` checks). A background process hands out its published token while
        // its refresh ahead (or another process's, at the same point) is out: Passport
        // revokes the old token when it rotates, so such a call may get a 401, and
        // invariant 4 says the retry then works.
        if mode == Mode::Foreground && issued.revoked_at.is_some_and(|revoked| revoked <= at) {
            self.violated(
                at,
                "handed out a token the fleet rotated",
                format!(
                    "foreground p{process} handed out pair {pair}, revoked at {}",
                    issued.revoked_at.unwrap_or_default()
                ),
            );
        }
    }

    /// Invariants 4 and 5 for a call of process `process` that ran from `started` to `at`,
    /// running or waiting for `jobs` jobs.
    #[allow(clippy::too_many_arguments)]
    pub fn call_ended(
        &mut self,
        at: u64,
        process: usize,
        started: u64,
        jobs: u64,
        end: &CallEnd,
        passport: &Passport,
        schedule: &Schedule,
    ) {
        self.calls += 1;
        if let CallEnd::Failed = end {
            self.failed_calls += 1;
        }
        self.call_going(at, process, started, jobs, schedule);
        // Invariant 4. The simulated API refuses only revoked or expired tokens, and no
        // expired one is handed out. A first 401 is always retried (`RetryWithNewToken`), and
        // the retry succeeds, except
        // (a) when the refused token's successor was lost (the rotation's job a loss: no newer
        //     token exists for the fleet), or
        // (b) when the retry was handed another token than the refused one, at or after that
        //     token's refresh point less twice the largest skew and the API's latency (by the
        //     handing process's clock): there the fleet's rotation, in turn but by a faster
        //     clock, may reach the server before the retried call, a race no process can see
        //     coming (a background process hands out its token up to and past that point; a
        //     foreground one stops a margin before it, `Schedule::max_skew`).
        if let CallEnd::Unauthorized {
            pair,
            handed,
            refused,
        } = *end
        {
            let _ = self.losses();
            let rotated = passport.pairs.get(pair).and_then(|p| p.rotated);
            let lost =
                rotated.is_some_and(|(_, successor)| self.is_loss(passport.pairs[successor].job));
            let near = 2 * schedule.max_skew + schedule.api_latency;
            let raced = refused.is_some_and(|first| first != pair)
                && self
                    .sets
                    .get(pair)
                    .and_then(|set| set.refresh_point)
                    .is_some_and(|point| handed + near >= point);
            if !lost && !raced {
                self.violated(
                    at,
                    "a call ended in a 401 for a token the fleet rotated",
                    format!(
                        "p{process}'s call from {started} got a 401 for pair {pair} (handed out at its clock {}, refresh point {:?}, rotated at {:?}, {})",
                        handed.saturating_sub(BASE),
                        self.sets.get(pair).and_then(|set| set.refresh_point).map(|p| p.saturating_sub(BASE)),
                        rotated.map(|(at, _)| at),
                        match refused {
                            Some(first) => format!("on the retry after a 401 for pair {first}"),
                            None => "reported, not retried".into(),
                        }
                    ),
                );
            }
        }
    }

    /// Invariant 5, liveness, for a call still going (and at its end).
    pub fn call_going(
        &mut self,
        at: u64,
        process: usize,
        started: u64,
        jobs: u64,
        schedule: &Schedule,
    ) {
        // Bounded by the configured timeouts (`Schedule::call_bound`), whatever the faults
        // last.
        if at - started > schedule.call_bound() {
            self.violated(
                at,
                "a call took longer than its bound",
                format!(
                    "p{process}'s call from {started} took {} ms (bound {} ms)",
                    at - started,
                    schedule.call_bound()
                ),
            );
        }
        // A call that gets its token twice runs or waits for at most two jobs each time, plus
        // a first load and a retried save (`Schedule::call_bound` counts the same).
        if jobs > MAX_JOBS_PER_CALL {
            self.violated(
                at,
                "a call ran too many jobs",
                format!("p{process}'s call from {started} ran or waited for {jobs} jobs"),
            );
        }
    }

    pub fn describe_job(&self, job: usize) -> String {
        let record = &self.jobs[job];
        format!(
            "p{}#{}{}{}",
            record.process,
            record.incarnation,
            if record.disrupted { ", disrupted" } else { "" },
            if record.active { ", running" } else { "" }
        )
    }

    /// At the end, after every process shut down: the store's refresh token works, unless
    /// the job that spent it was a loss. Shutdown finished every rotation and its save.
    pub fn at_end(&mut self, at: u64, stored: Option<&TokenSet>, passport: &Passport) {
        // A set whose refresh token was refused and dropped needs the login it will get.
        let Some(pair) = stored
            .filter(|set| set.refresh_token().is_some())
            .and_then(|set| access_number(set.access_token().expose_secret()))
        else {
            return;
        };
        let _ = self.losses();
        let spenders = &passport.pairs[pair].presented_by;
        if let Some(&(_, spender)) = spenders.first()
            && !spenders.iter().any(|&(_, job)| self.is_loss(job))
        {
            self.violated(
                at,
                "the fleet shut down with a spent refresh token in the store",
                format!(
                    "the store holds pair {pair}, whose refresh token job {spender} ({}) spent",
                    self.describe_job(spender)
                ),
            );
        }
    }
}

/// At most this many jobs run or waited for in one call.
pub const MAX_JOBS_PER_CALL: u64 = 8;

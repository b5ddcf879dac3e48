//! The virtual clock and its event queue, and the wiring between the fleet, the simulated
//! store and the simulated Passport: a call leaves a process, arrives (after its latency, or
//! when a stall ends), is processed, and its answer (or its timeout) comes back.
//!
//! Nothing here reads a clock or spawns a thread: one schedule is one loop over a priority
//! queue of events ordered by (virtual time, insertion), so a seed replays exactly.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use http::Response;
use keliweb_oauth::coordinator::Stored;
use keliweb_oauth::error::{StoreError, StoreErrorKind};
use keliweb_oauth::sans_io::TokenId;
use keliweb_oauth::{Config, TokenSet};

use crate::driver::{Gone, Process, Target};
use crate::invariants::{Ledger, Violation};
use crate::passport::{Handled, Passport};
use crate::rng::Rng;
use crate::schedule::{Schedule, StoreKind};
use crate::store::{Granted, Store};
use crate::trace::Trace;

/// A store call on its way to the store.
#[derive(Debug)]
pub struct StoreCall {
    pub op: u64,
    pub to: Target,
    pub lease: u64,
    pub kind: StoreCallKind,
    pub issued: u64,
    /// It waited for a stall to end already.
    pub held: bool,
}

#[derive(Debug)]
pub enum StoreCallKind {
    Lease {
        orphans: Vec<u64>,
    },
    Load,
    Save {
        expected: u64,
        tokens: Option<TokenSet>,
        pair: Option<usize>,
    },
    Release,
}

/// A token request on its way to the server.
#[derive(Debug)]
pub struct TokenCall {
    pub op: u64,
    pub to: Target,
    pub job: usize,
    pub body: Vec<u8>,
    pub issued: u64,
    /// How long the answer takes from the server's processing back to the client.
    pub answer_delay: u64,
}

/// What comes back to an executor.
#[derive(Debug)]
pub enum Reply {
    Leased,
    Loaded(Stored),
    Saved(Result<u64, StoreError>),
    Released,
    StoreFailed(StoreError),
    /// The store did not answer in time: the call may still be processed.
    StoreTimedOut,
    LeaseWaitTimedOut,
    Answer(Response<Vec<u8>>, Option<usize>),
    RequestTimedOut,
}

#[derive(Debug)]
pub enum Event {
    /// A process starts (a new incarnation).
    Start(usize),
    /// A caller (or a process's shutdown sequence) goes on.
    Wake(Target),
    StoreArrives(StoreCall),
    ServerArrives(TokenCall),
    /// A token request's answer reaches its executor (a store answers at once, in the event
    /// that processes the call).
    Reply(Target, u64, Reply),
    /// An executor's call times out unless answered already: the reply it then gets.
    Timeout(Target, u64, Reply),
    /// A caller's API call reaches the API.
    Api(Target, u64, String, TokenId),
    LeaseExpires(u64),
    OutageStarts,
    /// A background process restarts cleanly (a deploy): it stops, then starts again.
    Stop(usize, u32),
    /// The run's end: callers stop, every process shuts down.
    End,
}

/// An event's place in the queue; the event itself waits in `World::slots`, so the heap moves
/// three words, not an event with an HTTP response in it.
struct Scheduled {
    at: u64,
    seq: u64,
    slot: usize,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    // The heap is a max-heap: the earliest event, then the first scheduled, is the greatest.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Events a schedule may take before it counts as a livelock.
const EVENT_BUDGET: u64 = 400_000;

pub struct World {
    pub now: u64,
    queue: BinaryHeap<Scheduled>,
    slots: Vec<Option<Event>>,
    free: Vec<usize>,
    seq: u64,
    pub rng: Rng,
    pub schedule: Schedule,
    pub config: Config,
    pub store: Store,
    pub passport: Passport,
    pub processes: Vec<Process>,
    pub ledger: Ledger,
    pub trace: Trace,
    next_id: u64,
    pub events: u64,
    /// The run's end came: no new call, no restart.
    pub ending: bool,
    /// Lease calls waiting in the store, and whom to answer.
    pub lease_waits: Vec<(u64, Target)>,
    /// Lease calls whose caller gave up before the store processed them.
    pub abandoned_leases: Vec<u64>,
}

/// How one schedule went.
pub struct Outcome {
    pub violation: Option<Violation>,
    pub trace: Vec<String>,
    pub description: String,
    pub events: u64,
    pub ledger: Ledger,
    pub passport: Passport,
}

pub fn run(seed: u64, tracing: bool) -> Outcome {
    let mut rng = crate::rng::for_schedule(seed);
    let schedule = Schedule::draw(seed, &mut rng);
    let mut world = World {
        now: 0,
        queue: BinaryHeap::new(),
        slots: Vec::new(),
        free: Vec::new(),
        seq: 0,
        rng,
        config: schedule.config(),
        store: Store::new(schedule.store_kind, schedule.hold),
        passport: Passport::default(),
        processes: schedule
            .processes
            .iter()
            .cloned()
            .map(Process::new)
            .collect(),
        ledger: Ledger::default(),
        trace: Trace::new(tracing),
        next_id: 1,
        events: 0,
        ending: false,
        lease_waits: Vec::new(),
        abandoned_leases: Vec::new(),
        schedule,
    };
    if tracing {
        let description = world.schedule.describe();
        world.trace_line("world", || description);
    }
    for process in 0..world.processes.len() {
        let at = world.rng.below(world.schedule.think.0);
        world.at(at, Event::Start(process));
    }
    for outage in world.schedule.outages.clone() {
        world.at(outage.start, Event::OutageStarts);
    }
    world.at(world.schedule.duration, Event::End);
    // Every call started before the end finishes within its bound, then the shutdowns do.
    let deadline = world.schedule.duration + 3 * world.schedule.call_bound();
    while let Some(next) = world.queue.pop() {
        if next.at > deadline && world.processes.iter().any(|process| process.up.is_some()) {
            let at = next.at;
            world.ledger.violated(
                at,
                "the run did not end",
                format!("a process still runs after the deadline {deadline}"),
            );
            break;
        }
        world.now = next.at;
        world.events += 1;
        if world.events > EVENT_BUDGET {
            world.ledger.violated(
                world.now,
                "livelock",
                format!("more than {EVENT_BUDGET} events"),
            );
            break;
        }
        let event = world.slots[next.slot].take().expect("a scheduled event");
        world.free.push(next.slot);
        world.handle(event);
        if world.ledger.violation.is_some() {
            break;
        }
    }
    if world.ledger.violation.is_none() {
        world.finish();
    }
    if let Some(violation) = &world.ledger.violation {
        let (at, rule, detail) = (violation.at, violation.rule, violation.detail.clone());
        world
            .trace
            .line(at, "CHECK", || format!("VIOLATION {rule}: {detail}"));
    }
    Outcome {
        violation: world.ledger.violation.clone(),
        trace: world.trace.lines().to_vec(),
        description: world.schedule.describe(),
        events: world.events,
        ledger: world.ledger,
        passport: world.passport,
    }
}

impl World {
    pub fn at(&mut self, at: u64, event: Event) {
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(event);
                slot
            }
            None => {
                self.slots.push(Some(event));
                self.slots.len() - 1
            }
        };
        self.queue.push(Scheduled {
            at: at.max(self.now),
            seq: self.seq,
            slot,
        });
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn trace_line(&mut self, who: &str, what: impl FnOnce() -> String) {
        let now = self.now;
        self.trace.line(now, who, what);
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Start(process) => self.start(process),
            Event::Wake(target) => self.wake(target),
            Event::StoreArrives(call) => self.store_arrives(call),
            Event::ServerArrives(call) => self.server_arrives(call),
            Event::Reply(target, op, reply) | Event::Timeout(target, op, reply) => {
                self.deliver(target, op, reply);
            }
            Event::Api(target, op, token, id) => self.api_arrives(target, op, &token, id),
            Event::LeaseExpires(lease) => self.lease_expires(lease),
            Event::OutageStarts => {
                let waiting = self.store.fail_waiters();
                self.trace_line("store", || {
                    format!("outage: {} lease waits fail", waiting.len())
                });
                for op in waiting {
                    if let Some(target) = self.waiting_target(op) {
                        self.deliver(target, op, Reply::StoreFailed(unavailable("down")));
                    }
                }
            }
            Event::Stop(process, incarnation) => self.stop(process, incarnation),
            Event::End => {
                self.ending = true;
                self.trace_line("world", || {
                    "the run ends: callers stop, processes shut down".into()
                });
                for process in 0..self.processes.len() {
                    let incarnation = self.processes[process].incarnation;
                    self.stop(process, incarnation);
                }
            }
        }
    }

    fn store_arrives(&mut self, mut call: StoreCall) {
        let alive = self.is_alive(call.to);
        // A file lock is released by closing its file: no outage or stall stops that.
        let unlocking =
            self.store.kind == StoreKind::File && matches!(call.kind, StoreCallKind::Release);
        if !call.held
            && !unlocking
            && let Some(until) = self.schedule.store_stalled_until(self.now)
        {
            // Frozen: processed when the stall ends. The caller's call times out meanwhile.
            call.held = true;
            let timeout = call.issued + self.schedule.store_timeout;
            if until > timeout {
                self.at(
                    timeout,
                    Event::Timeout(call.to, call.op, Reply::StoreTimedOut),
                );
            }
            self.at(until, Event::StoreArrives(call));
            return;
        }
        let (to, op) = (call.to, call.op);
        if self.schedule.store_down(self.now) && !unlocking {
            self.deliver(to, op, Reply::StoreFailed(unavailable("down")));
            return;
        }
        let holder = (to.process, to.incarnation);
        match call.kind {
            StoreCallKind::Lease { orphans } => {
                // A dead process asks no file lock, nor one whose call timed out (its file
                // is closed); a Redis command sent before still runs.
                let abandoned = self.abandoned_leases.contains(&op);
                if self.store.kind == StoreKind::File && (!alive || abandoned) {
                    return;
                }
                self.lease_waits.push((op, to));
                let (granted, others) =
                    self.store.lease(self.now, op, call.lease, holder, &orphans);
                for grant in others {
                    self.granted(grant);
                }
                match granted {
                    Some(grant) => self.granted(grant),
                    None => {
                        let deadline = call.issued + 2 * self.schedule.hold;
                        self.at(deadline, Event::Timeout(to, op, Reply::LeaseWaitTimedOut));
                    }
                }
            }
            StoreCallKind::Load => {
                let stored = self.store.load();
                self.deliver(to, op, Reply::Loaded(stored));
            }
            StoreCallKind::Save {
                expected,
                tokens,
                pair,
            } => {
                let saved = self.store.save(self.now, call.lease, expected, tokens);
                if saved.is_ok()
                    && let Some(pair) = pair
                {
                    let now = self.now;
                    self.ledger.set(pair).landed.get_or_insert(now);
                }
                let version = self.store.version;
                self.trace_line("store", || match (&saved, pair) {
                    (Ok(_), Some(pair)) => {
                        format!("p{} saved pair {pair} as version {version}", to.process)
                    }
                    (Ok(_), None) => {
                        format!("p{} saved an empty set as version {version}", to.process)
                    }
                    (Err(error), _) => {
                        format!("p{}'s save refused: {}", to.process, error.message())
                    }
                });
                self.deliver(to, op, Reply::Saved(saved));
            }
            StoreCallKind::Release => {
                if let Some(grant) = self.store.release(call.lease, self.now) {
                    self.granted(grant);
                }
                self.deliver(to, op, Reply::Released);
            }
        }
    }

    /// Lease `grant.lease` goes to the call that waited for it.
    pub fn granted(&mut self, grant: Granted) {
        let target = self.waiting_target(grant.op);
        let holder = self.store.lease.as_ref().map(|lease| lease.holder);
        self.trace_line("store", || {
            format!(
                "lease {} granted to p{:?}",
                grant.lease,
                holder.map(|h| h.0)
            )
        });
        if let Some(until) = self.store.lease.as_ref().and_then(|lease| lease.expires_at) {
            self.at(until, Event::LeaseExpires(grant.lease));
        }
        if let Some(target) = target {
            self.deliver(target, grant.op, Reply::Leased);
        }
    }

    fn waiting_target(&mut self, op: u64) -> Option<Target> {
        let index = self
            .lease_waits
            .iter()
            .position(|(waiting, _)| *waiting == op)?;
        Some(self.lease_waits.swap_remove(index).1)
    }

    fn lease_expires(&mut self, lease: u64) {
        if let Some(until) = self.schedule.store_stalled_until(self.now) {
            // A frozen store expires nothing until it runs again.
            self.at(until, Event::LeaseExpires(lease));
            return;
        }
        let (expired, grant) = self.store.expire(lease, self.now);
        if expired {
            self.trace_line("store", || format!("lease {lease} expired"));
            // Its job, if it still runs, may have a save that will be refused.
            if let Some(job) = self
                .ledger
                .jobs
                .iter_mut()
                .rev()
                .find(|job| job.lease == Some(lease) && job.active)
            {
                job.disrupted = true;
            }
        }
        if let Some(grant) = grant {
            self.granted(grant);
        }
    }

    fn server_arrives(&mut self, call: TokenCall) {
        let (response, handled) = self.passport.token_request(
            &call.body,
            self.now,
            call.op,
            call.job,
            &self.schedule,
            &mut self.rng,
        );
        let process = call.to.process;
        let skew = self.processes[process].plan.skew;
        self.ledger.token_request(
            self.now,
            call.job,
            handled,
            skew,
            &self.passport,
            &self.schedule,
        );
        self.trace_line("server", || match handled {
            Handled::Issued {
                pair,
                rotated: None,
            } => format!("login by p{process}: pair {pair}"),
            Handled::Issued {
                pair,
                rotated: Some(old),
            } => {
                format!("rotation by p{process}: pair {old} -> pair {pair}")
            }
            Handled::Refused { pair } => {
                format!("refused p{process}'s spent refresh token of pair {pair}")
            }
            Handled::NotProcessed(status) => format!("answered p{process} {status}"),
        });
        if let Some(Gone::Exited) = self.processes[process].gone(call.to.incarnation) {
            self.ledger.violated(
                self.now,
                "a token request outlived its process's shutdown",
                format!("p{process}#{} had shut down", call.to.incarnation),
            );
            return;
        }
        let pair = match handled {
            Handled::Issued { pair, .. } => Some(pair),
            _ => None,
        };
        let arrives = self.now + call.answer_delay;
        let timeout = call.issued + self.schedule.request_timeout;
        if arrives < timeout {
            self.at(
                arrives,
                Event::Reply(call.to, call.op, Reply::Answer(response, pair)),
            );
        } else {
            self.at(
                timeout,
                Event::Timeout(call.to, call.op, Reply::RequestTimedOut),
            );
        }
        let rotated = matches!(
            handled,
            Handled::Issued {
                rotated: Some(_),
                ..
            }
        );
        if rotated && self.is_alive(call.to) && self.rng.chance(self.schedule.crashes_at_rotation) {
            self.trace_line(&format!("p{process}"), || {
                "crashes between the rotation and the save".into()
            });
            self.crash(process);
        }
    }

    pub fn is_alive(&self, target: Target) -> bool {
        let process = &self.processes[target.process];
        process.incarnation == target.incarnation && process.up.is_some()
    }
}

pub fn unavailable(why: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Unavailable,
        format!("the simulated store is {why}"),
    )
}

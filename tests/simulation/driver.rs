//! The process and driver model: each simulated process is a `Coordinator` (from
//! `Session::new` with a store) driven the way the clients drive it, by callers that want a
//! token and call the API, by background executors of the refresh ahead, and by the
//! shutdown sequence.
//!
//! The driver rules modelled (the clients' protocol, `src/coordinator/mod.rs`):
//! - A caller uses the published token (`take_publication`) while it is usable. A background
//!   process then starts the refresh ahead (`refresh_ahead`) once past `refresh_ahead_at` and
//!   runs its job in a background executor; a foreground process asks `Coordinator::foreground`
//!   first and, told `StepAt`, waits for that instant and steps for the want.
//! - Without a usable token a caller steps: `Ready` (the published token), `Failed`, `Wait`
//!   (until the job is over, then `waited`), or `Work` (it runs the job to its end).
//! - An executor does each `Work` and reports it; a store call that times out under a Redis
//!   lease is reported after `lease_lost`, and its lease is remembered, as `RedisStore` does,
//!   to be released before the process's next lease.
//! - An API `401` goes to `unauthorized`; `RetryWithNewToken` retries the call once.
//! - A process that stops calls `shutdown` and `shutdown_step` until `Ready` or `Failed`,
//!   once no call of its own is under way, and then exits.

use keliweb_oauth::UnixTime;
use keliweb_oauth::coordinator::{Coordinator, Foreground, JobId, Step, Unauthorized, Want, Work};
use keliweb_oauth::error::{StoreError, StoreErrorKind, TransportError, TransportErrorKind};
use keliweb_oauth::sans_io::{Authorization, RequestId, Session, TokenId};

use crate::invariants::{CallEnd, JobRecord};
use crate::passport::access_number;
use crate::schedule::{BASE, Mode, ProcessPlan, StoreKind};
use crate::world::{Event, Reply, StoreCall, StoreCallKind, TokenCall, World};

/// Who in a process runs or waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    Caller(usize),
    Background(usize),
    Shutdown,
}

/// Where an answer goes: a process's incarnation and who in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target {
    pub process: usize,
    pub incarnation: u32,
    pub who: Who,
}

/// How an incarnation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gone {
    Crashed,
    Exited,
}

pub struct Process {
    pub plan: ProcessPlan,
    pub incarnation: u32,
    pub up: Option<Box<Up>>,
    ended: Vec<Gone>,
}

impl Process {
    pub fn new(plan: ProcessPlan) -> Self {
        Self {
            plan,
            incarnation: 0,
            up: None,
            ended: Vec::new(),
        }
    }

    pub fn gone(&self, incarnation: u32) -> Option<Gone> {
        self.ended.get(incarnation as usize).copied()
    }
}

pub struct Up {
    co: Coordinator,
    /// The published token, and the pair it is of.
    published: Option<(Authorization, usize)>,
    callers: Vec<Caller>,
    background: Vec<Option<Exec>>,
    shutdown: Option<Shutdown>,
    /// The stop began then: no new call.
    stopping: Option<u64>,
    /// Leases this process may hold without knowing (see `Store::lease`).
    orphans: Vec<u64>,
}

struct Shutdown {
    waiting: Option<(JobId, bool)>,
    exec: Option<Exec>,
}

struct Caller {
    state: State,
    call: Option<Call>,
    calls_done: u64,
    exec: Option<Exec>,
}

#[derive(Clone, Copy, Debug)]
enum State {
    Idle,
    /// Getting a token for `want`; `lock_free`: look at the published token first.
    Acquire {
        want: Want,
        lock_free: bool,
    },
    /// A foreground caller waits for the instant `foreground` named.
    Sleeping {
        want: Want,
    },
    Waiting {
        job: JobId,
        want: Want,
        woken: bool,
    },
    Executing {
        want: Want,
    },
    Calling {
        op: u64,
        pair: usize,
        token: TokenId,
        handed: u64,
    },
    Finished,
}

struct Call {
    started: u64,
    jobs: u64,
    /// The first attempt got a 401 for this pair's token: this is the retry.
    refused: Option<usize>,
}

struct Exec {
    job: JobId,
    /// The ledger's number for the job.
    record: usize,
    lease: Option<u64>,
    pending: Option<(u64, Pending)>,
}

#[derive(Clone, Copy, Debug)]
enum Pending {
    Lease(u64),
    Load,
    Send(RequestId),
    Save(Option<usize>),
    Release(u64),
}

/// Steps a caller takes at one instant before it counts as a livelock.
const STEPS_PER_INSTANT: usize = 64;

fn meets(want: Want, token: &Authorization) -> bool {
    match want {
        Want::Usable => true,
        Want::NewerThan(old) => token.token_id() > old,
    }
}

fn pair_of(token: &Authorization) -> usize {
    let header = token.expose_header_value().to_str().unwrap_or_default();
    header
        .strip_prefix("Bearer ")
        .and_then(access_number)
        .unwrap_or(usize::MAX)
}

impl World {
    /// Process `process`'s clock.
    pub fn clock(&self, process: usize) -> UnixTime {
        let skew = self.processes[process].plan.skew;
        UnixTime::from_millis((BASE as i64 + self.now as i64 + skew) as u64)
    }

    /// The virtual instant at which `process`'s clock reads `at`.
    fn virtual_time(&self, process: usize, at: UnixTime) -> u64 {
        let skew = self.processes[process].plan.skew;
        (at.as_millis() as i64 - BASE as i64 - skew).max(self.now as i64) as u64
    }

    fn up(&mut self, process: usize) -> &mut Up {
        self.processes[process]
            .up
            .as_mut()
            .expect("the process is up")
    }

    fn who(&self, target: Target) -> String {
        match target.who {
            Who::Caller(caller) => format!("p{}.{caller}", target.process),
            Who::Background(_) => format!("p{}.bg", target.process),
            Who::Shutdown => format!("p{}.sd", target.process),
        }
    }

    fn note(&mut self, target: Target, what: impl FnOnce() -> String) {
        if self.trace.enabled() {
            let who = self.who(target);
            self.trace_line(&who, what);
        }
    }

    pub fn start(&mut self, process: usize) {
        if self.ending || self.processes[process].up.is_some() {
            return;
        }
        let now = self.clock(process);
        let session = Session::new(self.config.clone());
        let plan = self.processes[process].plan.clone();
        let callers = (0..plan.callers)
            .map(|_| Caller {
                state: State::Idle,
                call: None,
                calls_done: 0,
                exec: None,
            })
            .collect();
        self.processes[process].up = Some(Box::new(Up {
            co: Coordinator::new(session, true, now),
            published: None,
            callers,
            background: Vec::new(),
            shutdown: None,
            stopping: None,
            orphans: Vec::new(),
        }));
        let incarnation = self.processes[process].incarnation;
        self.trace_line(&format!("p{process}"), || {
            format!("starts (incarnation {incarnation})")
        });
        for caller in 0..plan.callers {
            let delay = match plan.mode {
                Mode::Background => self.rng.below(self.schedule.think.0),
                Mode::Foreground => self.rng.below(50),
            };
            let target = Target {
                process,
                incarnation,
                who: Who::Caller(caller),
            };
            self.at(self.now + delay, Event::Wake(target));
        }
        if plan.mode == Mode::Background && self.rng.chance(self.schedule.restarts) {
            let at = self.now + self.rng.below(self.schedule.duration);
            self.at(at, Event::Stop(process, incarnation));
        }
    }

    /// Whether the event for `target` finds it alive; it may crash right here.
    fn arrive(&mut self, target: Target) -> bool {
        if !self.is_alive(target) {
            return false;
        }
        if self.rng.chance(self.schedule.crashes) {
            self.trace_line(&format!("p{}", target.process), || "crashes".into());
            self.crash(target.process);
            return false;
        }
        true
    }

    pub fn wake(&mut self, target: Target) {
        if !self.arrive(target) {
            return;
        }
        match target.who {
            Who::Caller(caller) => {
                if let State::Waiting { job, want, .. } =
                    self.up(target.process).callers[caller].state
                {
                    self.up(target.process).callers[caller].state = State::Waiting {
                        job,
                        want,
                        woken: false,
                    };
                }
                self.caller_go(target.process, caller);
            }
            Who::Shutdown => {
                if let Some(shutdown) = &mut self.up(target.process).shutdown
                    && let Some((job, _)) = shutdown.waiting
                {
                    shutdown.waiting = Some((job, false));
                }
                self.shutdown_go(target.process);
            }
            Who::Background(_) => {}
        }
    }

    fn caller_go(&mut self, process: usize, caller: usize) {
        let incarnation = self.processes[process].incarnation;
        let target = Target {
            process,
            incarnation,
            who: Who::Caller(caller),
        };
        let mode = self.processes[process].plan.mode;
        for _ in 0..STEPS_PER_INSTANT {
            if !self.is_alive(target) {
                return;
            }
            let now = self.clock(process);
            let state = self.up(process).callers[caller].state;
            if let Some(call) = &self.up(process).callers[caller].call {
                let (started, jobs) = (call.started, call.jobs);
                self.ledger
                    .call_going(self.now, process, started, jobs, &self.schedule);
            }
            match state {
                State::Idle => {
                    if self.up(process).stopping.is_some() || self.ending {
                        self.up(process).callers[caller].state = State::Finished;
                        self.maybe_shutdown(process);
                        return;
                    }
                    let started = self.now;
                    let up = self.up(process);
                    up.callers[caller].call = Some(Call {
                        started,
                        jobs: 0,
                        refused: None,
                    });
                    up.callers[caller].state = State::Acquire {
                        want: Want::Usable,
                        lock_free: true,
                    };
                    self.note(target, || "call starts".into());
                }
                State::Acquire { want, lock_free } => {
                    let margin = std::time::Duration::from_millis(self.schedule.margin);
                    let up = self.up(process);
                    let usable = up
                        .published
                        .clone()
                        .filter(|(token, _)| token.is_usable_at(now));
                    if lock_free && let Some((token, pair)) = usable {
                        match mode {
                            Mode::Background => {
                                if up.co.refresh_ahead_at(now).is_some_and(|at| now >= at) {
                                    let job = up.co.refresh_ahead(now);
                                    self.sync(process);
                                    if let Some((job, work)) = job {
                                        self.background(process, job, work);
                                    }
                                }
                                return self.hand_out(target, &token, pair);
                            }
                            Mode::Foreground => {
                                let save_due = up.co.save_due();
                                match Coordinator::foreground(&token, margin, save_due, now) {
                                    Foreground::Use if meets(want, &token) => {
                                        return self.hand_out(target, &token, pair);
                                    }
                                    Foreground::Use => {
                                        up.callers[caller].state = State::Acquire {
                                            want,
                                            lock_free: false,
                                        };
                                    }
                                    Foreground::StepAt(want, at) if at > now => {
                                        up.callers[caller].state = State::Sleeping { want };
                                        let wake = self.virtual_time(process, at);
                                        self.note(target, || format!("waits for the refresh point ({want:?}) until {wake}"));
                                        self.at(wake, Event::Wake(target));
                                        return;
                                    }
                                    Foreground::StepAt(want, _) => {
                                        up.callers[caller].state = State::Acquire {
                                            want,
                                            lock_free: false,
                                        };
                                    }
                                }
                            }
                        }
                        continue;
                    }
                    let step = self.up(process).co.step(want, now);
                    self.note(target, || {
                        format!("step {want:?}: {}", describe_step(&step))
                    });
                    self.sync(process);
                    let up = self.up(process);
                    match step {
                        // Use the published token: it meets the want.
                        Step::Ready => match up.published.clone() {
                            Some((token, pair))
                                if token.is_usable_at(now) && meets(want, &token) =>
                            {
                                return self.hand_out(target, &token, pair);
                            }
                            _ => {
                                up.callers[caller].state = State::Acquire {
                                    want,
                                    lock_free: true,
                                }
                            }
                        },
                        Step::Failed(_) => return self.end_call(process, caller, CallEnd::Failed),
                        Step::Wait(job) => {
                            if let Some(call) = &mut up.callers[caller].call {
                                call.jobs += 1;
                            }
                            up.callers[caller].state = State::Waiting {
                                job,
                                want,
                                woken: false,
                            };
                            if up.co.is_running(job) {
                                return;
                            }
                        }
                        Step::Work(job, work) => {
                            if let Some(call) = &mut up.callers[caller].call {
                                call.jobs += 1;
                            }
                            up.callers[caller].state = State::Executing { want };
                            let exec = self.new_exec(process, job);
                            self.up(process).callers[caller].exec = Some(exec);
                            return self.perform(target, work);
                        }
                    }
                }
                State::Sleeping { want } => {
                    self.up(process).callers[caller].state = State::Acquire {
                        want,
                        lock_free: false,
                    };
                }
                State::Waiting { job, want, .. } => {
                    let up = self.up(process);
                    if up.co.is_running(job) {
                        return;
                    }
                    if let Some(error) = up.co.waited(job, want, now) {
                        self.note(target, || format!("waited: {error}"));
                        return self.end_call(process, caller, CallEnd::Failed);
                    }
                    up.callers[caller].state = State::Acquire {
                        want,
                        lock_free: true,
                    };
                }
                State::Executing { want } => {
                    if self.up(process).callers[caller].exec.is_some() {
                        return;
                    }
                    self.up(process).callers[caller].state = State::Acquire {
                        want,
                        lock_free: true,
                    };
                }
                State::Calling { .. } | State::Finished => return,
            }
        }
        self.ledger.violated(
            self.now,
            "livelock",
            format!("p{process}'s caller {caller} took {STEPS_PER_INSTANT} steps at one instant"),
        );
    }

    fn hand_out(&mut self, target: Target, token: &Authorization, pair: usize) {
        let Who::Caller(caller) = target.who else {
            return;
        };
        let process = target.process;
        let mode = self.processes[process].plan.mode;
        self.ledger
            .hand_out(self.now, process, mode, pair, &self.passport);
        self.note(target, || {
            format!("handed pair {pair} ({:?})", token.token_id())
        });
        let op = self.next_id();
        let latency = self.rng.below(self.schedule.api_latency + 1);
        let handed = self.clock(process).as_millis();
        self.up(process).callers[caller].state = State::Calling {
            op,
            pair,
            token: token.token_id(),
            handed,
        };
        let access = crate::passport::access_token(pair);
        self.at(
            self.now + latency,
            Event::Api(target, op, access, token.token_id()),
        );
    }

    pub fn api_arrives(&mut self, target: Target, op: u64, access: &str, id: TokenId) {
        if !self.arrive(target) {
            return;
        }
        let (process, Who::Caller(caller)) = (target.process, target.who) else {
            return;
        };
        let State::Calling {
            op: calling,
            pair,
            token,
            handed,
        } = self.up(process).callers[caller].state
        else {
            return;
        };
        if calling != op || token != id {
            return;
        }
        let answer = self.passport.api(access, self.now);
        if answer == crate::passport::ApiAnswer::Ok {
            self.note(target, || format!("API call with pair {pair}: 200"));
            return self.end_call(process, caller, CallEnd::Ok);
        }
        let now = self.clock(process);
        let up = self.up(process);
        let refused = up.callers[caller]
            .call
            .as_ref()
            .and_then(|call| call.refused);
        let rule = up.co.unauthorized(token, now);
        self.note(target, || {
            format!("API call with pair {pair}: 401, {rule:?}")
        });
        self.sync(process);
        match rule {
            Unauthorized::RetryWithNewToken if refused.is_none() => {
                self.ledger.retried_401s += 1;
                let up = self.up(process);
                if let Some(call) = &mut up.callers[caller].call {
                    call.refused = Some(pair);
                }
                up.callers[caller].state = State::Acquire {
                    want: Want::Usable,
                    lock_free: true,
                };
                self.caller_go(process, caller);
            }
            _ => self.end_call(
                process,
                caller,
                CallEnd::Unauthorized {
                    pair,
                    handed,
                    refused,
                },
            ),
        }
    }

    fn end_call(&mut self, process: usize, caller: usize, end: CallEnd) {
        let incarnation = self.processes[process].incarnation;
        let target = Target {
            process,
            incarnation,
            who: Who::Caller(caller),
        };
        let up = self.up(process);
        let Some(call) = up.callers[caller].call.take() else {
            return;
        };
        up.callers[caller].calls_done += 1;
        let done = up.callers[caller].calls_done;
        self.ledger.call_ended(
            self.now,
            process,
            call.started,
            call.jobs,
            &end,
            &self.passport,
            &self.schedule,
        );
        self.note(target, || format!("call ends: {end:?}"));
        let mode = self.processes[process].plan.mode;
        let (now, ending, per_run) = (self.now, self.ending, self.schedule.calls_per_run);
        let up = self.up(process);
        match mode {
            Mode::Foreground if done >= per_run => {
                up.callers[caller].state = State::Finished;
                if up
                    .callers
                    .iter()
                    .all(|caller| matches!(caller.state, State::Finished))
                {
                    up.stopping.get_or_insert(now);
                }
                self.maybe_shutdown(process);
            }
            _ => {
                up.callers[caller].state = State::Idle;
                if up.stopping.is_some() || ending {
                    up.callers[caller].state = State::Finished;
                    self.maybe_shutdown(process);
                    return;
                }
                let (low, high) = match mode {
                    Mode::Background => self.schedule.think,
                    Mode::Foreground => (0, 50),
                };
                let at = self.now + self.rng.between(low, high);
                self.at(at, Event::Wake(target));
            }
        }
    }

    /// The ledger's record of a new job, and its executor.
    fn new_exec(&mut self, process: usize, job: JobId) -> Exec {
        let incarnation = self.processes[process].incarnation;
        self.ledger.jobs.push(JobRecord {
            process,
            incarnation,
            disrupted: false,
            active: true,
            lost: false,
            lease: None,
            outcomes: Vec::new(),
            received: Vec::new(),
        });
        Exec {
            job,
            record: self.ledger.jobs.len() - 1,
            lease: None,
            pending: None,
        }
    }

    fn background(&mut self, process: usize, job: JobId, work: Work) {
        let exec = self.new_exec(process, job);
        let up = self.up(process);
        let slot = match up.background.iter().position(Option::is_none) {
            Some(slot) => slot,
            None => {
                up.background.push(None);
                up.background.len() - 1
            }
        };
        up.background[slot] = Some(exec);
        let incarnation = self.processes[process].incarnation;
        let target = Target {
            process,
            incarnation,
            who: Who::Background(slot),
        };
        self.note(target, || format!("refresh ahead: job {job:?}"));
        self.perform(target, work);
    }

    fn exec(&mut self, target: Target) -> Option<&mut Exec> {
        if !self.is_alive(target) {
            return None;
        }
        let up = self.up(target.process);
        match target.who {
            Who::Caller(caller) => up.callers[caller].exec.as_mut(),
            Who::Background(slot) => up.background.get_mut(slot)?.as_mut(),
            Who::Shutdown => up.shutdown.as_mut()?.exec.as_mut(),
        }
    }

    fn take_exec(&mut self, target: Target) -> Option<Exec> {
        let up = self.up(target.process);
        match target.who {
            Who::Caller(caller) => up.callers[caller].exec.take(),
            Who::Background(slot) => up.background.get_mut(slot)?.take(),
            Who::Shutdown => up.shutdown.as_mut()?.exec.take(),
        }
    }

    /// Does `work` for the job `target` executes.
    fn perform(&mut self, target: Target, work: Work) {
        let op = self.next_id();
        let now = self.now;
        let latency = self.rng.below(4);
        let kind = match work {
            Work::Lease => {
                let lease = self.next_id();
                let orphans = self.up(target.process).orphans.clone();
                self.set_pending(target, op, Pending::Lease(lease));
                self.note(target, || format!("lease {lease}"));
                (lease, StoreCallKind::Lease { orphans })
            }
            Work::Load => {
                self.set_pending(target, op, Pending::Load);
                (0, StoreCallKind::Load)
            }
            Work::Save {
                expected_version,
                tokens,
            } => {
                let pair = tokens
                    .as_ref()
                    .and_then(|set| access_number(set.access_token().expose_secret()));
                if let (Some(pair), Some(set)) = (pair, &tokens) {
                    self.ledger.set_seen(pair, set, &self.schedule);
                }
                self.set_pending(target, op, Pending::Save(pair));
                let lease = self.exec(target).and_then(|exec| exec.lease).unwrap_or(0);
                self.note(target, || {
                    format!("save pair {pair:?} over version {expected_version}")
                });
                (
                    lease,
                    StoreCallKind::Save {
                        expected: expected_version,
                        tokens,
                        pair,
                    },
                )
            }
            Work::Release => {
                let Some(lease) = self.exec(target).and_then(|exec| exec.lease.take()) else {
                    return self.exec_done(target);
                };
                self.set_pending(target, op, Pending::Release(lease));
                (lease, StoreCallKind::Release)
            }
            Work::Send(outgoing) => {
                let kind = outgoing.kind();
                let (id, request) = outgoing.into_parts();
                let record = self.exec(target).map_or(usize::MAX, |exec| exec.record);
                self.set_pending(target, op, Pending::Send(id));
                let uplink = self.rng.between(1, 30);
                let answer_delay = if self.rng.chance(self.schedule.hangs) {
                    self.schedule.request_timeout + 1000
                } else if self.rng.chance(self.schedule.slow_answers) {
                    self.rng.between(80, self.schedule.slowest_answer.max(80))
                } else {
                    self.rng.between(5, 80)
                };
                self.note(target, || format!("sends {kind:?} ({id})"));
                let call = TokenCall {
                    op,
                    to: target,
                    job: record,
                    body: request.into_body(),
                    issued: now,
                    answer_delay,
                };
                // The server answers it, or the request times out: `World::server_arrives`.
                self.at(now + uplink, Event::ServerArrives(call));
                return;
            }
        };
        let (lease, kind) = kind;
        let call = StoreCall {
            op,
            to: target,
            lease,
            kind,
            issued: now,
            held: false,
        };
        self.at(now + latency, Event::StoreArrives(call));
    }

    /// A lease the process may hold without knowing: released before its next lease, as
    /// `RedisStore` does (a release of a lease no longer held does nothing).
    fn remember_orphan(&mut self, process: usize, lease: u64) {
        let orphans = &mut self.up(process).orphans;
        if orphans.len() == 16 {
            orphans.remove(0);
        }
        orphans.push(lease);
    }

    fn set_pending(&mut self, target: Target, op: u64, pending: Pending) {
        if let Some(exec) = self.exec(target) {
            exec.pending = Some((op, pending));
        }
    }

    /// An executor's call `op` is answered (or timed out).
    pub fn deliver(&mut self, target: Target, op: u64, reply: Reply) {
        if matches!(reply, Reply::LeaseWaitTimedOut) {
            self.store.cancel(op);
            self.lease_waits.retain(|(waiting, _)| *waiting != op);
        }
        let expected = self
            .exec(target)
            .and_then(|exec| exec.pending)
            .filter(|(pending, _)| *pending == op);
        // Answered already, a timeout first: a lease granted later is among the orphans.
        let Some((_, pending)) = expected else {
            return;
        };
        if !self.arrive(target) {
            return;
        }
        let process = target.process;
        let now = self.clock(process);
        let redis = self.store.kind == StoreKind::Redis;
        let exec = self.exec(target).expect("checked above");
        exec.pending = None;
        let (job, record, held) = (exec.job, exec.record, exec.lease);
        let failed = matches!(
            reply,
            Reply::StoreFailed(_)
                | Reply::StoreTimedOut
                | Reply::LeaseWaitTimedOut
                | Reply::RequestTimedOut
                | Reply::Saved(Err(_))
        );
        if failed {
            self.ledger.jobs[record].disrupted = true;
        }
        self.note(target, || {
            format!("{pending:?} -> {}", describe_reply(&reply))
        });
        let timed_out = matches!(reply, Reply::StoreTimedOut);
        let store_error = |reply: &Reply| match reply {
            Reply::StoreFailed(error) => error.clone(),
            Reply::LeaseWaitTimedOut => StoreError::new(
                StoreErrorKind::LeaseTimeout,
                "the simulated store: the lease stayed with another holder",
            ),
            _ => crate::world::unavailable("not answering (timed out)"),
        };
        // A call that never came back under a lease that expires: the lease may be gone.
        if timed_out && redis && held.is_some() && !matches!(pending, Pending::Release(_)) {
            self.up(process).co.lease_lost(job);
            if let Some(lease) = self.exec(target).and_then(|exec| exec.lease.take()) {
                self.remember_orphan(process, lease);
            }
        }
        let next = match (pending, reply) {
            (Pending::Lease(lease), Reply::Leased) => {
                if let Some(exec) = self.exec(target) {
                    exec.lease = Some(lease);
                }
                self.ledger.jobs[record].lease = Some(lease);
                self.up(process).co.leased(job, Ok(()), now)
            }
            (Pending::Lease(lease), reply) => {
                if matches!(reply, Reply::StoreTimedOut) {
                    if redis {
                        // Redis may grant it once it runs again.
                        self.remember_orphan(process, lease);
                    } else {
                        // A file lock's wait ends with its file.
                        self.abandoned_leases.push(op);
                    }
                }
                let error = store_error(&reply);
                self.up(process).co.leased(job, Err(error), now)
            }
            (Pending::Load, Reply::Loaded(stored)) => {
                self.up(process).co.loaded(job, Ok(stored), now)
            }
            (Pending::Load, reply) => {
                self.up(process)
                    .co
                    .loaded(job, Err(store_error(&reply)), now)
            }
            (Pending::Save(pair), Reply::Saved(saved)) => {
                if let (Err(_), Some(pair)) = (&saved, pair) {
                    self.ledger.set(pair).save_failed = true;
                }
                self.up(process).co.saved(job, saved, now)
            }
            (Pending::Save(pair), reply) => {
                if let Some(pair) = pair {
                    self.ledger.set(pair).save_failed = true;
                }
                self.up(process)
                    .co
                    .saved(job, Err(store_error(&reply)), now)
            }
            (Pending::Send(id), Reply::Answer(response, pair)) => {
                if let Some(pair) = pair {
                    self.ledger.jobs[record].received.push(pair);
                }
                self.up(process).co.answered(job, id, Ok(&response), now)
            }
            (Pending::Send(id), _) => {
                let error = TransportError::new(
                    TransportErrorKind::Timeout,
                    "the simulated request timed out",
                );
                self.up(process)
                    .co
                    .answered::<Vec<u8>>(job, id, Err(error), now)
            }
            (Pending::Release(lease), reply) => {
                if !matches!(reply, Reply::Released) {
                    self.remember_orphan(process, lease);
                }
                None
            }
        };
        self.sync(process);
        if self.trace.enabled() {
            let co = &self.up(process).co;
            let held = co
                .session()
                .tokens()
                .and_then(|set| access_number(set.access_token().expose_secret()));
            let (unsaved, in_flight) = (co.is_unsaved(), co.session().in_flight());
            self.note(target, || {
                format!("  holds pair {held:?}, unsaved {unsaved}, request out {in_flight:?}")
            });
        }
        match next {
            Some(work) => self.perform(target, work),
            None => self.exec_done(target),
        }
    }

    /// The executor of `target` is done with its job.
    fn exec_done(&mut self, target: Target) {
        let Some(exec) = self.take_exec(target) else {
            return;
        };
        self.ledger.jobs[exec.record].active = false;
        if let Some(lease) = exec.lease
            && self
                .store
                .lease
                .as_ref()
                .is_some_and(|held| held.id == lease)
        {
            self.ledger.violated(
                self.now,
                "a job ended holding its lease",
                format!(
                    "p{}'s job {:?} ended without releasing lease {lease}",
                    target.process, exec.job
                ),
            );
            return;
        }
        match target.who {
            Who::Caller(caller) => self.caller_go(target.process, caller),
            Who::Shutdown => self.shutdown_go(target.process),
            Who::Background(_) => {}
        }
    }

    /// After any input: the publication, the notices, and the waiters whose job is over.
    fn sync(&mut self, process: usize) {
        let incarnation = self.processes[process].incarnation;
        let tracing = self.trace.enabled();
        let up = self.up(process);
        if let Some(publication) = up.co.take_publication() {
            up.published = publication.map(|token| {
                let pair = pair_of(&token);
                (token, pair)
            });
        }
        let notices: Vec<String> = if tracing {
            up.co
                .take_notices()
                .map(|notice| format!("{notice:?}"))
                .collect()
        } else {
            up.co.take_notices().for_each(drop);
            Vec::new()
        };
        let mut wakes = Vec::new();
        for (index, caller) in up.callers.iter_mut().enumerate() {
            if let State::Waiting {
                job,
                want,
                woken: false,
            } = caller.state
                && !up.co.is_running(job)
            {
                caller.state = State::Waiting {
                    job,
                    want,
                    woken: true,
                };
                wakes.push(Who::Caller(index));
            }
        }
        if let Some(shutdown) = &mut up.shutdown
            && let Some((job, false)) = shutdown.waiting
            && !up.co.is_running(job)
        {
            shutdown.waiting = Some((job, true));
            wakes.push(Who::Shutdown);
        }
        for notice in notices {
            self.trace_line(&format!("p{process}"), || notice);
        }
        for who in wakes {
            self.at(
                self.now,
                Event::Wake(Target {
                    process,
                    incarnation,
                    who,
                }),
            );
        }
    }

    /// A clean stop: callers finish their calls, then the shutdown sequence.
    pub fn stop(&mut self, process: usize, incarnation: u32) {
        let target = Target {
            process,
            incarnation,
            who: Who::Shutdown,
        };
        if !self.is_alive(target) {
            return;
        }
        let now = self.now;
        self.up(process).stopping.get_or_insert(now);
        self.trace_line(&format!("p{process}"), || "stops".into());
        self.maybe_shutdown(process);
    }

    fn maybe_shutdown(&mut self, process: usize) {
        let up = self.up(process);
        let idle = up.callers.iter().all(|caller| caller.call.is_none());
        if up.stopping.is_none() || up.shutdown.is_some() || !idle {
            return;
        }
        for caller in &mut up.callers {
            caller.state = State::Finished;
        }
        up.co.shutdown();
        up.shutdown = Some(Shutdown {
            waiting: None,
            exec: None,
        });
        let incarnation = self.processes[process].incarnation;
        self.at(
            self.now,
            Event::Wake(Target {
                process,
                incarnation,
                who: Who::Shutdown,
            }),
        );
    }

    fn shutdown_go(&mut self, process: usize) {
        let incarnation = self.processes[process].incarnation;
        let target = Target {
            process,
            incarnation,
            who: Who::Shutdown,
        };
        for _ in 0..STEPS_PER_INSTANT {
            if !self.is_alive(target) {
                return;
            }
            let up = self.up(process);
            let Some(shutdown) = &up.shutdown else {
                return;
            };
            if shutdown.exec.is_some() {
                return;
            }
            if let Some((job, _)) = shutdown.waiting
                && up.co.is_running(job)
            {
                return;
            }
            let step = up.co.shutdown_step();
            self.note(target, || {
                format!("shutdown step: {}", describe_step(&step))
            });
            self.sync(process);
            match step {
                Step::Ready => return self.exit(process, None),
                Step::Failed(error) => return self.exit(process, Some(error.to_string())),
                Step::Wait(job) => {
                    let up = self.up(process);
                    let running = up.co.is_running(job);
                    if let Some(shutdown) = &mut up.shutdown {
                        shutdown.waiting = Some((job, !running));
                    }
                    if running {
                        return;
                    }
                }
                Step::Work(job, work) => {
                    let exec = self.new_exec(process, job);
                    if let Some(shutdown) = &mut self.up(process).shutdown {
                        shutdown.exec = Some(exec);
                        shutdown.waiting = None;
                    }
                    return self.perform(target, work);
                }
            }
        }
        self.ledger.violated(
            self.now,
            "livelock",
            format!("p{process}'s shutdown took {STEPS_PER_INSTANT} steps at one instant"),
        );
    }

    /// The process exits after its shutdown (`failed`: the store's error it ended with).
    fn exit(&mut self, process: usize, failed: Option<String>) {
        let incarnation = self.processes[process].incarnation;
        let up = self.processes[process].up.take().expect("alive");
        self.trace_line(&format!("p{process}"), || {
            format!("exits: shutdown {}", failed.as_deref().unwrap_or("ready"))
        });
        let began = up.stopping.unwrap_or(self.now);
        // Liveness: the shutdown is bounded as a call is.
        if self.now - began > self.schedule.call_bound() {
            self.ledger.violated(
                self.now,
                "a shutdown took longer than its bound",
                format!("p{process}'s shutdown took {} ms", self.now - began),
            );
        }
        // Nothing rotated unsaved: every pair this incarnation received is in the store, or a
        // newer one is; an error only when the store failed meanwhile. (Of two live sets, one
        // held unsaved and one stored, a process keeps the newer by the clocks: within twice
        // the largest skew and an answer's delay, either may count as the newer.)
        match failed {
            Some(error) => {
                if !self.schedule.store_faulty_between(
                    began.saturating_sub(self.schedule.call_bound()),
                    self.now,
                ) {
                    self.ledger.violated(
                        self.now,
                        "a shutdown failed with the store up",
                        format!("p{process}: {error}"),
                    );
                }
            }
            None => {
                let newest_landed = self
                    .ledger
                    .sets
                    .iter()
                    .enumerate()
                    .filter(|(_, set)| set.landed.is_some())
                    .map(|(pair, _)| self.passport.pairs[pair].issued_at)
                    .max();
                let tolerance =
                    2 * self.schedule.max_skew + self.schedule.slowest_answer.max(80) + 30;
                let unsaved = self
                    .ledger
                    .jobs
                    .iter()
                    .filter(|job| job.process == process && job.incarnation == incarnation)
                    .flat_map(|job| job.received.iter().copied())
                    .find(|pair| {
                        let issued = self.passport.pairs[*pair].issued_at;
                        self.ledger
                            .sets
                            .get(*pair)
                            .is_none_or(|set| set.landed.is_none())
                            && newest_landed.is_none_or(|newest| newest + tolerance < issued)
                    });
                if let Some(pair) = unsaved {
                    self.ledger.violated(
                        self.now,
                        "shutdown left a rotated set unsaved",
                        format!("p{process}'s shutdown was ready with pair {pair} never stored"),
                    );
                }
                let busy = up
                    .background
                    .iter()
                    .flatten()
                    .chain(up.callers.iter().filter_map(|caller| caller.exec.as_ref()))
                    .any(|exec| {
                        matches!(exec.pending, Some((_, Pending::Send(_) | Pending::Save(_))))
                    });
                if busy {
                    self.ledger.violated(
                        self.now,
                        "shutdown returned with a token request or a save under way",
                        format!("p{process}"),
                    );
                }
            }
        }
        self.gone(process, Gone::Exited);
        let mode = self.processes[process].plan.mode;
        if !self.ending {
            let gap = match mode {
                Mode::Foreground => self
                    .rng
                    .between(self.schedule.think.0, self.schedule.think.1),
                Mode::Background => self.rng.between(0, 2000),
            };
            self.at(self.now + gap, Event::Start(process));
        }
    }

    fn gone(&mut self, process: usize, how: Gone) {
        let incarnation = self.processes[process].incarnation as usize;
        let record = &mut self.processes[process];
        if record.ended.len() <= incarnation {
            record.ended.resize(incarnation + 1, Gone::Crashed);
        }
        record.ended[incarnation] = how;
        record.incarnation += 1;
    }

    /// Process `process` dies at once: its jobs are cut, a file lock dies with it, and it
    /// starts again later.
    pub fn crash(&mut self, process: usize) {
        let incarnation = self.processes[process].incarnation;
        let Some(up) = self.processes[process].up.take() else {
            return;
        };
        self.ledger.crashes += 1;
        let records: Vec<usize> = up
            .background
            .iter()
            .flatten()
            .chain(up.callers.iter().filter_map(|caller| caller.exec.as_ref()))
            .chain(
                up.shutdown
                    .as_ref()
                    .and_then(|shutdown| shutdown.exec.as_ref()),
            )
            .map(|exec| exec.record)
            .collect();
        for record in records {
            self.ledger.jobs[record].disrupted = true;
            self.ledger.jobs[record].active = false;
        }
        self.lease_waits.retain(|(_, target)| {
            !(target.process == process && target.incarnation == incarnation)
        });
        let (dropped, grant) = self.store.process_died(process, self.now);
        if let Some(lease) = dropped {
            self.trace_line("store", || {
                format!("lease {lease} dropped with its process")
            });
        }
        if let Some(grant) = grant {
            self.granted(grant);
        }
        self.gone(process, Gone::Crashed);
        if !self.ending {
            let at = self.now + self.rng.between(100, self.schedule.lifetime.min(5000));
            self.at(at, Event::Start(process));
        }
    }

    /// After the last event: every process shut down, and the store's pair works.
    pub fn finish(&mut self) {
        for process in 0..self.processes.len() {
            if self.processes[process].up.is_some() {
                self.ledger.violated(
                    self.now,
                    "a process never finished its shutdown",
                    format!("p{process}"),
                );
                return;
            }
        }
        self.ledger
            .at_end(self.now, self.store.tokens.as_ref(), &self.passport);
    }
}

fn describe_step(step: &Step) -> String {
    match step {
        Step::Ready => "ready".into(),
        Step::Failed(error) => format!("failed: {error}"),
        Step::Wait(job) => format!("wait for {job:?}"),
        Step::Work(job, work) => format!("{job:?} {}", describe_work(work)),
    }
}

fn describe_work(work: &Work) -> &'static str {
    match work {
        Work::Lease => "lease",
        Work::Load => "load",
        Work::Send(_) => "send",
        Work::Save { .. } => "save",
        Work::Release => "release",
    }
}

fn describe_reply(reply: &Reply) -> String {
    match reply {
        Reply::Leased => "leased".into(),
        Reply::Loaded(stored) => format!(
            "loaded version {} (pair {:?})",
            stored.version,
            stored
                .tokens
                .as_ref()
                .and_then(|set| access_number(set.access_token().expose_secret()))
        ),
        Reply::Saved(Ok(version)) => format!("saved as version {version}"),
        Reply::Saved(Err(error)) => format!("save failed: {}", error.message()),
        Reply::Released => "released".into(),
        Reply::StoreFailed(error) => format!("store failed: {}", error.message()),
        Reply::StoreTimedOut => "store call timed out".into(),
        Reply::LeaseWaitTimedOut => "lease wait timed out".into(),
        Reply::Answer(response, pair) => {
            format!("answered {} (pair {pair:?})", response.status().as_u16())
        }
        Reply::RequestTimedOut => "request timed out".into(),
    }
}

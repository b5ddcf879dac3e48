//! The coordinator's behaviours, one input at a time. Fleets of coordinators over time are
//! the simulation's (the test named `simulation`).

use std::time::Duration;

use http::Response;

use super::*;
use crate::config::Config;
use crate::error::{TransportError, TransportErrorKind};
use crate::request::RequestKind;
use crate::store_error::StoreErrorKind;

const T0: UnixTime = UnixTime::from_secs(1_800_000_000);
const RETRY: Duration = Duration::from_millis(500);

fn config() -> crate::config::Config {
    Config::builder(
        "https://passport.test/oauth/token",
        "client",
        "cl1ent-s3cret",
    )
    .credentials("me@example.com", "pa55-w0rd")
    .min_retry_delay(RETRY)
    .build()
    .expect("a valid config")
}

fn coordinator(with_store: bool) -> Coordinator {
    Coordinator::new(Session::new(config()), with_store, T0)
}

/// A Passport token answer: access token `access`, refresh token `refresh`, `life` seconds.
fn tokens(access: &str, refresh: &str, life: u64) -> Response<Vec<u8>> {
    let body = format!(
        r#"{{"token_type":"Bearer","expires_in":{life},"access_token":"eyJ0.{access}.c2ln","refresh_token":"def502{refresh}"}}"#
    );
    Response::new(body.into_bytes())
}

/// Passport's answer to a dead refresh token.
fn refresh_refused() -> Response<Vec<u8>> {
    let body = r#"{"error":"invalid_request","error_description":"The refresh token is invalid.","hint":"Token has been revoked","message":"The refresh token is invalid."}"#;
    let mut response = Response::new(body.as_bytes().to_vec());
    *response.status_mut() = http::StatusCode::UNAUTHORIZED;
    response
}

fn unavailable() -> StoreError {
    StoreError::new(StoreErrorKind::Unavailable, "the store is down")
}

/// The job and its work, from a step that must start one.
fn work(step: Step) -> (JobId, Work) {
    match step {
        Step::Work(job, work) => (job, work),
        other => panic!("expected work, got {other:?}"),
    }
}

fn send(work: Option<Work>) -> OutgoingRequest {
    match work {
        Some(Work::Send(outgoing)) => *outgoing,
        other => panic!("expected a send, got {other:?}"),
    }
}

fn save(work: Option<Work>) -> (u64, Option<TokenSet>) {
    match work {
        Some(Work::Save {
            expected_version,
            tokens,
        }) => (expected_version, tokens),
        other => panic!("expected a save, got {other:?}"),
    }
}

fn published(machine: &mut Coordinator) -> Option<Option<TokenId>> {
    machine
        .take_publication()
        .map(|token| token.map(|auth| auth.token_id()))
}

/// A coordinator without a store that logged in at `T0` (one-hour token).
fn logged_in() -> Coordinator {
    logged_in_as("a1", "r1", 3600)
}

/// The same with tokens of its own.
fn logged_in_as(access: &str, refresh: &str, life: u64) -> Coordinator {
    let mut machine = coordinator(false);
    let (job, first) = work(machine.step(Want::Usable, T0));
    let login = send(Some(first));
    assert!(
        machine
            .answered(job, login.id(), Ok(&tokens(access, refresh, life)), T0)
            .is_none()
    );
    machine
}

/// A coordinator with a store, loaded empty, that logged in and saved at `T0` as version 1.
fn logged_in_with_store() -> Coordinator {
    let (mut machine, job, login) = login_out_with_store();
    let (expected, _) = save(machine.answered(job, login.id(), Ok(&tokens("a1", "r1", 3600)), T0));
    assert_eq!(expected, 0);
    assert!(matches!(machine.saved(job, Ok(1), T0), Some(Work::Release)));
    machine
}

/// A coordinator with a store, loaded empty, whose login is out under the lease.
fn login_out_with_store() -> (Coordinator, JobId, OutgoingRequest) {
    let mut machine = coordinator(true);
    let (load, first) = work(machine.step(Want::Usable, T0));
    assert!(matches!(first, Work::Load));
    assert!(machine.loaded(load, Ok(Stored::default()), T0).is_none());
    let job = leased(&mut machine, T0);
    let login = send(machine.loaded(job, Ok(Stored::default()), T0));
    (machine, job, login)
}

/// A coordinator with a store whose login's save failed at `T0`, and the retry of that save,
/// started at `T0 + RETRY` and asking for the lease: the machine, the retry's job, the unsaved
/// set and the time.
fn save_retried() -> (Coordinator, JobId, Option<TokenSet>, UnixTime) {
    let (mut machine, job, login) = login_out_with_store();
    let (_, set) = save(machine.answered(job, login.id(), Ok(&tokens("a1", "r1", 3600)), T0));
    assert!(matches!(
        machine.saved(job, Err(unavailable()), T0),
        Some(Work::Release)
    ));
    let retry = T0.saturating_add(RETRY);
    let (persist, first) = machine.refresh_ahead(retry).expect("the retried save");
    assert!(matches!(first, Work::Lease));
    (machine, persist, set, retry)
}

/// A coordinator with a store whose refresh, due at the expiry, was refused under the lease;
/// the job (saving the set without its dead refresh token) and the time.
fn refresh_refused_under_lease() -> (Coordinator, JobId, UnixTime) {
    let mut machine = logged_in_with_store();
    let due = T0.saturating_add(Duration::from_secs(3600));
    let job = leased(&mut machine, due);
    let stored = Stored {
        version: 1,
        tokens: machine.tokens().cloned(),
    };
    let refresh = send(machine.loaded(job, Ok(stored), due));
    assert_eq!(refresh.kind(), RequestKind::RefreshGrant);
    let (expected, _) = save(machine.answered(job, refresh.id(), Ok(&refresh_refused()), due));
    assert_eq!(expected, 1);
    (machine, job, due)
}

/// The token request job a caller starts at `now`, once it holds the lease.
fn leased(machine: &mut Coordinator, now: UnixTime) -> JobId {
    let (job, first) = work(machine.step(Want::Usable, now));
    assert!(matches!(first, Work::Lease));
    lease_granted(machine, job, now);
    job
}

/// The lease `job` asked for is granted at `now`: the job loads the store next.
fn lease_granted(machine: &mut Coordinator, job: JobId, now: UnixTime) {
    assert!(matches!(machine.leased(job, Ok(()), now), Some(Work::Load)));
}

#[test]
fn one_token_request_serves_every_caller() {
    let mut machine = coordinator(false);
    let (job, first) = work(machine.step(Want::Usable, T0));
    let login = send(Some(first));
    assert_eq!(login.kind(), RequestKind::PasswordGrant);
    // A second caller waits for the same job instead of sending another request.
    assert!(matches!(machine.step(Want::Usable, T0), Step::Wait(waited) if waited == job));
    assert!(machine.is_running(job));

    assert!(
        machine
            .answered(job, login.id(), Ok(&tokens("a1", "r1", 3600)), T0)
            .is_none()
    );
    assert!(!machine.is_running(job));
    assert!(machine.waited(job, Want::Usable, T0).is_none());
    assert!(matches!(machine.step(Want::Usable, T0), Step::Ready));
    assert!(matches!(published(&mut machine), Some(Some(_))));
    assert!(machine.tokens().is_some());
}

#[test]
fn a_failed_request_is_every_waiters_error_until_a_token_is_usable() {
    let mut machine = coordinator(false);
    let (job, first) = work(machine.step(Want::Usable, T0));
    let login = send(Some(first));
    let failure = TransportError::new(TransportErrorKind::Timeout, "no answer");
    assert!(
        machine
            .answered::<Vec<u8>>(job, login.id(), Err(failure), T0)
            .is_none()
    );
    let error = machine.waited(job, Want::Usable, T0).expect("the failure");
    assert_eq!(error.kind(), ErrorKind::Transport);
    // The pause is every caller's: no request before it ends.
    assert!(matches!(machine.step(Want::Usable, T0), Step::Failed(_)));
    let later = T0.saturating_add(RETRY);
    assert!(matches!(machine.step(Want::Usable, later), Step::Work(..)));
}

#[test]
fn with_a_store_the_new_set_is_handed_out_only_once_saved() {
    let (mut machine, job, login) = login_out_with_store();
    let _ = machine.take_publication();
    let (expected, saved) =
        save(machine.answered(job, login.id(), Ok(&tokens("a1", "r1", 3600)), T0));
    assert_eq!(expected, 0);
    assert!(saved.is_some());
    // Being saved: not published, not shown, and callers wait for the save.
    assert_eq!(published(&mut machine), None);
    assert!(machine.tokens().is_none());
    assert!(matches!(machine.step(Want::Usable, T0), Step::Wait(waited) if waited == job));

    assert!(matches!(machine.saved(job, Ok(1), T0), Some(Work::Release)));
    assert!(matches!(published(&mut machine), Some(Some(_))));
    assert_eq!(machine.tokens(), saved.as_ref());
    assert!(!machine.is_unsaved());
    assert!(matches!(machine.step(Want::Usable, T0), Step::Ready));
}

#[test]
fn a_newer_stored_set_is_adopted_instead_of_sending() {
    let mut machine = logged_in_with_store();
    let due = T0.saturating_add(Duration::from_secs(3600));
    let job = leased(&mut machine, due);
    // Another process refreshed meanwhile: version 2.
    let other = logged_in_as("a9", "r9", 7200);
    let newer = other.tokens().cloned();
    let stored = Stored {
        version: 2,
        tokens: newer.clone(),
    };
    assert!(matches!(
        machine.loaded(job, Ok(stored), due),
        Some(Work::Release)
    ));
    assert_eq!(machine.tokens(), newer.as_ref());
    assert!(machine.waited(job, Want::Usable, due).is_none());
    assert!(matches!(machine.step(Want::Usable, due), Step::Ready));
    assert!(
        machine
            .take_notices()
            .any(|notice| matches!(notice, Notice::Adopted { version: 2, .. }))
    );
}

#[test]
fn a_refused_refresh_is_followed_by_the_login_under_the_same_lease() {
    let (mut machine, job, due) = refresh_refused_under_lease();
    // The dead refresh token was saved away; then the login goes out, reloading first.
    assert!(matches!(machine.saved(job, Ok(2), due), Some(Work::Load)));
    assert!(machine.is_running(job), "the same job, so the same lease");
    let stored = Stored {
        version: 2,
        tokens: machine.session().tokens().cloned(),
    };
    let login = send(machine.loaded(job, Ok(stored), due));
    assert_eq!(login.kind(), RequestKind::PasswordGrant);
    let (expected, _) = save(machine.answered(job, login.id(), Ok(&tokens("a2", "r2", 3600)), due));
    assert_eq!(expected, 2);
    assert!(matches!(
        machine.saved(job, Ok(3), due),
        Some(Work::Release)
    ));
    assert!(machine.waited(job, Want::Usable, due).is_none());
}

#[test]
fn a_lost_lease_sends_no_login_after_a_refused_refresh() {
    let (mut machine, job, due) = refresh_refused_under_lease();
    machine.lease_lost(job);
    assert!(machine.saved(job, Err(unavailable()), due).is_none());
    assert!(!machine.is_running(job));
    // The next caller sends the login under a lease of its own, at once.
    let (_, first) = work(machine.step(Want::Usable, due));
    assert!(matches!(first, Work::Lease));
}

#[test]
fn a_store_that_cannot_lease_pauses_token_requests() {
    let mut machine = logged_in_with_store();
    let due = T0.saturating_add(Duration::from_secs(3600));
    let (job, _) = work(machine.step(Want::Usable, due));
    assert!(machine.leased(job, Err(unavailable()), due).is_none());
    let error = machine
        .waited(job, Want::Usable, due)
        .expect("the store's error");
    assert_eq!(error.kind(), ErrorKind::Store);
    assert_eq!(
        machine.store_error().map(StoreError::kind),
        Some(StoreErrorKind::Unavailable)
    );
    assert!(matches!(machine.step(Want::Usable, due), Step::Failed(_)));
    assert!(matches!(
        machine.step(Want::Usable, due.saturating_add(RETRY)),
        Step::Work(_, Work::Lease)
    ));
}

#[test]
fn a_failed_load_under_the_lease_releases_it() {
    let mut machine = logged_in_with_store();
    let due = T0.saturating_add(Duration::from_secs(3600));
    let job = leased(&mut machine, due);
    assert!(matches!(
        machine.loaded(job, Err(unavailable()), due),
        Some(Work::Release)
    ));
    assert!(machine.waited(job, Want::Usable, due).is_some());
}

#[test]
fn a_failed_first_load_is_every_callers_error_until_its_pause_ends() {
    let mut machine = coordinator(true);
    let (load, _) = work(machine.step(Want::Usable, T0));
    assert!(machine.loaded(load, Err(unavailable()), T0).is_none());
    assert_eq!(
        machine
            .waited(load, Want::Usable, T0)
            .map(|error| error.kind()),
        Some(ErrorKind::Store)
    );
    assert!(matches!(machine.step(Want::Usable, T0), Step::Failed(_)));
    assert!(matches!(machine.load_step(T0), Step::Failed(_)));
    // Not read again before the pause ends, on the lock-free path either.
    assert_eq!(machine.refresh_ahead_at(T0), Some(T0.saturating_add(RETRY)));
    let later = T0.saturating_add(RETRY);
    assert!(matches!(
        machine.load_step(later),
        Step::Work(_, Work::Load)
    ));
}

#[test]
fn a_failed_save_keeps_the_set_in_use_and_is_retried_after_the_delay() {
    let (mut machine, job, login) = login_out_with_store();
    let (_, set) = save(machine.answered(job, login.id(), Ok(&tokens("a1", "r1", 3600)), T0));
    assert!(matches!(
        machine.saved(job, Err(unavailable()), T0),
        Some(Work::Release)
    ));
    // It works, so it is used; the failure is shown until a save succeeds.
    assert!(matches!(machine.step(Want::Usable, T0), Step::Ready));
    assert!(machine.is_unsaved() && machine.save_due());
    assert!(machine.store_error().is_some());
    assert_eq!(machine.refresh_ahead_at(T0), Some(T0.saturating_add(RETRY)));

    let retry = T0.saturating_add(RETRY);
    let (persist, first) = machine.refresh_ahead(retry).expect("the retried save");
    assert!(matches!(first, Work::Lease));
    lease_granted(&mut machine, persist, retry);
    let (expected, again) = save(machine.loaded(persist, Ok(Stored::default()), retry));
    assert_eq!((expected, again), (0, set));
    assert!(matches!(
        machine.saved(persist, Ok(1), retry),
        Some(Work::Release)
    ));
    assert!(!machine.is_unsaved() && !machine.save_due());
    assert!(machine.store_error().is_none());
}

#[test]
fn a_save_that_landed_late_counts_as_saved() {
    let (mut machine, persist, set, retry) = save_retried();
    lease_granted(&mut machine, persist, retry);
    // The store holds this very set, one version on: the save landed after all.
    let landed = Stored {
        version: 1,
        tokens: set,
    };
    assert!(matches!(
        machine.loaded(persist, Ok(landed), retry),
        Some(Work::Release)
    ));
    assert!(!machine.is_unsaved() && machine.store_error().is_none());
    // A forced refresh is still a refresh, not an adoption of that set.
    let want = machine.force_refresh();
    let (job, _) = work(machine.step(want, retry));
    lease_granted(&mut machine, job, retry);
    let stored = Stored {
        version: 1,
        tokens: machine.tokens().cloned(),
    };
    assert_eq!(
        send(machine.loaded(job, Ok(stored), retry)).kind(),
        RequestKind::RefreshGrant
    );
}

/// A retried save that finds another process's set in the store keeps its own unsaved set
/// (saves it over the stored one) when that set has a refresh token and the stored one has
/// none, or arrived before it; it adopts a stored set with a refresh token that arrived later.
#[test]
fn a_retried_save_keeps_its_unsaved_set_over_a_dead_or_older_stored_one() {
    use crate::secret::{AccessToken, RefreshToken};
    let stored = |refresh: bool, obtained: UnixTime| {
        let expires = T0.saturating_add(Duration::from_secs(3600));
        let refresh = refresh.then(|| (RefreshToken::new("r-theirs"), expires));
        TokenSet::new(AccessToken::new("a-theirs"), expires, refresh)
            .map(|set| set.with_obtained_at(obtained))
            .ok()
    };
    let (before, after) = (
        T0.saturating_sub(Duration::from_secs(10)),
        T0.saturating_add(Duration::from_secs(10)),
    );
    // (the stored set, whether the held one is saved over it)
    let cases = [
        (stored(true, before), true),
        (stored(false, after), true),
        (stored(true, after), false),
    ];
    for (theirs, kept) in cases {
        let (mut machine, persist, _, retry) = save_retried();
        lease_granted(&mut machine, persist, retry);
        let found = Stored {
            version: 1,
            tokens: theirs,
        };
        let next = machine.loaded(persist, Ok(found), retry);
        let held = machine.tokens().map(TokenSet::access_token);
        let held = held.as_ref().map(AccessToken::expose_secret);
        if kept {
            assert_eq!(save(next).0, 1);
            assert_eq!(held, Some("eyJ0.a1.c2ln"));
        } else {
            assert!(matches!(next, Some(Work::Release)), "{next:?}");
            assert_eq!(held, Some("a-theirs"));
        }
    }
}

#[test]
fn a_retried_save_that_cannot_lease_waits_the_delay_from_its_failure() {
    let (mut machine, persist, _, retry) = save_retried();
    // The lease fails long after it was asked for: the next try counts from the failure.
    let failed_at = retry.saturating_add(Duration::from_secs(30));
    assert!(
        machine
            .leased(persist, Err(unavailable()), failed_at)
            .is_none()
    );
    assert!(machine.refresh_ahead(failed_at).is_none());
    assert_eq!(
        machine.refresh_ahead_at(failed_at),
        Some(failed_at.saturating_add(RETRY))
    );
}

#[test]
fn a_refusal_of_a_token_being_replaced_withdraws_it_from_the_lock_free_path() {
    let mut machine = logged_in_with_store();
    let first = machine
        .session()
        .authorization()
        .expect("a token")
        .token_id();
    let _ = machine.take_publication();
    let due = T0.saturating_add(Duration::from_secs(3600 - 60 - 300));
    // The refresh ahead is out and answered; its set is being saved.
    let (job, _) = machine.refresh_ahead(due).expect("the refresh ahead");
    lease_granted(&mut machine, job, due);
    let stored = Stored {
        version: 1,
        tokens: machine.tokens().cloned(),
    };
    let refresh = send(machine.loaded(job, Ok(stored), due));
    let _ = save(machine.answered(job, refresh.id(), Ok(&tokens("a2", "r2", 3600)), due));
    // The rotation revoked the old token: its refusal is no one's to report, and the retry
    // must not get it again.
    assert_eq!(
        machine.unauthorized(first, due),
        Unauthorized::RetryWithNewToken
    );
    assert_eq!(published(&mut machine), Some(None));
    assert!(matches!(machine.step(Want::Usable, due), Step::Wait(waited) if waited == job));
    let _ = machine.saved(job, Ok(2), due);
    assert!(matches!(machine.step(Want::Usable, due), Step::Ready));
    assert!(matches!(published(&mut machine), Some(Some(token)) if token != first));
}

#[test]
fn a_replacement_refused_too_is_reported() {
    let mut machine = logged_in();
    let first = machine
        .session()
        .authorization()
        .expect("a token")
        .token_id();
    assert_eq!(
        machine.unauthorized(first, T0),
        Unauthorized::RetryWithNewToken
    );
    let (job, first_work) = work(machine.step(Want::Usable, T0));
    let refresh = send(Some(first_work));
    let _ = machine.answered(job, refresh.id(), Ok(&tokens("a2", "r2", 3600)), T0);
    let second = machine
        .session()
        .authorization()
        .expect("a token")
        .token_id();
    assert_eq!(machine.unauthorized(second, T0), Unauthorized::Report);
}

#[test]
fn an_abandoned_request_is_sent_anew_at_once_and_a_failed_one_pauses() {
    let mut machine = coordinator(false);
    let (job, first) = work(machine.step(Want::Usable, T0));
    let _ = send(Some(first));
    machine.abandon(job, false, T0);
    assert!(!machine.is_running(job));
    assert!(machine.waited(job, Want::Usable, T0).is_none());
    let (job, first) = work(machine.step(Want::Usable, T0));
    let _ = send(Some(first));
    machine.abandon(job, true, T0);
    assert_eq!(
        machine
            .waited(job, Want::Usable, T0)
            .map(|error| error.kind()),
        Some(ErrorKind::Transport)
    );
    assert!(matches!(machine.step(Want::Usable, T0), Step::Failed(_)));
}

#[test]
fn an_abandoned_save_publishes_the_set_and_retries_it() {
    let (mut machine, job, login) = login_out_with_store();
    let _ = save(machine.answered(job, login.id(), Ok(&tokens("a1", "r1", 3600)), T0));
    machine.abandon(job, true, T0);
    assert!(!machine.is_running(job));
    assert!(matches!(machine.step(Want::Usable, T0), Step::Ready));
    assert!(machine.is_unsaved() && machine.save_due());
}

#[test]
fn a_forced_refresh_wants_a_newer_token_and_its_failure_is_the_callers() {
    let mut machine = logged_in();
    let want = machine.force_refresh();
    let (job, first) = work(machine.step(want, T0));
    let refresh = send(Some(first));
    assert_eq!(refresh.kind(), RequestKind::RefreshGrant);
    // Other callers keep the current token meanwhile.
    assert!(matches!(machine.step(Want::Usable, T0), Step::Ready));
    assert!(matches!(machine.step(want, T0), Step::Wait(waited) if waited == job));
    let failure = TransportError::new(TransportErrorKind::Timeout, "no answer");
    let _ = machine.answered::<Vec<u8>>(job, refresh.id(), Err(failure), T0);
    assert!(
        machine.waited(job, want, T0).is_some(),
        "the forced refresh failed"
    );
    assert!(
        machine.waited(job, Want::Usable, T0).is_none(),
        "the token works"
    );
    assert!(matches!(machine.step(want, T0), Step::Failed(_)));
}

#[test]
fn shutdown_waits_for_the_job_then_saves_once_more_then_reports() {
    let mut machine = coordinator(true);
    let (load, _) = work(machine.step(Want::Usable, T0));
    assert!(machine.loaded(load, Ok(Stored::default()), T0).is_none());
    let (job, _) = work(machine.step(Want::Usable, T0));
    machine.shutdown();
    assert!(matches!(machine.shutdown_step(), Step::Wait(waited) if waited == job));
    assert!(
        machine.refresh_ahead_at(T0).is_none(),
        "no refresh ahead any more"
    );
    lease_granted(&mut machine, job, T0);
    let login = send(machine.loaded(job, Ok(Stored::default()), T0));
    let _ = save(machine.answered(job, login.id(), Ok(&tokens("a1", "r1", 3600)), T0));
    let _ = machine.saved(job, Err(unavailable()), T0);
    assert!(machine.refresh_ahead(T0.saturating_add(RETRY)).is_none());

    let (persist, first) = work(machine.shutdown_step());
    assert!(matches!(first, Work::Lease));
    assert!(machine.leased(persist, Err(unavailable()), T0).is_none());
    match machine.shutdown_step() {
        Step::Failed(error) => assert_eq!(error.kind(), ErrorKind::Store),
        other => panic!("expected the store's error, got {other:?}"),
    }
}

#[test]
fn shutdown_with_everything_saved_is_ready_at_once() {
    let mut machine = logged_in_with_store();
    assert!(matches!(machine.shutdown_step(), Step::Ready));
}

#[test]
fn a_logout_erases_the_stored_set_under_the_lease() {
    let mut machine = logged_in_with_store();
    assert!(
        machine.revoke(T0).is_empty(),
        "no revocation endpoint configured"
    );
    assert_eq!(published(&mut machine), Some(None));
    let (job, first) = work(machine.erase_step());
    assert!(matches!(first, Work::Lease));
    lease_granted(&mut machine, job, T0);
    let stored = Stored {
        version: 4,
        tokens: None,
    };
    let (expected, tokens) = save(machine.loaded(job, Ok(stored), T0));
    assert_eq!(
        (expected, tokens),
        (4, None),
        "the erasure wins over any version"
    );
    assert!(matches!(machine.saved(job, Ok(5), T0), Some(Work::Release)));
    assert!(matches!(machine.erase_step(), Step::Ready));

    let mut failing = logged_in_with_store();
    let _ = failing.revoke(T0);
    let (job, _) = work(failing.erase_step());
    assert!(failing.leased(job, Err(unavailable()), T0).is_none());
    assert!(matches!(failing.erase_step(), Step::Failed(_)));
}

#[test]
fn the_foreground_hands_a_token_out_until_the_margin_before_its_refresh_point() {
    let machine = logged_in();
    let token = machine.session().authorization().expect("a token");
    let refresh_at = token.refresh_at();
    let margin = Duration::from_secs(10);
    let before = refresh_at.saturating_sub(Duration::from_secs(11));
    assert_eq!(
        Coordinator::foreground(token, margin, false, before),
        Foreground::Use
    );
    let within = refresh_at.saturating_sub(Duration::from_secs(9));
    assert_eq!(
        Coordinator::foreground(token, margin, false, within),
        Foreground::StepAt(Want::NewerThan(token.token_id()), refresh_at)
    );
    // A failed save to retry comes first, at once.
    assert_eq!(
        Coordinator::foreground(token, margin, true, before),
        Foreground::StepAt(Want::Usable, before)
    );
    // The margin is at most half the refresh window (here 300 s).
    let huge = Duration::from_secs(3600);
    let outside_half = refresh_at.saturating_sub(Duration::from_secs(151));
    assert_eq!(
        Coordinator::foreground(token, huge, false, outside_half),
        Foreground::Use
    );
}

#[test]
fn the_lock_free_path_steps_at_the_refresh_point_and_the_refresh_ahead_runs_once() {
    let mut machine = logged_in();
    let refresh_at = machine
        .session()
        .authorization()
        .expect("a token")
        .refresh_at();
    assert_eq!(machine.refresh_ahead_at(T0), Some(refresh_at));
    assert!(machine.refresh_ahead(T0).is_none(), "not due yet");
    let (job, first) = machine.refresh_ahead(refresh_at).expect("due");
    assert_eq!(send(Some(first)).kind(), RequestKind::RefreshGrant);
    assert!(machine.refresh_ahead(refresh_at).is_none(), "one at a time");
    assert_eq!(
        machine.refresh_ahead_at(refresh_at),
        None,
        "none while it runs"
    );
    assert!(machine.is_running(job));
    assert!(matches!(
        machine.step(Want::Usable, refresh_at),
        Step::Ready
    ));
}

#[test]
fn notices_say_what_went_out_and_how_it_was_answered() {
    let mut machine = logged_in_with_store();
    let notices: Vec<Notice> = machine.take_notices().collect();
    assert!(notices.iter().any(|notice| matches!(
        notice,
        Notice::Sent {
            kind: RequestKind::PasswordGrant,
            under_lease: true,
            ..
        }
    )));
    assert!(notices.iter().any(|notice| matches!(
        notice,
        Notice::Answered {
            outcome: Ok(()),
            ..
        }
    )));
    assert_eq!(machine.take_notices().count(), 0, "taken once");
}

#[test]
fn no_secret_in_what_the_machine_prints() {
    let (mut machine, job, login) = login_out_with_store();
    let work = machine.answered(job, login.id(), Ok(&tokens("a1", "r1", 3600)), T0);
    let printed = format!("{machine:?} {work:?} {login:?}");
    for secret in ["eyJ0.a1.c2ln", "def502r1", "pa55-w0rd", "cl1ent-s3cret"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
}

#[test]
fn a_forced_refresh_that_succeeds_is_ready_with_the_newer_token() {
    let mut machine = logged_in();
    let old = machine
        .session()
        .authorization()
        .expect("a token")
        .token_id();
    let want = machine.force_refresh();
    let (job, first) = work(machine.step(want, T0));
    let refresh = send(Some(first));
    let _ = machine.answered(job, refresh.id(), Ok(&tokens("a2", "r2", 3600)), T0);
    assert!(machine.waited(job, want, T0).is_none());
    assert!(matches!(machine.step(want, T0), Step::Ready));
    assert!(matches!(published(&mut machine), Some(Some(token)) if token > old));
}

#[test]
fn after_a_logout_a_login_is_needed_and_login_supplies_it() {
    let mut machine = logged_in();
    let _ = machine.revoke(T0);
    match machine.step(Want::Usable, T0) {
        Step::Failed(error) => assert_eq!(error.kind(), ErrorKind::LoginRequired),
        other => panic!("expected LoginRequired, got {other:?}"),
    }
    assert!(
        !machine.is_unsaved(),
        "without a store nothing waits to be saved"
    );
    machine.login(Credentials::new("me@example.com", "pa55-w0rd"));
    let (_, first) = work(machine.step(Want::Usable, T0));
    assert_eq!(send(Some(first)).kind(), RequestKind::PasswordGrant);
}

#[test]
fn a_logout_hands_out_its_revocations_and_reports_how_they_went() {
    let config = Config::builder(
        "https://passport.test/oauth/token",
        "client",
        "cl1ent-s3cret",
    )
    .credentials("me@example.com", "pa55-w0rd")
    .revoke_rfc7009("https://passport.test/oauth/revoke")
    .build()
    .expect("a valid config");
    let mut machine = Coordinator::new(Session::new(config), false, T0);
    let (job, first) = work(machine.step(Want::Usable, T0));
    let login = send(Some(first));
    let _ = machine.answered(job, login.id(), Ok(&tokens("a1", "r1", 3600)), T0);
    let revocations = machine.revoke(T0);
    assert_eq!(
        revocations.len(),
        2,
        "the refresh token's and the access token's"
    );
    assert!(
        revocations
            .iter()
            .all(|request| request.kind() == RequestKind::Revocation)
    );
    let failure = TransportError::new(TransportErrorKind::Timeout, "no answer");
    assert!(
        machine
            .revocation_answered::<Vec<u8>>(revocations[0].id(), Err(failure), T0)
            .is_err()
    );
    // A revocation given up is forgotten: its late answer is refused.
    let dropped = revocations[1].id();
    machine.revocation_dropped(dropped);
    let late = machine.revocation_answered(dropped, Ok(&Response::new(Vec::new())), T0);
    assert_eq!(
        late.map_err(|error| error.kind()),
        Err(ErrorKind::ResponseMismatch)
    );
}

#[test]
fn shutdown_alone_stops_the_refresh_ahead() {
    let mut machine = logged_in();
    let refresh_at = machine
        .session()
        .authorization()
        .expect("a token")
        .refresh_at();
    machine.shutdown();
    assert!(machine.refresh_ahead(refresh_at).is_none());
    assert_eq!(machine.refresh_ahead_at(refresh_at), None);
}

#[test]
fn each_job_has_its_own_id_and_outcome() {
    let mut machine = coordinator(false);
    let (failed, first) = work(machine.step(Want::Usable, T0));
    let login = send(Some(first));
    let failure = TransportError::new(TransportErrorKind::Timeout, "no answer");
    let _ = machine.answered::<Vec<u8>>(failed, login.id(), Err(failure), T0);
    let later = T0.saturating_add(RETRY);
    let (succeeded, first) = work(machine.step(Want::Usable, later));
    assert_ne!(failed, succeeded);
    let login = send(Some(first));
    let _ = machine.answered(succeeded, login.id(), Ok(&tokens("a1", "r1", 3600)), later);
    assert!(machine.waited(succeeded, Want::Usable, later).is_none());
    // The earlier outcome is still there for a caller that waited on it (with no token it
    // could use then).
    let want = Want::NewerThan(machine.session().newest_token_id());
    assert!(machine.waited(failed, want, later).is_some());
}

#[test]
fn a_coordinator_with_nothing_to_publish_publishes_nothing() {
    let mut machine = coordinator(false);
    assert_eq!(published(&mut machine), None);
}

#[test]
fn an_empty_store_keeps_the_set_the_client_started_with_and_a_stored_set_is_adopted() {
    let started = logged_in().tokens().cloned().expect("a set");
    let mut machine = Coordinator::new(
        Session::new(config()).with_tokens(started.clone()),
        true,
        T0,
    );
    let (load, _) = work(machine.load_step(T0));
    assert!(machine.loaded(load, Ok(Stored::default()), T0).is_none());
    assert_eq!(machine.tokens(), Some(&started));

    let stored = logged_in_as("a9", "r9", 7200).tokens().cloned();
    let mut machine = coordinator(true);
    let (load, _) = work(machine.load_step(T0));
    let version = Stored {
        version: 3,
        tokens: stored.clone(),
    };
    assert!(machine.loaded(load, Ok(version), T0).is_none());
    assert_eq!(machine.tokens(), stored.as_ref());
    assert!(matches!(machine.step(Want::Usable, T0), Step::Ready));
}

#[test]
fn a_report_for_another_job_or_stage_changes_nothing() {
    let (mut machine, job, login) = login_out_with_store();
    // The job sends; a save's report for it, or a report for another job, is not its own.
    assert!(machine.saved(job, Ok(9), T0).is_none());
    assert!(
        machine
            .loaded(JobId(job.0 + 1), Ok(Stored::default()), T0)
            .is_none()
    );
    assert!(machine.loaded(job, Ok(Stored::default()), T0).is_none());
    assert!(machine.is_running(job));
    let (expected, _) = save(machine.answered(job, login.id(), Ok(&tokens("a1", "r1", 3600)), T0));
    assert_eq!(expected, 0);
}

#[test]
fn a_forced_refresh_after_a_late_landed_save_refreshes_instead_of_adopting_it() {
    let (mut machine, job, login) = login_out_with_store();
    let (_, set) = save(machine.answered(job, login.id(), Ok(&tokens("a1", "r1", 3600)), T0));
    let timed_out = StoreError::new(StoreErrorKind::Unavailable, "timed out");
    let _ = machine.saved(job, Err(timed_out), T0);
    // Before the save is retried, a forced refresh finds the set stored after all.
    let want = machine.force_refresh();
    let (job, first) = work(machine.step(want, T0));
    assert!(matches!(first, Work::Lease));
    lease_granted(&mut machine, job, T0);
    let landed = Stored {
        version: 1,
        tokens: set,
    };
    assert_eq!(
        send(machine.loaded(job, Ok(landed), T0)).kind(),
        RequestKind::RefreshGrant
    );
    assert!(!machine.is_unsaved() && machine.store_error().is_none());
}

#[test]
fn an_abandoned_retried_save_waits_the_delay_before_the_next() {
    let (mut machine, persist, _, retry) = save_retried();
    machine.abandon(persist, false, retry);
    assert!(!machine.is_running(persist));
    assert!(machine.refresh_ahead(retry).is_none(), "not again at once");
    assert_eq!(
        machine.refresh_ahead_at(retry),
        Some(retry.saturating_add(RETRY))
    );
}

#[test]
fn a_store_failure_names_the_request_it_kept_from_going_out() {
    let mut machine = logged_in_with_store();
    let _ = machine.take_notices().count();
    let due = T0.saturating_add(Duration::from_secs(3600));
    let (job, _) = work(machine.step(Want::Usable, due));
    assert!(machine.leased(job, Err(unavailable()), due).is_none());
    assert!(machine.take_notices().any(|notice| matches!(
        notice,
        Notice::StoreFailed {
            during: "lease",
            request: Some(_),
            ..
        }
    )));
}

#[test]
fn an_answer_notice_says_when_requests_pause_and_only_then() {
    let mut machine = coordinator(false);
    let (job, first) = work(machine.step(Want::Usable, T0));
    let login = send(Some(first));
    let mut busy = Response::new(b"<html>busy</html>".to_vec());
    *busy.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    let _ = machine.answered(job, login.id(), Ok(&busy), T0);
    assert!(machine.take_notices().any(|notice| matches!(
        notice,
        Notice::Answered { paused_until: Some(until), status: Some(503), .. } if until > T0
    )));

    // A refused client while a token is usable stops the requests, but pauses nothing.
    let mut machine = logged_in();
    let _ = machine.take_notices().count();
    let want = machine.force_refresh();
    let (job, first) = work(machine.step(want, T0));
    let refresh = send(Some(first));
    let body = br#"{"error":"invalid_client","error_description":"Client authentication failed","message":"Client authentication failed"}"#;
    let mut refused = Response::new(body.to_vec());
    *refused.status_mut() = http::StatusCode::UNAUTHORIZED;
    let _ = machine.answered(job, refresh.id(), Ok(&refused), T0);
    // The stop is what a forced refresh gets from then on; the token still serves the rest.
    match machine.step(want, T0) {
        Step::Failed(error) => assert_eq!(error.kind(), ErrorKind::InvalidClient),
        other => panic!("expected the refusal, got {other:?}"),
    }
    assert!(matches!(machine.step(Want::Usable, T0), Step::Ready));
    assert!(machine.take_notices().any(|notice| matches!(
        notice,
        Notice::Answered {
            outcome: Err(_),
            paused_until: None,
            ..
        }
    )));
}

#[test]
fn a_forced_refresh_with_nothing_to_send_it_with_needs_a_login() {
    let held = TokenSet::new(
        crate::secret::AccessToken::from("eyJ0.bm8tcmVmcmVzaA.c2ln"),
        T0.saturating_add(Duration::from_secs(3600)),
        None,
    )
    .expect("a valid token");
    let config = Config::builder(
        "https://passport.test/oauth/token",
        "client",
        "cl1ent-s3cret",
    )
    .build()
    .expect("a valid config");
    let mut machine = Coordinator::new(Session::new(config).with_tokens(held), false, T0);
    assert!(matches!(machine.step(Want::Usable, T0), Step::Ready));
    let want = machine.force_refresh();
    match machine.step(want, T0) {
        Step::Failed(error) => assert_eq!(error.kind(), ErrorKind::LoginRequired),
        other => panic!("expected LoginRequired, got {other:?}"),
    }
}

#[test]
fn a_forced_refresh_dropped_by_a_pause_is_asked_again_when_it_ends() {
    let mut machine = logged_in();
    let want = machine.force_refresh();
    let (job, first) = work(machine.step(want, T0));
    let refresh = send(Some(first));
    let mut busy = Response::new(Vec::new());
    *busy.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
    let _ = machine.answered(job, refresh.id(), Ok(&busy), T0);
    assert!(matches!(machine.step(want, T0), Step::Failed(_)), "paused");
    let later = T0.saturating_add(RETRY);
    let (_, first) = work(machine.step(want, later));
    assert_eq!(send(Some(first)).kind(), RequestKind::RefreshGrant);
}

#[test]
fn a_retried_save_for_a_forced_refresh_that_finds_its_own_set_still_refreshes() {
    let (mut machine, job, login) = login_out_with_store();
    let (_, set) = save(machine.answered(job, login.id(), Ok(&tokens("a1", "r1", 3600)), T0));
    let timed_out = StoreError::new(StoreErrorKind::Unavailable, "timed out");
    let _ = machine.saved(job, Err(timed_out), T0);
    let retry = T0.saturating_add(RETRY);
    let want = machine.force_refresh();
    // The save is retried first, and finds the set stored after all.
    let (persist, first) = work(machine.step(want, retry));
    assert!(matches!(first, Work::Lease));
    lease_granted(&mut machine, persist, retry);
    let landed = Stored {
        version: 1,
        tokens: set,
    };
    assert!(matches!(
        machine.loaded(persist, Ok(landed), retry),
        Some(Work::Release)
    ));
    // That set is not the newer token the caller asked for: the refresh goes out.
    let job = leased(&mut machine, retry);
    let stored = Stored {
        version: 1,
        tokens: machine.tokens().cloned(),
    };
    assert_eq!(
        send(machine.loaded(job, Ok(stored), retry)).kind(),
        RequestKind::RefreshGrant
    );
}

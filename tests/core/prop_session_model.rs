//! Model-based test: random sequences of time jumps, server answers (good, bad, garbage, late),
//! transport failures, API 401s, `force_refresh`, `login` and revocations, with the session's
//! promises checked after every step:
//!
//! - a token is never handed out at or past expiry − leeway (checked against the stored set);
//! - at most one token request is out: no `Send` while one is, `Wait` names it;
//! - an unknown or late response changes nothing;
//! - a transient failure never changes the token set;
//! - a password grant happens only without a live refresh token or after `login()`;
//! - a refused (or forgotten) password is never sent again;
//! - a token usable before a failed response is still usable after it.

use std::collections::HashSet;
use std::time::Duration;

use http::{Method, Response};
use keliweb_oauth::{
    Config, Credentials, ErrorKind, UnixTime,
    config::PasswordRetention,
    sans_io::{Action, RequestId, RequestKind, Session, TokenId},
};
use proptest::prelude::*;

use crate::support;
use crate::support::{
    LOGOUT_URL, REVOKE_URL, T0, every_error_response, reply, reply_with, timeout,
};

const LEEWAY: Duration = Duration::from_secs(60);

#[derive(Clone, Debug)]
enum Target {
    /// The token request in flight (or, with none, the last id handed out).
    InFlight,
    /// Any id handed out so far (mostly late ones), by index.
    Past(usize),
}

#[derive(Clone, Debug)]
enum Expiry {
    Missing,
    Number(u64),
    Text(u64),
}

#[derive(Clone, Debug)]
enum Step {
    Advance(u64),
    /// The wall clock steps back (an NTP correction).
    Rewind(u64),
    /// The wall clock steps back to just before the held token's cutoff, so a request in flight
    /// meets a token that is usable again: what happens to it when the request fails?
    RewindIntoWindow(u64),
    /// The clock moves to just past the held token's cutoff (where refreshes happen).
    AdvanceToCutoff(u64),
    Poll,
    Tokens {
        with_refresh: bool,
        expires_in: Expiry,
        target: Target,
    },
    ErrorBody {
        shape: usize,
        target: Target,
    },
    Garbage {
        status: u16,
        body: Vec<u8>,
        target: Target,
    },
    TransportFailure(Target),
    Api401 {
        stale: Option<usize>,
    },
    ForceRefresh,
    Login,
    Revoke,
}

#[derive(Clone, Debug)]
struct Setup {
    /// Start from a session that has logged in.
    logged_in: bool,
    forget_password: bool,
    revocation: u8,
    refresh_lifetime: Duration,
    min_retry_delay: Duration,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        any::<bool>(),
        any::<bool>(),
        0u8..3,
        prop_oneof![Just(2 * 3600u64), Just(10 * 24 * 3600)],
        prop_oneof![Just(0u64), Just(1), Just(30)],
    )
        .prop_map(
            |(logged_in, forget_password, revocation, refresh_lifetime, min_retry_delay)| Setup {
                logged_in,
                forget_password,
                revocation,
                refresh_lifetime: Duration::from_secs(refresh_lifetime),
                min_retry_delay: Duration::from_secs(min_retry_delay),
            },
        )
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![4 => Just(Target::InFlight), 1 => any::<usize>().prop_map(Target::Past)]
}

fn expiry() -> impl Strategy<Value = Expiry> {
    let seconds = prop_oneof![
        Just(1u64),
        Just(30),
        Just(60),
        Just(61),
        Just(120),
        Just(3600),
        Just(86_400),
        Just(u64::MAX),
        1u64..100_000,
    ];
    prop_oneof![
        1 => Just(Expiry::Missing),
        4 => seconds.clone().prop_map(Expiry::Number),
        1 => seconds.prop_map(Expiry::Text),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => prop_oneof![
            0u64..5_000,                        // small: milliseconds to seconds
            0u64..4_000_000,                    // about an hour
            0u64..20 * 24 * 3600 * 1000,        // up to 20 days
            Just(u64::MAX / 4),                 // absurdly far
        ].prop_map(Step::Advance),
        1 => (0u64..120_000).prop_map(Step::Rewind),
        2 => (1u64..60_000).prop_map(Step::RewindIntoWindow),
        2 => (0u64..2_000).prop_map(Step::AdvanceToCutoff),
        6 => Just(Step::Poll),
        4 => (any::<bool>(), expiry(), target()).prop_map(|(with_refresh, expires_in, target)| {
            Step::Tokens { with_refresh, expires_in, target }
        }),
        3 => (any::<usize>(), target()).prop_map(|(shape, target)| Step::ErrorBody { shape, target }),
        1 => (
            prop_oneof![Just(200u16), Just(201), Just(302), Just(400), Just(401), Just(404), Just(500), Just(503)],
            prop::collection::vec(any::<u8>(), 0..48),
            target(),
        ).prop_map(|(status, body, target)| Step::Garbage { status, body, target }),
        1 => target().prop_map(Step::TransportFailure),
        1 => prop::option::of(any::<usize>()).prop_map(|stale| Step::Api401 { stale }),
        1 => Just(Step::ForceRefresh),
        1 => Just(Step::Login),
        1 => Just(Step::Revoke),
    ]
}

/// Every error body shape, plus a long rate limit.
fn error_responses() -> Vec<Response<Vec<u8>>> {
    let mut responses: Vec<_> = every_error_response()
        .into_iter()
        .map(|(_, response)| response)
        .collect();
    responses.push(reply_with(
        429,
        &[("retry-after", "3600")],
        r#"{"message":"Too Many Attempts."}"#,
    ));
    responses.push(reply(200, r#"{"error":"temporarily_unavailable"}"#));
    responses
}

/// What the harness knows beyond the session.
struct Harness {
    session: Session,
    setup: Setup,
    now: UnixTime,
    /// The token request handed out and not answered (nor abandoned by a revocation).
    outstanding: Option<(RequestId, RequestKind, Option<String>)>,
    ids: Vec<RequestId>,
    pending_revocations: Vec<RequestId>,
    token_ids: Vec<TokenId>,
    /// Passwords the server refused, or the session was told to forget.
    dead_passwords: HashSet<String>,
    logins: u32,
    /// `login()` was called and no password grant has succeeded since.
    login_pending: bool,
    issued: u64,
    errors: Vec<Response<Vec<u8>>>,
    /// The set last stored on an `Action::Store`.
    stored: Option<keliweb_oauth::TokenSet>,
}

type Check = Result<(), TestCaseError>;

struct Before {
    state: support::Snapshot,
    usable: Option<TokenId>,
}

/// `before.generation` and the like read the snapshot.
impl std::ops::Deref for Before {
    type Target = support::Snapshot;

    fn deref(&self) -> &support::Snapshot {
        &self.state
    }
}

impl Harness {
    fn new(setup: Setup) -> Self {
        let mut builder = Config::keliweb(support::CLIENT_ID, support::CLIENT_SECRET)
            .credentials("user@example.com", "pw-0")
            .leeway(LEEWAY)
            .refresh_token_lifetime(setup.refresh_lifetime)
            .min_retry_delay(setup.min_retry_delay);
        if setup.forget_password {
            builder = builder.password_retention(PasswordRetention::ForgetAfterLogin);
        }
        builder = match setup.revocation {
            0 => builder,
            1 => builder.revoke_rfc7009(REVOKE_URL),
            _ => builder.revoke_bearer_logout(LOGOUT_URL, Method::POST),
        };
        Self {
            session: Session::new(builder.build().unwrap()),
            setup,
            now: T0,
            outstanding: None,
            ids: Vec::new(),
            pending_revocations: Vec::new(),
            token_ids: Vec::new(),
            dead_passwords: HashSet::new(),
            logins: 0,
            login_pending: false,
            issued: 0,
            errors: error_responses(),
            stored: None,
        }
    }

    fn before(&self) -> Before {
        Before {
            state: support::Snapshot::of(&self.session),
            usable: self
                .session
                .authorization()
                .filter(|auth| auth.is_usable_at(self.now))
                .map(|auth| auth.token_id()),
        }
    }

    fn resolve(&self, target: &Target) -> Option<RequestId> {
        match target {
            Target::InFlight => self
                .outstanding
                .as_ref()
                .map(|(id, _, _)| *id)
                .or_else(|| self.ids.last().copied()),
            Target::Past(index) if !self.ids.is_empty() => Some(self.ids[index % self.ids.len()]),
            Target::Past(_) => None,
        }
    }

    fn live_refresh_token(&self) -> Option<String> {
        let tokens = self.session.tokens()?;
        let expires_at = tokens.refresh_token_expires_at()?;
        (self.now < expires_at).then(|| tokens.refresh_token().unwrap().expose_secret().to_owned())
    }

    /// Invariants that hold between any two steps.
    fn check_state(&self) -> Check {
        if let Some(auth) = self.session.authorization() {
            let tokens = self.session.tokens();
            prop_assert!(tokens.is_some(), "an authorization without a token set");
            let tokens = tokens.unwrap();
            prop_assert_eq!(
                auth.expose_header_value().to_str().unwrap(),
                format!("Bearer {}", tokens.access_token().expose_secret())
            );
            prop_assert_eq!(
                auth.usable_until(),
                tokens.access_token_expires_at().saturating_sub(LEEWAY)
            );
        }
        if let Some((id, _, _)) = &self.outstanding {
            prop_assert_eq!(self.session.in_flight(), Some(*id));
        } else {
            prop_assert_eq!(self.session.in_flight(), None);
        }
        Ok(())
    }

    fn poll(&mut self) -> Check {
        match self.session.poll(self.now) {
            Action::Store => self.stored = self.session.tokens().cloned(),
            Action::UseToken(auth) => {
                // Stored before used: the set handed out is the one last stored.
                prop_assert_eq!(
                    self.stored.as_ref(),
                    self.session.tokens(),
                    "a token handed out before its set was stored"
                );
                let tokens = self.session.tokens().expect("UseToken without a token set");
                let cutoff = tokens.access_token_expires_at().saturating_sub(LEEWAY);
                prop_assert!(
                    self.now < cutoff,
                    "UseToken at {:?}, at or past expiry - leeway {:?}",
                    self.now,
                    cutoff
                );
                prop_assert_eq!(
                    auth.expose_header_value().to_str().unwrap(),
                    format!("Bearer {}", tokens.access_token().expose_secret())
                );
                if !self.token_ids.contains(&auth.token_id()) {
                    self.token_ids.push(auth.token_id());
                }
            }
            Action::Send(request) => {
                prop_assert!(
                    self.outstanding.is_none(),
                    "a second token request while {:?} is out",
                    self.outstanding
                );
                prop_assert_eq!(self.session.in_flight(), Some(request.id()));
                let form = support::form(&request);
                let password = match request.kind() {
                    RequestKind::PasswordGrant => {
                        let password = form["password"].clone();
                        prop_assert!(
                            !self.dead_passwords.contains(&password),
                            "a refused or forgotten password was sent again: {}",
                            password
                        );
                        prop_assert!(
                            self.live_refresh_token().is_none() || self.login_pending,
                            "a password grant with a live refresh token and no login()"
                        );
                        Some(password)
                    }
                    RequestKind::RefreshGrant => {
                        let live = self.live_refresh_token();
                        prop_assert_eq!(live.as_deref(), Some(form["refresh_token"].as_str()));
                        None
                    }
                    RequestKind::Revocation => {
                        prop_assert!(false, "poll handed out a revocation");
                        None
                    }
                };
                self.ids.push(request.id());
                self.outstanding = Some((request.id(), request.kind(), password));
            }
            Action::Wait(id) => {
                prop_assert_eq!(self.outstanding.as_ref().map(|(id, _, _)| *id), Some(id));
            }
            Action::Stop(_) => {
                prop_assert!(self.outstanding.is_none(), "Stop with a request out");
            }
        }
        Ok(())
    }

    fn answer(&mut self, target: &Target, response: Option<Response<Vec<u8>>>) -> Check {
        let Some(id) = self.resolve(target) else {
            return Ok(());
        };
        let before = self.before();
        let result = match &response {
            Some(response) => self.session.handle_response(id, self.now, response),
            None => Err(self.session.handle_transport_error(id, self.now, timeout())),
        };
        let after = self.before();

        if self.pending_revocations.contains(&id) {
            self.pending_revocations.retain(|pending| *pending != id);
            prop_assert_eq!(after.generation, before.generation);
            prop_assert_eq!(&after.tokens, &before.tokens);
            return Ok(());
        }
        let in_flight = self.outstanding.take_if(|(out, _, _)| *out == id);
        let Some((_, kind, password)) = in_flight else {
            // Unknown or late: refused, nothing changed.
            prop_assert_eq!(
                result.as_ref().err().map(|error| error.kind()),
                Some(ErrorKind::ResponseMismatch)
            );
            prop_assert_eq!(after.generation, before.generation);
            prop_assert_eq!(&after.tokens, &before.tokens);
            prop_assert_eq!(after.in_flight, before.in_flight);
            prop_assert_eq!(after.authorization, before.authorization);
            return Ok(());
        };

        let token_set_changed = match &result {
            Ok(()) => true,
            Err(error) => match error.kind() {
                ErrorKind::RefreshTokenRejected => {
                    prop_assert_eq!(kind, RequestKind::RefreshGrant);
                    let tokens = self.session.tokens().unwrap();
                    prop_assert!(tokens.refresh_token().is_none());
                    true
                }
                ErrorKind::LifetimeWithinLeeway => true,
                ErrorKind::LoginRequired => {
                    prop_assert_eq!(kind, RequestKind::RefreshGrant);
                    true
                }
                ErrorKind::ResponseMismatch => {
                    prop_assert!(false, "the request in flight was refused as a mismatch");
                    false
                }
                ErrorKind::InvalidCredentials => {
                    prop_assert_eq!(kind, RequestKind::PasswordGrant);
                    self.dead_passwords.insert(password.clone().unwrap());
                    false
                }
                transient_or_fatal => {
                    prop_assert!(
                        transient_or_fatal.is_retryable()
                            || matches!(
                                transient_or_fatal,
                                ErrorKind::UnexpectedResponse
                                    | ErrorKind::InvalidClient
                                    | ErrorKind::InvalidRequest
                            ),
                        "unexpected error kind {:?}",
                        transient_or_fatal
                    );
                    false
                }
            },
        };
        if token_set_changed {
            prop_assert!(
                after.generation > before.generation,
                "a change without a new generation"
            );
        } else {
            prop_assert_eq!(
                &after.tokens,
                &before.tokens,
                "a failure changed the token set"
            );
            prop_assert_eq!(after.generation, before.generation);
        }
        let accepted = matches!(result, Ok(()))
            || matches!(&result, Err(error) if error.kind() == ErrorKind::LifetimeWithinLeeway);
        if !accepted {
            // No valid token lost: a token usable before is still usable, and the same one.
            // (A token response replaces it, even one within the leeway: after a refresh the
            // server has revoked the old pair, and the new refresh token must be kept.)
            if let Some(token) = before.usable {
                prop_assert_eq!(
                    after.usable,
                    Some(token),
                    "a usable token was lost: {:?}",
                    result
                );
            }
        }
        // Only a grant sent with the latest `login()`'s password settles that login: one sent
        // before it leaves the new credentials (and the request to use them) in place.
        let current_password = format!("pw-{}", self.logins);
        if accepted
            && kind == RequestKind::PasswordGrant
            && password.as_deref() == Some(current_password.as_str())
        {
            self.login_pending = false;
            if self.setup.forget_password {
                self.dead_passwords.insert(current_password);
            }
        }
        Ok(())
    }

    fn step(&mut self, step: &Step) -> Check {
        match step {
            Step::Advance(millis) => {
                self.now = self.now.saturating_add(Duration::from_millis(*millis));
            }
            Step::Rewind(millis) => {
                self.now = self.now.saturating_sub(Duration::from_millis(*millis));
            }
            Step::RewindIntoWindow(millis) => {
                if let Some(auth) = self.session.authorization()
                    && self.now >= auth.usable_until()
                {
                    self.now = auth
                        .usable_until()
                        .saturating_sub(Duration::from_millis(*millis));
                }
            }
            Step::AdvanceToCutoff(millis) => {
                if let Some(auth) = self.session.authorization()
                    && self.now < auth.usable_until()
                {
                    self.now = auth
                        .usable_until()
                        .saturating_add(Duration::from_millis(*millis));
                }
            }
            Step::Poll => self.poll()?,
            Step::Tokens {
                with_refresh,
                expires_in,
                target,
            } => {
                self.issued += 1;
                let mut body = serde_json::json!({
                    "token_type": "Bearer",
                    "access_token": format!("access.{}.token", self.issued),
                });
                if *with_refresh {
                    body["refresh_token"] = format!("def50200{}", self.issued).into();
                }
                match expires_in {
                    Expiry::Missing => {}
                    Expiry::Number(seconds) => body["expires_in"] = (*seconds).into(),
                    Expiry::Text(seconds) => body["expires_in"] = seconds.to_string().into(),
                }
                self.answer(target, Some(reply(200, body.to_string())))?;
            }
            Step::ErrorBody { shape, target } => {
                let response = self.errors[shape % self.errors.len()].clone();
                self.answer(target, Some(response))?;
            }
            Step::Garbage {
                status,
                body,
                target,
            } => self.answer(target, Some(reply(*status, body.clone())))?,
            Step::TransportFailure(target) => self.answer(target, None)?,
            Step::Api401 { stale } => {
                let current = self.session.authorization().map(|auth| auth.token_id());
                let token = match stale {
                    Some(index) if !self.token_ids.is_empty() => {
                        self.token_ids[index % self.token_ids.len()]
                    }
                    _ => match current {
                        Some(token) => token,
                        None => return Ok(()),
                    },
                };
                let before = self.before();
                let verdict = support::unauthorized(&mut self.session, token, self.now);
                let after = self.before();
                prop_assert_eq!(after.generation, before.generation);
                prop_assert_eq!(&after.tokens, &before.tokens);
                if Some(token) != current || verdict == support::Unauthorized::Report {
                    prop_assert_eq!(after.authorization, before.authorization);
                }
                if Some(token) != current {
                    prop_assert_eq!(verdict, support::Unauthorized::RetryWithNewToken);
                } else if verdict == support::Unauthorized::RetryWithNewToken {
                    prop_assert!(self.session.authorization().is_none());
                }
            }
            Step::ForceRefresh => {
                let before = self.before();
                self.session.force_refresh();
                // Nothing is dropped: the working token stays until its replacement is in.
                prop_assert_eq!(&self.before().tokens, &before.tokens);
                prop_assert_eq!(self.before().authorization, before.authorization);
            }
            Step::Login => {
                self.logins += 1;
                let password = format!("pw-{}", self.logins);
                self.session
                    .login(Credentials::new("user@example.com", password));
                self.login_pending = true;
            }
            Step::Revoke => {
                let before = self.before();
                self.session.revoke();
                let mut requests = Vec::new();
                loop {
                    match self.session.poll(self.now) {
                        Action::Store => self.stored = self.session.tokens().cloned(),
                        Action::Send(request) => requests.push(request),
                        Action::Stop(error) => {
                            prop_assert_eq!(error.kind(), ErrorKind::LoginRequired);
                            break;
                        }
                        other => prop_assert!(false, "after a revoke: {:?}", other),
                    }
                }
                prop_assert!(self.stored.is_none(), "the stored set was not erased");
                prop_assert!(self.session.tokens().is_none());
                prop_assert!(self.session.authorization().is_none());
                prop_assert!(self.session.in_flight().is_none());
                // The set changed (and must be stored) exactly when there was one to drop.
                if before.tokens.is_some() {
                    prop_assert!(self.session.generation() > before.generation);
                } else {
                    prop_assert_eq!(self.session.generation(), before.generation);
                }
                let expected = match (&before.tokens, self.setup.revocation) {
                    (None, _) | (_, 0) => 0,
                    (Some(tokens), 1) => 1 + usize::from(tokens.refresh_token().is_some()),
                    (Some(_), _) => 1,
                };
                prop_assert_eq!(requests.len(), expected);
                for request in &requests {
                    prop_assert_eq!(request.kind(), RequestKind::Revocation);
                    self.ids.push(request.id());
                    self.pending_revocations.push(request.id());
                }
                self.outstanding = None;
                self.login_pending = false;
            }
        }
        self.check_state()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_session_keeps_its_promises(
        setup in setup(),
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let logged_in = setup.logged_in;
        let mut harness = Harness::new(setup);
        if logged_in {
            harness.step(&Step::Poll)?;
            harness.step(&Step::Tokens {
                with_refresh: true,
                expires_in: Expiry::Number(3600),
                target: Target::InFlight,
            })?;
            prop_assert!(harness.session.authorization().is_some());
        }
        for step in &steps {
            harness.step(step)?;
        }
        // Drain: whatever the history, the session still answers a poll sensibly.
        harness.poll()?;
    }
}

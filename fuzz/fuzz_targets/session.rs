//! The whole session: fuzz input decoded into a sequence of operations (time jumps, responses,
//! transport failures, API 401s, revocations, restores from stored sets), with the state
//! machine's rules checked after every step.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use arbitrary::Arbitrary;
use http::Response;
use keliweb_oauth::{
    Config, Credentials, ErrorKind, TokenSet, UnixTime,
    error::{StoreError, StoreErrorKind, TransportError, TransportErrorKind},
    sans_io::{Action, RequestId, RequestKind, Session},
    secret::{AccessToken, RefreshToken},
};
use libfuzzer_sys::fuzz_target;

const LEEWAY: Duration = Duration::from_secs(60);
const START: UnixTime = UnixTime::from_secs(1_800_000_000);

/// Bodies a Passport server really sends (`docs/passport.md#token-endpoint-errors`), picked by
/// index; anything else comes as raw bytes.
const BODIES: &[(u16, &str)] = &[
    (
        200,
        r#"{"token_type":"Bearer","expires_in":3600,"access_token":"a1.b.c","refresh_token":"def1"}"#,
    ),
    (
        200,
        r#"{"token_type":"bearer","expires_in":"120","access_token":"a2.b.c"}"#,
    ),
    (
        200,
        r#"{"access_token":"a3","expires_in":30,"refresh_token":"def3"}"#,
    ),
    (
        401,
        r#"{"error":"invalid_request","error_description":"The refresh token is invalid.","hint":"Token has been revoked"}"#,
    ),
    (
        400,
        r#"{"error":"invalid_grant","error_description":"The refresh token is invalid.","hint":"Token has expired"}"#,
    ),
    (
        400,
        r#"{"error":"invalid_grant","error_description":"The user credentials were incorrect."}"#,
    ),
    (
        401,
        r#"{"error":"invalid_credentials","message":"The user credentials were incorrect."}"#,
    ),
    (
        401,
        r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#,
    ),
    (500, r#"{"error":"server_error"}"#),
    (503, "<html>Service Unavailable</html>"),
    (429, r#"{"message":"Too Many Attempts."}"#),
    (302, ""),
    (204, ""),
];

#[derive(Arbitrary, Debug)]
enum Target {
    TokenRequest,
    Revocation,
    Stranger,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Wait(u16),
    Leap(u32),
    Poll,
    Answer(Target, u8),
    AnswerRaw(Target, u16, Vec<u8>),
    Fail(Target),
    Unauthorized(bool),
    ForceRefresh,
    Login,
    Revoke,
    Restore {
        access_left: u32,
        refresh_left: u32,
    },
    /// Another process's set from a shared store (`None`: it logged out).
    Adopt {
        present: bool,
        access_left: u32,
        refresh_left: u32,
    },
    /// The request out goes on the wire only now (after a lease wait).
    MarkSent(Target),
    /// The shared store could not be used for the request out.
    StoreFailed(Target),
}

#[derive(Arbitrary, Debug)]
struct Input {
    remember_password: bool,
    rfc7009: bool,
    min_retry_delay: u8,
    ops: Vec<Op>,
}

/// What the checker remembers between steps.
struct Run {
    session: Session,
    now: UnixTime,
    in_flight: Option<(RequestId, RequestKind, u32)>,
    /// How many times `login` was called: a refusal only stops the credentials it was sent with.
    logins: u32,
    revocations: Vec<RequestId>,
    /// A refresh failed transiently: the next token request must not be a password login.
    refresh_must_come_next: bool,
    /// The password was refused: no password grant until `login`.
    password_refused: bool,
    /// `login` was called and no password grant has been sent since: one is expected.
    login_pending: bool,
    /// The first token handed out, to send a stale 401 for.
    first_token: Option<keliweb_oauth::sans_io::TokenId>,
}

fuzz_target!(|input: Input| {
    let mut config = Config::keliweb("fuzz-client", "fuzz-secret")
        .leeway(LEEWAY)
        .min_retry_delay(Duration::from_secs(u64::from(input.min_retry_delay)))
        .credentials("fuzz@example.com", "fuzz-password");
    if !input.remember_password {
        config =
            config.password_retention(keliweb_oauth::config::PasswordRetention::ForgetAfterLogin);
    }
    if input.rfc7009 {
        config = config.revoke_rfc7009("https://apiv2.keliweb.it/oauth/revoke");
    }
    let mut run = Run {
        session: Session::new(config.build().expect("a valid config")),
        now: START,
        in_flight: None,
        logins: 0,
        revocations: Vec::new(),
        refresh_must_come_next: false,
        password_refused: false,
        login_pending: false,
        first_token: None,
    };
    for op in input.ops.iter().take(64) {
        run.apply(op);
        run.check_poll();
    }
});

impl Run {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Wait(seconds) => {
                self.now = self
                    .now
                    .saturating_add(Duration::from_secs(u64::from(*seconds)))
            }
            Op::Leap(seconds) => {
                self.now = self
                    .now
                    .saturating_add(Duration::from_secs(u64::from(*seconds) * 60))
            }
            Op::Poll => {}
            Op::Answer(target, index) => {
                let (status, body) = BODIES[usize::from(*index) % BODIES.len()];
                self.answer(target, status, body.as_bytes());
            }
            Op::AnswerRaw(target, status, body) => self.answer(target, status % 900 + 100, body),
            Op::Fail(target) => {
                let Some(id) = self.target(target) else {
                    return;
                };
                let before = self.session.tokens().cloned();
                let error = TransportError::new(TransportErrorKind::Io, "reset by the fuzzer");
                let outcome = self.session.handle_transport_error(id, self.now, error);
                assert!(matches!(
                    outcome.kind(),
                    ErrorKind::Transport | ErrorKind::ResponseMismatch
                ));
                assert_eq!(
                    self.session.tokens(),
                    before.as_ref(),
                    "a transport failure changed the tokens"
                );
                self.settle(target, id, ErrorKind::Transport);
            }
            Op::Unauthorized(stale) => {
                let current = self.session.authorization().map(|auth| auth.token_id());
                let id = if *stale {
                    self.first_token.or(current)
                } else {
                    current
                };
                if let Some(id) = id {
                    self.session.handle_unauthorized(id, self.now);
                }
            }
            Op::ForceRefresh => self.session.force_refresh(),
            Op::Login => {
                self.session
                    .login(Credentials::new("fuzz@example.com", "fuzz-password"));
                self.logins += 1;
                self.login_pending = true;
                self.password_refused = false;
                self.refresh_must_come_next = false;
            }
            Op::Revoke => {
                self.session.revoke();
                while let Some(id) = self.next_revocation() {
                    self.revocations.push(id);
                }
                assert!(self.session.tokens().is_none() && self.session.in_flight().is_none());
                self.in_flight = None;
                self.refresh_must_come_next = false;
                self.login_pending = false;
            }
            Op::Adopt {
                present,
                access_left,
                refresh_left,
            } => self.adopt(*present, *access_left, *refresh_left),
            Op::MarkSent(target) => {
                let id = self.target(target).unwrap_or_else(stranger);
                let out = self.session.in_flight() == Some(id);
                assert_eq!(self.session.mark_sent(id, self.now), out);
            }
            Op::StoreFailed(target) => {
                let id = self.target(target).unwrap_or_else(stranger);
                let before = self.session.tokens().cloned();
                let out = self.session.in_flight() == Some(id);
                let error = StoreError::new(StoreErrorKind::Unavailable, "down for the fuzzer");
                let outcome = self.session.handle_store_error(id, self.now, error);
                let expected = if out {
                    ErrorKind::Store
                } else {
                    ErrorKind::ResponseMismatch
                };
                assert_eq!(outcome.kind(), expected);
                assert_eq!(
                    self.session.tokens(),
                    before.as_ref(),
                    "a store failure changed the tokens"
                );
                if out {
                    self.in_flight = None;
                }
            }
            Op::Restore {
                access_left,
                refresh_left,
            } => {
                let at = |left: &u32| {
                    self.now
                        .saturating_add(Duration::from_secs(u64::from(*left)))
                };
                let refresh = Some((RefreshToken::new("def-restored"), at(refresh_left)));
                let set = TokenSet::new(AccessToken::new("restored"), at(access_left), refresh)
                    .expect("valid");
                let config = self.session.config().clone();
                self.session = Session::new(config).with_tokens(set);
                self.in_flight = None;
                self.revocations.clear();
                self.refresh_must_come_next = false;
                self.password_refused = false;
                self.login_pending = false;
            }
        }
    }

    /// Adopts another process's set and checks it took its place, or changed nothing.
    fn adopt(&mut self, present: bool, access_left: u32, refresh_left: u32) {
        let at = |left: u32| {
            self.now
                .saturating_add(Duration::from_secs(u64::from(left)))
        };
        let set = present.then(|| {
            let refresh = Some((RefreshToken::new("def-adopted"), at(refresh_left)));
            TokenSet::new(AccessToken::new("adopted"), at(access_left), refresh)
                .expect("valid")
                .with_username("fuzz@example.com")
        });
        let (before_tokens, before_generation) =
            (self.session.tokens().cloned(), self.session.generation());
        if self.session.adopt(set.clone()) {
            assert_eq!(
                self.session.tokens(),
                set.as_ref(),
                "the adopted set is held"
            );
            assert_eq!(
                self.session.in_flight(),
                None,
                "the request out was dropped"
            );
            self.in_flight = None;
            self.refresh_must_come_next = false;
        } else {
            assert_eq!(self.session.tokens(), before_tokens.as_ref());
            assert_eq!(self.session.generation(), before_generation);
        }
    }

    fn target(&self, target: &Target) -> Option<RequestId> {
        match target {
            Target::TokenRequest => self.in_flight.map(|(id, _, _)| id),
            Target::Revocation => self.revocations.first().copied(),
            Target::Stranger => None,
        }
    }

    fn answer(&mut self, target: &Target, status: u16, body: &[u8]) {
        let Ok(status) = http::StatusCode::from_u16(status) else {
            return;
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let (before_tokens, before_generation) =
            (self.session.tokens().cloned(), self.session.generation());
        let usable_before = self.usable_token();
        let Some(id) = self.target(target) else {
            // A request this session never handed out: refused, and nothing changes.
            let result = self
                .session
                .handle_response(stranger(), self.now, &response);
            assert_eq!(
                result.err().map(|error| error.kind()),
                Some(ErrorKind::ResponseMismatch)
            );
            assert_eq!(self.session.generation(), before_generation);
            assert_eq!(self.session.tokens(), before_tokens.as_ref());
            return;
        };
        let result = self.session.handle_response(id, self.now, &response);
        let kind = result.as_ref().err().map(|error| error.kind());
        if let Some(kind) = kind {
            if kind.is_retryable() {
                assert_eq!(
                    self.session.tokens(),
                    before_tokens.as_ref(),
                    "a transient failure changed the tokens"
                );
            }
            if let Some(auth) = usable_before
                && matches!(target, Target::TokenRequest)
                && kind != ErrorKind::LifetimeWithinLeeway
            {
                let kept = self
                    .session
                    .tokens()
                    .map(|tokens| tokens.access_token_expires_at());
                assert!(
                    kept >= Some(auth),
                    "a failure dropped a token that still worked"
                );
            }
        }
        self.settle(target, id, kind.unwrap_or(ErrorKind::ResponseMismatch));
    }

    /// Bookkeeping after request `id` got its outcome (`ResponseMismatch` standing for success).
    fn settle(&mut self, target: &Target, id: RequestId, outcome: ErrorKind) {
        match target {
            Target::Revocation => self.revocations.retain(|pending| *pending != id),
            Target::TokenRequest => {
                let Some((_, kind, logins_at_send)) = self.in_flight.take() else {
                    return;
                };
                if outcome.is_retryable() && kind == RequestKind::RefreshGrant {
                    self.refresh_must_come_next = true;
                }
                // A refusal of credentials that `login` has since replaced stops nothing.
                if outcome == ErrorKind::InvalidCredentials && logins_at_send == self.logins {
                    self.password_refused = true;
                }
            }
            Target::Stranger => {}
        }
    }

    /// The expiry of the access token if it is still handed out now.
    fn usable_token(&self) -> Option<UnixTime> {
        let auth = self.session.authorization()?;
        auth.is_usable_at(self.now)
            .then(|| self.session.tokens().map(TokenSet::access_token_expires_at))?
    }

    /// Polls out the next revocation request a `revoke` queued, doing any `Store` first.
    fn next_revocation(&mut self) -> Option<RequestId> {
        loop {
            match self.session.poll(self.now) {
                Action::Store => {}
                Action::Send(request) => {
                    assert_eq!(request.kind(), RequestKind::Revocation);
                    return Some(request.id());
                }
                _ => return None,
            }
        }
    }

    /// Polls and checks the rules on what comes out.
    fn check_poll(&mut self) {
        let was_in_flight = self.session.in_flight();
        match self.session.poll(self.now) {
            Action::UseToken(auth) => {
                let expires = self.session.tokens().map(TokenSet::access_token_expires_at);
                let expires = expires.expect("a token is handed out only from a token set");
                assert!(
                    self.now < expires.saturating_sub(LEEWAY),
                    "handed out a token inside the leeway"
                );
                assert!(auth.is_usable_at(self.now));
                self.first_token.get_or_insert(auth.token_id());
            }
            Action::Send(request) => {
                assert_eq!(
                    was_in_flight, None,
                    "a second token request while one is in flight"
                );
                if request.kind() == RequestKind::PasswordGrant {
                    assert!(
                        !self.password_refused,
                        "a refused password was sent again without login()"
                    );
                    let live_refresh = self
                        .session
                        .tokens()
                        .and_then(TokenSet::refresh_token_expires_at)
                        .is_some_and(|expires| self.now < expires);
                    let asked_for = std::mem::take(&mut self.login_pending);
                    assert!(
                        asked_for || !(self.refresh_must_come_next && live_refresh),
                        "a transient failure led to a password login"
                    );
                }
                self.refresh_must_come_next = false;
                self.in_flight = Some((request.id(), request.kind(), self.logins));
            }
            Action::Wait(id) => assert_eq!(Some(id), was_in_flight),
            Action::Store | Action::Stop(_) => {}
        }
    }
}

/// An id no fuzzed session reaches: sessions number their requests in order, and one run hands
/// out at most three per operation, so the 1,000th id of a probe session is never theirs.
fn stranger() -> RequestId {
    static STRANGER: OnceLock<Option<RequestId>> = OnceLock::new();
    let id = STRANGER.get_or_init(|| {
        let config = Config::keliweb("probe", "probe").build().ok()?;
        let mut probe = Session::new(config);
        let mut last = None;
        for _ in 0..1000 {
            probe.login(Credentials::new("probe@example.com", "probe"));
            let Action::Send(request) = probe.poll(START) else {
                return None;
            };
            last = Some(request.id());
            probe.revoke();
        }
        last
    });
    id.expect("the probe session hands out requests")
}

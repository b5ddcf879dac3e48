//! The token lifecycle as a state machine.
//!
//! The session is always in one [phase](#phases), holds at most one token set, and answers
//! [`Session::poll`] from the two. Inputs (`handle_*`, [`login`](Session::login),
//! [`force_refresh`](Session::force_refresh), [`revoke`](Session::revoke)) only move it; what
//! the caller must do comes from `poll` alone.
//!
//! # Phases
//!
//! ```text
//!                 force_refresh           poll: Send
//!          Idle ─────────────────► RefreshAsked ──────────┐
//!   new ──► │ ▲ ▲ ▲                                        ▼
//!           │ │ │ └──── 2xx answer, dead refresh token ── Requesting
//!           │ │ │                                          │    │
//!           │ │ └─ poll from `until` ── Paused ◄─ 429, 5xx, transport
//!           │ │                                                 │
//!           │ └──────── login ─────── Stopped ◄─ bad password, bad client
//!           │
//!           └─ poll: Send (no usable token, or the refresh-ahead point) ──► Requesting
//!
//!   any phase ── revoke ──► LoggedOut ── login ──► Idle
//! ```
//!
//! | from | input | to |
//! |---|---|---|
//! | `Idle` | `poll`, with no usable token or past the token's refresh-ahead point | `Requesting` (`Send`) |
//! | `Idle` | `force_refresh` | `RefreshAsked` |
//! | `RefreshAsked` | `poll` | `Requesting` (`Send`), or `Idle` when there is nothing to send with |
//! | `Requesting` | a 2xx token answer | `Idle` (`Store`, then `UseToken`) |
//! | `Requesting` | a dead refresh token | `Idle` (`RefreshAsked` for a forced refresh): the next poll logs in |
//! | `Requesting` | 429, 5xx, a transport failure, a lifetime within the leeway | `Paused` until `Retry-After` or the minimum retry delay |
//! | `Requesting` | a refused password, client or request | `Stopped` |
//! | `Requesting` | `abandon` | `Idle` |
//! | `Paused` | `poll` from `until` on | `Idle` (`RefreshAsked` if `force_refresh` came since the last poll) |
//! | `Paused`, `Stopped`, `LoggedOut` | `login` | `Idle` |
//! | `Requesting` | `handle_store_error` (a shared store could not be used) | `Paused` |
//! | `Requesting`, `RefreshAsked` | `adopt` (another process's newer set) | `Idle` (other phases stay) |
//! | any | `revoke` | `LoggedOut` |
//!
//! | phase | `poll` answers |
//! |---|---|
//! | `Idle` | `UseToken` while the token is usable and no refresh is due; `Send` a refresh (or a password login) once it is due (the [refresh-ahead](crate::ConfigBuilder::refresh_ahead) point) or no token is usable; `Stop` when there is nothing to send with |
//! | `RefreshAsked` | `Send` a token request, even though a token is usable |
//! | `Requesting` | `UseToken` while the token is usable, else `Wait` for the answer |
//! | `Paused` | `UseToken` while the token is usable, else `Stop` with the failure, until the pause ends |
//! | `Stopped` | `UseToken` while the token is usable, else `Stop` with the refusal |
//! | `LoggedOut` | `Stop` with [`ErrorKind::LoginRequired`] |
//!
//! In every phase `poll` first answers [`Action::Store`] when the token set changed, then
//! `Send`s any revocation request [`revoke`](Session::revoke) queued.
//!
//! **Drain rule:** after every input, call [`Session::poll`] until it answers
//! [`Action::UseToken`], [`Action::Wait`] or [`Action::Stop`]; store on each [`Action::Store`],
//! send each [`Action::Send`] and feed its outcome back before polling again.
//! [`Session::poll_timeout`] says when to poll again without an input.
//!
//! **Several processes, one set:** a driver whose token set lives in a store other processes
//! share takes the store's lease before sending each token request, reloads the store, and
//! either [`adopt`](Session::adopt)s a newer set (instead of sending), or calls
//! [`mark_sent`](Session::mark_sent) and sends; a store it cannot use is
//! [`handle_store_error`](Session::handle_store_error). `docs/custody.md` has the protocol.

mod exchange;
mod phase;
mod revocations;

use std::sync::Arc;

use http::Response;

use self::phase::{InFlight, Login, Phase};
use self::revocations::Revocations;
use crate::authorization::{Authorization, NotAuthorized, TokenId};
use crate::client_auth;
use crate::config::{Config, Credentials};
use crate::error::{Error, ErrorKind, TransportError};
use crate::form::Piece;
use crate::request::{OutgoingRequest, RequestId, RequestKind};
use crate::response;
use crate::store_error::StoreError;
use crate::time::UnixTime;
use crate::token_set::TokenSet;

/// What the caller must do next.
#[derive(Debug)]
#[must_use = "an action tells the caller what it must do next"]
pub enum Action {
    /// The token set changed: store [`Session::tokens`] now (`None`: erase the stored set),
    /// before any token of it is used. After a refresh the old refresh token is already dead on
    /// the server (`docs/passport.md#rotation`): a set not stored is a login on restart.
    Store,
    /// Send this request (a token request, or a revocation) and hand its outcome back. No
    /// other token request is handed out until then. A refresh may be handed out while the
    /// current token is still usable (refresh ahead): keep using it until the answer is in.
    Send(OutgoingRequest),
    /// A usable access token: authorize requests with it until
    /// [`Authorization::usable_until`].
    UseToken(Authorization),
    /// A token request is in flight and no token is usable: wait for its outcome (the id says
    /// which), then poll again.
    Wait(RequestId),
    /// Nothing can be done without the caller: the error says why (log in again, fix the
    /// configuration, or wait until a rate limit or server failure has passed).
    Stop(Error),
}

/// The token held, with the header built from it.
#[derive(Debug)]
struct Held {
    tokens: TokenSet,
    /// `None` once withdrawn: refused by the API, or another account's.
    authorization: Option<Authorization>,
    /// The API refused it (a `401`), rather than the caller withdrawing it.
    refused_by_api: bool,
    /// Obtained to replace a refused token.
    replaces_refused_token: bool,
    /// When it arrived is unknown: the refresh-ahead point is placed at the first poll.
    refresh_point_pending: bool,
}

/// One credential's token lifecycle: which token to use, when to refresh, when to log in.
///
/// The session does no IO and reads no clock: every input carries `now`. It takes `&mut self`,
/// holds no lock, and never panics on a response, whatever its bytes.
#[derive(Debug)]
pub struct Session {
    config: Config,
    phase: Phase,
    login: Login,
    held: Option<Held>,
    revocations: Revocations,
    /// Until then, a refusal of a token that replaced a refused one is reported, not answered
    /// with another token request: an API that refuses every token costs one request per
    /// minimum retry delay, however many callers it refuses.
    refusals_reported_until: UnixTime,
    newest_token: TokenId,
    next_request: u64,
    generation: u64,
    /// The set changed since the caller last stored it.
    unsaved: bool,
}

impl Session {
    /// A session with no tokens. With credentials in the config, the first
    /// [`poll`](Self::poll) logs in; without, it stops with [`ErrorKind::LoginRequired`].
    #[must_use]
    pub fn new(mut config: Config) -> Self {
        let login = config
            .credentials
            .take()
            .map_or(Login::Forgotten, Login::Kept);
        Self {
            config,
            phase: Phase::Idle,
            login,
            held: None,
            revocations: Revocations::default(),
            refusals_reported_until: UnixTime::EPOCH,
            newest_token: TokenId(0),
            next_request: 1,
            generation: 0,
            unsaved: false,
        }
    }

    /// A session resuming from a stored token set: no login while its tokens work. An expired
    /// access token is refreshed, an expired refresh token leads to a password login. A set
    /// whose arrival is unknown ([`TokenSet::obtained_at`]) gets its refresh-ahead point at the
    /// first [`poll`](Self::poll): poll before reading
    /// [`poll_timeout`](Self::poll_timeout) or the authorization's
    /// [`refresh_at`](Authorization::refresh_at). A set
    /// issued to another username than the configured credentials' is not used: the session
    /// logs in as the configured account.
    #[must_use]
    pub fn with_tokens(mut self, tokens: TokenSet) -> Self {
        let other_account = self.login.credentials().is_some_and(|credentials| {
            tokens
                .username()
                .is_some_and(|owner| owner != credentials.username())
        });
        self.install(tokens, false);
        // It came from the store.
        self.unsaved = false;
        if other_account && let Some(credentials) = self.login.take() {
            self.login = Login::Asked(credentials);
            self.withdraw_other_accounts_token();
        }
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current token set: what to store on [`Action::Store`].
    #[must_use]
    pub fn tokens(&self) -> Option<&TokenSet> {
        self.held.as_ref().map(|held| &held.tokens)
    }

    /// Counts changes to the token set (new tokens, a dropped refresh token, revocation).
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The token request in flight, if any.
    #[must_use]
    pub fn in_flight(&self) -> Option<RequestId> {
        self.phase.in_flight().map(|in_flight| in_flight.id)
    }

    /// The current authorization, if a token is held and not withdrawn. It may be past its
    /// usable time: check [`Authorization::is_usable_at`].
    #[must_use]
    pub fn authorization(&self) -> Option<&Authorization> {
        self.held.as_ref()?.authorization.as_ref()
    }

    /// Authorizes `request` with the current token: the allocation-free hot path.
    ///
    /// # Errors
    /// [`NotAuthorized`] when there is no usable token: [`poll`](Self::poll) for one.
    #[inline]
    pub fn authorize<B>(
        &self,
        now: UnixTime,
        request: &mut http::Request<B>,
    ) -> Result<TokenId, NotAuthorized> {
        self.authorization()
            .ok_or(NotAuthorized::NoToken)?
            .apply(now, request)
    }

    /// Supplies credentials (after [`ErrorKind::LoginRequired`] or
    /// [`ErrorKind::InvalidCredentials`]) and lifts a stop, a pause or a logout. The next token
    /// request is a password grant, even if a refresh token is held. A usable access token is
    /// still handed out until then only if it is known to belong to the same username
    /// ([`TokenSet::username`]): the token of another account, or of an unknown one, stops
    /// being handed out at once.
    pub fn login(&mut self, credentials: Credentials) {
        let mut replaced = std::mem::replace(&mut self.login, Login::Asked(credentials));
        match &mut self.phase {
            // The answer to that grant may echo the password it sent: keep that one to judge
            // and scrub the answer by (a second `login` replaces credentials never sent).
            Phase::Requesting(in_flight) => {
                if !in_flight.credentials_replaced && in_flight.kind == RequestKind::PasswordGrant {
                    in_flight.superseded = replaced.take();
                }
                in_flight.credentials_replaced = true;
            }
            Phase::RefreshAsked => {}
            Phase::Idle | Phase::Paused { .. } | Phase::Stopped(_) | Phase::LoggedOut => {
                self.phase = Phase::Idle;
            }
        }
        self.withdraw_other_accounts_token();
    }

    /// Asks for a new access token now: the next poll sends a token request. Until it is
    /// answered the current token still authorizes calls, and it is kept if the request fails.
    /// Ignored while a request is in flight (it brings the fresh token), a stop or a logout; if
    /// the next poll finds a retry pause still running, the request is dropped and the current
    /// token stays in use.
    pub fn force_refresh(&mut self) {
        match &mut self.phase {
            Phase::Idle => self.phase = Phase::RefreshAsked,
            Phase::Paused { refresh_asked, .. } => *refresh_asked = true,
            _ => {}
        }
    }

    /// Forgets request `id` without an outcome, because the driver dropped it (a cancelled
    /// future, an unwinding thread). Unlike a transport failure this starts no retry pause: the
    /// next poll may send again at once. Returns whether `id` was outstanding.
    pub fn abandon(&mut self, id: RequestId) -> bool {
        self.revocations.finish(id) || self.take_in_flight(id).is_ok()
    }

    /// Says what to do next at `now`. See the module docs for the phases and the drain rule.
    pub fn poll(&mut self, now: UnixTime) -> Action {
        self.settle_refresh_point(now);
        if self.unsaved {
            self.unsaved = false;
            return Action::Store;
        }
        if let Some(revocation) = self.revocations.next() {
            return Action::Send(revocation);
        }
        if let Phase::Paused {
            until,
            refresh_asked,
            ..
        } = &mut self.phase
        {
            if now >= *until {
                self.phase = if *refresh_asked {
                    Phase::RefreshAsked
                } else {
                    Phase::Idle
                };
            } else {
                // The forced refresh cannot go out: the current token stays in use.
                *refresh_asked = false;
            }
        }
        let usable = self.usable_at(now).cloned();
        let due = match &self.phase {
            Phase::Requesting(in_flight) => {
                return usable.map_or(Action::Wait(in_flight.id), Action::UseToken);
            }
            Phase::Paused { error, .. } | Phase::Stopped(error) => {
                return usable.map_or_else(|| Action::Stop(error.clone()), Action::UseToken);
            }
            Phase::LoggedOut => return Action::Stop(Error::new(ErrorKind::LoginRequired)),
            Phase::RefreshAsked => true,
            Phase::Idle => usable
                .as_ref()
                .is_none_or(|authorization| now >= authorization.refresh_at()),
        };
        if !due && let Some(authorization) = usable {
            return Action::UseToken(authorization);
        }
        let forced = matches!(self.phase, Phase::RefreshAsked);
        match self.token_request(now, forced) {
            Some(outgoing) => Action::Send(outgoing),
            // Nothing to send a refresh with: keep using the token that works.
            None => {
                self.phase = Phase::Idle;
                usable.map_or_else(
                    || Action::Stop(Error::new(ErrorKind::LoginRequired)),
                    Action::UseToken,
                )
            }
        }
    }

    /// When to poll next with no input in between: `now` itself when [`poll`](Self::poll) has
    /// something to do at once (a set to store, a request to send), else the first instant
    /// after `now` at which its answer changes (the refresh-ahead point, the leeway, the end of
    /// a retry pause); `None` when only an input can change it (a request out with no usable
    /// token, a stop, a logout). A loop with nothing else to do sleeps until then, and so
    /// refreshes ahead of time rather than when a caller needs the token.
    #[must_use]
    pub fn poll_timeout(&self, now: UnixTime) -> Option<UnixTime> {
        if self.unsaved || self.revocations.has_queued() {
            return Some(now);
        }
        let usable_until = self
            .authorization()
            .map(Authorization::usable_until)
            .filter(|until| now < *until);
        match &self.phase {
            Phase::RefreshAsked => Some(now),
            Phase::Paused { until, .. } if now < *until => {
                Some(usable_until.map_or(*until, |usable| usable.min(*until)))
            }
            Phase::Idle | Phase::Paused { .. } => match self.usable_at(now) {
                Some(authorization) => Some(authorization.refresh_at().max(now)),
                None => self.token_request_is_possible(now).then_some(now),
            },
            Phase::Requesting(_) | Phase::Stopped(_) => usable_until,
            Phase::LoggedOut => None,
        }
    }

    /// Whether a token request could be built at `now`: a live refresh token, or credentials.
    fn token_request_is_possible(&self, now: UnixTime) -> bool {
        let refresh_token = self
            .held
            .as_ref()
            .and_then(|held| held.tokens.live_refresh_token(now));
        refresh_token.is_some() || self.login.credentials().is_some()
    }

    /// Hands back the response to request `id`, received at `now`. Any body that is bytes.
    /// What to do next comes from [`poll`](Self::poll); this says how the request went.
    ///
    /// # Errors
    /// The request's failure as a typed [`Error`]. A dead refresh token is
    /// [`ErrorKind::RefreshTokenRejected`] when the next poll logs in with the kept password,
    /// [`ErrorKind::LoginRequired`] when there is none. A response to a request not out is
    /// refused with [`ErrorKind::ResponseMismatch`] and changes nothing.
    pub fn handle_response<B: AsRef<[u8]>>(
        &mut self,
        id: RequestId,
        now: UnixTime,
        response: &Response<B>,
    ) -> Result<(), Error> {
        if self.revocations.is_out(id) {
            let result = self.revocation_answered(response);
            self.revocations.finish(id);
            return result;
        }
        let in_flight = self.take_in_flight(id)?;
        let basic = self.config.encoded_client.basic_credential();
        let parsed = response::parse_token_response(
            in_flight.kind,
            response.status(),
            response.headers(),
            response.body().as_ref(),
            || self.secrets(&in_flight, basic),
        );
        match parsed {
            Ok(issued) => self.accept(in_flight, now, issued),
            Err(error) => {
                if error.kind() == ErrorKind::UnexpectedResponse {
                    self.salvage_refresh_token(&in_flight, response);
                }
                self.refused(in_flight, now, error)
            }
        }
    }

    /// Hands back a transport failure for request `id`, noticed at `now`. No token is dropped;
    /// a token request's failure starts a retry pause.
    #[must_use = "the error says why no token came"]
    pub fn handle_transport_error(
        &mut self,
        id: RequestId,
        now: UnixTime,
        error: TransportError,
    ) -> Error {
        if self.revocations.finish(id) {
            return error.into();
        }
        match self.take_in_flight(id) {
            Ok(_) => self.pause(now, error.into()),
            Err(mismatch) => mismatch,
        }
    }

    /// Says that token request `id` goes out at `now`, later than [`poll`](Self::poll) handed
    /// it out (a driver first waited for a shared store's lease): the answer's lifetimes count
    /// from here. Returns whether `id` is the request in flight.
    pub fn mark_sent(&mut self, id: RequestId, now: UnixTime) -> bool {
        match &mut self.phase {
            Phase::Requesting(in_flight) if in_flight.id == id => {
                in_flight.sent_at = now;
                true
            }
            _ => false,
        }
    }

    /// Hands back why request `id` was not sent: the token store other processes share could
    /// not be locked or read at `now` (see [`adopt`](Self::adopt)). Like a transport failure it
    /// keeps every token and starts a retry pause, so a store that is down is not hammered by
    /// every caller; unlike one, the server never saw the request.
    #[must_use = "the error says why no token came"]
    pub fn handle_store_error(&mut self, id: RequestId, now: UnixTime, error: StoreError) -> Error {
        match self.take_in_flight(id) {
            Ok(_) => self.pause(now, error.into()),
            Err(mismatch) => mismatch,
        }
    }

    /// Adopts `tokens`, the set another process stored in a store this session shares, in
    /// place of the held one: with rotation, a process that refreshed has killed the refresh
    /// token every other process holds, so before sending a token request a process with a
    /// shared store reloads it under its lease and adopts a newer set instead of sending.
    /// `None`: the other process logged out, and the held set is dropped (not revoked: that
    /// process did it). A token request in flight is abandoned; its answer will be refused.
    ///
    /// Returns `false` and changes nothing where the set must not replace the held one: after
    /// [`login`](Self::login) asked for a password grant (it goes out), for a set issued to
    /// another account than the configured credentials', and after [`revoke`](Self::revoke).
    pub fn adopt(&mut self, tokens: Option<TokenSet>) -> bool {
        if self.login.is_asked() || matches!(self.phase, Phase::LoggedOut) {
            return false;
        }
        let other_account = tokens.as_ref().is_some_and(|tokens| {
            self.login.credentials().is_some_and(|credentials| {
                tokens
                    .username()
                    .is_some_and(|owner| owner != credentials.username())
            })
        });
        if other_account {
            return false;
        }
        if matches!(self.phase, Phase::Requesting(_) | Phase::RefreshAsked) {
            self.phase = Phase::Idle;
        }
        match tokens {
            Some(tokens) => self.install(tokens, false),
            None => {
                self.held = None;
                self.generation += 1;
            }
        }
        // It came from the store.
        self.unsaved = false;
        true
    }

    /// [`adopt`](Self::adopt), with the refresh-ahead point of a set of unknown age placed from
    /// `now` at once: for a driver that publishes the token before it next polls.
    pub(crate) fn adopt_at(&mut self, tokens: Option<TokenSet>, now: UnixTime) -> bool {
        let adopted = self.adopt(tokens);
        self.settle_refresh_point(now);
        adopted
    }

    /// Reports that the API answered `401`, at `now`, to a call authorized with token `token`.
    ///
    /// The first refusal of a token withdraws it: the next poll gets another. A token obtained
    /// to replace a refused one is not withdrawn when it is refused too, until the minimum
    /// retry delay since the last withdrawal has passed: it stays the current token
    /// ([`authorization`](Self::authorization) still names it), which tells the caller to
    /// report the `401` rather than retry. An API that refuses
    /// every token (a token of another Keliweb API, a disabled account) then costs one token
    /// request per delay, whatever the number of callers, while a token revoked later (a
    /// password change) is still replaced.
    ///
    /// A refusal while a refresh is out is the rotation's doing, not the API's judgement of
    /// fresh tokens: Passport revokes the old access token when it rotates, so the refresh
    /// may already have killed the token. The token is withdrawn and the callers wait for the
    /// refresh's answer, whatever the token replaced, and the refusal opens no reporting
    /// window. A token refused at its refresh point, or a margin before it (the leeway, at
    /// most half the refresh window), is withdrawn whatever it replaced: another process of
    /// the fleet may have rotated it in turn.
    pub fn handle_unauthorized(&mut self, token: TokenId, now: UnixTime) {
        let reported_until = self.refusals_reported_until;
        let rotating = self
            .phase
            .in_flight()
            .is_some_and(|in_flight| in_flight.kind == RequestKind::RefreshGrant);
        let Some(held) = self.held.as_mut().filter(|held| {
            held.authorization
                .as_ref()
                .is_some_and(|auth| auth.token_id() == token)
        }) else {
            // Already replaced or already withdrawn: a new token is (or will be) there.
            return;
        };
        if rotating {
            held.authorization = None;
            return;
        }
        // From a margin before its refresh point (the leeway, at most half its refresh window:
        // as far as the clocks of a fleet may disagree), another process may have rotated the
        // token in turn: a refusal from there is retried whatever the token replaced.
        let rotation_due = held.authorization.as_ref().is_some_and(|auth| {
            let window = auth
                .usable_until()
                .saturating_duration_since(auth.refresh_at());
            now.saturating_add(self.config.leeway.min(window / 2)) >= auth.refresh_at()
        });
        if held.replaces_refused_token && now < reported_until && !rotation_due {
            return;
        }
        held.authorization = None;
        held.refused_by_api = true;
        self.refusals_reported_until = now.saturating_add(self.config.min_retry_delay);
    }

    /// Logs out: drops the tokens and the credentials locally at once, whatever the server will
    /// say, and queues the revocation requests the next polls hand out (none for
    /// [`Revocation::LocalOnly`](crate::Revocation::LocalOnly)). A token request in flight is
    /// abandoned: its response will be refused. Call [`login`](Self::login) to start again.
    pub fn revoke(&mut self) {
        self.login = Login::Forgotten;
        self.phase = Phase::LoggedOut;
        let Some(held) = self.held.take() else {
            return;
        };
        self.changed();
        let next_request = &mut self.next_request;
        self.revocations
            .queue(&self.config, held.tokens, || take_id(next_request));
    }

    /// The token set's change is taken care of (by generation, by a driver that saves each
    /// change itself): the next poll does not answer [`Action::Store`] for it.
    pub(crate) fn change_taken(&mut self) {
        self.unsaved = false;
    }

    /// The id of the newest token installed (withdrawn or not); a later token has a larger one.
    pub(crate) fn newest_token_id(&self) -> TokenId {
        self.newest_token
    }

    /// Why no token request can go out at `now`, if none can: a stop, a retry pause, a logout,
    /// or neither a live refresh token nor credentials to send.
    pub(crate) fn token_request_blocker(&self, now: UnixTime) -> Option<Error> {
        if let Some(error) = self.phase.blocker(now) {
            return Some(error.clone());
        }
        (!self.token_request_is_possible(now) || matches!(self.phase, Phase::LoggedOut))
            .then(|| Error::new(ErrorKind::LoginRequired))
    }

    fn usable_at(&self, now: UnixTime) -> Option<&Authorization> {
        self.authorization()
            .filter(|authorization| authorization.is_usable_at(now))
    }

    /// Builds the token request due at `now` (a refresh while a refresh token lives and no
    /// login was asked for, else a password grant) and moves to `Requesting`; `None` when
    /// there is nothing to send it with.
    fn token_request(&mut self, now: UnixTime, forced: bool) -> Option<OutgoingRequest> {
        let refresh_token = self
            .held
            .as_ref()
            .filter(|_| !self.login.is_asked())
            .and_then(|held| held.tokens.live_refresh_token(now));
        let (kind, request) = if let Some(refresh_token) = refresh_token {
            // The scope granted, when the server said (a refresh may not ask for more), else
            // the one asked for at login.
            let scope = self
                .tokens()
                .and_then(TokenSet::scope)
                .or(self.config.scope.as_deref());
            let request = self.client_post(
                &[("grant_type", "refresh_token")],
                Piece::Field("refresh_token", refresh_token),
                scope,
            );
            (RequestKind::RefreshGrant, request)
        } else {
            let credentials = self.login.credentials()?;
            let request = self.client_post(
                &[("grant_type", "password")],
                Piece::Encoded(credentials.encoded_form()),
                self.config.scope.as_deref(),
            );
            (RequestKind::PasswordGrant, request)
        };
        let id = self.next_id();
        self.phase = Phase::Requesting(InFlight {
            id,
            kind,
            sent_at: now,
            replaces_refused_token: self.held.as_ref().is_some_and(|held| held.refused_by_api),
            forced,
            credentials_replaced: false,
            superseded: None,
        });
        Some(OutgoingRequest { id, kind, request })
    }

    /// While a login with other credentials is pending, the current token (another account's,
    /// or one whose account is unknown) is no longer handed out.
    fn withdraw_other_accounts_token(&mut self) {
        let Login::Asked(credentials) = &self.login else {
            return;
        };
        if let Some(held) = &mut self.held
            && held.tokens.username() != Some(credentials.username())
        {
            held.authorization = None;
        }
    }

    /// A grant's form POST to the token URL, with the client's credentials and `scope`.
    fn client_post(
        &self,
        head: &[(&'static str, &str)],
        tail: Piece<'_>,
        scope: Option<&str>,
    ) -> http::Request<Vec<u8>> {
        client_auth::client_post(&self.config, &self.config.token_url, head, tail, scope)
    }

    fn next_id(&mut self) -> RequestId {
        take_id(&mut self.next_request)
    }

    /// Takes the request out of `Requesting`; whatever comes of it, a forced refresh has had
    /// its one try.
    fn take_in_flight(&mut self, id: RequestId) -> Result<InFlight, Error> {
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Requesting(in_flight) if in_flight.id == id => Ok(in_flight),
            other => {
                self.phase = other;
                Err(Error::new(ErrorKind::ResponseMismatch)
                    .with_detail(format!("{id} is not in flight")))
            }
        }
    }

    /// Every secret the session knows (and those `in_flight` was sent with), to scrub from
    /// error excerpts.
    fn secrets<'a>(&'a self, in_flight: &'a InFlight, basic: Option<&'a str>) -> Vec<&'a str> {
        // Sized for the usual most (secret, Basic credential, two passwords, a set, a revoked
        // set): one allocation.
        let mut secrets = Vec::with_capacity(8);
        secrets.push(self.config.client_secret.expose_secret());
        secrets.extend(basic);
        for credentials in self
            .login
            .credentials()
            .into_iter()
            .chain(&in_flight.superseded)
        {
            secrets.push(credentials.password().expose_secret());
        }
        let held = self.held.as_ref().map(|held| &held.tokens);
        for tokens in held.into_iter().chain(self.revocations.revoked()) {
            secrets.push(tokens.access_token_str());
            secrets.extend(tokens.refresh_token_str());
        }
        secrets
    }

    /// Installs a new token set. The usable life left when it arrived bounds the
    /// refresh-ahead window to half of it, so a short-lived token is not refreshed the moment it
    /// arrives (nor, from a slow server, the moment a process adopts it); a set whose arrival
    /// is unknown (restored from an older store) gets its window when it is first used
    /// ([`settle_refresh_point`](Self::settle_refresh_point)), never from the default lifetime,
    /// which may be far longer than the token's.
    fn install(&mut self, tokens: TokenSet, replaces_refused_token: bool) {
        self.newest_token = TokenId(self.newest_token.0 + 1);
        let usable_until = tokens
            .access_token_expires_at()
            .saturating_sub(self.config.leeway);
        let obtained_at = tokens.obtained_at();
        // Until settled, no refresh ahead: the leeway still replaces the token in time.
        let refresh_at = obtained_at.map_or(usable_until, |issued| {
            usable_until.saturating_sub(self.refresh_window(usable_until, issued))
        });
        let authorization = Authorization::new(
            tokens.bearer_header(),
            &self.config.user_agent,
            usable_until,
            refresh_at,
            self.newest_token,
            Arc::clone(&self.config.origins),
        );
        self.held = Some(Held {
            tokens,
            authorization: Some(authorization),
            refused_by_api: false,
            replaces_refused_token,
            refresh_point_pending: obtained_at.is_none(),
        });
        self.changed();
    }

    /// The refresh-ahead window of a token usable until `usable_until`, counted from `since`
    /// (when it arrived, or when a set of unknown age was first used): the configured window,
    /// but at most half the usable life left from `since`.
    fn refresh_window(&self, usable_until: UnixTime, since: UnixTime) -> std::time::Duration {
        self.config
            .refresh_ahead
            .min(usable_until.saturating_duration_since(since) / 2)
    }

    /// Places the refresh-ahead point of a held set whose arrival is unknown, counting its
    /// life from `now`: it is refreshed halfway through what is left of it at the latest, and
    /// never at once. Done by the first [`poll`](Self::poll); a driver that publishes the token
    /// before polling calls it first.
    pub(crate) fn settle_refresh_point(&mut self, now: UnixTime) {
        let Some(expires_at) = self
            .held
            .as_ref()
            .filter(|held| held.refresh_point_pending)
            .map(|held| held.tokens.access_token_expires_at())
        else {
            return;
        };
        let usable_until = expires_at.saturating_sub(self.config.leeway);
        let refresh_at = usable_until.saturating_sub(self.refresh_window(usable_until, now));
        if let Some(held) = &mut self.held {
            held.refresh_point_pending = false;
            if let Some(authorization) = &mut held.authorization {
                authorization.set_refresh_at(refresh_at);
            }
        }
    }

    /// Counts a change to the token set, which the caller must store.
    fn changed(&mut self) {
        self.generation += 1;
        self.unsaved = true;
    }

    /// After a transient failure, no new token request before `Retry-After` or the minimum
    /// retry delay: callers arriving meanwhile share the failure instead of each retrying it.
    fn pause(&mut self, now: UnixTime, error: Error) -> Error {
        let minimum = now.saturating_add(self.config.min_retry_delay);
        // A hostile or broken Retry-After (a date years ahead) must not pin the session.
        let maximum = now.saturating_add(Config::MAX_RETRY_AFTER).max(minimum);
        let until = error.retry_after().map_or(minimum, |retry_after| {
            retry_after.instant(now).clamp(minimum, maximum)
        });
        if until > now {
            self.phase = Phase::Paused {
                until,
                error: error.clone(),
                refresh_asked: false,
            };
        }
        error
    }
}

/// The next request id from `counter`, which moves on.
fn take_id(counter: &mut u64) -> RequestId {
    let id = RequestId(*counter);
    *counter += 1;
    id
}

//! The token lifecycle as a state machine.
//!
//! ```text
//!            poll(now)                      handle_response / handle_transport_error
//!  ┌──────────────────────────┐         ┌───────────────────────────────────────────────┐
//!  │ usable token  → UseToken │         │ 2xx token body  → TokensChanged (store them!) │
//!  │ request out   → Wait     │  Send   │ dead refresh    → RefreshTokenRejected, then  │
//!  │ live refresh  → Send ────┼────────►│                   one password login          │
//!  │ credentials   → Send     │         │ bad password / client → Err, session stops    │
//!  │ otherwise     → Stop     │◄────────┤ 429 / 5xx / transport → Err, tokens untouched │
//!  └──────────────────────────┘         └───────────────────────────────────────────────┘
//! ```
//!
//! **Drain rule:** after every input (`handle_*`, `login`, `force_refresh`, an API `401`), call
//! [`Session::poll`] until it answers [`Action::UseToken`], [`Action::Wait`] or [`Action::Stop`];
//! send each [`Action::Send`] and feed its outcome back before polling again.

use std::sync::Arc;
use std::time::Duration;

use http::Response;

use crate::authorization::{Authorization, NotAuthorized, TokenId};
use crate::config::{Config, Credentials, PasswordRetention, Revocation};
use crate::error::{Error, ErrorKind, TransportError};
use crate::request::{self, OutgoingRequest, RequestId, RequestKind};
use crate::response::{self, IssuedTokens};
use crate::time::UnixTime;
use crate::token_set::TokenSet;

/// The longest `Retry-After` honoured; a longer one is cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// What the caller must do next.
#[derive(Debug)]
#[must_use = "an action tells the caller what it must do next"]
pub enum Action {
    /// A fresh access token is held: authorize requests with it until
    /// [`Authorization::usable_until`].
    UseToken(Authorization),
    /// Send this token request and hand its outcome back. No other token request is handed out
    /// until then.
    Send(OutgoingRequest),
    /// A token request is in flight: wait for its outcome (the id says which), then poll again.
    Wait(RequestId),
    /// Nothing can be done without the caller: the error says why (log in again, fix the
    /// configuration, or wait until a rate limit or server failure has passed).
    Stop(Error),
}

/// What a handled response changed.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a TokensChanged progress means the token set must be stored before it is used"]
pub enum Progress {
    /// New tokens are in the set. Store [`Session::tokens`] now, before the new access token is
    /// used: the old refresh token is already dead on the server (`docs/passport.md#rotation`).
    TokensChanged,
    /// The refresh token was dead and has been dropped; poll again to log in with the password.
    /// Carries what the server said.
    RefreshTokenRejected(Error),
    /// The server confirmed a revocation.
    Revoked,
}

/// How to treat an API call that was answered `401 Unauthenticated`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Unauthorized {
    /// The token was invalidated (or had already been replaced): poll for a new one and retry
    /// the call once.
    RetryWithNewToken,
    /// A token obtained to replace a refused one was refused too: report the 401, do not loop.
    /// Once the minimum retry delay has passed, a refusal counts as a first one again.
    Report,
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    id: RequestId,
    kind: RequestKind,
    replaces_refused_token: bool,
    /// Which `login` call the credentials sent date from, so the refusal of a password the
    /// caller has replaced meanwhile does not drop the new one.
    credentials_epoch: u64,
    /// When the request was handed out: lifetimes count from here, since the server started
    /// the clock before its answer crossed the network.
    sent_at: UnixTime,
    /// Sent for `force_refresh`: if the refresh token turns out dead, the forced refresh goes on
    /// as a password login rather than handing the stale token back.
    forced: bool,
}

/// One credential's token lifecycle: which token to use, when to refresh, when to log in.
///
/// The session does no IO and reads no clock: every input carries `now`. It takes `&mut self`,
/// holds no lock, and never panics on a response, whatever its bytes.
#[derive(Debug)]
pub struct Session {
    config: Config,
    credentials: Option<Credentials>,
    tokens: Option<TokenSet>,
    /// Built once per token; `None` while there is no token or it was refused.
    authorization: Option<Authorization>,
    current_token: TokenId,
    /// The access token was refused by the API (a `401`), not just withdrawn by the caller.
    refused_by_api: bool,
    /// The current token was obtained to replace a refused one.
    replaces_refused_token: bool,
    /// Until then, a refusal of a token that replaced a refused one is reported, not answered
    /// with another token request: an API that refuses every token costs one request per
    /// minimum retry delay, however many callers it refuses.
    refusals_reported_until: UnixTime,
    in_flight: Option<InFlight>,
    pending_revocations: Vec<RequestId>,
    /// The revoked tokens, kept (redacted, wiped on drop) only to scrub them from the answers
    /// to the revocations still pending: those requests carry them.
    revoked_tokens: Vec<TokenSet>,
    next_request: u64,
    /// A fatal refusal (bad client, bad password): no token request until `login`.
    stopped: Option<Error>,
    /// A retryable failure with a `Retry-After`: no token request before the instant.
    cooldown: Option<(UnixTime, Error)>,
    /// The caller called `force_refresh`: send a token request even though a token is usable.
    refresh_requested: bool,
    /// The caller called `login`: the next token request is a password grant.
    login_requested: bool,
    /// Counts `login` calls.
    credentials_epoch: u64,
    /// Credentials replaced by `login` while a password grant with them was out, kept only to
    /// scrub them from its answer; dropped (and wiped) when the next request goes out.
    superseded_credentials: Option<Credentials>,
    generation: u64,
}

impl Session {
    /// A session with no tokens. With credentials in the config, the first
    /// [`poll`](Self::poll) logs in; without, it stops with [`ErrorKind::LoginRequired`].
    #[must_use]
    pub fn new(mut config: Config) -> Self {
        let credentials = config.credentials.take();
        Self {
            config,
            credentials,
            tokens: None,
            authorization: None,
            current_token: TokenId(0),
            refused_by_api: false,
            replaces_refused_token: false,
            refusals_reported_until: UnixTime::EPOCH,
            in_flight: None,
            pending_revocations: Vec::new(),
            revoked_tokens: Vec::new(),
            next_request: 1,
            stopped: None,
            cooldown: None,
            refresh_requested: false,
            login_requested: false,
            credentials_epoch: 0,
            superseded_credentials: None,
            generation: 0,
        }
    }

    /// A session resuming from a stored token set: no login while its tokens work. An expired
    /// access token is refreshed, an expired refresh token leads to a password login. A set
    /// issued to another username than the configured credentials' is not used: the session
    /// logs in as the configured account.
    #[must_use]
    pub fn with_tokens(mut self, tokens: TokenSet) -> Self {
        let other_account = self.credentials.as_ref().is_some_and(|credentials| {
            tokens
                .username()
                .is_some_and(|owner| owner != credentials.username())
        });
        self.install(tokens, false);
        if other_account {
            // The configured account is not the one the set was issued to: log in as it.
            self.login_requested = true;
            self.withdraw_other_accounts_token();
        }
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current token set, to persist after [`Progress::TokensChanged`].
    #[must_use]
    pub fn tokens(&self) -> Option<&TokenSet> {
        self.tokens.as_ref()
    }

    /// Counts changes to the token set (new tokens, a dropped refresh token, revocation), so a
    /// driver can persist exactly when it moved.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The token request in flight, if any.
    #[must_use]
    pub fn in_flight(&self) -> Option<RequestId> {
        self.in_flight.map(|in_flight| in_flight.id)
    }

    /// The current authorization, if a token is held and not refused. It may be past its
    /// usable time: check [`Authorization::is_usable_at`].
    #[must_use]
    pub fn authorization(&self) -> Option<&Authorization> {
        self.authorization.as_ref()
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
        self.authorization
            .as_ref()
            .ok_or(NotAuthorized::NoToken)?
            .apply(now, request)
    }

    /// Supplies credentials (after [`ErrorKind::LoginRequired`] or
    /// [`ErrorKind::InvalidCredentials`]) and lifts a stop. The next token request is a password
    /// grant, even if a refresh token is held. A usable access token is still handed out until
    /// then only if it is known to belong to the same username ([`TokenSet::username`]): the
    /// token of another account, or of an unknown one, stops being handed out at once.
    pub fn login(&mut self, credentials: Credentials) {
        let replaced = self.credentials.replace(credentials);
        if self
            .in_flight
            .is_some_and(|in_flight| in_flight.kind == RequestKind::PasswordGrant)
        {
            // The answer to that request may echo the password it sent: keep that one to
            // scrub (a second `login` meanwhile replaces credentials that were never sent).
            if self.superseded_credentials.is_none() {
                self.superseded_credentials = replaced;
            }
        }
        self.credentials_epoch += 1;
        self.login_requested = true;
        self.stopped = None;
        self.cooldown = None;
        self.withdraw_other_accounts_token();
    }

    /// Asks for a new access token now: the next poll sends a token request. Until it is
    /// answered the current token still authorizes calls ([`authorize`](Self::authorize), the
    /// drivers' lock-free path), and it is kept if the request fails; during a retry pause or a stop the request
    /// is dropped and the current token stays in use. Ignored while a token request is in
    /// flight: its answer is the fresh token.
    pub fn force_refresh(&mut self) {
        if self.in_flight.is_none() {
            self.refresh_requested = true;
        }
    }

    /// Forgets request `id` without an outcome, because the driver dropped it (a cancelled
    /// future, an unwinding thread). Unlike a transport failure this starts no retry pause: the
    /// next poll may send again at once. Returns whether `id` was outstanding.
    pub fn abandon(&mut self, id: RequestId) -> bool {
        if self.take_revocation(id) {
            return true;
        }
        self.take_in_flight(id).is_ok()
    }

    /// Says what to do next at `now`. See the module docs for the drain rule.
    pub fn poll(&mut self, now: UnixTime) -> Action {
        let usable = self
            .authorization
            .as_ref()
            .filter(|authorization| authorization.is_usable_at(now));
        if let Some(authorization) = usable
            && !self.refresh_requested
        {
            return Action::UseToken(authorization.clone());
        }
        if let Some(in_flight) = self.in_flight {
            return Action::Wait(in_flight.id);
        }
        if let Some(error) = self.token_request_blocker(now) {
            return match usable {
                // A forced refresh cannot go out (a pause, a stop, nothing to send it with):
                // keep using the token that works.
                Some(authorization) => {
                    self.refresh_requested = false;
                    Action::UseToken(authorization.clone())
                }
                None => Action::Stop(error),
            };
        }
        self.cooldown = None;
        let refresh_token = self
            .tokens
            .as_ref()
            .filter(|_| !(self.login_requested && self.credentials.is_some()))
            .and_then(|tokens| tokens.live_refresh_token(now));
        let (kind, request) = if let Some(refresh_token) = refresh_token {
            let fields = [
                ("grant_type", "refresh_token"),
                ("client_id", self.config.client_id.as_str()),
                ("client_secret", self.config.client_secret.expose_secret()),
                ("refresh_token", refresh_token),
            ];
            (RequestKind::RefreshGrant, self.form_post(&fields))
        } else if let Some(credentials) = &self.credentials {
            let fields = [
                ("grant_type", "password"),
                ("client_id", self.config.client_id.as_str()),
                ("client_secret", self.config.client_secret.expose_secret()),
                ("username", credentials.username()),
                ("password", credentials.password().expose_secret()),
            ];
            (RequestKind::PasswordGrant, self.form_post(&fields))
        } else {
            return Action::Stop(Error::new(ErrorKind::LoginRequired));
        };
        let id = self.next_id();
        self.superseded_credentials = None;
        self.in_flight = Some(InFlight {
            id,
            kind,
            replaces_refused_token: self.refused_by_api,
            credentials_epoch: self.credentials_epoch,
            sent_at: now,
            forced: self.refresh_requested,
        });
        Action::Send(OutgoingRequest { id, kind, request })
    }

    /// Hands back the response to request `id`, received at `now`. Any body that is bytes.
    ///
    /// # Errors
    /// A typed [`Error`]; a response to a request not in flight is refused with
    /// [`ErrorKind::ResponseMismatch`] and changes nothing.
    pub fn handle_response<B: AsRef<[u8]>>(
        &mut self,
        id: RequestId,
        now: UnixTime,
        response: &Response<B>,
    ) -> Result<Progress, Error> {
        if self.pending_revocations.contains(&id) {
            // A logout answered 401 means the token is already dead: what revoking wanted.
            let already_dead = response.status() == http::StatusCode::UNAUTHORIZED
                && matches!(self.config.revocation, Revocation::BearerLogout { .. });
            let secrets = self.secrets();
            let result = if already_dead {
                Ok(())
            } else {
                response::parse_revocation_response(
                    response.status(),
                    response.headers(),
                    response.body().as_ref(),
                    &secrets,
                )
            }
            .map(|()| Progress::Revoked);
            drop(secrets);
            self.take_revocation(id);
            return result;
        }
        let in_flight = self.take_in_flight(id)?;
        let secrets = self.secrets();
        let parsed = response::parse_token_response(
            in_flight.kind,
            response.status(),
            response.headers(),
            response.body().as_ref(),
            &secrets,
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

    /// Hands back a transport failure for request `id`, noticed at `now`. No token is dropped.
    #[must_use = "the error says why no token came"]
    ///
    /// # Errors
    /// Always: [`ErrorKind::Transport`], or [`ErrorKind::ResponseMismatch`] for an unknown id.
    pub fn handle_transport_error(
        &mut self,
        id: RequestId,
        now: UnixTime,
        error: TransportError,
    ) -> Error {
        if self.take_revocation(id) {
            return error.into();
        }
        match self.take_in_flight(id) {
            Ok(_) => self.cool_down(now, error.into()),
            Err(mismatch) => mismatch,
        }
    }

    /// Reports that the API answered `401`, at `now`, to a call authorized with token `token`.
    ///
    /// The first refusal of a token withdraws it ([`Unauthorized::RetryWithNewToken`]). A token
    /// obtained to replace a refused one is reported ([`Unauthorized::Report`]) when it is
    /// refused too, and keeps being reported until the minimum retry delay since the last
    /// withdrawal has passed: an API that refuses every token (a token of another Keliweb API,
    /// a disabled account) then costs one token request per delay, whatever the number of
    /// callers, while a token revoked later (a password change) is still replaced.
    pub fn handle_unauthorized(&mut self, token: TokenId, now: UnixTime) -> Unauthorized {
        let is_current = self
            .authorization
            .as_ref()
            .is_some_and(|auth| auth.token_id() == token);
        if !is_current {
            // Already replaced or already invalidated: a new token is (or will be) there.
            return Unauthorized::RetryWithNewToken;
        }
        if self.replaces_refused_token && now < self.refusals_reported_until {
            return Unauthorized::Report;
        }
        self.authorization = None;
        self.refused_by_api = true;
        self.refusals_reported_until = now.saturating_add(self.config.min_retry_delay);
        Unauthorized::RetryWithNewToken
    }

    /// Logs out: drops the tokens and the credentials locally at once, whatever the server will
    /// say, and returns the revocation requests to send (none for [`Revocation::LocalOnly`]).
    /// A token request in flight is abandoned: its response will be refused. Call
    /// [`login`](Self::login) to start again.
    #[must_use = "send the revocation requests, or the server keeps the tokens alive"]
    pub fn revoke(&mut self) -> Vec<OutgoingRequest> {
        let tokens = self.tokens.take();
        let authorization = self.authorization.take();
        self.credentials = None;
        self.superseded_credentials = None;
        self.login_requested = false;
        self.refresh_requested = false;
        self.in_flight = None;
        self.stopped = None;
        self.cooldown = None;
        self.refused_by_api = false;
        self.replaces_refused_token = false;
        let Some(tokens) = tokens else {
            return Vec::new();
        };
        self.generation += 1;
        let requests: Vec<(RequestKind, http::Request<Vec<u8>>)> = match &self.config.revocation {
            Revocation::LocalOnly => Vec::new(),
            Revocation::Rfc7009 { url } => {
                let refresh = tokens
                    .refresh_token_str()
                    .map(|token| (token, "refresh_token"));
                let access = Some((tokens.access_token_str(), "access_token"));
                refresh
                    .into_iter()
                    .chain(access)
                    .map(|(token, hint)| {
                        let fields = [
                            ("token", token),
                            ("token_type_hint", hint),
                            ("client_id", self.config.client_id.as_str()),
                            ("client_secret", self.config.client_secret.expose_secret()),
                        ];
                        let request = request::form_post(url, &self.config.user_agent, &fields);
                        (RequestKind::Revocation, request)
                    })
                    .collect()
            }
            // The header is rebuilt from the token set when the authorization was withdrawn
            // (`force_refresh`, an API 401): the token may still work on the server.
            Revocation::BearerLogout { url, method } => authorization
                .or_else(|| {
                    Authorization::new(
                        tokens.access_token_str(),
                        &self.config.user_agent,
                        UnixTime::EPOCH,
                        self.current_token,
                        Arc::clone(&self.config.origins),
                    )
                    .ok()
                })
                .map(|auth| {
                    let header = auth.expose_header_value().clone();
                    let request =
                        request::bearer_call(method, url, &self.config.user_agent, header);
                    (RequestKind::Revocation, request)
                })
                .into_iter()
                .collect(),
        };
        if !requests.is_empty() {
            self.revoked_tokens.push(tokens);
        }
        requests
            .into_iter()
            .map(|(kind, request)| {
                let id = self.next_id();
                self.pending_revocations.push(id);
                OutgoingRequest { id, kind, request }
            })
            .collect()
    }

    /// The id of the newest token installed (withdrawn or not); a later token has a larger one.
    #[cfg(any(feature = "blocking", feature = "async"))]
    pub(crate) fn newest_token_id(&self) -> TokenId {
        self.current_token
    }

    /// Why no token request can go out at `now`, if none can: a stop, a retry pause, or
    /// neither a live refresh token nor credentials to send.
    pub(crate) fn token_request_blocker(&self, now: UnixTime) -> Option<Error> {
        match (&self.stopped, &self.cooldown) {
            (Some(error), _) => return Some(error.clone()),
            (None, Some((until, error))) if now < *until => return Some(error.clone()),
            _ => {}
        }
        let refresh_token = self
            .tokens
            .as_ref()
            .and_then(|tokens| tokens.live_refresh_token(now));
        (refresh_token.is_none() && self.credentials.is_none())
            .then(|| Error::new(ErrorKind::LoginRequired))
    }

    /// Which username the password grant `in_flight` logged in with.
    fn grant_username(&self, in_flight: &InFlight) -> Option<String> {
        let sent_with = if in_flight.credentials_epoch == self.credentials_epoch {
            self.credentials.as_ref()
        } else {
            self.superseded_credentials.as_ref()
        };
        sent_with.map(|credentials| credentials.username().to_owned())
    }

    /// While a login with other credentials is pending, the current token (another account's,
    /// or one whose account is unknown) is no longer handed out.
    fn withdraw_other_accounts_token(&mut self) {
        let Some(credentials) = self.credentials.as_ref().filter(|_| self.login_requested) else {
            return;
        };
        let owner = self.tokens.as_ref().and_then(TokenSet::username);
        if owner != Some(credentials.username()) {
            self.authorization = None;
        }
    }

    fn form_post(&self, fields: &[(&str, &str)]) -> http::Request<Vec<u8>> {
        request::form_post(&self.config.token_url, &self.config.user_agent, fields)
    }

    fn next_id(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    fn take_in_flight(&mut self, id: RequestId) -> Result<InFlight, Error> {
        match self.in_flight {
            Some(in_flight) if in_flight.id == id => {
                self.in_flight = None;
                // Whatever came of it, a forced refresh has had its one try.
                self.refresh_requested = false;
                Ok(in_flight)
            }
            _ => Err(Error::new(ErrorKind::ResponseMismatch)
                .with_detail(format!("{id} is not in flight"))),
        }
    }

    fn take_revocation(&mut self, id: RequestId) -> bool {
        let position = self
            .pending_revocations
            .iter()
            .position(|pending| *pending == id);
        let taken = position
            .map(|index| self.pending_revocations.swap_remove(index))
            .is_some();
        if self.pending_revocations.is_empty() {
            self.revoked_tokens.clear();
        }
        taken
    }

    /// Every secret the session knows, to scrub from error excerpts.
    fn secrets(&self) -> Vec<&str> {
        let mut secrets = vec![self.config.client_secret.expose_secret()];
        for credentials in self.credentials.iter().chain(&self.superseded_credentials) {
            secrets.push(credentials.password().expose_secret());
        }
        for tokens in self.tokens.iter().chain(&self.revoked_tokens) {
            secrets.push(tokens.access_token_str());
            secrets.extend(tokens.refresh_token_str());
        }
        secrets
    }

    fn accept(
        &mut self,
        in_flight: InFlight,
        now: UnixTime,
        mut issued: IssuedTokens,
    ) -> Result<Progress, Error> {
        let lifetime = issued
            .expires_in
            .unwrap_or(self.config.default_access_token_lifetime);
        let previous = self.tokens.as_ref();
        // A password grant starts a new set: a refresh token it did not send is not kept, since
        // it may belong to another account. A refresh answer without one keeps the current
        // refresh token (RFC 6749 section 6).
        let owner = match in_flight.kind {
            RequestKind::PasswordGrant => self.grant_username(&in_flight),
            _ => previous.and_then(|tokens| tokens.username().map(str::to_owned)),
        };
        // Moved, not copied: every copy of a token is one more to wipe.
        let refresh = match issued.refresh_token.take() {
            Some(token) => Some((
                token,
                in_flight
                    .sent_at
                    .saturating_add(self.config.refresh_token_lifetime),
            )),
            None if in_flight.kind == RequestKind::PasswordGrant => None,
            None => previous.and_then(|tokens| {
                Some((
                    tokens.refresh_token_str()?.to_owned(),
                    tokens.refresh_token_expires_at()?,
                ))
            }),
        };
        let lifetime = lifetime.min(self.config.max_access_token_lifetime);
        let tokens = TokenSet::from_parts(
            std::mem::take(&mut issued.access_token),
            in_flight.sent_at.saturating_add(lifetime),
            refresh,
        )
        .with_owner(owner);
        // Within the window after a refusal, any new token (a forced refresh, a refresh already
        // out) counts as a replacement, so its refusal is reported rather than paid for again.
        let replaces = in_flight.replaces_refused_token || now < self.refusals_reported_until;
        self.install(tokens, replaces);
        self.stopped = None;
        self.cooldown = None;
        // Credentials that `login` supplied while this grant was out are not the ones it used:
        // they stay, and so does the request to log in with them.
        if in_flight.kind == RequestKind::PasswordGrant
            && in_flight.credentials_epoch == self.credentials_epoch
        {
            self.login_requested = false;
            if self.config.password_retention == PasswordRetention::ForgetAfterLogin {
                self.credentials = None;
            }
        }
        let usable = self
            .authorization
            .as_ref()
            .is_some_and(|auth| auth.is_usable_at(now));
        self.withdraw_other_accounts_token();
        if usable {
            Ok(Progress::TokensChanged)
        } else {
            let error = Error::new(ErrorKind::LifetimeWithinLeeway).with_detail(format!(
                "expires_in {}s is not longer than the {}s leeway; the tokens were stored",
                lifetime.as_secs(),
                self.config.leeway.as_secs()
            ));
            // The token can never be handed out, so the next poll would refresh at once: pause
            // like after any failure, or a driver following the drain rule spins on the server.
            Err(self.cool_down(now, error))
        }
    }

    /// Keeps the new refresh token of a refused 2xx answer to a refresh: the old one is dead.
    fn salvage_refresh_token<B: AsRef<[u8]>>(
        &mut self,
        in_flight: &InFlight,
        response: &Response<B>,
    ) {
        if in_flight.kind != RequestKind::RefreshGrant {
            return;
        }
        let salvaged = response::salvage_refresh_token(response.status(), response.body().as_ref());
        if let (Some(token), Some(tokens)) = (salvaged, &mut self.tokens) {
            let expires_at = in_flight
                .sent_at
                .saturating_add(self.config.refresh_token_lifetime);
            tokens.replace_refresh_token(token, expires_at);
            self.generation += 1;
        }
    }

    fn install(&mut self, tokens: TokenSet, replaces_refused_token: bool) {
        self.current_token = TokenId(self.current_token.0 + 1);
        let usable_until = tokens
            .access_token_expires_at()
            .saturating_sub(self.config.leeway);
        // Every TokenSet was checked on the way in, so this only fails on a bug; then the
        // token is simply never handed out.
        self.authorization = Authorization::new(
            tokens.access_token_str(),
            &self.config.user_agent,
            usable_until,
            self.current_token,
            Arc::clone(&self.config.origins),
        )
        .ok();
        self.tokens = Some(tokens);
        self.refused_by_api = false;
        self.replaces_refused_token = replaces_refused_token;
        self.generation += 1;
    }

    fn refused(
        &mut self,
        in_flight: InFlight,
        now: UnixTime,
        error: Error,
    ) -> Result<Progress, Error> {
        match error.kind() {
            ErrorKind::RefreshTokenRejected => {
                if let Some(tokens) = &mut self.tokens {
                    tokens.forget_refresh_token();
                    self.generation += 1;
                }
                if self.credentials.is_some() {
                    // A forced refresh was asked for because the token looked stale; the refusal
                    // confirms it, so the request goes on as a password login.
                    self.refresh_requested |= in_flight.forced;
                    Ok(Progress::RefreshTokenRejected(error))
                } else {
                    Err(error.with_kind(ErrorKind::LoginRequired))
                }
            }
            ErrorKind::InvalidCredentials => {
                // Never resend a refused password by itself. A password supplied by `login`
                // while this request was out has not been refused: it is kept and sent next.
                if in_flight.credentials_epoch == self.credentials_epoch {
                    self.credentials = None;
                    self.stopped = Some(error.clone());
                }
                Err(error)
            }
            ErrorKind::InvalidClient | ErrorKind::InvalidRequest => {
                self.stopped = Some(error.clone());
                Err(error)
            }
            _ => Err(self.cool_down(now, error)),
        }
    }

    /// After a transient failure, no new token request before `Retry-After` or the minimum
    /// retry delay: callers arriving meanwhile share the failure instead of each retrying it.
    fn cool_down(&mut self, now: UnixTime, error: Error) -> Error {
        let minimum = now.saturating_add(self.config.min_retry_delay);
        // A hostile or broken Retry-After (a date years ahead) must not pin the session.
        let maximum = now.saturating_add(MAX_RETRY_AFTER).max(minimum);
        let until = error.retry_after().map_or(minimum, |retry_after| {
            retry_after.instant(now).clamp(minimum, maximum)
        });
        if until > now {
            self.cooldown = Some((until, error.clone()));
        }
        error
    }
}

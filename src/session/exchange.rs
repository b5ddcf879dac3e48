//! What an answer to a token or revocation request does to the session.

use std::sync::Arc;

use http::Response;

use super::Session;
use super::phase::{InFlight, Login, Phase};
use crate::config::{PasswordRetention, Revocation};
use crate::error::{Error, ErrorKind};
use crate::request::RequestKind;
use crate::response::{self, IssuedTokens};
use crate::time::UnixTime;
use crate::token_set::TokenSet;

impl Session {
    /// Judges the answer to a revocation request.
    pub(super) fn revocation_answered<B: AsRef<[u8]>>(
        &self,
        response: &Response<B>,
    ) -> Result<(), Error> {
        // A logout answered 401 means the token is already dead: what revoking wanted.
        let already_dead = response.status() == http::StatusCode::UNAUTHORIZED
            && matches!(self.config.revocation, Revocation::BearerLogout { .. });
        if already_dead {
            return Ok(());
        }
        let mut secrets = vec![self.config.client_secret.expose_secret()];
        // With HTTP Basic, a page that dumps the request's headers echoes the credential.
        secrets.extend(self.config.encoded_client.basic_credential());
        for tokens in self.revocations.revoked() {
            secrets.push(tokens.access_token_str());
            secrets.extend(tokens.refresh_token_str());
        }
        response::parse_revocation_response(
            response.status(),
            response.headers(),
            response.body().as_ref(),
            &secrets,
        )
    }

    /// Installs the tokens a 2xx answer issued.
    pub(super) fn accept(
        &mut self,
        in_flight: InFlight,
        now: UnixTime,
        issued: IssuedTokens,
    ) -> Result<(), Error> {
        let lifetime = issued
            .expires_in
            .unwrap_or(self.config.default_access_token_lifetime)
            .min(self.config.max_access_token_lifetime);
        let previous = self.tokens();
        // A password grant starts a new set: a refresh token it did not send is not kept, since
        // it may belong to another account. A refresh answer without one keeps the current
        // refresh token (RFC 6749 section 6).
        let owner = match in_flight.kind {
            RequestKind::PasswordGrant => in_flight
                .superseded
                .as_ref()
                .or(self.login.credentials())
                .map(|credentials| Arc::clone(credentials.shared_username())),
            _ => previous.and_then(|tokens| tokens.shared_username().cloned()),
        };
        // Kept in the buffer it was decoded into, with the access token: no copy.
        let refresh = match issued.refresh_token {
            Some(token) => Some((
                token,
                in_flight
                    .sent_at
                    .saturating_add(self.config.refresh_token_lifetime),
            )),
            None if in_flight.kind == RequestKind::PasswordGrant => None,
            // In a buffer of its own (copied into one the first time), so that it does not keep
            // the previous access token alive.
            None => previous.and_then(|tokens| {
                Some((
                    tokens.shared_refresh_token()?.detached(),
                    tokens.refresh_token_expires_at()?,
                ))
            }),
        };
        // A refresh that does not say which scope it granted keeps the previous one.
        let scope = issued.scope.or_else(|| match in_flight.kind {
            RequestKind::PasswordGrant => None,
            _ => previous.and_then(|tokens| tokens.scope().map(str::to_owned)),
        });
        let tokens = TokenSet::from_parts(
            issued.access_token,
            in_flight.sent_at.saturating_add(lifetime),
            refresh,
        )
        .with_owner(owner)
        .with_scope(scope)
        .with_obtained_at(now);
        // Within the window after a refusal, any new token (a forced refresh, a refresh already
        // out) counts as a replacement, so its refusal is reported rather than paid for again.
        let replaces = in_flight.replaces_refused_token || now < self.refusals_reported_until;
        self.install(tokens, replaces);
        // Credentials that `login` supplied while this grant was out are not the ones it used:
        // they stay, and so does the request to log in with them.
        if in_flight.kind == RequestKind::PasswordGrant && in_flight.sent_with_current_credentials()
        {
            self.login = match (self.login.take(), self.config.password_retention) {
                (Some(credentials), PasswordRetention::KeepForRelogin) => Login::Kept(credentials),
                _ => Login::Forgotten,
            };
        }
        let usable = self
            .authorization()
            .is_some_and(|auth| auth.is_usable_at(now));
        self.withdraw_other_accounts_token();
        if usable {
            Ok(())
        } else {
            let waited = now.saturating_duration_since(in_flight.sent_at);
            let detail = if waited >= std::time::Duration::from_secs(1) {
                format!(
                    "expires_in {}s, counted from when the request went out {}s ago, leaves nothing beyond the {}s leeway; the tokens were stored",
                    lifetime.as_secs(),
                    waited.as_secs(),
                    self.config.leeway.as_secs()
                )
            } else {
                format!(
                    "expires_in {}s is not longer than the {}s leeway; the tokens were stored",
                    lifetime.as_secs(),
                    self.config.leeway.as_secs()
                )
            };
            let error = Error::new(ErrorKind::LifetimeWithinLeeway).with_detail(detail);
            // The token can never be handed out, so the next poll would refresh at once: pause
            // like after any failure, or a driver following the drain rule spins on the server.
            Err(self.pause(now, error))
        }
    }

    /// Keeps the new refresh token of a refused 2xx answer to a refresh: the old one is dead.
    pub(super) fn salvage_refresh_token<B: AsRef<[u8]>>(
        &mut self,
        in_flight: &InFlight,
        response: &Response<B>,
    ) {
        if in_flight.kind != RequestKind::RefreshGrant {
            return;
        }
        let salvaged = response::salvage_refresh_token(response.status(), response.body().as_ref());
        if let (Some(token), Some(held)) = (salvaged, &mut self.held) {
            let expires_at = in_flight
                .sent_at
                .saturating_add(self.config.refresh_token_lifetime);
            held.tokens.replace_refresh_token(token, expires_at);
            self.changed();
        }
    }

    /// Moves on from a refused token request.
    pub(super) fn refused(
        &mut self,
        in_flight: InFlight,
        now: UnixTime,
        error: Error,
    ) -> Result<(), Error> {
        match error.kind() {
            ErrorKind::RefreshTokenRejected => {
                if let Some(held) = &mut self.held {
                    held.tokens.forget_refresh_token();
                    self.changed();
                }
                if self.login.credentials().is_some() {
                    // A forced refresh was asked for because the token looked stale; the refusal
                    // confirms it, so the request goes on as a password login.
                    if in_flight.forced {
                        self.phase = Phase::RefreshAsked;
                    }
                    Err(error)
                } else {
                    Err(error.with_kind(ErrorKind::LoginRequired))
                }
            }
            ErrorKind::InvalidCredentials => {
                // Never resend a refused password by itself. A password supplied by `login`
                // while this request was out has not been refused: it is kept and sent next.
                if in_flight.sent_with_current_credentials() {
                    self.login = Login::Forgotten;
                    self.phase = Phase::Stopped(error.clone());
                }
                Err(error)
            }
            ErrorKind::InvalidClient | ErrorKind::InvalidRequest => {
                self.phase = Phase::Stopped(error.clone());
                Err(error)
            }
            _ => Err(self.pause(now, error)),
        }
    }
}

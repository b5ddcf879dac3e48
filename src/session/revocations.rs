//! Logging out: the revocation requests to hand out, the ones out, and the tokens they carry.

use std::collections::VecDeque;

use crate::client_auth;
use crate::config::{Config, Revocation};
use crate::form::Piece;
use crate::request::{self, OutgoingRequest, RequestId, RequestKind};
use crate::token_set::TokenSet;

#[derive(Debug, Default)]
pub(super) struct Revocations {
    /// Built by `revoke`, handed out by `poll`.
    queued: VecDeque<OutgoingRequest>,
    /// Handed out, not answered yet.
    pending: Vec<RequestId>,
    /// The revoked sets, kept (redacted, wiped on drop) only to scrub them from the answers to
    /// the revocations not answered yet: those requests carry them.
    revoked: Vec<TokenSet>,
}

impl Revocations {
    /// Queues the requests that revoke `tokens` as `config` says (none for `LocalOnly`). A
    /// logout sends the set's own header, even for a token withdrawn (it may still work on the
    /// server).
    pub(super) fn queue(
        &mut self,
        config: &Config,
        tokens: TokenSet,
        mut next_id: impl FnMut() -> RequestId,
    ) {
        let requests: Vec<http::Request<Vec<u8>>> = match &config.revocation {
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
                        let fields = [("token", token), ("token_type_hint", hint)];
                        client_auth::client_post(config, url, &fields, Piece::Encoded(&[]), None)
                    })
                    .collect()
            }
            Revocation::BearerLogout { url, method } => {
                let header = tokens.bearer_header().clone();
                vec![request::bearer_call(
                    method,
                    url,
                    &config.user_agent,
                    header,
                )]
            }
        };
        if requests.is_empty() {
            return;
        }
        self.revoked.push(tokens);
        self.queued
            .extend(requests.into_iter().map(|request| OutgoingRequest {
                id: next_id(),
                kind: RequestKind::Revocation,
                request,
            }));
    }

    /// The next revocation request to send, now counted as out.
    pub(super) fn next(&mut self) -> Option<OutgoingRequest> {
        let outgoing = self.queued.pop_front()?;
        self.pending.push(outgoing.id);
        Some(outgoing)
    }

    pub(super) fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    pub(super) fn is_out(&self, id: RequestId) -> bool {
        self.pending.contains(&id)
    }

    /// Marks `id` answered; returns whether it was out. The revoked tokens are dropped once no
    /// request carrying them is left, and wiped when the last header made from them goes too.
    pub(super) fn finish(&mut self, id: RequestId) -> bool {
        let position = self.pending.iter().position(|pending| *pending == id);
        let taken = position
            .map(|index| self.pending.swap_remove(index))
            .is_some();
        if self.pending.is_empty() && self.queued.is_empty() {
            self.revoked.clear();
        }
        taken
    }

    /// The revoked sets still carried by a request.
    pub(super) fn revoked(&self) -> &[TokenSet] {
        &self.revoked
    }
}

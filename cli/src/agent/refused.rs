//! `POST /token/refused` and `POST /header/refused`: a caller whose API call was answered `401`
//! sends the token it used, and gets the next one. The decision is the client's 401 rule
//! (`report_unauthorized`), as for the proxy's own calls: only the current token is replaced,
//! once however many callers report it; an older token is answered with the current one and
//! changes nothing; a replacement the API refuses at once too is reported, not replaced again
//! until the minimum retry delay has passed. Without this, a token the agent restored from a
//! store the server had already rotated (a crash between the rotation and the save) would be
//! served until its refresh point.

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use keliweb_oauth::TokenSet;
use keliweb_oauth::client::Unauthorized;
use subtle::ConstantTimeEq;

use super::Agent;

/// What a report led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The current token was withdrawn: the next one is being fetched (or already was, for
    /// another caller's report of the same token).
    Replaced,
    /// An older token: the current one answers, and nothing is sent.
    Stale,
    /// The current token replaced a refused one and is refused at once too: the API refuses
    /// every token for now, and another token request would not help.
    RefusedAgain,
}

/// Why a report could not be read.
pub const UNREADABLE: &str =
    "send the refused access token, or the `Bearer <token>` value of /header, as the body";

/// The refused token in `body`: the token itself or `Bearer <token>`, with surrounding
/// whitespace (a newline from a shell) ignored. `None` for an empty, oversized or unreadable body.
pub async fn read(body: Incoming) -> Option<Vec<u8>> {
    // A `Bearer ` prefix, the longest token the crate accepts, and a newline or two.
    let limit = TokenSet::MAX_ACCESS_TOKEN_LEN + 16;
    let bytes = Limited::new(body, limit).collect().await.ok()?.to_bytes();
    let text = bytes.trim_ascii();
    let token = match text.strip_prefix(b"Bearer") {
        Some(rest) if rest.first().is_none_or(u8::is_ascii_whitespace) => rest.trim_ascii(),
        _ => text,
    };
    (!token.is_empty()).then(|| token.to_vec())
}

/// Applies the client's 401 rule to `reported`, the token a caller says the API refused.
///
/// # Errors
/// The client's error when it holds no token and cannot get one.
pub async fn report(agent: &Agent, reported: &[u8]) -> Result<Outcome, keliweb_oauth::Error> {
    let current = agent.client.authorization().await?;
    let header = current.expose_header_value().as_bytes();
    let token = header.strip_prefix(b"Bearer ").unwrap_or(header);
    // In constant time: a caller must not learn the current token byte by byte.
    if !bool::from(token.ct_eq(reported)) {
        return Ok(Outcome::Stale);
    }
    let id = current.token_id();
    drop(current);
    // Before the client hears of it: from then on a caller may send the replacement's token
    // request, which must not be counted as a refresh ahead of a usable token.
    let withdrawn_now = agent.metrics.withdraw(id);
    let outcome = match agent.client.report_unauthorized(id) {
        Unauthorized::RetryWithNewToken => {
            if withdrawn_now {
                agent.metrics.token_withdrawn();
            }
            Outcome::Replaced
        }
        Unauthorized::Report => {
            if withdrawn_now {
                agent.metrics.keep(id);
            }
            Outcome::RefusedAgain
        }
    };
    tracing::info!(
        ?outcome,
        "a caller reported the current token refused by the API"
    );
    Ok(outcome)
}

//! Keeps the token fresh while nobody asks: the client refreshes ahead only when a caller
//! reaches the refresh point, so the agent is its own caller there. Quiet hours then never
//! leave the next caller waiting for a token request.

use std::sync::Arc;
use std::time::Duration;

use super::Agent;
use super::clock::now_millis;

/// How long to wait after a failure, or while a refresh ahead is out.
const RETRY: Duration = Duration::from_millis(250);

/// Asks for the token at each refresh point, for ever (the task is aborted on shutdown).
pub async fn keep_fresh(agent: Arc<Agent>) {
    let mut failing = false;
    loop {
        let wait = match agent.client.authorization().await {
            Ok(token) => {
                if failing {
                    tracing::info!("a token is held again");
                    failing = false;
                }
                let usable_until = token.usable_until().as_millis();
                agent.metrics.handed_out(token.token_id(), usable_until);
                let now = now_millis();
                let next = token.refresh_at().as_millis().min(usable_until);
                if next > now {
                    Duration::from_millis(next - now)
                } else {
                    // The refresh ahead is out: look again soon for its token.
                    RETRY
                }
            }
            Err(error) => {
                // The crate's errors are scrubbed: no secret in their text.
                if !failing {
                    tracing::warn!(%error, "no token");
                    failing = true;
                }
                RETRY
            }
        };
        tokio::time::sleep(wait).await;
    }
}

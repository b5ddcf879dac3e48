//! The agent's logs: `tracing` events (its own and the client's, target `keliweb_oauth`) on
//! standard error, as text or JSON lines. No event carries a secret: the client's never do, and
//! the agent logs no header, body or query.

use crate::args::LogFormat;

/// Installs the subscriber, at level INFO.
pub fn init(format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO);
    // Only fails when one is installed already, which then does the job.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

//! The readable trace of one schedule: one line per event, with its virtual time and process.
//!
//! Recording costs formatting, so a schedule runs untraced first; one that violates an
//! invariant (or the one `SIMULATION_SEED` names) runs again, traced, and being deterministic
//! it replays the same events.

use std::fmt::Write as _;

#[derive(Debug, Default)]
pub struct Trace {
    enabled: bool,
    lines: Vec<String>,
}

impl Trace {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            lines: Vec::new(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records `what` at virtual time `at`, by `who` (a process, or the server or store).
    pub fn line(&mut self, at: u64, who: &str, what: impl FnOnce() -> String) {
        if self.enabled {
            let mut line = String::new();
            let _ = write!(
                line,
                "{:>4}.{:03}s  {who:<6} {}",
                at / 1000,
                at % 1000,
                what()
            );
            self.lines.push(line);
        }
    }

    pub fn lines(&self) -> &[String] {
        &self.lines
    }
}

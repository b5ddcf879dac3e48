//! Laravel's `throttle` middleware: a fixed 60-second window opened by its first hit
//! (`docs/passport.md#throttle`).

use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// The throttle's verdict on one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Let through; `remaining` requests are left in the window.
    Allowed {
        /// The limit per window.
        limit: u32,
        /// Requests left in the current window after this one.
        remaining: u32,
    },
    /// Refused; the window reopens in `retry_after_secs`.
    Limited {
        /// The limit per window.
        limit: u32,
        /// Seconds until the window resets (at least 1).
        retry_after_secs: u64,
    },
}

/// The throttle's state.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    window_start: Option<Instant>,
    hits: u32,
}

impl Throttle {
    /// Decides on one request at `now`, counting it when it is let through.
    pub(crate) fn hit(&mut self, limit: u32, now: Instant) -> Verdict {
        let start = match self.window_start {
            Some(start) if now < start + WINDOW => start,
            _ => {
                self.window_start = Some(now);
                self.hits = 0;
                now
            }
        };
        if self.hits >= limit {
            let left = (start + WINDOW).saturating_duration_since(now);
            let retry_after_secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            return Verdict::Limited {
                limit,
                retry_after_secs: retry_after_secs.max(1),
            };
        }
        self.hits += 1;
        Verdict::Allowed {
            limit,
            remaining: limit - self.hits,
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests need some instant to start from"
)]
mod tests {
    use super::*;

    #[test]
    fn limits_then_reopens() {
        let mut t = Throttle::default();
        let now = Instant::now();
        assert_eq!(
            t.hit(2, now),
            Verdict::Allowed {
                limit: 2,
                remaining: 1
            }
        );
        assert_eq!(
            t.hit(2, now),
            Verdict::Allowed {
                limit: 2,
                remaining: 0
            }
        );
        assert_eq!(
            t.hit(2, now + Duration::from_secs(10)),
            Verdict::Limited {
                limit: 2,
                retry_after_secs: 50
            }
        );
        assert_eq!(
            t.hit(2, now + WINDOW),
            Verdict::Allowed {
                limit: 2,
                remaining: 1
            }
        );
    }
}

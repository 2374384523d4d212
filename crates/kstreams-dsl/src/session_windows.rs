//! `SessionWindows`: per-key windows of activity separated by gaps of inactivity.

use std::time::Duration;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Sessions: records of a key at most `gap` apart belong to one session `[first, last]`
/// (both inclusive); a record bridging two sessions merges them. A session closes once
/// stream time passes its end + gap + grace; records only for closed sessions are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    pub(crate) gap_ms: i64,
    pub(crate) grace_ms: i64,
}

impl SessionWindows {
    /// Sessions with this inactivity gap, closing as soon as the gap passed.
    pub fn of_inactivity_gap_with_no_grace(gap: Duration) -> Self {
        Self::of_inactivity_gap_and_grace(gap, Duration::ZERO)
    }

    /// Sessions with this inactivity gap, accepting records up to `grace` later.
    pub fn of_inactivity_gap_and_grace(gap: Duration, grace: Duration) -> Self {
        SessionWindows {
            gap_ms: ms(gap),
            grace_ms: ms(grace),
        }
    }

    /// The inactivity gap (ms).
    pub fn inactivity_gap_ms(&self) -> i64 {
        self.gap_ms
    }

    /// The grace period (ms).
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }
}

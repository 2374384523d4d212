//! `JoinWindows`: how far apart in time two records of a stream-stream join may be.

use std::time::Duration;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A left record at `t` joins right records in `[t - before, t + after]`. A record's window
/// closes `grace` after its end; records arriving for closed windows are dropped, and
/// left/outer joins emit a record without a partner once its window closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    pub(crate) before_ms: i64,
    pub(crate) after_ms: i64,
    pub(crate) grace_ms: i64,
}

impl JoinWindows {
    /// Records at most `difference` apart join; windows close at once.
    pub fn of_time_difference_without_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// Records at most `difference` apart join; windows close `grace` after their end.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        JoinWindows {
            before_ms: ms(difference),
            after_ms: ms(difference),
            grace_ms: ms(grace),
        }
    }

    /// How much earlier a right record may be than the left one.
    pub fn before(mut self, before: Duration) -> Self {
        self.before_ms = ms(before);
        self
    }

    /// How much later a right record may be than the left one.
    pub fn after(mut self, after: Duration) -> Self {
        self.after_ms = ms(after);
        self
    }

    /// `before + after`: the size of the window stores.
    pub fn size_ms(&self) -> i64 {
        self.before_ms.saturating_add(self.after_ms)
    }
}

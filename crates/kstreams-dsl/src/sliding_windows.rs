//! `SlidingWindows`: windows of a fixed time difference, placed by the records themselves.

use std::time::Duration;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Windows `[start, start + difference]` (both inclusive) that exist only where records are:
/// each record at `t` has a window ending at `t` (`[max(0, t - difference), ...]`) and a
/// window starting at `t + 1` when later records fall into it. A window closes once stream
/// time passes its end + grace; a record all of whose windows closed is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    pub(crate) difference_ms: i64,
    pub(crate) grace_ms: i64,
}

impl SlidingWindows {
    /// Windows of `difference` that close at once.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// Windows of `difference` accepting records up to `grace` after their end.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        SlidingWindows {
            difference_ms: ms(difference),
            grace_ms: ms(grace),
        }
    }
}

//! `SessionWindows`: per-key windows of activity separated by gaps of inactivity.

use std::time::Duration;

use kstreams_core::WindowError;

use crate::window_ms::{checked_ms, checked_sum, saturated_ms};

/// Sessions: records of a key at most `gap` apart belong to one session `[first, last]`
/// (both inclusive); a record bridging two sessions merges them. A session closes once
/// stream time passes its end + gap + grace; records only for closed sessions are dropped.
///
/// A zero gap, or settings that do not fit in i64 ms, are a [`WindowError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    pub(crate) gap_ms: i64,
    pub(crate) grace_ms: i64,
    pub(crate) error: Option<WindowError>,
}

impl SessionWindows {
    /// Sessions with this inactivity gap, closing as soon as the gap passed.
    pub fn of_inactivity_gap_with_no_grace(gap: Duration) -> Self {
        Self::of_inactivity_gap_and_grace(gap, Duration::ZERO)
    }

    /// Sessions with this inactivity gap, accepting records up to `grace` later.
    /// Invalid settings are reported when the topology is built (see
    /// [`SessionWindows::try_of_inactivity_gap_and_grace`]).
    pub fn of_inactivity_gap_and_grace(gap: Duration, grace: Duration) -> Self {
        Self::try_of_inactivity_gap_and_grace(gap, grace).unwrap_or_else(|e| SessionWindows {
            gap_ms: saturated_ms(gap),
            grace_ms: saturated_ms(grace),
            error: Some(e),
        })
    }

    /// Sessions with `gap` (at least 1 ms) and `grace`, or why they are invalid.
    pub fn try_of_inactivity_gap_and_grace(
        gap: Duration,
        grace: Duration,
    ) -> Result<Self, WindowError> {
        let gap_ms = checked_ms(gap, "inactivity gap")?;
        if gap_ms <= 0 {
            return Err(WindowError::GapNotPositive { gap_ms });
        }
        let grace_ms = checked_ms(grace, "grace period")?;
        checked_sum(&[gap_ms, grace_ms], "inactivity gap + grace period")?;
        Ok(SessionWindows {
            gap_ms,
            grace_ms,
            error: None,
        })
    }

    /// Whether the settings are valid.
    pub fn validate(&self) -> Result<(), WindowError> {
        self.error.map_or(Ok(()), Err)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let ms = Duration::from_millis;
        assert_eq!(
            SessionWindows::try_of_inactivity_gap_and_grace(ms(0), ms(5)),
            Err(WindowError::GapNotPositive { gap_ms: 0 })
        );
        assert_eq!(
            SessionWindows::of_inactivity_gap_with_no_grace(ms(0)).validate(),
            Err(WindowError::GapNotPositive { gap_ms: 0 })
        );
        assert_eq!(
            SessionWindows::try_of_inactivity_gap_and_grace(ms(5), ms(i64::MAX as u64)),
            Err(WindowError::OutOfRange {
                setting: "inactivity gap + grace period"
            })
        );
        let w = SessionWindows::try_of_inactivity_gap_and_grace(ms(5), ms(2)).unwrap();
        assert_eq!((w.inactivity_gap_ms(), w.grace_ms()), (5, 2));
        assert!(w.validate().is_ok());
    }
}

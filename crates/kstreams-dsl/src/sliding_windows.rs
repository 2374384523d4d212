//! `SlidingWindows`: windows of a fixed time difference, placed by the records themselves.

use std::time::Duration;

use kstreams_core::WindowError;

use crate::window_ms::{checked_ms, checked_sum, saturated_ms};

/// Windows `[start, start + difference]` (both inclusive) that exist only where records are:
/// each record at `t` has a window ending at `t` (`[max(0, t - difference), ...]`) and a
/// window starting at `t + 1` when later records fall into it. A window closes once stream
/// time passes its end + grace; a record all of whose windows closed is dropped.
///
/// A difference of zero is valid (records with equal timestamps share a window), as in Kafka
/// Streams; settings that do not fit in i64 ms are a [`WindowError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    pub(crate) difference_ms: i64,
    pub(crate) grace_ms: i64,
    pub(crate) error: Option<WindowError>,
}

impl SlidingWindows {
    /// Windows of `difference` that close at once.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// Windows of `difference` accepting records up to `grace` after their end.
    /// Invalid settings are reported when the topology is built (see
    /// [`SlidingWindows::try_of_time_difference_and_grace`]).
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        Self::try_of_time_difference_and_grace(difference, grace).unwrap_or_else(|e| {
            SlidingWindows {
                difference_ms: saturated_ms(difference),
                grace_ms: saturated_ms(grace),
                error: Some(e),
            }
        })
    }

    /// Windows of `difference` with `grace`, or why they are invalid.
    pub fn try_of_time_difference_and_grace(
        difference: Duration,
        grace: Duration,
    ) -> Result<Self, WindowError> {
        let difference_ms = checked_ms(difference, "time difference")?;
        let grace_ms = checked_ms(grace, "grace period")?;
        // A window spans difference + 1 ms and closes grace after its end.
        checked_sum(
            &[difference_ms, 1, grace_ms],
            "time difference + grace period",
        )?;
        Ok(SlidingWindows {
            difference_ms,
            grace_ms,
            error: None,
        })
    }

    /// Whether the settings are valid.
    pub fn validate(&self) -> Result<(), WindowError> {
        self.error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let ms = Duration::from_millis;
        assert!(SlidingWindows::try_of_time_difference_and_grace(ms(0), ms(0)).is_ok());
        assert_eq!(
            SlidingWindows::try_of_time_difference_and_grace(Duration::MAX, ms(0)),
            Err(WindowError::OutOfRange {
                setting: "time difference"
            })
        );
        let w = SlidingWindows::of_time_difference_and_grace(ms(i64::MAX as u64), ms(1));
        assert_eq!(
            w.validate(),
            Err(WindowError::OutOfRange {
                setting: "time difference + grace period"
            })
        );
    }
}

//! `JoinWindows`: how far apart in time two records of a stream-stream join may be.

use std::time::Duration;

use kstreams_core::WindowError;

use crate::window_ms::{checked_ms, checked_sum, saturated_ms};

/// A left record at `t` joins right records in `[t - before, t + after]`. A record's window
/// closes `grace` after its end; records arriving for closed windows are dropped, and
/// left/outer joins emit a record without a partner once its window closed.
///
/// A difference of zero is valid (only records with equal timestamps join); settings whose
/// sum (before + after + grace) does not fit in i64 ms are a [`WindowError`], reported by the
/// `try_` methods at once and by `StreamsBuilder::build` otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    pub(crate) before_ms: i64,
    pub(crate) after_ms: i64,
    pub(crate) grace_ms: i64,
    pub(crate) error: Option<WindowError>,
}

impl JoinWindows {
    /// Records at most `difference` apart join; windows close at once.
    pub fn of_time_difference_without_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// Records at most `difference` apart join; windows close `grace` after their end.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        JoinWindows {
            before_ms: saturated_ms(difference),
            after_ms: saturated_ms(difference),
            grace_ms: saturated_ms(grace),
            error: None,
        }
        .checked(checked_ms(difference, "time difference").and(checked_ms(grace, "grace period")))
    }

    /// As [`JoinWindows::of_time_difference_and_grace`], or why the settings are invalid.
    pub fn try_of_time_difference_and_grace(
        difference: Duration,
        grace: Duration,
    ) -> Result<Self, WindowError> {
        let w = Self::of_time_difference_and_grace(difference, grace);
        w.validate().map(|_| w)
    }

    /// How much earlier a right record may be than the left one.
    pub fn before(mut self, before: Duration) -> Self {
        self.before_ms = saturated_ms(before);
        self.checked(checked_ms(before, "before"))
    }

    /// How much later a right record may be than the left one.
    pub fn after(mut self, after: Duration) -> Self {
        self.after_ms = saturated_ms(after);
        self.checked(checked_ms(after, "after"))
    }

    /// Keeps the first error: of a conversion, or of the window bounds overflowing.
    fn checked(mut self, conversion: Result<i64, WindowError>) -> Self {
        if self.error.is_none() {
            self.error = conversion
                .and_then(|_| {
                    checked_sum(
                        &[self.before_ms, self.after_ms, 1, self.grace_ms],
                        "before + after + grace period",
                    )
                })
                .err();
        }
        self
    }

    /// Whether the settings are valid.
    pub fn validate(&self) -> Result<(), WindowError> {
        self.error.map_or(Ok(()), Err)
    }

    /// `before + after`: the size of the window stores.
    pub fn size_ms(&self) -> i64 {
        self.before_ms.saturating_add(self.after_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let ms = Duration::from_millis;
        let w = JoinWindows::try_of_time_difference_and_grace(ms(0), ms(0)).unwrap();
        assert_eq!(w.size_ms(), 0);
        let w = JoinWindows::of_time_difference_without_grace(ms(10))
            .before(ms(3))
            .after(ms(4));
        assert!(w.validate().is_ok());
        assert_eq!(w.size_ms(), 7);
        assert_eq!(
            JoinWindows::try_of_time_difference_and_grace(Duration::MAX, ms(0)),
            Err(WindowError::OutOfRange {
                setting: "time difference"
            })
        );
        let big = ms(i64::MAX as u64 / 2 + 1);
        assert_eq!(
            JoinWindows::of_time_difference_without_grace(big).validate(),
            Err(WindowError::OutOfRange {
                setting: "before + after + grace period"
            })
        );
        assert_eq!(
            JoinWindows::of_time_difference_without_grace(ms(1))
                .after(Duration::MAX)
                .validate(),
            Err(WindowError::OutOfRange { setting: "after" })
        );
    }
}

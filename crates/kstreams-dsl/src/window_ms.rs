//! Conversions of window settings to milliseconds, checked for range.

use std::time::Duration;

use kstreams_core::WindowError;

/// `d` in ms, or `OutOfRange` naming `setting` when it does not fit in i64.
pub(crate) fn checked_ms(d: Duration, setting: &'static str) -> Result<i64, WindowError> {
    i64::try_from(d.as_millis()).map_err(|_| WindowError::OutOfRange { setting })
}

/// `d` in ms, saturated (for settings already known to be invalid).
pub(crate) fn saturated_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The sum of window settings, or `OutOfRange` naming `setting` when it overflows.
pub(crate) fn checked_sum(parts: &[i64], setting: &'static str) -> Result<i64, WindowError> {
    parts
        .iter()
        .try_fold(0i64, |acc, p| acc.checked_add(*p))
        .ok_or(WindowError::OutOfRange { setting })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_checks() {
        assert_eq!(checked_ms(Duration::from_millis(5), "x"), Ok(5));
        assert_eq!(
            checked_ms(Duration::MAX, "grace period"),
            Err(WindowError::OutOfRange {
                setting: "grace period"
            })
        );
        assert_eq!(saturated_ms(Duration::MAX), i64::MAX);
        assert_eq!(checked_sum(&[1, 2, 3], "s"), Ok(6));
        assert_eq!(
            checked_sum(&[i64::MAX, 1], "s"),
            Err(WindowError::OutOfRange { setting: "s" })
        );
    }
}

//! `TimeWindows`: tumbling and hopping windows on event time.

use std::time::Duration;

use kstreams_core::WindowError;

use crate::window_ms::{checked_ms, checked_sum, saturated_ms};
use crate::windowed::Window;

/// Fixed-size windows `[start, start + size)` starting every `advance` (tumbling when
/// `advance == size`, hopping when smaller), aligned to the epoch. A record is accepted
/// while its window has not closed: window end > observed stream time - grace; later ones
/// are dropped.
///
/// Invalid settings (a zero size, an advance of zero or beyond the size, values that do not
/// fit in i64 ms) are reported as a [`WindowError`]: at once by the `try_` constructors, and
/// by `StreamsBuilder::build` for windows made with the infallible ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    pub(crate) size_ms: i64,
    pub(crate) advance_ms: i64,
    pub(crate) grace_ms: i64,
    pub(crate) error: Option<WindowError>,
}

impl TimeWindows {
    /// Tumbling windows of `size` that close as soon as stream time passes their end.
    pub fn of_size_with_no_grace(size: Duration) -> Self {
        Self::of_size_and_grace(size, Duration::ZERO)
    }

    /// Tumbling windows of `size` accepting records up to `grace` after the window end.
    /// Invalid settings are reported when the topology is built (see
    /// [`TimeWindows::try_of_size_and_grace`]).
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> Self {
        Self::try_of_size_and_grace(size, grace).unwrap_or_else(|e| {
            let size_ms = saturated_ms(size).max(1);
            TimeWindows {
                size_ms,
                advance_ms: size_ms,
                grace_ms: saturated_ms(grace),
                error: Some(e),
            }
        })
    }

    /// Tumbling windows of `size` with `grace`, or why they are invalid.
    pub fn try_of_size_and_grace(size: Duration, grace: Duration) -> Result<Self, WindowError> {
        let size_ms = checked_ms(size, "window size")?;
        if size_ms <= 0 {
            return Err(WindowError::SizeNotPositive { size_ms });
        }
        let grace_ms = checked_ms(grace, "grace period")?;
        checked_sum(&[size_ms, grace_ms], "window size + grace period")?;
        Ok(TimeWindows {
            size_ms,
            advance_ms: size_ms,
            grace_ms,
            error: None,
        })
    }

    /// Hopping windows: a new window every `advance`. An invalid advance is reported when
    /// the topology is built (see [`TimeWindows::try_advance_by`]).
    pub fn advance_by(self, advance: Duration) -> Self {
        match self.try_advance_by(advance) {
            Ok(w) => w,
            Err(e) => TimeWindows {
                error: Some(self.error.unwrap_or(e)),
                ..self
            },
        }
    }

    /// Hopping windows with `advance` in `(0, size]`, or why not.
    pub fn try_advance_by(mut self, advance: Duration) -> Result<Self, WindowError> {
        self.validate()?;
        let advance_ms = checked_ms(advance, "window advance")?;
        if advance_ms <= 0 || advance_ms > self.size_ms {
            return Err(WindowError::AdvanceOutOfRange {
                advance_ms,
                size_ms: self.size_ms,
            });
        }
        self.advance_ms = advance_ms;
        Ok(self)
    }

    /// Whether the settings are valid.
    pub fn validate(&self) -> Result<(), WindowError> {
        self.error.map_or(Ok(()), Err)
    }

    /// Window size (ms).
    pub fn size_ms(&self) -> i64 {
        self.size_ms
    }

    /// Advance (ms).
    pub fn advance_ms(&self) -> i64 {
        self.advance_ms
    }

    /// Grace period (ms).
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// The windows containing `timestamp`, ascending by start (Kafka Streams' `windowsFor`).
    pub fn windows_for(&self, timestamp: i64) -> Vec<Window> {
        if self.advance_ms <= 0 || self.size_ms <= 0 {
            return Vec::new();
        }
        let first = (timestamp
            .saturating_sub(self.size_ms)
            .saturating_add(self.advance_ms))
        .max(0)
            / self.advance_ms
            * self.advance_ms;
        let mut out = Vec::new();
        let mut start = first;
        while start <= timestamp {
            out.push(Window::new(start, start.saturating_add(self.size_ms)));
            match start.checked_add(self.advance_ms) {
                Some(next) => start = next,
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(w: &TimeWindows, ts: i64) -> Vec<i64> {
        w.windows_for(ts).iter().map(|w| w.start).collect()
    }

    #[test]
    fn tumbling_windows_partition_time() {
        let w = TimeWindows::of_size_with_no_grace(Duration::from_millis(10));
        assert_eq!(starts(&w, 0), vec![0]);
        assert_eq!(starts(&w, 9), vec![0]);
        assert_eq!(starts(&w, 10), vec![10]);
        assert_eq!(w.windows_for(15)[0].end, 20);
    }

    #[test]
    fn hopping_windows_overlap() {
        let w = TimeWindows::of_size_and_grace(Duration::from_millis(10), Duration::from_millis(3))
            .advance_by(Duration::from_millis(5));
        assert_eq!(starts(&w, 3), vec![0]);
        assert_eq!(starts(&w, 7), vec![0, 5]);
        assert_eq!(starts(&w, 10), vec![5, 10]);
        assert_eq!(w.grace_ms(), 3);
    }

    #[test]
    fn invalid_settings_are_typed_errors() {
        let ms = Duration::from_millis;
        let ten = TimeWindows::of_size_with_no_grace(ms(10));
        assert_eq!(
            ten.try_advance_by(ms(11)),
            Err(WindowError::AdvanceOutOfRange {
                advance_ms: 11,
                size_ms: 10
            })
        );
        assert_eq!(
            ten.try_advance_by(ms(0)),
            Err(WindowError::AdvanceOutOfRange {
                advance_ms: 0,
                size_ms: 10
            })
        );
        assert_eq!(ten.try_advance_by(ms(10)).unwrap().advance_ms(), 10);
        assert_eq!(
            TimeWindows::try_of_size_and_grace(ms(0), ms(5)),
            Err(WindowError::SizeNotPositive { size_ms: 0 })
        );
        assert_eq!(
            TimeWindows::try_of_size_and_grace(ms(10), Duration::MAX),
            Err(WindowError::OutOfRange {
                setting: "grace period"
            })
        );
        assert_eq!(
            TimeWindows::try_of_size_and_grace(ms(10), ms(i64::MAX as u64)),
            Err(WindowError::OutOfRange {
                setting: "window size + grace period"
            })
        );
        // The infallible constructors keep the error for build time and never panic.
        let zero = TimeWindows::of_size_with_no_grace(ms(0));
        assert_eq!(
            zero.validate(),
            Err(WindowError::SizeNotPositive { size_ms: 0 })
        );
        assert_eq!(zero.windows_for(5).len(), 1);
        let hop = ten.advance_by(ms(0));
        assert!(hop.validate().is_err());
        assert_eq!(starts(&hop, 15), vec![10], "the advance is left unchanged");
        // The first error wins.
        assert_eq!(
            zero.advance_by(ms(7)).validate(),
            Err(WindowError::SizeNotPositive { size_ms: 0 })
        );
    }

    #[test]
    fn windows_near_the_end_of_time_do_not_overflow() {
        let w = TimeWindows::of_size_with_no_grace(Duration::from_millis(10))
            .advance_by(Duration::from_millis(5));
        let ws = w.windows_for(i64::MAX - 1);
        assert_eq!(ws.len(), 2);
        assert_eq!(ws[1].end, i64::MAX);
    }
}

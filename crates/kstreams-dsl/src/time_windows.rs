//! `TimeWindows`: tumbling and hopping windows on event time.

use std::time::Duration;

use crate::windowed::Window;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Fixed-size windows `[start, start + size)` starting every `advance` (tumbling when
/// `advance == size`, hopping when smaller), aligned to the epoch. A record is accepted
/// while its window has not closed: window end > observed stream time - grace; later ones
/// are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    pub(crate) size_ms: i64,
    pub(crate) advance_ms: i64,
    pub(crate) grace_ms: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size` that close as soon as stream time passes their end.
    ///
    /// # Panics
    /// If `size` is zero.
    pub fn of_size_with_no_grace(size: Duration) -> Self {
        Self::of_size_and_grace(size, Duration::ZERO)
    }

    /// Tumbling windows of `size` accepting records up to `grace` after the window end.
    ///
    /// # Panics
    /// If `size` is zero.
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> Self {
        let size_ms = ms(size);
        assert!(size_ms > 0, "window size must be at least 1 ms");
        TimeWindows {
            size_ms,
            advance_ms: size_ms,
            grace_ms: ms(grace),
        }
    }

    /// Hopping windows: a new window every `advance`.
    ///
    /// # Panics
    /// If `advance` is zero or larger than the size.
    pub fn advance_by(mut self, advance: Duration) -> Self {
        let a = ms(advance);
        assert!(a > 0 && a <= self.size_ms, "advance must be in (0, size]");
        self.advance_ms = a;
        self
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
        let first = ((timestamp - self.size_ms + self.advance_ms).max(0) / self.advance_ms)
            * self.advance_ms;
        (0..)
            .map(|i| first + i * self.advance_ms)
            .take_while(|start| *start <= timestamp)
            .map(|start| Window::new(start, start + self.size_ms))
            .collect()
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
    #[should_panic(expected = "advance")]
    fn advance_larger_than_size_is_rejected() {
        let _ = TimeWindows::of_size_with_no_grace(Duration::from_millis(10))
            .advance_by(Duration::from_millis(11));
    }
}

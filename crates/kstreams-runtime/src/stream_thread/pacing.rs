//! When the stream thread's loop commits and how long its poll may wait: pure decisions.

use std::time::Duration;

/// What the thread holds that is not committed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Uncommitted {
    /// Nothing processed, punctuated or sent since the last commit.
    Nothing,
    /// Work that the commit due in the given time will commit.
    Work { commit_due_in: Duration },
    /// A processor asked for a commit (`ProcessorContext::commit`): commit at once, as Kafka
    /// Streams does, without waiting for the commit interval.
    Requested,
}

/// How long the next poll may wait for records.
///
/// With work to commit, the wait ends at most one fetch wait after the commit is due. Ending
/// it exactly when the commit is due would commit without the records of the fetch that is
/// about to return, and they would then wait a whole interval (measured: exactly-once latency
/// P50 +2-3 ms at 20,000 records/s, BENCHMARKS.md round 7). Without any bound, processed
/// records would wait the whole poll when the input stops (exactly-once: their transaction
/// committed up to `poll_interval` late).
///
/// A wall-clock punctuator due sooner ends the wait when it is due, so punctuators (and the
/// retries they re-deliver) run on time on an idle input, not up to a poll late.
///
/// Records still buffered in the tasks (processing stopped at its time bound) are work at
/// hand: the poll does not wait.
pub(super) fn poll_timeout(
    poll: Duration,
    fetch_wait: Duration,
    state: Uncommitted,
    punctuation_due_in: Option<Duration>,
    records_buffered: bool,
) -> Duration {
    if records_buffered {
        return Duration::ZERO;
    }
    let wait = match state {
        Uncommitted::Nothing => poll,
        Uncommitted::Work { commit_due_in } => poll.min(commit_due_in.saturating_add(fetch_wait)),
        Uncommitted::Requested => Duration::ZERO,
    };
    punctuation_due_in.map_or(wait, |p| wait.min(p))
}

/// Whether to commit now: the interval runs from one commit's start to the next one's, as
/// Kafka Streams' `commit.interval.ms` does; a processor's request commits at once.
pub(super) fn commit_now(since_last: Duration, interval: Duration, requested: bool) -> bool {
    requested || since_last >= interval
}

/// What backpressure does with a partition's fetching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flow {
    Pause,
    Resume,
    Keep,
}

/// Backpressure for a partition whose task buffers `buffered` of its records, at most `max`
/// (`buffered.records.per.partition`): fetching pauses once the buffer is full and resumes
/// once it drained to half. Decided after records are added and again after processing, so a
/// partition drained by processing is resumed before the next poll (a poll with every
/// partition paused would wait out its whole timeout).
pub(super) fn flow(buffered: usize, max: usize, paused: bool) -> Flow {
    if !paused && buffered >= max {
        Flow::Pause
    } else if paused && buffered <= max / 2 {
        Flow::Resume
    } else {
        Flow::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn an_idle_thread_polls_for_the_whole_poll_interval() {
        assert_eq!(
            poll_timeout(100 * MS, 5 * MS, Uncommitted::Nothing, None, false),
            100 * MS
        );
    }

    #[test]
    fn with_work_to_commit_the_poll_ends_one_fetch_wait_after_the_commit_is_due() {
        let work = |due| Uncommitted::Work { commit_due_in: due };
        assert_eq!(
            poll_timeout(100 * MS, 5 * MS, work(12 * MS), None, false),
            17 * MS
        );
        assert_eq!(
            poll_timeout(100 * MS, 5 * MS, work(Duration::ZERO), None, false),
            5 * MS
        );
        // Never longer than the poll interval (Kafka's default fetch wait is 500 ms).
        assert_eq!(
            poll_timeout(100 * MS, 500 * MS, work(20 * MS), None, false),
            100 * MS
        );
        assert_eq!(
            poll_timeout(100 * MS, 5 * MS, work(Duration::MAX), None, false),
            100 * MS
        );
    }

    #[test]
    fn a_requested_commit_does_not_wait_for_records() {
        assert_eq!(
            poll_timeout(100 * MS, 5 * MS, Uncommitted::Requested, None, false),
            Duration::ZERO
        );
    }

    #[test]
    fn a_wall_clock_punctuator_due_sooner_ends_the_wait() {
        let work = Uncommitted::Work {
            commit_due_in: 50 * MS,
        };
        assert_eq!(
            poll_timeout(100 * MS, 5 * MS, Uncommitted::Nothing, Some(30 * MS), false),
            30 * MS
        );
        assert_eq!(
            poll_timeout(100 * MS, 5 * MS, work, Some(30 * MS), false),
            30 * MS
        );
        // Due later than the wait: no change.
        assert_eq!(
            poll_timeout(100 * MS, 5 * MS, work, Some(80 * MS), false),
            55 * MS
        );
        // Overdue: no wait.
        assert_eq!(
            poll_timeout(
                100 * MS,
                5 * MS,
                Uncommitted::Nothing,
                Some(Duration::ZERO),
                false
            ),
            Duration::ZERO
        );
    }

    #[test]
    fn records_buffered_in_the_tasks_end_the_wait() {
        for state in [
            Uncommitted::Nothing,
            Uncommitted::Work {
                commit_due_in: 50 * MS,
            },
        ] {
            assert_eq!(
                poll_timeout(100 * MS, 5 * MS, state, Some(30 * MS), true),
                Duration::ZERO
            );
        }
    }

    #[test]
    fn fetching_pauses_when_the_buffer_is_full_and_resumes_at_half() {
        assert_eq!(flow(999, 1000, false), Flow::Keep);
        assert_eq!(flow(1000, 1000, false), Flow::Pause);
        assert_eq!(flow(1500, 1000, true), Flow::Keep, "already paused");
        assert_eq!(flow(501, 1000, true), Flow::Keep, "not drained to half yet");
        assert_eq!(flow(500, 1000, true), Flow::Resume);
        assert_eq!(flow(0, 1000, false), Flow::Keep);
    }

    #[test]
    fn commits_when_the_interval_has_passed_or_a_processor_asked() {
        assert!(!commit_now(19 * MS, 20 * MS, false));
        assert!(commit_now(20 * MS, 20 * MS, false));
        assert!(commit_now(Duration::ZERO, 20 * MS, true));
    }
}

//! [`RetryPolicy`]: how often and how late a failed record is tried again, and the pure
//! decision of what happens after a failure ([`RetryPolicy::decide`]).
//!
//! Attempt `n` (the n-th failure, `n >= 1`) is retried after
//! `base(n) = min(initial_backoff * multiplier^(n-1), max_delay)`, jittered uniformly within
//! `[base(n) * (1 - jitter), min(base(n) * (1 + jitter), max_delay)]`. Randomness comes from
//! an injectable [`JitterSource`], so tests pin it.

use std::time::Duration;

use super::{DeadLetterReason, FailureClass};

/// A [`RetryPolicy`] that cannot work, naming the setting.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RetryPolicyError {
    /// `max_attempts` is 0 (1 means: never retry).
    #[error("max_attempts must be at least 1")]
    ZeroAttempts,
    /// `initial_backoff` is zero.
    #[error("initial_backoff must be positive")]
    ZeroBackoff,
    /// `multiplier` is below 1 or not finite.
    #[error("multiplier must be a finite number >= 1, got {0}")]
    InvalidMultiplier(f64),
    /// `max_delay` is shorter than `initial_backoff`.
    #[error("max_delay ({max:?}) is shorter than initial_backoff ({initial:?})")]
    MaxDelayBelowInitial {
        /// The initial backoff.
        initial: Duration,
        /// The maximum delay.
        max: Duration,
    },
    /// `jitter` is outside `[0, 1)`.
    #[error("jitter must be in [0, 1), got {0}")]
    InvalidJitter(f64),
    /// `poll_interval` is zero.
    #[error("poll_interval must be at least 1 ms")]
    ZeroPollInterval,
}

/// Retries with exponential backoff, jitter and a maximum number of attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first one included (1: failures go to the DLQ at once).
    pub max_attempts: u32,
    /// Delay before the first retry.
    pub initial_backoff: Duration,
    /// Growth factor of the delay per attempt.
    pub multiplier: f64,
    /// Upper bound of any delay, jitter included.
    pub max_delay: Duration,
    /// Relative jitter in `[0, 1)`: the delay is spread over `base * (1 ± jitter)`.
    pub jitter: f64,
    /// How often (wall-clock) the retry scheduler looks for due records.
    pub poll_interval: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 1 s initial backoff doubling up to 5 minutes, 20 % jitter, polled every
    /// 100 ms.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            multiplier: 2.0,
            max_delay: Duration::from_secs(300),
            jitter: 0.2,
            poll_interval: Duration::from_millis(100),
        }
    }
}

/// What happens to a record after its `attempt`-th failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Send it to the retry topic, due at `due_ms`.
    Retry {
        /// Wall-clock ms at which the next attempt is due.
        due_ms: i64,
    },
    /// Send it to the dead-letter topic.
    DeadLetter(DeadLetterReason),
}

/// Uniform random numbers in `[0, 1)` for jitter.
pub trait JitterSource: Send {
    /// The next number in `[0, 1)`.
    fn next_unit(&mut self) -> f64;
}

impl<F: FnMut() -> f64 + Send> JitterSource for F {
    fn next_unit(&mut self) -> f64 {
        self()
    }
}

/// A small seeded generator (SplitMix64): deterministic per seed, good enough for jitter.
#[derive(Debug, Clone)]
pub struct SplitMixJitter(u64);

impl SplitMixJitter {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMixJitter(seed)
    }

    /// A generator seeded from the process's random hasher keys and the time.
    pub fn from_entropy() -> Self {
        use std::hash::BuildHasher;
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        SplitMixJitter(std::collections::hash_map::RandomState::new().hash_one(t))
    }
}

impl JitterSource for SplitMixJitter {
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl RetryPolicy {
    /// Sets the maximum number of attempts.
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// Sets the initial backoff.
    pub fn with_initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// Sets the multiplier.
    pub fn with_multiplier(mut self, m: f64) -> Self {
        self.multiplier = m;
        self
    }

    /// Sets the maximum delay.
    pub fn with_max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Sets the relative jitter.
    pub fn with_jitter(mut self, j: f64) -> Self {
        self.jitter = j;
        self
    }

    /// Sets how often the scheduler looks for due records.
    pub fn with_poll_interval(mut self, d: Duration) -> Self {
        self.poll_interval = d;
        self
    }

    /// Checks every setting.
    pub fn validate(&self) -> Result<(), RetryPolicyError> {
        if self.max_attempts == 0 {
            return Err(RetryPolicyError::ZeroAttempts);
        }
        if self.initial_backoff.is_zero() {
            return Err(RetryPolicyError::ZeroBackoff);
        }
        if !self.multiplier.is_finite() || self.multiplier < 1.0 {
            return Err(RetryPolicyError::InvalidMultiplier(self.multiplier));
        }
        if self.max_delay < self.initial_backoff {
            return Err(RetryPolicyError::MaxDelayBelowInitial {
                initial: self.initial_backoff,
                max: self.max_delay,
            });
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(RetryPolicyError::InvalidJitter(self.jitter));
        }
        if self.poll_interval.as_millis() == 0 {
            return Err(RetryPolicyError::ZeroPollInterval);
        }
        Ok(())
    }

    /// The delay before retrying after failure `attempt` (>= 1), without jitter.
    pub fn base_delay_ms(&self, attempt: u32) -> i64 {
        let initial = ms(self.initial_backoff) as f64;
        let exp = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let d = initial * self.multiplier.powi(exp);
        let max = ms(self.max_delay);
        if d.is_finite() && d < max as f64 {
            d as i64
        } else {
            max
        }
    }

    /// The inclusive window in which the jittered delay after failure `attempt` falls.
    pub fn delay_window_ms(&self, attempt: u32) -> (i64, i64) {
        let base = self.base_delay_ms(attempt);
        let spread = (base as f64 * self.jitter).round() as i64;
        let lo = base.saturating_sub(spread).max(0);
        let hi = base.saturating_add(spread).min(ms(self.max_delay)).max(lo);
        (lo, hi)
    }

    /// The jittered delay after failure `attempt`, within [`Self::delay_window_ms`].
    pub fn delay_ms(&self, attempt: u32, jitter: &mut dyn JitterSource) -> i64 {
        let (lo, hi) = self.delay_window_ms(attempt);
        let u = jitter.next_unit().clamp(0.0, 1.0);
        let d = lo as f64 + (hi - lo) as f64 * u;
        (d.round() as i64).clamp(lo, hi)
    }

    /// What to do after failure number `attempt` (1 for the first) of class `class` at
    /// wall-clock `now_ms`.
    pub fn decide(
        &self,
        class: FailureClass,
        attempt: u32,
        now_ms: i64,
        jitter: &mut dyn JitterSource,
    ) -> RetryDecision {
        match class {
            FailureClass::NonRetryable => RetryDecision::DeadLetter(DeadLetterReason::NonRetryable),
            FailureClass::Retryable if attempt >= self.max_attempts => {
                RetryDecision::DeadLetter(DeadLetterReason::MaxAttempts)
            }
            FailureClass::Retryable => RetryDecision::Retry {
                due_ms: now_ms.saturating_add(self.delay_ms(attempt, jitter)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::default()
            .with_initial_backoff(Duration::from_millis(100))
            .with_multiplier(2.0)
            .with_max_delay(Duration::from_millis(1_000))
            .with_jitter(0.1)
            .with_max_attempts(4)
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = policy();
        let bases: Vec<i64> = (1..=6).map(|n| p.base_delay_ms(n)).collect();
        assert_eq!(bases, vec![100, 200, 400, 800, 1_000, 1_000]);
        assert_eq!(p.delay_window_ms(1), (90, 110));
        assert_eq!(p.delay_window_ms(4), (720, 880));
        // Jitter never pushes past the maximum delay.
        assert_eq!(p.delay_window_ms(5), (900, 1_000));
        assert_eq!(p.base_delay_ms(u32::MAX), 1_000);
    }

    #[test]
    fn jittered_delays_stay_in_their_window_and_cover_it() {
        let p = policy();
        let mut rng = SplitMixJitter::new(7);
        for attempt in 1..=5 {
            let (lo, hi) = p.delay_window_ms(attempt);
            let ds: Vec<i64> = (0..500).map(|_| p.delay_ms(attempt, &mut rng)).collect();
            assert!(
                ds.iter().all(|d| (lo..=hi).contains(d)),
                "{attempt}: {ds:?}"
            );
            let (min, max) = (ds.iter().min().unwrap(), ds.iter().max().unwrap());
            assert!(*min < lo + (hi - lo) / 4 && *max > hi - (hi - lo) / 4);
        }
        assert_eq!(p.delay_ms(1, &mut || 0.0), 90);
        assert_eq!(p.delay_ms(1, &mut || 0.999_999), 110);
    }

    #[test]
    fn decisions() {
        let p = policy();
        let mut half = || 0.5;
        assert_eq!(
            p.decide(FailureClass::Retryable, 1, 1_000, &mut half),
            RetryDecision::Retry { due_ms: 1_100 }
        );
        assert_eq!(
            p.decide(FailureClass::Retryable, 3, 0, &mut half),
            RetryDecision::Retry { due_ms: 400 }
        );
        assert_eq!(
            p.decide(FailureClass::Retryable, 4, 0, &mut half),
            RetryDecision::DeadLetter(DeadLetterReason::MaxAttempts)
        );
        assert_eq!(
            p.decide(FailureClass::NonRetryable, 1, 0, &mut half),
            RetryDecision::DeadLetter(DeadLetterReason::NonRetryable)
        );
        let once = p.clone().with_max_attempts(1);
        assert_eq!(
            once.decide(FailureClass::Retryable, 1, 0, &mut half),
            RetryDecision::DeadLetter(DeadLetterReason::MaxAttempts)
        );
    }

    #[test]
    fn validation_names_the_setting() {
        assert_eq!(RetryPolicy::default().validate(), Ok(()));
        let p = RetryPolicy::default();
        assert_eq!(
            p.clone().with_max_attempts(0).validate(),
            Err(RetryPolicyError::ZeroAttempts)
        );
        assert_eq!(
            p.clone().with_initial_backoff(Duration::ZERO).validate(),
            Err(RetryPolicyError::ZeroBackoff)
        );
        assert!(matches!(
            p.clone().with_multiplier(0.5).validate(),
            Err(RetryPolicyError::InvalidMultiplier(_))
        ));
        assert!(matches!(
            p.clone().with_multiplier(f64::NAN).validate(),
            Err(RetryPolicyError::InvalidMultiplier(_))
        ));
        assert!(matches!(
            p.clone()
                .with_max_delay(Duration::from_millis(10))
                .validate(),
            Err(RetryPolicyError::MaxDelayBelowInitial { .. })
        ));
        assert!(matches!(
            p.clone().with_jitter(1.0).validate(),
            Err(RetryPolicyError::InvalidJitter(_))
        ));
        assert!(matches!(
            p.clone().with_jitter(-0.1).validate(),
            Err(RetryPolicyError::InvalidJitter(_))
        ));
        assert_eq!(
            p.with_poll_interval(Duration::ZERO).validate(),
            Err(RetryPolicyError::ZeroPollInterval)
        );
    }
}

//! When to try an outgoing mail again.

use chrono::{DateTime, Duration, Utc};

/// The delay before attempt number `attempt + 1`, after `attempt` failed ones (1-based):
/// exponential from 30 s, capped at one hour, with up to 20 % jitter (`jitter` in 0.0..1.0,
/// supplied by the caller so this stays deterministic) so that a recovering server is not hit
/// by every queued mail at the same instant.
pub fn retry_delay(attempt: u32, jitter: f64) -> Duration {
    let base = 30i64.saturating_mul(1i64 << attempt.saturating_sub(1).min(20));
    let capped = base.min(3600);
    let extra = (capped as f64 * 0.2 * jitter.clamp(0.0, 1.0)) as i64;
    Duration::seconds(capped + extra)
}

/// When to try again after `attempt` failed attempts.
pub fn next_attempt(now: DateTime<Utc>, attempt: u32, jitter: f64) -> DateTime<Utc> {
    now + retry_delay(attempt, jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_then_caps() {
        let s: Vec<i64> = (1..=10).map(|a| retry_delay(a, 0.0).num_seconds()).collect();
        assert_eq!(s, vec![30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    }

    #[test]
    fn jitter_adds_at_most_a_fifth() {
        assert_eq!(retry_delay(1, 1.0).num_seconds(), 36);
        assert_eq!(retry_delay(9, 1.0).num_seconds(), 4320);
        assert_eq!(retry_delay(100, 0.5).num_seconds(), 3960);
    }
}

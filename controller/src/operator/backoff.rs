//! Exponential backoff schedules, as plain arithmetic: how long to wait after the n-th failure
//! in a row. The operator's tasks keep the count; nothing here sleeps or reads a clock.

use std::time::Duration;

/// The first delay, doubled after each further failure up to a cap.
#[derive(Clone, Copy, Debug)]
pub struct Schedule {
    pub first: Duration,
    pub cap: Duration,
}

/// A failing application's workloads: retried soon, then rarely, never on every pass.
pub const APPLY: Schedule = Schedule {
    first: Duration::from_secs(1),
    cap: Duration::from_secs(300),
};

/// A bot endpoint that does not answer: looked at again quickly, since a pod that just became
/// ready may need a moment.
pub const REPORT: Schedule = Schedule {
    first: Duration::from_millis(200),
    cap: Duration::from_secs(5),
};

impl Schedule {
    /// The wait after `failures` failures in a row (none after none).
    pub fn delay(&self, failures: u32) -> Duration {
        let Some(doublings) = failures.checked_sub(1) else {
            return Duration::ZERO;
        };
        // 2^31 seconds is past any cap: no need to multiply further.
        let factor = 1u32 << doublings.min(31);
        self.first.saturating_mul(factor).min(self.cap)
    }

    /// [`Self::delay`] shortened by up to a fifth, by `jitter` in [0, 1): applications that
    /// failed together (an API server outage) do not all retry in the same pass.
    pub fn jittered(&self, failures: u32, jitter: f64) -> Duration {
        self.delay(failures)
            .mul_f64(1.0 - 0.2 * jitter.clamp(0.0, 1.0))
    }
}

/// A number in [0, 1) that differs from call to call (std's per-process random hash keys, so
/// no random-number crate is needed for spreading retries).
pub fn jitter() -> f64 {
    use std::hash::BuildHasher;
    let hash = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    (hash % 1_000_000) as f64 / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apply_schedule_doubles_from_a_second_to_five_minutes() {
        let seconds: Vec<u64> = (0..=11).map(|n| APPLY.delay(n).as_secs()).collect();
        assert_eq!(seconds, [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(APPLY.delay(u32::MAX), Duration::from_secs(300));
    }

    #[test]
    fn the_report_schedule_doubles_from_200_ms_to_5_s() {
        let millis: Vec<u128> = (1..=7).map(|n| REPORT.delay(n).as_millis()).collect();
        assert_eq!(millis, [200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    #[test]
    fn jitter_only_shortens_and_by_a_fifth_at_most() {
        assert_eq!(APPLY.jittered(3, 0.0), Duration::from_secs(4));
        assert_eq!(APPLY.jittered(3, 0.5), Duration::from_millis(3600));
        assert_eq!(APPLY.jittered(3, 7.0), Duration::from_millis(3200));
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
    }
}

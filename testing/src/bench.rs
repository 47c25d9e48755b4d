//! What every benchmark program shares: the Discord latency it injects beside its loopback run
//! (Discord is never on loopback), and one way to summarise samples as JSON.

use serde_json::{Value, json};
use std::time::Duration;

/// Injected on every Discord REST request in a benchmark's realistic run: LATENCY +/- JITTER,
/// uniform (the Discord sandbox's `set_latency_jitter`).
pub const DISCORD_LATENCY: Duration = Duration::from_millis(100);
pub const DISCORD_JITTER: Duration = Duration::from_millis(30);

/// The two conditions each Discord-facing benchmark reports: loopback, then injected latency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    Loopback,
    Injected,
}

impl Network {
    pub const BOTH: [Network; 2] = [Network::Loopback, Network::Injected];

    /// The sandbox knob's arguments for this condition.
    pub fn latency_jitter(self) -> (Duration, Duration) {
        match self {
            Network::Loopback => (Duration::ZERO, Duration::ZERO),
            Network::Injected => (DISCORD_LATENCY, DISCORD_JITTER),
        }
    }

    /// The slowest a single injected Discord request can be.
    pub fn worst_case(self) -> Duration {
        let (latency, jitter) = self.latency_jitter();
        latency + jitter
    }

    /// How a run's JSON names its condition.
    pub fn to_json(self) -> Value {
        match self {
            Network::Loopback => json!(null),
            Network::Injected => json!({
                "base": DISCORD_LATENCY.as_millis() as u64,
                "jitter": DISCORD_JITTER.as_millis() as u64,
            }),
        }
    }
}

/// p50, p95, p99 and max of `samples` in milliseconds (two decimals), with the count.
pub fn summary_ms(samples: &mut [Duration]) -> Value {
    samples.sort_unstable();
    if samples.is_empty() {
        return json!({"count": 0});
    }
    let at = |p: f64| {
        let index = ((samples.len() - 1) as f64 * p).round() as usize;
        millis(samples[index])
    };
    json!({
        "count": samples.len(),
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": at(1.0),
    })
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:` the peak, `RssAnon:`, ...), or
/// a count (`Threads:`); 0 when absent.
pub fn proc_status(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// KiB in MiB, to one decimal.
pub fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

/// The sizes a scaling benchmark runs: `KD_BENCH_SIZES` (comma-separated), else `default`.
pub fn sizes(default: &str) -> Vec<usize> {
    std::env::var("KD_BENCH_SIZES")
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|s| s.trim().parse().expect("KD_BENCH_SIZES: numbers"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_picks_nearest_rank_and_rounds_to_hundredths() {
        let mut samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let summary = summary_ms(&mut samples);
        assert_eq!(summary["count"], 100);
        assert_eq!(summary["p50_ms"], 51.0);
        assert_eq!(summary["p99_ms"], 99.0);
        assert_eq!(summary["max_ms"], 100.0);
        let mut one = [Duration::from_micros(1234)];
        assert_eq!(summary_ms(&mut one)["p50_ms"], 1.23);
        assert_eq!(summary_ms(&mut [])["count"], 0);
    }

    #[test]
    fn injected_condition_is_the_sandbox_knob() {
        assert_eq!(Network::Injected.worst_case(), Duration::from_millis(130));
        assert_eq!(Network::Loopback.worst_case(), Duration::ZERO);
        assert_eq!(Network::Injected.to_json()["jitter"], 30);
    }
}

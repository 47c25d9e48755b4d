//! The log filter of every process that runs the bot. twilight-http puts request paths in an
//! info span (shown on every event inside it, hyper's too) and in debug events, and interaction
//! and webhook paths carry tokens, so its targets stay at warn whatever level is asked for.

use tracing_subscriber::EnvFilter;

const CAPPED: &[&str] = &["twilight_http", "twilight_http_ratelimiting"];

/// An `EnvFilter` from a `RUST_LOG`-style directive (e.g. `debug` or `kd_bot=trace`), with the
/// token-bearing targets capped at warn.
pub fn filter(requested: &str) -> EnvFilter {
    // An empty RUST_LOG (set but blank) means the default, not silence.
    let requested = if requested.trim().is_empty() {
        "info"
    } else {
        requested
    };
    let kept: Vec<&str> = requested
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !CAPPED.iter().any(|t| d.starts_with(t)))
        .collect();
    let caps = CAPPED.iter().map(|t| format!("{t}=warn"));
    let directives: Vec<String> = kept.into_iter().map(String::from).chain(caps).collect();
    EnvFilter::builder().parse_lossy(directives.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilight_http_stays_at_warn() {
        let f = filter("debug,twilight_http=trace").to_string();
        assert!(f.contains("twilight_http=warn"), "{f}");
        assert!(!f.contains("twilight_http=trace"), "{f}");
        assert!(f.contains("debug"), "{f}");
    }

    #[test]
    fn a_blank_request_means_info() {
        assert!(filter(" ").to_string().contains("info"));
    }
}

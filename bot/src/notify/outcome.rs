//! What one `POST /channels/{id}/messages` came to, as the outbox records it: delivered,
//! worth retrying (429, 5xx, network) after a delay, or never going to work (a deleted channel,
//! a missing permission). Plain functions over the answer and the attempt number.

use backon::{BackoffBuilder, ExponentialBuilder};
use kd_store::Outcome;
use std::time::Duration;

/// Discord's JSON error codes that no retry can fix.
pub const UNKNOWN_CHANNEL: u64 = 10003;
const MISSING_ACCESS: u64 = 50001;
const MISSING_PERMISSIONS: u64 = 50013;
const CANNOT_SEND_IN_CHANNEL: u64 = 50008;

/// How delivery retries.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts before a message is failed for good.
    pub max_attempts: i64,
    pub min_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// Up to 12 attempts, 250 ms doubling to 15 s, each plus up to as much again of jitter:
    /// 76 to 152 s in all, inside Discord's nonce window (a few minutes), so a retry of a
    /// message whose answer was lost is still recognised as the same message.
    fn default() -> Self {
        Self {
            max_attempts: 12,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(15),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`, after `attempt` attempts failed (from 1).
    pub fn delay(&self, attempt: i64) -> Duration {
        let mut backoff = ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_jitter()
            .without_max_times()
            .build();
        let steps = usize::try_from(attempt.max(1) - 1).unwrap_or(0);
        backoff.nth(steps).unwrap_or(self.max_delay)
    }
}

/// A failed send, as far as delivery cares.
#[derive(Clone, Debug, PartialEq)]
pub enum SendError {
    /// Discord answered with an error status, its JSON code (0 when none) and message.
    Status {
        status: u16,
        code: u64,
        message: String,
    },
    /// 429, with Discord's `retry_after` in seconds.
    RateLimited { retry_after: f64, global: bool },
    /// No answer: connection refused or reset, timeout.
    Network(String),
    /// The stored message could not be sent as it is (unreadable, channel not found).
    Unsendable(String),
}

/// The outbox outcome of attempt number `attempt` (from 1) at `now` (ms).
pub fn outcome(
    result: Result<String, SendError>,
    attempt: i64,
    now: i64,
    policy: &RetryPolicy,
) -> Outcome {
    let retry = |error: String, wait: Duration| {
        if attempt >= policy.max_attempts {
            Outcome::Failed {
                reason: format!("gave up after {attempt} attempts: {error}"),
            }
        } else {
            Outcome::Retry {
                error,
                retry_at: now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2),
            }
        }
    };
    let error = match &result {
        Ok(_) => String::new(),
        Err(err) => err.to_string(),
    };
    match result {
        Ok(discord_message_id) => Outcome::Delivered { discord_message_id },
        Err(SendError::RateLimited { retry_after, .. }) => {
            // Discord's own wait, never less; a rate limit is no sign of trouble, so it does
            // not count towards giving up unless it keeps coming.
            let wait = Duration::from_secs_f64(retry_after.max(0.0)).max(policy.min_delay);
            retry(error, wait)
        }
        Err(err @ SendError::Status { .. }) => {
            if err.is_permanent() {
                Outcome::Failed { reason: error }
            } else {
                retry(error, policy.delay(attempt))
            }
        }
        Err(SendError::Network(_)) => retry(error, policy.delay(attempt)),
        Err(SendError::Unsendable(reason)) => Outcome::Failed { reason },
    }
}

impl SendError {
    /// Whether no retry can fix it: a deleted channel, a missing permission, another 4xx.
    pub fn is_permanent(&self) -> bool {
        match self {
            SendError::Status { status, code, .. } => {
                is_refusal(*code)
                    || *code == UNKNOWN_CHANNEL
                    || ((400..500).contains(status) && *status != 408)
            }
            SendError::Unsendable(_) => true,
            SendError::RateLimited { .. } | SendError::Network(_) => false,
        }
    }
}

/// Discord's codes for a bot that may not see or post in a channel.
pub fn is_refusal(code: u64) -> bool {
    matches!(
        code,
        MISSING_ACCESS | MISSING_PERMISSIONS | CANNOT_SEND_IN_CHANNEL
    )
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::RateLimited {
                retry_after,
                global,
            } => {
                let scope = if *global { "global " } else { "" };
                write!(f, "{scope}rate limited for {retry_after}s")
            }
            SendError::Status {
                status, code: 0, ..
            } => write!(f, "Discord answered {status}"),
            SendError::Status {
                status,
                code,
                message,
            } => write!(f, "Discord answered {status}: {message} ({code})"),
            SendError::Network(error) => write!(f, "Discord unreachable: {error}"),
            SendError::Unsendable(reason) => f.write_str(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, code: u64, message: &str) -> Result<String, SendError> {
        Err(SendError::Status {
            status,
            code,
            message: message.into(),
        })
    }

    #[test]
    fn deleted_channels_and_missing_permissions_stop_at_once() {
        let policy = RetryPolicy::default();
        for (code, status_code, text) in [
            (10003, 404, "Unknown Channel"),
            (50001, 403, "Missing Access"),
            (50013, 403, "Missing Permissions"),
        ] {
            let got = outcome(status(status_code, code, text), 1, 0, &policy);
            assert_eq!(
                got,
                Outcome::Failed {
                    reason: format!("Discord answered {status_code}: {text} ({code})")
                }
            );
        }
    }

    #[test]
    fn rate_limits_wait_as_told_and_server_errors_back_off() {
        let policy = RetryPolicy::default();
        let limited = outcome(
            Err(SendError::RateLimited {
                retry_after: 1.5,
                global: true,
            }),
            1,
            1_000,
            &policy,
        );
        assert_eq!(
            limited,
            Outcome::Retry {
                error: "global rate limited for 1.5s".into(),
                retry_at: 2_500
            }
        );
        let Outcome::Retry { retry_at, .. } = outcome(status(502, 0, ""), 3, 0, &policy) else {
            panic!("5xx is retried")
        };
        // 250 ms doubled twice, plus up to as much again of jitter.
        assert!((1_000..=2_000).contains(&retry_at), "{retry_at}");
        assert!(matches!(
            outcome(Err(SendError::Network("reset".into())), 12, 0, &policy),
            Outcome::Failed { reason } if reason.starts_with("gave up after 12 attempts")
        ));
    }

    #[test]
    fn delays_grow_to_the_cap() {
        let policy = RetryPolicy::default();
        assert!(policy.delay(1) >= Duration::from_millis(250));
        assert!(policy.delay(1) <= Duration::from_millis(500));
        assert!(policy.delay(40) <= Duration::from_secs(30));
        assert!(policy.delay(40) >= Duration::from_secs(15));
    }
}

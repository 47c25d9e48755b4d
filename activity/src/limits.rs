//! Per-user rate limits (GCRA, keyed by Discord user id): a burst, then a steady rate. A caller
//! over the limit gets 429 with `Retry-After`.

use crate::error::ApiError;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;

pub struct Limits {
    limiter: RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>,
    clock: DefaultClock,
}

impl Limits {
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        let clock = DefaultClock::default();
        Self {
            limiter: RateLimiter::new(
                Quota::per_minute(per_minute).allow_burst(burst),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            clock,
        }
    }

    /// Counts one request of `key`; refuses it when the key is over its quota.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        self.limiter
            .check_key(&key.to_string())
            .map_err(|not_until| ApiError::rate_limited(not_until.wait_time_from(self.clock.now())))
    }

    /// Drops the state of keys that are back to a full quota, so memory follows active users.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

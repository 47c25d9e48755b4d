//! Discord's REST rate limits: a global 50 requests per second per bot token and per-route
//! buckets keyed by the route's major parameter (channel, guild, webhook).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

pub const GLOBAL_LIMIT: u32 = 50;
pub const GLOBAL_PERIOD: Duration = Duration::from_secs(1);

/// How a route is limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteLimit {
    pub limit: u32,
    pub period: Duration,
    /// Interaction webhooks are not bound to the bot's global limit.
    pub global: bool,
}

/// The bucket table. `None`: not rate limited at all (interaction callbacks, OAuth2, gateway).
pub fn route_limit(method: &str, template: &str) -> Option<RouteLimit> {
    let route = template
        .trim_start_matches("/api/v10")
        .trim_start_matches("/api");
    let limit = |limit, secs| {
        Some(RouteLimit {
            limit,
            period: Duration::from_secs(secs),
            global: true,
        })
    };
    match (method, route) {
        (_, r)
            if r.starts_with("/interactions/") || r.starts_with("/oauth2/") || r == "/gateway" =>
        {
            None
        }
        (_, r) if r.starts_with("/webhooks/") => Some(RouteLimit {
            limit: 5,
            period: Duration::from_secs(2),
            global: false,
        }),
        ("POST", "/channels/{channel_id}/messages") => limit(5, 5),
        ("PATCH" | "DELETE", "/channels/{channel_id}/messages/{message_id}") => limit(5, 5),
        ("PUT", r) if r.ends_with("/commands") => limit(5, 20),
        ("PUT" | "DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}") => limit(10, 10),
        // Everything else: a generous bucket; the global limit is what binds.
        _ => limit(50, 1),
    }
}

/// The route parameters that split a bucket: Discord limits each channel, guild and webhook separately.
pub const MAJOR_PARAMS: &[&str] = &["channel_id", "guild_id", "webhook_id", "token"];

/// The opaque bucket id sent in `X-RateLimit-Bucket`: the same for a route whatever its major parameter.
pub fn bucket_id(method: &str, template: &str) -> String {
    let mut hasher = DefaultHasher::new();
    (
        method,
        template
            .trim_start_matches("/api/v10")
            .trim_start_matches("/api"),
    )
        .hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    used: u32,
}

impl Window {
    /// Takes one request from the window; `Err(wait)` when exhausted.
    fn take(
        &mut self,
        limit: u32,
        period: Duration,
        now: Instant,
    ) -> Result<(u32, Duration), Duration> {
        if now >= self.start + period {
            *self = Window {
                start: now,
                used: 0,
            };
        }
        let reset_after = (self.start + period).saturating_duration_since(now);
        if self.used >= limit {
            return Err(reset_after);
        }
        self.used += 1;
        Ok((limit - self.used, reset_after))
    }
}

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Unlimited,
    Allowed {
        limit: u32,
        remaining: u32,
        reset_after: Duration,
        bucket: String,
    },
    RouteLimited {
        limit: u32,
        retry_after: Duration,
        bucket: String,
    },
    GlobalLimited {
        retry_after: Duration,
    },
}

#[derive(Debug, Default)]
pub struct RateLimiter {
    global: HashMap<String, Window>,
    buckets: HashMap<(String, String), Window>,
    storm: Option<(u32, Duration)>,
}

impl RateLimiter {
    pub fn storm(&mut self, count: u32, retry_after: Duration) {
        self.storm = (count > 0).then_some((count, retry_after));
    }

    /// `identity` is the caller's token; `major` the values of the route's major parameters.
    pub fn check(
        &mut self,
        identity: &str,
        method: &str,
        template: &str,
        major: &str,
        now: Instant,
    ) -> Decision {
        let Some(route) = route_limit(method, template) else {
            return Decision::Unlimited;
        };
        let bucket = bucket_id(method, template);
        if let Some((left, retry_after)) = self.storm.as_mut() {
            let retry_after = *retry_after;
            *left -= 1;
            if *left == 0 {
                self.storm = None;
            }
            return Decision::RouteLimited {
                limit: route.limit,
                retry_after,
                bucket,
            };
        }
        if route.global {
            let window = self.global.entry(identity.to_owned()).or_insert(Window {
                start: now,
                used: 0,
            });
            if let Err(retry_after) = window.take(GLOBAL_LIMIT, GLOBAL_PERIOD, now) {
                return Decision::GlobalLimited { retry_after };
            }
        }
        let key = (identity.to_owned(), format!("{bucket}:{major}"));
        let window = self.buckets.entry(key).or_insert(Window {
            start: now,
            used: 0,
        });
        match window.take(route.limit, route.period, now) {
            Ok((remaining, reset_after)) => Decision::Allowed {
                limit: route.limit,
                remaining,
                reset_after,
                bucket,
            },
            Err(retry_after) => Decision::RouteLimited {
                limit: route.limit,
                retry_after,
                bucket,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MESSAGES: &str = "/api/v10/channels/{channel_id}/messages";

    #[test]
    fn route_bucket_exhausts_at_its_limit_per_major_parameter() {
        let mut limiter = RateLimiter::default();
        let now = Instant::now();
        for expected in (0..5).rev() {
            match limiter.check("bot", "POST", MESSAGES, "1", now) {
                Decision::Allowed {
                    remaining,
                    limit: 5,
                    ..
                } => assert_eq!(remaining, expected),
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(
            limiter.check("bot", "POST", MESSAGES, "1", now),
            Decision::RouteLimited { .. }
        ));
        assert!(matches!(
            limiter.check("bot", "POST", MESSAGES, "2", now),
            Decision::Allowed { .. }
        ));
        let later = now + Duration::from_secs(5);
        assert!(matches!(
            limiter.check("bot", "POST", MESSAGES, "1", later),
            Decision::Allowed { remaining: 4, .. }
        ));
    }

    #[test]
    fn global_limit_is_fifty_per_second_and_callbacks_are_exempt() {
        let mut limiter = RateLimiter::default();
        let now = Instant::now();
        for i in 0..50 {
            let template = format!("/api/v10/guilds/{{guild_id}}/r{i}");
            assert!(
                matches!(
                    limiter.check("bot", "GET", &template, "1", now),
                    Decision::Allowed { .. }
                ),
                "{i}"
            );
        }
        assert!(matches!(
            limiter.check("bot", "GET", "/api/v10/users/@me", "", now),
            Decision::GlobalLimited { .. }
        ));
        let callback = "/api/v10/interactions/{interaction_id}/{token}/callback";
        assert_eq!(
            limiter.check("bot", "POST", callback, "", now),
            Decision::Unlimited
        );
        assert!(matches!(
            limiter.check("other", "GET", "/api/v10/users/@me", "", now),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn storm_limits_the_next_requests_then_ends() {
        let mut limiter = RateLimiter::default();
        limiter.storm(2, Duration::from_millis(300));
        let now = Instant::now();
        for _ in 0..2 {
            assert!(matches!(
                limiter.check("bot", "GET", "/api/v10/users/@me", "", now),
                Decision::RouteLimited { .. }
            ));
        }
        assert!(matches!(
            limiter.check("bot", "GET", "/api/v10/users/@me", "", now),
            Decision::Allowed { .. }
        ));
    }

    proptest::proptest! {
        /// Whatever the request timing, a bucket never lets more than its limit through in
        /// one window, and never refuses while it has room.
        #[test]
        fn windows_hold_the_limit(gaps in proptest::collection::vec(0u64..400, 1..200)) {
            let mut limiter = RateLimiter::default();
            let mut now = Instant::now();
            // A window opens with the first request after the previous one closed.
            let mut window_start: Option<Instant> = None;
            let mut used = 0u32;
            for gap in gaps {
                now += Duration::from_millis(gap);
                if window_start.is_none_or(|opened| now >= opened + Duration::from_secs(5)) {
                    window_start = Some(now);
                    used = 0;
                }
                let decision = limiter.check("bot", "POST", MESSAGES, "1", now);
                if used < 5 {
                    used += 1;
                    let allowed = matches!(decision, Decision::Allowed { remaining, .. } if remaining == 5 - used);
                    proptest::prop_assert!(allowed, "{decision:?}");
                } else {
                    let limited = matches!(decision, Decision::RouteLimited { retry_after, .. } if retry_after <= Duration::from_secs(5));
                    proptest::prop_assert!(limited, "{decision:?}");
                }
            }
        }
    }
}

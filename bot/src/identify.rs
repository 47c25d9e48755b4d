//! Pacing IDENTIFYs as Discord allows: each bucket `shard_id % max_concurrency` may identify
//! once every 5 s, across every process of the bot, and the day's `remaining` session starts
//! must not run out (an IDENTIFY beyond them resets the bot's token). One process keeps each
//! bucket's next slot itself; replicas sharing the shards take them from the store. Each
//! bucket waits only for itself (twilight's own queue ticks all buckets together, so shards
//! started a moment apart wait 5 s each). Resumes take no slot.

use kd_store::{Store, now_ms};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use twilight_gateway::queue::{IDENTIFY_DELAY, LIMIT_PERIOD, Queue};
use twilight_model::gateway::SessionStartLimit;

/// The identify queue of every shard of this process.
#[derive(Clone, Debug)]
pub struct IdentifyQueue(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    max_concurrency: u32,
    /// How often each bucket may identify: Discord's 5 s.
    interval: Duration,
    budget: Mutex<Budget>,
    slots: Slots,
}

/// Session starts left, as Discord last said and as this process spent them since.
#[derive(Debug)]
struct Budget {
    remaining: u32,
    total: u32,
    reset_at: Instant,
}

#[derive(Debug)]
enum Slots {
    /// One process serves every shard: each bucket's next free time.
    Local(Mutex<HashMap<u32, Instant>>),
    /// Replicas share the shards: the store's slots.
    Shared {
        store: Store,
        application_id: String,
    },
}

impl IdentifyQueue {
    /// From `GET /gateway/bot`'s `session_start_limit`; `shared` is where replicas meet.
    pub fn new(limit: &SessionStartLimit, shared: Option<(Store, String)>) -> Self {
        let slots = match shared {
            None => Slots::Local(Mutex::default()),
            Some((store, application_id)) => Slots::Shared {
                store,
                application_id,
            },
        };
        Self(Arc::new(Inner {
            max_concurrency: u32::from(limit.max_concurrency.max(1)),
            interval: IDENTIFY_DELAY,
            budget: Mutex::new(Budget {
                remaining: limit.remaining.min(limit.total),
                total: limit.total,
                reset_at: Instant::now() + Duration::from_millis(limit.reset_after),
            }),
            slots,
        }))
    }
}

impl Inner {
    /// Takes one session start, waiting for the period to end when none is left.
    async fn spend(&self) {
        loop {
            let exhausted_until = {
                let mut budget = self.budget.lock().expect("budget lock");
                let now = Instant::now();
                if now >= budget.reset_at {
                    budget.remaining = budget.total;
                    budget.reset_at = now + LIMIT_PERIOD;
                }
                if budget.remaining > 0 {
                    budget.remaining -= 1;
                    return;
                }
                budget.reset_at
            };
            tracing::error!(
                wait_s = (exhausted_until - Instant::now()).as_secs(),
                "Discord's session starts for the day are used up (another IDENTIFY would reset the bot token); waiting for the next period"
            );
            tokio::time::sleep_until(exhausted_until).await;
        }
    }

    /// When `shard`'s bucket may identify next, taking that slot.
    async fn slot(&self, shard: u32) -> Instant {
        let bucket = shard % self.max_concurrency;
        let now = Instant::now();
        match &self.slots {
            Slots::Local(next) => {
                let mut next = next.lock().expect("slots lock");
                let free = next.entry(bucket).or_insert(now);
                let at = (*free).max(now);
                *free = at + self.interval;
                at
            }
            Slots::Shared {
                store,
                application_id,
            } => {
                let interval = self.interval.as_millis() as i64;
                match store
                    .reserve_identify(application_id, bucket, interval)
                    .await
                {
                    Ok(at) => now + Duration::from_millis((at - now_ms()).max(0) as u64),
                    // Discord answers a too-early identify with op 9, and twilight tries again.
                    Err(error) => {
                        tracing::warn!(%error, shard, "reserving an identify slot failed; identifying without it");
                        now
                    }
                }
            }
        }
    }
}

impl Queue for IdentifyQueue {
    fn enqueue(&self, shard: u32) -> oneshot::Receiver<()> {
        let (go, wait) = oneshot::channel();
        let inner = self.0.clone();
        tokio::spawn(async move {
            inner.spend().await;
            let at = inner.slot(shard).await;
            tokio::time::sleep_until(at).await;
            let _ = go.send(());
        });
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A queue with buckets `interval` apart and a period that ends after `reset`.
    fn queue(max_concurrency: u16, remaining: u32, reset: Duration) -> IdentifyQueue {
        let limit = SessionStartLimit {
            max_concurrency,
            remaining,
            reset_after: reset.as_millis() as u64,
            total: 1000,
        };
        let mut queue = IdentifyQueue::new(&limit, None);
        Arc::get_mut(&mut queue.0).unwrap().interval = INTERVAL;
        queue
    }

    const INTERVAL: Duration = Duration::from_millis(200);

    /// When each of `shards`, enqueued together, may identify (from now).
    async fn grants(queue: &IdentifyQueue, shards: &[u32]) -> Vec<Duration> {
        let start = Instant::now();
        let waits: Vec<_> = shards.iter().map(|s| queue.enqueue(*s)).collect();
        let mut at = Vec::new();
        for wait in waits {
            wait.await.unwrap();
            at.push(start.elapsed());
        }
        at
    }

    /// How many intervals after the start each grant came (rounded down).
    fn slots(at: &[Duration]) -> Vec<u128> {
        at.iter()
            .map(|d| d.as_millis() / INTERVAL.as_millis())
            .collect()
    }

    #[tokio::test]
    async fn each_bucket_identifies_once_per_interval_on_its_own() {
        let queue = queue(2, 1000, Duration::from_secs(60));
        // Buckets 0 (shards 0, 2, 4) and 1 (1, 3).
        let at = grants(&queue, &[0, 1, 2, 3, 4]).await;
        assert_eq!(slots(&at), [0, 0, 1, 1, 2], "{at:?}");
        // A shard started later waits only for its own bucket, not for a common tick.
        tokio::time::sleep(INTERVAL * 3 / 2).await;
        let at = grants(&queue, &[7]).await;
        assert_eq!(slots(&at), [0], "{at:?}");
    }

    #[tokio::test]
    async fn no_identify_goes_out_once_the_session_starts_are_used_up() {
        let reset = Duration::from_millis(500);
        let queue = queue(16, 1, reset);
        let at = grants(&queue, &[0, 1]).await;
        assert!(at[0] < INTERVAL, "{at:?}");
        assert!(
            at[1] >= reset,
            "the second waits for the period's end: {at:?}"
        );
    }
}

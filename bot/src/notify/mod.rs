//! Notification delivery: the outbox's messages to Discord, in order per channel, by one owner
//! per channel at a time (the store's lease), so any number of bot replicas deliver safely.
//! Every message carries its stored nonce with `enforce_nonce`, so a message re-sent after a
//! crash or a lost answer comes back as the one Discord already has. Requests go through the
//! bot's rate-limited twilight client (per-route buckets, the global limit); a 429 waits its
//! `retry_after`, 5xx and network errors back off with jitter, a bounded number of times; a
//! deleted channel or a missing permission fails the message at once with the reason, which
//! the rule's status shows. See docs/notifications.md.

pub mod outcome;
pub mod pace;

use crate::runtime::Bot;
use kd_core::notifications::{Draft, channel_id, coalesce, finish};
use kd_core::report::RuleDelivery;
use kd_store::now_ms;
use kd_store::{OutboxMessage, Outcome};
use outcome::{RetryPolicy, SendError};
use pace::Pace;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinSet;
use twilight_http::api_error::ApiError;
use twilight_http::error::ErrorType;
use twilight_http::request::Request;
use twilight_http::routing::Route;
use twilight_model::id::Id;

/// How delivery runs; the defaults suit production.
#[derive(Clone, Debug)]
pub struct DeliveryOptions {
    /// This replica's name in leases and attempts: unique per process.
    pub owner: String,
    /// How long a channel's lease lasts without renewal: how soon another replica takes over
    /// the channels of one that died.
    pub lease: Duration,
    /// How often the outbox is looked at when idle.
    pub poll: Duration,
    /// Channels delivered at once.
    pub channels_at_once: usize,
    pub retry: RetryPolicy,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        Self {
            owner: format!("bot-{}-{:08x}", std::process::id(), rand_suffix()),
            lease: Duration::from_secs(10),
            poll: Duration::from_millis(50),
            channels_at_once: 32,
            retry: RetryPolicy::default(),
        }
    }
}

/// Enough to tell two processes with the same pid (two pods) apart.
fn rand_suffix() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    nanos ^ std::process::id().rotate_left(16)
}

/// Messages a channel's owner takes per claim.
const BATCH: i64 = 10;
/// A rule's rate when the rule is no longer configured (the CRD's default).
const DEFAULT_PER_MINUTE: i32 = 30;
/// How stale a guild's channel list may be before a name not in it is looked up again.
const CHANNELS_TTL_MS: i64 = 10_000;

/// A guild's channels as (id, name).
type GuildChannels = Vec<(String, String)>;

/// The delivering side of one bot process.
pub struct Deliverer {
    options: DeliveryOptions,
    pace: Mutex<Pace>,
    /// Channels held back by a rule's rate until a time (ms), and the (rule, channel) bursts
    /// to send coalesced when the hold ends.
    held: Mutex<HashMap<String, i64>>,
    bursts: Mutex<HashSet<(String, String)>>,
    /// Guild channels as (id, name), and when they were read.
    channels: Mutex<HashMap<String, (i64, GuildChannels)>>,
    /// The delivery counts the report carries, refreshed from the store.
    counts: Mutex<BTreeMap<String, RuleDelivery>>,
}

impl Deliverer {
    pub fn new(options: DeliveryOptions) -> Self {
        Self {
            options,
            pace: Mutex::default(),
            held: Mutex::default(),
            bursts: Mutex::default(),
            channels: Mutex::default(),
            counts: Mutex::default(),
        }
    }

    pub fn owner(&self) -> &str {
        &self.options.owner
    }

    /// Delivery counts per rule, as last read from the store.
    pub fn counts(&self) -> BTreeMap<String, RuleDelivery> {
        self.counts.lock().expect("counts lock").clone()
    }

    /// Delivers until the task is aborted: due channels are started as they come, each
    /// channel by one task at a time, a bounded number at once.
    pub async fn run(bot: Arc<Bot>) {
        let deliverer = bot.deliverer();
        let mut tasks: JoinSet<String> = JoinSet::new();
        let mut busy: HashSet<String> = HashSet::new();
        let mut last_counts = 0;
        loop {
            while let Some(done) = tasks.try_join_next() {
                if let Ok(channel) = done {
                    busy.remove(&channel);
                }
            }
            let now = now_ms();
            if now - last_counts >= 1_000 {
                last_counts = now;
                deliverer.refresh_counts(&bot).await;
                deliverer.pace.lock().expect("pace lock").forget_idle(now);
            }
            let due = match bot.store().due_channels(now).await {
                Ok(due) => due,
                Err(err) => {
                    tracing::warn!(error = %err, "reading the notification outbox failed");
                    Vec::new()
                }
            };
            let held = deliverer.held.lock().expect("held lock").clone();
            for channel in due {
                if busy.len() >= deliverer.options.channels_at_once {
                    break;
                }
                if busy.contains(&channel) || held.get(&channel).is_some_and(|t| *t > now) {
                    continue;
                }
                busy.insert(channel.clone());
                let bot = bot.clone();
                tasks.spawn(async move {
                    bot.deliverer().deliver_channel(&bot, &channel).await;
                    channel
                });
            }
            tokio::time::sleep(deliverer.options.poll).await;
        }
    }

    async fn refresh_counts(&self, bot: &Bot) {
        match bot.store().rule_counts().await {
            Ok(rows) => {
                let counts: BTreeMap<String, RuleDelivery> = rows
                    .into_iter()
                    .map(|c| {
                        (
                            c.rule,
                            RuleDelivery {
                                delivered: c.delivered,
                                failed: c.failed,
                                pending: c.pending,
                                last_delivery: c.last_delivery,
                                last_error: c.last_error,
                            },
                        )
                    })
                    .collect();
                let previous = std::mem::replace(
                    &mut *self.counts.lock().expect("counts lock"),
                    counts.clone(),
                );
                if previous != counts {
                    bot.report_changed();
                }
            }
            Err(err) => tracing::warn!(error = %err, "reading delivery counts failed"),
        }
    }

    /// One claim of one channel: its next messages in order, until one must wait.
    async fn deliver_channel(&self, bot: &Bot, channel: &str) {
        let store = bot.store();
        let owner = &self.options.owner;
        let lease_ms = i64::try_from(self.options.lease.as_millis()).unwrap_or(10_000);
        let mut claimed_at = now_ms();
        let batch = match store
            .claim_channel(channel, owner, claimed_at, lease_ms, BATCH)
            .await
        {
            Ok(Some(batch)) if batch.is_empty() => {
                // Its next message waits on a retry: look again after the shortest delay
                // rather than claiming it on every poll.
                let wait = i64::try_from(self.options.retry.min_delay.as_millis()).unwrap_or(250);
                self.held
                    .lock()
                    .expect("held lock")
                    .insert(channel.to_string(), claimed_at + wait);
                let _ = store.release_channel(channel, owner).await;
                return;
            }
            Ok(Some(batch)) => batch,
            Ok(None) => return,
            Err(err) => {
                tracing::warn!(error = %err, "claiming a notification channel failed");
                return;
            }
        };
        let mut next = 0;
        while next < batch.len() {
            let now = now_ms();
            // Renewed well before it runs out: a send may wait on Discord's rate limits.
            if now - claimed_at > lease_ms / 3 {
                match store.claim_channel(channel, owner, now, lease_ms, 0).await {
                    Ok(Some(_)) => claimed_at = now,
                    _ => return,
                }
            }
            let first = &batch[next];
            let per_minute = bot.rule_rate(&first.rule).unwrap_or(DEFAULT_PER_MINUTE);
            let slot = self
                .pace
                .lock()
                .expect("pace lock")
                .next_slot(&first.rule, per_minute, now);
            let burst_key = (first.rule.clone(), channel.to_string());
            if slot > now {
                self.held
                    .lock()
                    .expect("held lock")
                    .insert(channel.to_string(), slot);
                self.bursts.lock().expect("bursts lock").insert(burst_key);
                break;
            }
            let coalescing = self.bursts.lock().expect("bursts lock").remove(&burst_key);
            let group: Vec<&OutboxMessage> = if coalescing {
                batch[next..]
                    .iter()
                    .take_while(|m| m.rule == first.rule)
                    .collect()
            } else {
                vec![first]
            };
            let settled = self.send_group(bot, &group).await;
            if settled == 0 {
                break;
            }
            self.pace
                .lock()
                .expect("pace lock")
                .record(&first.rule, now);
            next += settled;
        }
        if let Err(err) = store.release_channel(channel, owner).await {
            tracing::warn!(error = %err, "releasing a notification channel failed");
        }
    }

    /// Sends one message (several coalesced into one, for a burst) and records the outcome on
    /// each. Returns how many were settled (delivered or failed for good); 0 when the first
    /// must be retried later, which holds the channel's later messages back.
    async fn send_group(&self, bot: &Bot, group: &[&OutboxMessage]) -> usize {
        let first = group[0];
        let drafts: Vec<Draft> = group
            .iter()
            .map_while(|m| serde_json::from_str(&m.body).ok())
            .collect();
        let result = if drafts.is_empty() {
            Err(SendError::Unsendable(
                "the stored message is unreadable".into(),
            ))
        } else {
            let (combined, taken) = coalesce(&drafts);
            match self.post(bot, &combined, &first.nonce).await {
                Ok(id) => Ok((id, taken)),
                Err(err) => Err(err),
            }
        };
        let now = now_ms();
        let (outcome, taken) = match result {
            Ok((id, taken)) => (
                outcome::outcome(Ok(id), first.attempts + 1, now, &self.options.retry),
                taken,
            ),
            Err(err) => (
                outcome::outcome(Err(err), first.attempts + 1, now, &self.options.retry),
                1,
            ),
        };
        if let Outcome::Failed { reason } = &outcome {
            tracing::warn!(rule = %first.rule, channel = %first.channel_id, reason, "a notification failed for good");
        }
        for message in &group[..taken] {
            if let Err(err) = bot
                .store()
                .record_attempt(&message.message_id, &self.options.owner, now, &outcome)
                .await
            {
                // Not recorded: the message stays pending and is sent again, which its nonce
                // makes harmless.
                tracing::warn!(error = %err, "recording a delivery attempt failed");
                return 0;
            }
        }
        match outcome {
            Outcome::Retry { .. } => 0,
            _ => taken,
        }
    }

    /// `POST /channels/{id}/messages` with the nonce, through the rate-limited client.
    async fn post(&self, bot: &Bot, draft: &Draft, nonce: &str) -> Result<String, SendError> {
        let channel = self.channel_of(bot, draft).await?;
        post_to(bot, channel, draft, nonce).await
    }

    /// Sends a draft at once, outside the outbox (`/kaltura-notify test`): the same channel
    /// lookup, body and client as delivery, but no retry, pacing or counts, since the member
    /// waits for the answer. Returns the channel it went to; on failure, the channel if it was
    /// found and why.
    pub(crate) async fn send_now(
        &self,
        bot: &Bot,
        draft: &Draft,
        nonce: &str,
    ) -> Result<u64, (Option<u64>, SendError)> {
        let channel = self.channel_of(bot, draft).await.map_err(|e| (None, e))?;
        post_to(bot, channel, draft, nonce)
            .await
            .map(|_| channel)
            .map_err(|e| (Some(channel), e))
    }

    /// The draft's channel id: given, or found by name among the guild's channels.
    async fn channel_of(&self, bot: &Bot, draft: &Draft) -> Result<u64, SendError> {
        let parse = |id: &str| {
            id.parse::<u64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| SendError::Unsendable(format!("{id:?} is not a channel id")))
        };
        let cached = self
            .channels
            .lock()
            .expect("channels lock")
            .get(&draft.guild_id)
            .cloned();
        if let Some((read_at, channels)) = &cached {
            if let Some(id) = channel_id(draft, channels) {
                return parse(&id);
            }
            if now_ms() - read_at < CHANNELS_TTL_MS {
                return Err(no_channel(draft));
            }
        }
        if let Some(id) = channel_id(draft, &[]) {
            return parse(&id);
        }
        let guild = parse(&draft.guild_id)?;
        let channels = bot
            .http()
            .guild_channels(Id::new(guild))
            .await
            .map_err(|e| send_error(&e))?
            .models()
            .await
            .map_err(|e| SendError::Network(e.to_string()))?;
        let channels: Vec<(String, String)> = channels
            .into_iter()
            .filter_map(|c| Some((c.id.to_string(), c.name?)))
            .collect();
        let found = channel_id(draft, &channels);
        self.channels
            .lock()
            .expect("channels lock")
            .insert(draft.guild_id.clone(), (now_ms(), channels));
        found
            .ok_or_else(|| no_channel(draft))
            .and_then(|id| parse(&id))
    }
}

/// The draft as Discord takes it (mentions resolved, the nonce) posted in `channel`.
async fn post_to(bot: &Bot, channel: u64, draft: &Draft, nonce: &str) -> Result<String, SendError> {
    let roles = bot.roles_of(&draft.guild_id).await;
    let body = finish(draft, &roles, nonce);
    let route = Route::CreateMessage {
        channel_id: channel,
    };
    let request = Request::builder(&route)
        .body(serde_json::to_vec(&body).expect("JSON"))
        .build()
        .map_err(|e| SendError::Unsendable(e.to_string()))?;
    match bot.http().request::<Created>(request).await {
        Ok(response) => match response.model().await {
            Ok(created) => Ok(created.id),
            // Sent, but the answer was lost: the retry's nonce finds the message.
            Err(err) => Err(SendError::Network(err.to_string())),
        },
        Err(err) => Err(send_error(&err)),
    }
}

fn no_channel(draft: &Draft) -> SendError {
    SendError::Unsendable(format!(
        "the guild has no channel named {:?}",
        draft.channel
    ))
}

/// The part of Discord's message object delivery keeps.
#[derive(serde::Deserialize)]
struct Created {
    id: String,
}

fn send_error(err: &twilight_http::Error) -> SendError {
    match err.kind() {
        ErrorType::Response { error, status, .. } => match error {
            ApiError::Ratelimited(limited) => SendError::RateLimited {
                retry_after: limited.retry_after,
                global: limited.global,
            },
            ApiError::General(general) => SendError::Status {
                status: status.get(),
                code: general.code,
                message: general.message.clone(),
            },
            // Invalid Form Body, and kinds twilight may add.
            _ => SendError::Status {
                status: status.get(),
                code: 50035,
                message: "Invalid Form Body".into(),
            },
        },
        // Timeouts, resets, refused connections: nothing is known to have arrived.
        _ => SendError::Network(err.to_string()),
    }
}

//! The notification outbox: Kaltura events, stored once by their notification id, and the
//! Discord messages they route to, delivered in order per channel by one owner at a time.
//!
//! Events come in through `record_event` (intake.rs). A channel row carries the last sequence
//! number taken and the delivery lease (owner, expiry), so the same SQL orders and serialises
//! delivery on SQLite and PostgreSQL. Each message has a
//! nonce derived from its id: sent with `enforce_nonce`, a repeat after a crash returns the
//! message Discord already created instead of a second one. See docs/notifications.md.

use crate::{Result, Store};
use sha2::{Digest, Sha256};

/// A received Kaltura notification.
#[derive(Clone, Debug)]
pub struct NewEvent<'a> {
    /// Kaltura's notification id: a retried delivery carries the same one.
    pub notification_id: &'a str,
    pub partner_id: i64,
    /// The event type (e.g. `entryReady`).
    pub kind: &'a str,
    /// The event as received, for routing and audit.
    pub payload: &'a str,
    pub received_at: i64,
}

/// A message an event routes to: the rule that matched and the rendered Discord body.
#[derive(Clone, Debug)]
pub struct NewMessage<'a> {
    pub rule: &'a str,
    pub channel_id: &'a str,
    /// The `POST /channels/{id}/messages` body, without the nonce.
    pub body: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageState {
    Pending,
    Delivered,
    Failed,
}

impl MessageState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "delivered" => Self::Delivered,
            "failed" => Self::Failed,
            _ => Self::Pending,
        }
    }
}

/// A message in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    pub message_id: String,
    pub notification_id: String,
    pub rule: String,
    pub channel_id: String,
    /// Position in the channel, from 1: delivery follows it.
    pub seq: i64,
    /// 25 characters, for Discord's `nonce` with `enforce_nonce: true`.
    pub nonce: String,
    pub body: String,
    pub state: MessageState,
    pub attempts: i64,
    /// Not to be sent before this time (ms), after a 429 or a transient error.
    pub not_before: i64,
    pub discord_message_id: Option<String>,
    pub last_error: Option<String>,
}

/// What one delivery attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Discord has the message (created now, or returned for a repeated nonce).
    Delivered { discord_message_id: String },
    /// Worth trying again at `retry_at` (ms): 429, 5xx, network errors.
    Retry { error: String, retry_at: i64 },
    /// Never going to work (deleted channel, missing permission): stop, keep the reason.
    Failed { reason: String },
}

/// One row of a message's delivery history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    pub attempt: i64,
    pub owner: String,
    pub at: i64,
    /// `delivered`, `retry` or `failed`.
    pub outcome: String,
    pub detail: Option<String>,
}

/// What a NotificationRule's status reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleCounts {
    pub rule: String,
    pub delivered: i64,
    pub failed: i64,
    pub pending: i64,
    pub last_delivery: Option<i64>,
    pub last_error: Option<String>,
}

/// The message id: one message per event, rule and channel, so routing twice cannot double it.
pub fn message_id(notification_id: &str, rule: &str, channel_id: &str) -> String {
    format!("{notification_id}|{rule}|{channel_id}")
}

/// Discord takes nonces of up to 25 characters: `k` and 96 bits of the id's SHA-256 in hex.
pub fn nonce_for(message_id: &str) -> String {
    let digest = Sha256::digest(message_id.as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("k{hex}")
}

type Row = (
    String,
    String,
    String,
    String,
    i64,
    String,
    String,
    String,
    i64,
    i64,
    Option<String>,
    Option<String>,
);

const COLUMNS: &str = "message_id, notification_id, rule, channel_id, seq, nonce, body, state, \
     attempts, not_before, discord_message_id, last_error";

fn message(row: Row) -> OutboxMessage {
    let (message_id, notification_id, rule, channel_id, seq, nonce, body, state) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7);
    OutboxMessage {
        message_id,
        notification_id,
        rule,
        channel_id,
        seq,
        nonce,
        body,
        state: MessageState::parse(&state),
        attempts: row.8,
        not_before: row.9,
        discord_message_id: row.10,
        last_error: row.11,
    }
}

/// The messages an owner may send now: pending ones in order, up to the first that must wait
/// (sending a later one first would break the channel's order).
fn sendable(pending: Vec<OutboxMessage>, now: i64) -> Vec<OutboxMessage> {
    pending
        .into_iter()
        .take_while(|m| m.not_before <= now)
        .collect()
}

impl Store {
    /// Channels with pending messages and no live lease: where a deliverer should look.
    pub async fn due_channels(&self, now: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT c.channel_id FROM notification_channels c
             WHERE (c.lease_owner IS NULL OR c.lease_until < $1)
               AND EXISTS (SELECT 1 FROM notification_messages m
                           WHERE m.channel_id = c.channel_id AND m.state = 'pending')
             ORDER BY c.channel_id",
        )
        .bind(now)
        .fetch_all(self.pool())
        .await?)
    }

    /// Takes (or renews) the channel's lease for `owner` until `now + lease_ms` and returns the
    /// next messages to send, in order, at most `limit`. `None` while another owner holds it.
    pub async fn claim_channel(
        &self,
        channel_id: &str,
        owner: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Option<Vec<OutboxMessage>>> {
        let mut tx = self.pool().begin().await?;
        let taken = sqlx::query(
            "UPDATE notification_channels SET lease_owner = $1, lease_until = $2
             WHERE channel_id = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $4)",
        )
        .bind(owner)
        .bind(now + lease_ms)
        .bind(channel_id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken == 0 {
            return Ok(None);
        }
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM notification_messages
             WHERE channel_id = $1 AND state = 'pending' ORDER BY seq LIMIT $2"
        ))
        .bind(channel_id)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(sendable(rows.into_iter().map(message).collect(), now)))
    }

    /// Gives the lease back (after a batch) so another owner need not wait for it to expire.
    pub async fn release_channel(&self, channel_id: &str, owner: &str) -> Result<()> {
        sqlx::query(
            "UPDATE notification_channels SET lease_owner = NULL, lease_until = NULL
             WHERE channel_id = $1 AND lease_owner = $2",
        )
        .bind(channel_id)
        .bind(owner)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records an attempt and its outcome. `false` when the message was no longer pending
    /// (settled by an earlier attempt): the history keeps the attempt, the state stays.
    pub async fn record_attempt(
        &self,
        message_id: &str,
        owner: &str,
        now: i64,
        outcome: &Outcome,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let (state, not_before, discord_id, error, label) = match outcome {
            Outcome::Delivered { discord_message_id } => (
                MessageState::Delivered,
                now,
                Some(discord_message_id.as_str()),
                None,
                "delivered",
            ),
            Outcome::Retry { error, retry_at } => (
                MessageState::Pending,
                *retry_at,
                None,
                Some(error.as_str()),
                "retry",
            ),
            Outcome::Failed { reason } => (
                MessageState::Failed,
                now,
                None,
                Some(reason.as_str()),
                "failed",
            ),
        };
        // Counting the attempt first locks the message row: concurrent attempts number in turn.
        let Some(attempt): Option<i64> = sqlx::query_scalar(
            "UPDATE notification_messages SET attempts = attempts + 1 WHERE message_id = $1
             RETURNING attempts",
        )
        .bind(message_id)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(false);
        };
        let changed = sqlx::query(
            "UPDATE notification_messages SET state = $1, not_before = $2,
                 discord_message_id = COALESCE($3, discord_message_id),
                 delivered_at = CASE WHEN $1 = 'delivered' THEN $4 ELSE delivered_at END,
                 last_error = COALESCE($5, last_error),
                 error_at = CASE WHEN $5 IS NULL THEN error_at ELSE $4 END
             WHERE message_id = $6 AND state = 'pending'",
        )
        .bind(state.as_str())
        .bind(not_before)
        .bind(discord_id)
        .bind(now)
        .bind(error)
        .bind(message_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "INSERT INTO notification_attempts (message_id, attempt, owner, at, outcome, detail)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(message_id)
        .bind(attempt)
        .bind(owner)
        .bind(now)
        .bind(label)
        .bind(discord_id.or(error))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    pub async fn outbox_message(&self, message_id: &str) -> Result<Option<OutboxMessage>> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM notification_messages WHERE message_id = $1"
        ))
        .bind(message_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(message))
    }

    /// Every message of a channel in order (tests, the console).
    pub async fn channel_outbox(&self, channel_id: &str) -> Result<Vec<OutboxMessage>> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM notification_messages WHERE channel_id = $1 ORDER BY seq"
        ))
        .bind(channel_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(message).collect())
    }

    /// A message's delivery history, oldest first.
    pub async fn attempts(&self, message_id: &str) -> Result<Vec<Attempt>> {
        let rows: Vec<(i64, String, i64, String, Option<String>)> = sqlx::query_as(
            "SELECT attempt, owner, at, outcome, detail FROM notification_attempts
             WHERE message_id = $1 ORDER BY attempt",
        )
        .bind(message_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(attempt, owner, at, outcome, detail)| Attempt {
                attempt,
                owner,
                at,
                outcome,
                detail,
            })
            .collect())
    }

    /// Counts per rule for the NotificationRule status, by rule name.
    pub async fn rule_counts(&self) -> Result<Vec<RuleCounts>> {
        let rows: Vec<(String, i64, i64, i64, Option<i64>)> = sqlx::query_as(
            "SELECT rule,
                    COUNT(CASE WHEN state = 'delivered' THEN 1 END),
                    COUNT(CASE WHEN state = 'failed' THEN 1 END),
                    COUNT(CASE WHEN state = 'pending' THEN 1 END),
                    MAX(delivered_at)
             FROM notification_messages GROUP BY rule ORDER BY rule",
        )
        .fetch_all(self.pool())
        .await?;
        let errors: Vec<(String, String)> = sqlx::query_as(
            "SELECT rule, last_error FROM notification_messages
             WHERE last_error IS NOT NULL ORDER BY error_at DESC",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(rule, delivered, failed, pending, last_delivery)| RuleCounts {
                    last_error: errors
                        .iter()
                        .find(|(r, _)| *r == rule)
                        .map(|(_, e)| e.clone()),
                    rule,
                    delivered,
                    failed,
                    pending,
                    last_delivery,
                },
            )
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_25_characters_and_follow_the_message_id() {
        let id = message_id("kn-1", "default/lectures", "123");
        let nonce = nonce_for(&id);
        assert_eq!(nonce.len(), 25);
        assert_eq!(nonce, nonce_for(&id));
        assert_ne!(
            nonce,
            nonce_for(&message_id("kn-2", "default/lectures", "123"))
        );
    }

    fn pending(seq: i64, not_before: i64) -> OutboxMessage {
        OutboxMessage {
            message_id: format!("m{seq}"),
            notification_id: "n".into(),
            rule: "r".into(),
            channel_id: "c".into(),
            seq,
            nonce: nonce_for(&format!("m{seq}")),
            body: "{}".into(),
            state: MessageState::Pending,
            attempts: 0,
            not_before,
            discord_message_id: None,
            last_error: None,
        }
    }

    #[test]
    fn a_waiting_message_holds_back_the_ones_after_it() {
        let batch = vec![pending(1, 0), pending(2, 500), pending(3, 0)];
        let seqs = |now| {
            sendable(batch.clone(), now)
                .iter()
                .map(|m| m.seq)
                .collect::<Vec<_>>()
        };
        assert_eq!(seqs(100), [1]);
        assert_eq!(seqs(500), [1, 2, 3]);
    }
}

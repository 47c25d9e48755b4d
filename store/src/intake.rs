//! Recording Kaltura events with the messages they route to, by group commit: the calls that
//! arrive while one transaction is being written go together into the next one. A commit
//! waits for the disk (an fsync on both backends), so one per event would cap the intake at
//! the disk's rate of flushes (tens per second for SQLite here) and queue every sender behind
//! it; one per batch keeps the same guarantees at any rate. See docs/notifications.md.

use crate::outbox::{MessageState, NewEvent, NewMessage, message_id, nonce_for};
use crate::{Result, Store, StoreError};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// Events per transaction at most; the rest go into the next one.
const MAX_BATCH: usize = 100;
/// Rows per multi-row statement, well under both backends' limits on parameters.
const ROWS_PER_STATEMENT: usize = 100;

/// The events waiting to be written, and who writes them. A call whose event is not in the
/// batch it started (more than `MAX_BATCH` were waiting) takes the writer again after it.
#[derive(Default)]
pub(crate) struct Intake {
    queue: Mutex<Vec<Queued>>,
    /// Held while a batch is written, so the calls that come meanwhile gather in `queue`.
    writer: Arc<tokio::sync::Mutex<()>>,
}

struct Queued {
    event: Event,
    messages: Vec<Message>,
    done: oneshot::Sender<Result<bool>>,
}

struct Event {
    notification_id: String,
    partner_id: i64,
    kind: String,
    payload: String,
    received_at: i64,
}

struct Message {
    id: String,
    rule: String,
    channel_id: String,
    body: String,
}

impl Queued {
    fn new(
        event: &NewEvent<'_>,
        messages: &[NewMessage<'_>],
        done: oneshot::Sender<Result<bool>>,
    ) -> Self {
        let mut ids = HashSet::new();
        let messages = messages
            .iter()
            .map(|m| Message {
                id: message_id(event.notification_id, m.rule, m.channel_id),
                rule: m.rule.to_string(),
                channel_id: m.channel_id.to_string(),
                body: m.body.to_string(),
            })
            // One message per rule and channel: a route listed twice takes no second seq.
            .filter(|m| ids.insert(m.id.clone()))
            .collect();
        Self {
            event: Event {
                notification_id: event.notification_id.to_string(),
                partner_id: event.partner_id,
                kind: event.kind.to_string(),
                payload: event.payload.to_string(),
                received_at: event.received_at,
            },
            messages,
            done,
        }
    }
}

/// `($1, $2), ($3, $4)`: `rows` rows of `width` parameters.
fn tuples(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|row| {
            let params: Vec<String> = (1..=width)
                .map(|c| format!("${}", row * width + c))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Stores an event and the messages it routes to, atomically and durably before it
    /// returns. `false` when the notification id is already stored (a retried delivery):
    /// nothing changes then.
    pub async fn record_event(
        &self,
        event: &NewEvent<'_>,
        messages: &[NewMessage<'_>],
    ) -> Result<bool> {
        let (done, mut answer) = oneshot::channel();
        let queued = Queued::new(event, messages, done);
        self.intake.queue.lock().expect("intake queue").push(queued);
        loop {
            let writer = tokio::select! {
                biased;
                // Written along with a batch while waiting: done.
                answer = &mut answer => {
                    return answer.unwrap_or(Err(StoreError::Database(sqlx::Error::WorkerCrashed)));
                }
                writer = self.intake.writer.clone().lock_owned() => writer,
            };
            let batch: Vec<Queued> = {
                let mut queue = self.intake.queue.lock().expect("intake queue");
                let take = queue.len().min(MAX_BATCH);
                queue.drain(..take).collect()
            };
            // Empty: the batch written just before took this call's event, and its answer is in.
            if !batch.is_empty() {
                // A task of its own holds the writer: a caller that goes away (its HTTP
                // connection closed) cannot cut the batch short for the others in it.
                let store = self.clone();
                tokio::spawn(async move {
                    store.write_batch(batch).await;
                    drop(writer);
                });
            }
        }
    }

    async fn write_batch(&self, batch: Vec<Queued>) {
        match self.insert_batch(&batch).await {
            Ok(new) => {
                for (queued, new) in batch.into_iter().zip(new) {
                    let _ = queued.done.send(Ok(new));
                }
            }
            Err(err) if batch.len() == 1 => {
                let _ = batch.into_iter().next().map(|q| q.done.send(Err(err)));
            }
            // One event the database refuses must not fail the others: each on its own.
            Err(_) => {
                for queued in batch {
                    let result = self
                        .insert_batch(std::slice::from_ref(&queued))
                        .await
                        .map(|new| new[0]);
                    let _ = queued.done.send(result);
                }
            }
        }
    }

    /// One transaction for the batch; whether each event was new, in the batch's order.
    async fn insert_batch(&self, batch: &[Queued]) -> Result<Vec<bool>> {
        let mut tx = self.pool().begin().await?;
        // A repeat within the batch is a repeat like any other: only its first is a candidate.
        let mut seen = HashSet::new();
        let first: Vec<bool> = batch
            .iter()
            .map(|q| seen.insert(q.event.notification_id.as_str()))
            .collect();
        let candidates: Vec<&Event> = batch
            .iter()
            .zip(&first)
            .filter(|(_, first)| **first)
            .map(|(q, _)| &q.event)
            .collect();
        let mut inserted = HashSet::new();
        for chunk in candidates.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO notification_events (notification_id, partner_id, kind, payload, received_at)
                 VALUES {} ON CONFLICT (notification_id) DO NOTHING RETURNING notification_id",
                tuples(chunk.len(), 5)
            );
            let mut query = sqlx::query_scalar::<_, String>(&sql);
            for event in chunk {
                query = query
                    .bind(&event.notification_id)
                    .bind(event.partner_id)
                    .bind(&event.kind)
                    .bind(&event.payload)
                    .bind(event.received_at);
            }
            inserted.extend(query.fetch_all(&mut *tx).await?);
        }
        let new: Vec<bool> = batch
            .iter()
            .zip(first)
            .map(|(q, first)| first && inserted.contains(&q.event.notification_id))
            .collect();
        let messages: Vec<(&Event, &Message)> = batch
            .iter()
            .zip(&new)
            .filter(|(_, new)| **new)
            .flat_map(|(q, _)| q.messages.iter().map(move |m| (&q.event, m)))
            .collect();
        let mut counts: BTreeMap<&str, i64> = BTreeMap::new();
        for (_, message) in &messages {
            *counts.entry(&message.channel_id).or_default() += 1;
        }
        // Each channel's sequence moves once per batch, by its count. The upsert locks the
        // channel rows until commit, so sequence numbers follow commit order; taking them in
        // channel order means two replicas' batches cannot deadlock.
        let channels: Vec<(&str, i64)> = counts.iter().map(|(c, n)| (*c, *n)).collect();
        let mut next_seq: HashMap<String, i64> = HashMap::new();
        for chunk in channels.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO notification_channels (channel_id, next_seq) VALUES {}
                 ON CONFLICT (channel_id) DO UPDATE
                     SET next_seq = notification_channels.next_seq + excluded.next_seq
                 RETURNING channel_id, next_seq",
                tuples(chunk.len(), 2)
            );
            let mut query = sqlx::query_as::<_, (String, i64)>(&sql);
            for (channel, count) in chunk {
                query = query.bind(*channel).bind(*count);
            }
            // `next_seq` is the channel's last number taken: this batch's run ends there.
            for (channel, last) in query.fetch_all(&mut *tx).await? {
                let count = counts.get(channel.as_str()).copied().unwrap_or(0);
                next_seq.insert(channel, last - count + 1);
            }
        }
        for chunk in messages.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO notification_messages (message_id, notification_id, rule, channel_id,
                     seq, nonce, body, state, attempts, not_before, created_at)
                 VALUES {} ON CONFLICT (message_id) DO NOTHING",
                tuples(chunk.len(), 11)
            );
            let mut query = sqlx::query(&sql);
            for (event, message) in chunk {
                let seq = next_seq
                    .get_mut(&message.channel_id)
                    .expect("every channel's sequence was taken");
                query = query
                    .bind(&message.id)
                    .bind(&event.notification_id)
                    .bind(&message.rule)
                    .bind(&message.channel_id)
                    .bind(*seq)
                    .bind(nonce_for(&message.id))
                    .bind(&message.body)
                    .bind(MessageState::Pending.as_str())
                    .bind(0_i64)
                    .bind(0_i64)
                    .bind(event.received_at);
                *seq += 1;
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_number_parameters_row_by_row() {
        assert_eq!(tuples(1, 2), "($1, $2)");
        assert_eq!(tuples(2, 3), "($1, $2, $3), ($4, $5, $6)");
    }
}

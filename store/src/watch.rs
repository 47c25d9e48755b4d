//! A voice channel's Watch Together queue: what `/kaltura-watch` and the Watch button queued,
//! and what the Activity's room adds, reorders and plays. Every change is signalled (see
//! `signals.rs`) so open rooms show it at once, whichever process made it.

use crate::signals::WatchSignal;
use crate::{Result, Store, now_ms};

/// One queued video, in play order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueItem {
    pub item_id: String,
    pub channel_id: String,
    pub guild_id: String,
    pub entry_id: String,
    pub title: Option<String>,
    pub added_by: String,
    /// Milliseconds since the UNIX epoch.
    pub added_at: i64,
}

/// What a caller queues.
#[derive(Clone, Debug)]
pub struct NewQueueItem<'a> {
    pub guild_id: &'a str,
    pub channel_id: &'a str,
    pub entry_id: &'a str,
    pub title: Option<&'a str>,
    pub added_by: &'a str,
}

/// The most recently queued video of a channel (what `/kaltura-watch` just asked for).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedVideo {
    pub channel_id: String,
    pub guild_id: String,
    pub entry_id: String,
    pub queued_by: String,
    pub queued_at: i64,
}

type Row = (String, String, String, String, Option<String>, String, i64);

const COLUMNS: &str = "item_id, channel_id, guild_id, entry_id, title, added_by, added_at";

fn item((item_id, channel_id, guild_id, entry_id, title, added_by, added_at): Row) -> QueueItem {
    QueueItem {
        item_id,
        channel_id,
        guild_id,
        entry_id,
        title,
        added_by,
        added_at,
    }
}

impl Store {
    /// Appends `entry_id` to the channel's queue (`/kaltura-watch`, the Watch button).
    pub async fn queue_watch(
        &self,
        guild_id: &str,
        channel_id: &str,
        entry_id: &str,
        queued_by: &str,
    ) -> Result<()> {
        self.watch_queue_add(NewQueueItem {
            guild_id,
            channel_id,
            entry_id,
            title: None,
            added_by: queued_by,
        })
        .await
        .map(drop)
    }

    /// Appends an item to the end of the channel's queue.
    pub async fn watch_queue_add(&self, new: NewQueueItem<'_>) -> Result<QueueItem> {
        let mut tx = self.pool().begin().await?;
        let last: Option<i64> =
            sqlx::query_scalar("SELECT MAX(position) FROM watch_queue_items WHERE channel_id = $1")
                .bind(new.channel_id)
                .fetch_one(&mut *tx)
                .await?;
        let item = QueueItem {
            item_id: format!("q{:016x}", rand::random::<u64>()),
            channel_id: new.channel_id.into(),
            guild_id: new.guild_id.into(),
            entry_id: new.entry_id.into(),
            title: new.title.map(str::to_string),
            added_by: new.added_by.into(),
            added_at: now_ms(),
        };
        sqlx::query(&format!(
            "INSERT INTO watch_queue_items ({COLUMNS}, position) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(&item.item_id)
        .bind(&item.channel_id)
        .bind(&item.guild_id)
        .bind(&item.entry_id)
        .bind(&item.title)
        .bind(&item.added_by)
        .bind(item.added_at)
        .bind(last.unwrap_or(0) + 1)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.signal(WatchSignal::Queue(item.channel_id.clone()))
            .await;
        Ok(item)
    }

    /// The channel's queue in play order, at most `limit` items.
    pub async fn watch_queue(&self, channel_id: &str, limit: i64) -> Result<Vec<QueueItem>> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM watch_queue_items WHERE channel_id = $1 ORDER BY position, added_at LIMIT $2"
        ))
        .bind(channel_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(item).collect())
    }

    /// How many items the channel's queue holds.
    pub async fn watch_queue_len(&self, channel_id: &str) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM watch_queue_items WHERE channel_id = $1")
                .bind(channel_id)
                .fetch_one(self.pool())
                .await?,
        )
    }

    /// The most recently queued video of the channel.
    pub async fn queued_watch(&self, channel_id: &str) -> Result<Option<QueuedVideo>> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM watch_queue_items WHERE channel_id = $1 ORDER BY added_at DESC, position DESC LIMIT 1"
        ))
        .bind(channel_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(item).map(|i| QueuedVideo {
            channel_id: i.channel_id,
            guild_id: i.guild_id,
            entry_id: i.entry_id,
            queued_by: i.added_by,
            queued_at: i.added_at / 1000,
        }))
    }

    /// Removes an item and returns it; None when it is not (any more) in the queue, so two
    /// replicas taking the same item cannot both get it.
    pub async fn watch_queue_take(
        &self,
        channel_id: &str,
        item_id: &str,
    ) -> Result<Option<QueueItem>> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "DELETE FROM watch_queue_items WHERE channel_id = $1 AND item_id = $2 RETURNING {COLUMNS}"
        ))
        .bind(channel_id)
        .bind(item_id)
        .fetch_optional(self.pool())
        .await?;
        if row.is_some() {
            self.signal(WatchSignal::Queue(channel_id.into())).await;
        }
        Ok(row.map(item))
    }

    /// Moves an item to `index` (0-based, clamped to the end); false when it is not queued.
    pub async fn watch_queue_move(
        &self,
        channel_id: &str,
        item_id: &str,
        index: usize,
    ) -> Result<bool> {
        let mut tx = self.pool().begin().await?;
        let mut ids: Vec<String> = sqlx::query_scalar(
            "SELECT item_id FROM watch_queue_items WHERE channel_id = $1 ORDER BY position, added_at",
        )
        .bind(channel_id)
        .fetch_all(&mut *tx)
        .await?;
        let Some(from) = ids.iter().position(|id| id == item_id) else {
            return Ok(false);
        };
        let moved = ids.remove(from);
        ids.insert(index.min(ids.len()), moved);
        for (position, id) in ids.iter().enumerate() {
            sqlx::query("UPDATE watch_queue_items SET position = $1 WHERE item_id = $2")
                .bind(position as i64 + 1)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.signal(WatchSignal::Queue(channel_id.into())).await;
        Ok(true)
    }
}

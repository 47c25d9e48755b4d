//! The video `/kaltura-watch` queued for a channel: the Activity opened there plays it.

use crate::overrides::now;
use crate::{Result, Store};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedVideo {
    pub channel_id: String,
    pub guild_id: String,
    pub entry_id: String,
    pub queued_by: String,
    pub queued_at: i64,
}

impl Store {
    /// Queues `entry_id` for the channel, replacing what was queued there.
    pub async fn queue_watch(
        &self,
        guild_id: &str,
        channel_id: &str,
        entry_id: &str,
        queued_by: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO watch_queue (channel_id, guild_id, entry_id, queued_by, queued_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (channel_id) DO UPDATE SET guild_id = excluded.guild_id, entry_id = excluded.entry_id,
                 queued_by = excluded.queued_by, queued_at = excluded.queued_at",
        )
        .bind(channel_id)
        .bind(guild_id)
        .bind(entry_id)
        .bind(queued_by)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn queued_watch(&self, channel_id: &str) -> Result<Option<QueuedVideo>> {
        let row: Option<(String, String, String, String, i64)> = sqlx::query_as(
            "SELECT channel_id, guild_id, entry_id, queued_by, queued_at FROM watch_queue WHERE channel_id = $1",
        )
        .bind(channel_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(
            |(channel_id, guild_id, entry_id, queued_by, queued_at)| QueuedVideo {
                channel_id,
                guild_id,
                entry_id,
                queued_by,
                queued_at,
            },
        ))
    }
}

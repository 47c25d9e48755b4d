//! The meeting registry: which Kaltura meetings a guild started, by whom, and whether they ended.

use crate::overrides::now;
use crate::{Result, Store};
use sqlx::Row;
use sqlx::any::AnyRow;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MeetingState {
    Active,
    Ended { by: String, at: i64 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meeting {
    pub guild_id: String,
    /// The Kaltura schedule event id.
    pub meeting_id: String,
    /// The Kaltura schedule resource (room) id.
    pub resource_id: String,
    /// meeting, webinar or classroom.
    pub kind: String,
    pub title: String,
    /// Discord user id of the creator.
    pub created_by: String,
    pub created_at: i64,
    pub state: MeetingState,
    /// The Discord channel it was started in (none when started through the HTTP API).
    pub channel_id: Option<String>,
    /// The Kaltura entry its recordings are made from (none for meetings recorded before).
    pub template_entry_id: Option<String>,
}

const COLUMNS: &str = "guild_id, meeting_id, resource_id, kind, title, created_by, created_at, \
     ended_by, ended_at, channel_id, template_entry_id";

fn meeting(row: &AnyRow) -> std::result::Result<Meeting, sqlx::Error> {
    let ended_by: Option<String> = row.try_get("ended_by")?;
    let ended_at: Option<i64> = row.try_get("ended_at")?;
    Ok(Meeting {
        guild_id: row.try_get("guild_id")?,
        meeting_id: row.try_get("meeting_id")?,
        resource_id: row.try_get("resource_id")?,
        kind: row.try_get("kind")?,
        title: row.try_get("title")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
        state: match (ended_by, ended_at) {
            (Some(by), Some(at)) => MeetingState::Ended { by, at },
            _ => MeetingState::Active,
        },
        channel_id: row.try_get("channel_id")?,
        template_entry_id: row.try_get("template_entry_id")?,
    })
}

impl Store {
    /// Records a meeting just created in Kaltura (its `state` is ignored: it starts active).
    pub async fn add_meeting(&self, m: &Meeting) -> Result<()> {
        sqlx::query(
            "INSERT INTO meetings (guild_id, meeting_id, resource_id, kind, title, created_by, created_at,
                 channel_id, template_entry_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&m.guild_id)
        .bind(&m.meeting_id)
        .bind(&m.resource_id)
        .bind(&m.kind)
        .bind(&m.title)
        .bind(&m.created_by)
        .bind(m.created_at)
        .bind(&m.channel_id)
        .bind(&m.template_entry_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The guild's meetings that have not ended, newest first.
    pub async fn active_meetings(&self, guild_id: &str) -> Result<Vec<Meeting>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM meetings WHERE guild_id = $1 AND ended_at IS NULL ORDER BY created_at DESC, meeting_id"
        ))
        .bind(guild_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(meeting)
            .collect::<std::result::Result<_, _>>()?)
    }

    pub async fn meeting(&self, guild_id: &str, meeting_id: &str) -> Result<Option<Meeting>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM meetings WHERE guild_id = $1 AND meeting_id = $2"
        ))
        .bind(guild_id)
        .bind(meeting_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(meeting).transpose()?)
    }

    /// The meeting whose recordings are made from this template entry, of any guild.
    pub async fn meeting_by_template(&self, template_entry_id: &str) -> Result<Option<Meeting>> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM meetings WHERE template_entry_id = $1"
        ))
        .bind(template_entry_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(meeting).transpose()?)
    }

    /// Marks a meeting ended; false when it was unknown or already ended (so two replicas
    /// ending it at once agree on who did).
    pub async fn end_meeting(
        &self,
        guild_id: &str,
        meeting_id: &str,
        ended_by: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE meetings SET ended_by = $1, ended_at = $2 WHERE guild_id = $3 AND meeting_id = $4 AND ended_at IS NULL",
        )
        .bind(ended_by)
        .bind(now())
        .bind(guild_id)
        .bind(meeting_id)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

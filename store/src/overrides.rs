//! Discord-side overrides of delegated GuildConfig settings.

use crate::{Result, Store};
use std::collections::BTreeMap;

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Store {
    /// The guild's overrides: setting key -> value.
    pub async fn overrides(&self, guild_id: &str) -> Result<BTreeMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT setting, value FROM guild_overrides WHERE guild_id = $1 ORDER BY setting",
        )
        .bind(guild_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }

    /// Sets (or replaces) one override.
    pub async fn set_override(
        &self,
        guild_id: &str,
        setting: &str,
        value: &str,
        set_by: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO guild_overrides (guild_id, setting, value, set_by, set_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (guild_id, setting) DO UPDATE SET value = excluded.value, set_by = excluded.set_by, set_at = excluded.set_at",
        )
        .bind(guild_id)
        .bind(setting)
        .bind(value)
        .bind(set_by)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Drops one override; false when there was none.
    pub async fn reset_override(&self, guild_id: &str, setting: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM guild_overrides WHERE guild_id = $1 AND setting = $2")
            .bind(guild_id)
            .bind(setting)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

//! The roles of each guild as the gateway last showed them, shared by the bot replicas: a
//! replica that resumes a shard gets no GUILD_CREATE for its guilds, and asking Discord for
//! each guild's roles would queue behind the 50 requests/s every replica shares. The shard's
//! holder writes a guild's roles whenever they change; the next holder reads them here.

use crate::{Result, Store, now_ms};
use std::collections::BTreeMap;

/// Rows per statement: three binds each, well under PostgreSQL's 65,535 and SQLite's 32,766.
const ROWS: usize = 500;

impl Store {
    /// The roles of `guild_id` as last written (the JSON its writer gave), if any.
    pub async fn guild_roles(&self, guild_id: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT roles FROM guild_roles WHERE guild_id = $1")
                .bind(guild_id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// Records the roles of guilds (JSON, by guild id); None forgets a guild's (the bot left
    /// it). One transaction of a few statements: the thousands of GUILD_CREATEs of a start
    /// cost a statement per 500 guilds, not one each.
    pub async fn save_guild_roles(&self, changes: &BTreeMap<String, Option<String>>) -> Result<()> {
        let now = now_ms();
        let (kept, gone): (Vec<_>, Vec<_>) = changes.iter().partition(|(_, r)| r.is_some());
        let mut tx = self.pool().begin().await?;
        for rows in kept.chunks(ROWS) {
            // `$n` placeholders, as both backends take them (sqlx's builder writes `?` for
            // `Any`, which PostgreSQL refuses).
            let values: Vec<String> = (0..rows.len())
                .map(|n| format!("(${}, ${}, ${})", 3 * n + 1, 3 * n + 2, 3 * n + 3))
                .collect();
            let sql = format!(
                "INSERT INTO guild_roles (guild_id, roles, updated_at) VALUES {}
                 ON CONFLICT (guild_id) DO UPDATE SET roles = excluded.roles, updated_at = excluded.updated_at",
                values.join(", ")
            );
            let mut insert = sqlx::query(&sql);
            for (guild, roles) in rows {
                insert = insert
                    .bind(guild.as_str())
                    .bind(roles.as_deref().unwrap_or_default())
                    .bind(now);
            }
            insert.execute(&mut *tx).await?;
        }
        for rows in gone.chunks(ROWS) {
            let ids: Vec<String> = (1..=rows.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "DELETE FROM guild_roles WHERE guild_id IN ({})",
                ids.join(", ")
            );
            let mut delete = sqlx::query(&sql);
            for (guild, _) in rows {
                delete = delete.bind(guild.as_str());
            }
            delete.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

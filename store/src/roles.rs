//! The roles of each guild as the gateway last showed them, shared by the bot replicas: a
//! replica that resumes a shard gets no GUILD_CREATE for its guilds, and asking Discord for
//! each guild's roles would queue behind the 50 requests/s every replica shares. The shard's
//! holder writes a guild's roles whenever they change; the next holder reads them here.

use crate::{Result, Store, now_ms};

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

    /// Records the roles of `guild_id` (JSON); None forgets them (the bot left the guild).
    pub async fn save_guild_roles(&self, guild_id: &str, roles: Option<&str>) -> Result<()> {
        match roles {
            Some(roles) => sqlx::query(
                "INSERT INTO guild_roles (guild_id, roles, updated_at) VALUES ($1, $2, $3)
                 ON CONFLICT (guild_id) DO UPDATE SET roles = excluded.roles, updated_at = excluded.updated_at",
            )
            .bind(guild_id)
            .bind(roles)
            .bind(now_ms())
            .execute(self.pool())
            .await?,
            None => sqlx::query("DELETE FROM guild_roles WHERE guild_id = $1")
                .bind(guild_id)
                .execute(self.pool())
                .await?,
        };
        Ok(())
    }
}

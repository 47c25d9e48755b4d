//! Which command set was last registered in each guild, and globally, so unchanged sets are
//! not re-sent after a restart.

use crate::overrides::now;
use crate::{Result, Store};

/// The key of the application's global command set where a guild id would go: guild ids are
/// snowflakes (digits only), so it names no guild.
pub const GLOBAL_COMMANDS: &str = "global";

impl Store {
    pub async fn registered_fingerprint(
        &self,
        application_id: &str,
        guild_id: &str,
    ) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT fingerprint FROM command_registrations WHERE application_id = $1 AND guild_id = $2",
        )
        .bind(application_id)
        .bind(guild_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Every record of the application, by guild id (and [`GLOBAL_COMMANDS`]): one read for
    /// a start that checks thousands of guilds.
    pub async fn registered_fingerprints(
        &self,
        application_id: &str,
    ) -> Result<std::collections::HashMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT guild_id, fingerprint FROM command_registrations WHERE application_id = $1",
        )
        .bind(application_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().collect())
    }

    pub async fn record_registration(
        &self,
        application_id: &str,
        guild_id: &str,
        fingerprint: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO command_registrations (application_id, guild_id, fingerprint, registered_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (application_id, guild_id) DO UPDATE SET fingerprint = excluded.fingerprint, registered_at = excluded.registered_at",
        )
        .bind(application_id)
        .bind(guild_id)
        .bind(fingerprint)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets every registration of an application: its commands are known to be gone (the
    /// Discord sandbox `kaltura-discord up` starts is a new one each run).
    pub async fn forget_registrations(&self, application_id: &str) -> Result<()> {
        sqlx::query("DELETE FROM command_registrations WHERE application_id = $1")
            .bind(application_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

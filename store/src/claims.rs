//! Who answers an interaction. During a gateway shard hand-over two replicas hold sessions of
//! the same shard, and Discord dispatches every interaction to both; the first to claim it
//! answers, the other leaves it alone. One insert decides, so two replicas racing on either
//! backend cannot both win.

use crate::{Result, Store, now_ms};

impl Store {
    /// Claims interaction `id` for `replica`: true when this call claimed it, false when it
    /// was claimed already (by anyone, this replica included).
    pub async fn claim_interaction(&self, id: &str, replica: &str) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO interaction_claims (interaction_id, replica, claimed_at) VALUES ($1, $2, $3)
             ON CONFLICT (interaction_id) DO NOTHING",
        )
        .bind(id)
        .bind(replica)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Drops the claims made before `before` (ms); how many. Once an interaction's token has
    /// expired nobody can answer it, so its claim decides nothing any more.
    pub async fn prune_interaction_claims(&self, before: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM interaction_claims WHERE claimed_at < $1")
            .bind(before)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

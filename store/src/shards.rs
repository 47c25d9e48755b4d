//! Who connects each gateway shard when several bot replicas share an application: a lease row
//! per shard (holder, expiry, and the session the holder left for the next one to resume), a
//! heartbeat row per replica (who is alive, to share the shards fairly), and a slot per
//! identify bucket (Discord lets each `shard_id % max_concurrency` bucket identify once every
//! 5 s, across every process of the bot). Each decision is one statement, so two replicas
//! racing for a shard cannot both win. Times are the replicas' clocks (ms): they must agree
//! to well within a lease's length, as NTP keeps them.

use crate::{Result, Store, now_ms};

/// The gateway session a shard's last holder left: the next holder resumes it (op 6) and
/// Discord replays what was dispatched after `sequence`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedSession {
    pub session_id: String,
    pub sequence: u64,
    pub resume_url: Option<String>,
}

/// A shard's lease as it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardHolder {
    pub shard: u32,
    pub holder: String,
    /// Whether the lease is still running (its holder renewed it in time).
    pub live: bool,
}

/// A lease row's session columns.
type SessionColumns = (Option<String>, Option<i64>, Option<String>);

fn session_of((id, sequence, url): SessionColumns) -> Option<SavedSession> {
    Some(SavedSession {
        session_id: id?,
        sequence: u64::try_from(sequence?).ok()?,
        resume_url: url,
    })
}

impl Store {
    /// Notes `replica` alive for `ttl_ms` more.
    pub async fn replica_heartbeat(
        &self,
        application_id: &str,
        replica: &str,
        ttl_ms: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO bot_replicas (application_id, replica, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (application_id, replica) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .bind(application_id)
        .bind(replica)
        .bind(now_ms() + ttl_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The replicas alive now, sorted.
    pub async fn live_replicas(&self, application_id: &str) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT replica FROM bot_replicas WHERE application_id = $1 AND expires_at > $2
             ORDER BY replica",
        )
        .bind(application_id)
        .bind(now_ms())
        .fetch_all(self.pool())
        .await?)
    }

    /// `replica` is leaving: the others share its shards from their next look.
    pub async fn replica_leave(&self, application_id: &str, replica: &str) -> Result<()> {
        sqlx::query("DELETE FROM bot_replicas WHERE application_id = $1 AND replica = $2")
            .bind(application_id)
            .bind(replica)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Every shard lease of the application's `shards`-shard layout.
    pub async fn shard_holders(
        &self,
        application_id: &str,
        shards: u32,
    ) -> Result<Vec<ShardHolder>> {
        let rows: Vec<(i64, String, i64)> = sqlx::query_as(
            "SELECT shard, holder, expires_at FROM shard_leases
             WHERE application_id = $1 AND shards = $2 ORDER BY shard",
        )
        .bind(application_id)
        .bind(i64::from(shards))
        .fetch_all(self.pool())
        .await?;
        let now = now_ms();
        Ok(rows
            .into_iter()
            .map(|(shard, holder, expires_at)| ShardHolder {
                shard: shard as u32,
                holder,
                live: expires_at > now,
            })
            .collect())
    }

    /// Takes `shard` for `replica` for `ttl_ms` when its lease is free, expired or already
    /// this replica's: Some(the session its last holder left) when taken, None when another
    /// replica holds it.
    pub async fn take_shard(
        &self,
        application_id: &str,
        shards: u32,
        shard: u32,
        replica: &str,
        ttl_ms: i64,
    ) -> Result<Option<Option<SavedSession>>> {
        let now = now_ms();
        let row: Option<SessionColumns> = sqlx::query_as(
            "INSERT INTO shard_leases (application_id, shards, shard, holder, expires_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (application_id, shards, shard) DO UPDATE
               SET holder = excluded.holder, expires_at = excluded.expires_at
               WHERE shard_leases.expires_at <= $6 OR shard_leases.holder = excluded.holder
             RETURNING session_id, sequence, resume_url",
        )
        .bind(application_id)
        .bind(i64::from(shards))
        .bind(i64::from(shard))
        .bind(replica)
        .bind(now + ttl_ms)
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(session_of))
    }

    /// Renews every lease `replica` holds for `ttl_ms`; gives the shards it still holds (a
    /// lease it let run out may have been taken meanwhile).
    pub async fn renew_shards(
        &self,
        application_id: &str,
        shards: u32,
        replica: &str,
        ttl_ms: i64,
    ) -> Result<Vec<u32>> {
        let held: Vec<i64> = sqlx::query_scalar(
            "UPDATE shard_leases SET expires_at = $4
             WHERE application_id = $1 AND shards = $2 AND holder = $3 RETURNING shard",
        )
        .bind(application_id)
        .bind(i64::from(shards))
        .bind(replica)
        .bind(now_ms() + ttl_ms)
        .fetch_all(self.pool())
        .await?;
        let mut held: Vec<u32> = held.into_iter().map(|s| s as u32).collect();
        held.sort_unstable();
        Ok(held)
    }

    /// Records the session of a shard `replica` holds; false when it holds it no more.
    pub async fn save_session(
        &self,
        application_id: &str,
        shards: u32,
        shard: u32,
        replica: &str,
        session: &SavedSession,
    ) -> Result<bool> {
        self.write_session(application_id, shards, shard, replica, Some(session), false)
            .await
    }

    /// Lets go of a shard `replica` holds, leaving `session` (when it has one) for the next
    /// holder to resume. The lease names no holder then, so renewals of `replica`'s leases
    /// cannot bring it back.
    pub async fn release_shard(
        &self,
        application_id: &str,
        shards: u32,
        shard: u32,
        replica: &str,
        session: Option<&SavedSession>,
    ) -> Result<()> {
        self.write_session(application_id, shards, shard, replica, session, true)
            .await
            .map(drop)
    }

    /// Sets the lease's session (when given), and releases it (when `release`), if `replica`
    /// holds it.
    async fn write_session(
        &self,
        application_id: &str,
        shards: u32,
        shard: u32,
        replica: &str,
        session: Option<&SavedSession>,
        release: bool,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE shard_leases SET
               session_id = CASE WHEN $5 THEN $6 ELSE session_id END,
               sequence = CASE WHEN $5 THEN $7 ELSE sequence END,
               resume_url = CASE WHEN $5 THEN $8 ELSE resume_url END,
               expires_at = CASE WHEN $9 THEN 0 ELSE expires_at END,
               holder = CASE WHEN $9 THEN '' ELSE holder END
             WHERE application_id = $1 AND shards = $2 AND shard = $3 AND holder = $4",
        )
        .bind(application_id)
        .bind(i64::from(shards))
        .bind(i64::from(shard))
        .bind(replica)
        .bind(session.is_some())
        .bind(session.map(|s| s.session_id.clone()))
        .bind(session.map(|s| s.sequence as i64))
        .bind(session.and_then(|s| s.resume_url.clone()))
        .bind(release)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Reserves the next identify of `bucket` (`shard_id % max_concurrency`): the time (ms)
    /// at which it may go, `interval_ms` after the one reserved before it, or now.
    pub async fn reserve_identify(
        &self,
        application_id: &str,
        bucket: u32,
        interval_ms: i64,
    ) -> Result<i64> {
        let now = now_ms();
        let next: i64 = sqlx::query_scalar(
            "INSERT INTO identify_slots (application_id, bucket, next_at) VALUES ($1, $2, $3 + $4)
             ON CONFLICT (application_id, bucket) DO UPDATE SET next_at =
               CASE WHEN identify_slots.next_at > $3 THEN identify_slots.next_at ELSE $3 END + $4
             RETURNING next_at",
        )
        .bind(application_id)
        .bind(i64::from(bucket))
        .bind(now)
        .bind(interval_ms)
        .fetch_one(self.pool())
        .await?;
        Ok(next - interval_ms)
    }
}

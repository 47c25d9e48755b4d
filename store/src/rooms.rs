//! Watch Together rooms shared by several Activity replicas: one row per Activity instance,
//! changed only under its row lock (the room's single writer at any moment), the change
//! announced with `NOTIFY` in the same transaction so every replica sees changes in commit order.

use crate::signals::{ROOMS, WatchSignal, room_payload};
use crate::{Backend, Result, Store};

/// A room as stored: the Activity's own serialisation, and its sequence number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomRow {
    pub state: String,
    pub seq: i64,
}

/// What a writer decided: the new state and the event announcing it.
#[derive(Clone, Debug)]
pub struct RoomWrite {
    pub state: String,
    pub seq: i64,
    pub event: String,
}

impl Store {
    /// Runs `decide` on the room under its row lock and stores what it returns (nothing when it
    /// returns no write). `decide` gets None for a room that does not exist yet.
    pub async fn update_room<T>(
        &self,
        instance_id: &str,
        decide: impl FnOnce(Option<RoomRow>) -> (Option<RoomWrite>, T),
    ) -> Result<T> {
        let lock = if self.backend == Backend::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let select = format!("SELECT state, seq FROM watch_rooms WHERE instance_id = $1{lock}");
        let mut tx = self.pool().begin().await?;
        let mut row: Option<(String, i64)> = sqlx::query_as(&select)
            .bind(instance_id)
            .fetch_optional(&mut *tx)
            .await?;
        if row.is_none() {
            // Two replicas may create the room at once: the row exists afterwards either way,
            // and the lock is then taken on it.
            sqlx::query(
                "INSERT INTO watch_rooms (instance_id, state, seq, updated_at) VALUES ($1, '', 0, $2)
                 ON CONFLICT (instance_id) DO NOTHING",
            )
            .bind(instance_id)
            .bind(crate::overrides::now())
            .execute(&mut *tx)
            .await?;
            row = sqlx::query_as(&select)
                .bind(instance_id)
                .fetch_optional(&mut *tx)
                .await?;
        }
        let current = row
            .filter(|(state, _)| !state.is_empty())
            .map(|(state, seq)| RoomRow { state, seq });
        let (write, value) = decide(current);
        let Some(write) = write else {
            tx.rollback().await?;
            return Ok(value);
        };
        sqlx::query(
            "UPDATE watch_rooms SET state = $1, seq = $2, updated_at = $3 WHERE instance_id = $4",
        )
        .bind(&write.state)
        .bind(write.seq)
        .bind(crate::overrides::now())
        .bind(instance_id)
        .execute(&mut *tx)
        .await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(ROOMS)
                .bind(room_payload(instance_id, write.seq, &write.event))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        } else {
            tx.commit().await?;
            let _ = self.signals.send(WatchSignal::Room {
                instance_id: instance_id.into(),
                seq: write.seq,
                event: Some(write.event),
            });
        }
        Ok(value)
    }

    pub async fn room(&self, instance_id: &str) -> Result<Option<RoomRow>> {
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT state, seq FROM watch_rooms WHERE instance_id = $1")
                .bind(instance_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row
            .filter(|(state, _)| !state.is_empty())
            .map(|(state, seq)| RoomRow { state, seq }))
    }

    /// Forgets a room, unless it changed since `seq` (someone came back).
    pub async fn delete_room(&self, instance_id: &str, seq: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM watch_rooms WHERE instance_id = $1 AND seq = $2")
            .bind(instance_id)
            .bind(seq)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

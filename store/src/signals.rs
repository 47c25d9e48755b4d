//! Change signals of Watch Together: a room changed, a replica's presence digest, a queue
//! changed. On PostgreSQL they are `NOTIFY`s (delivered after commit, in commit order, to every
//! replica that listens); on SQLite (one process) an in-process broadcast.

use crate::{Backend, Result, Store};
use sqlx::postgres::{PgListener, PgPool};
use std::time::Duration;
use tokio::sync::broadcast;

pub(crate) const ROOMS: &str = "kd_watch";
const PRESENCE: &str = "kd_watch_presence";
const QUEUE: &str = "kd_watch_queue";
/// PostgreSQL refuses payloads of 8000 bytes or more.
pub const MAX_PAYLOAD: usize = 7900;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchSignal {
    /// A room's state moved to `seq`; `event` is the change when it fit in a notification
    /// (otherwise read the room).
    Room {
        instance_id: String,
        seq: i64,
        event: Option<String>,
    },
    /// A replica's presence digest (opaque to the store).
    Presence(String),
    /// The queue of this channel changed.
    Queue(String),
    /// Signals may have been lost (the listener reconnected, or this receiver lagged):
    /// re-read what matters.
    Resync,
}

/// `seq instance_id [event]`: instance ids never contain spaces (the Activity checks).
pub(crate) fn room_payload(instance_id: &str, seq: i64, event: &str) -> String {
    let full = format!("{seq} {instance_id} {event}");
    if full.len() <= MAX_PAYLOAD {
        full
    } else {
        format!("{seq} {instance_id} ")
    }
}

fn parse(channel: &str, payload: &str) -> Option<WatchSignal> {
    match channel {
        ROOMS => {
            let mut parts = payload.splitn(3, ' ');
            let seq = parts.next()?.parse().ok()?;
            let instance_id = parts.next()?.to_string();
            let event = parts.next().filter(|e| !e.is_empty()).map(str::to_string);
            Some(WatchSignal::Room {
                instance_id,
                seq,
                event,
            })
        }
        PRESENCE => Some(WatchSignal::Presence(payload.to_string())),
        QUEUE => Some(WatchSignal::Queue(payload.to_string())),
        _ => None,
    }
}

impl Store {
    pub(crate) async fn signal(&self, signal: WatchSignal) {
        let (channel, payload) = match (&signal, self.backend) {
            (_, Backend::Sqlite) => {
                // No receiver is fine: nobody watches.
                let _ = self.signals.send(signal);
                return;
            }
            (WatchSignal::Queue(channel_id), _) => (QUEUE, channel_id.clone()),
            (WatchSignal::Presence(digest), _) => (PRESENCE, digest.clone()),
            (
                WatchSignal::Room {
                    instance_id,
                    seq,
                    event,
                },
                _,
            ) => (
                ROOMS,
                room_payload(instance_id, *seq, event.as_deref().unwrap_or_default()),
            ),
            (WatchSignal::Resync, _) => return,
        };
        if let Err(err) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(self.pool())
            .await
        {
            // The others re-read on their next signal or resync; this must not fail the change.
            eprintln!("kd-store: NOTIFY failed: {err}");
        }
    }

    /// Publishes this replica's presence digest to every replica (including this one).
    pub async fn publish_presence(&self, digest: &str) -> Result<()> {
        if digest.len() > MAX_PAYLOAD {
            return Err(crate::StoreError::TooLarge(digest.len()));
        }
        self.signal(WatchSignal::Presence(digest.to_string())).await;
        Ok(())
    }

    /// Every Watch Together signal from now on. On PostgreSQL the first call opens the one
    /// listening connection of this process and returns once it listens.
    pub async fn watch_signals(&self) -> Result<broadcast::Receiver<WatchSignal>> {
        let receiver = self.signals.subscribe();
        if let Some(pool) = &self.listen_pool {
            self.listener
                .get_or_try_init(|| async {
                    let listener = connect(pool).await?;
                    tokio::spawn(listen(listener, pool.clone(), self.signals.clone()));
                    Ok::<_, sqlx::Error>(())
                })
                .await?;
        }
        Ok(receiver)
    }
}

async fn connect(pool: &PgPool) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen_all([ROOMS, PRESENCE, QUEUE]).await?;
    Ok(listener)
}

async fn listen(mut listener: PgListener, pool: PgPool, sender: broadcast::Sender<WatchSignal>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => {
                if let Some(signal) = parse(n.channel(), n.payload()) {
                    let _ = sender.send(signal);
                }
            }
            // The connection was lost and is re-established on the next call: whatever
            // happened meanwhile is unknown.
            Ok(None) => {
                let _ = sender.send(WatchSignal::Resync);
            }
            Err(err) => {
                // The store has no logger of its own; stderr reaches the process's logs.
                eprintln!("kd-store: LISTEN lost: {err}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Ok(fresh) = connect(&pool).await {
                    listener = fresh;
                    let _ = sender.send(WatchSignal::Resync);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_payloads_round_trip_and_fall_back_when_too_large() {
        let small = room_payload("i-1-gc-2-3", 7, r#"{"type":"timeline"}"#);
        assert_eq!(
            parse(ROOMS, &small),
            Some(WatchSignal::Room {
                instance_id: "i-1-gc-2-3".into(),
                seq: 7,
                event: Some(r#"{"type":"timeline"}"#.into())
            })
        );
        let big = room_payload("i-1", 8, &"x".repeat(MAX_PAYLOAD));
        assert!(big.len() < MAX_PAYLOAD);
        assert_eq!(
            parse(ROOMS, &big),
            Some(WatchSignal::Room {
                instance_id: "i-1".into(),
                seq: 8,
                event: None
            })
        );
        assert_eq!(parse(ROOMS, "x y"), None);
    }
}

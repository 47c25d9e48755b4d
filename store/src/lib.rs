//! The store: Discord-side overrides, the meeting registry, command registrations, which
//! replica answers each interaction and more, behind one interface with two real backends.
//! SQLite is the embedded default (one file, one replica); PostgreSQL serves several
//! replicas. The same SQL runs on both through sqlx's `Any` driver, so the backends cannot
//! drift apart.

mod claims;
mod intake;
mod meetings;
mod outbox;
mod overrides;
mod registrations;
mod roles;
mod rooms;
mod schema;
mod shards;
mod signals;
mod watch;

pub use meetings::{Meeting, MeetingState};
pub use outbox::{
    Attempt, MessageState, NewEvent, NewMessage, OutboxMessage, Outcome, RuleCounts, message_id,
    nonce_for,
};
pub use registrations::GLOBAL_COMMANDS;
pub use rooms::{RoomRow, RoomWrite};
pub use shards::{SavedSession, ShardHolder};
pub use signals::{MAX_PAYLOAD, WatchSignal};
pub use watch::{NewQueueItem, QueueItem, QueuedVideo};

use sqlx::AnyPool;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;
use tokio::sync::broadcast;

/// How long an operation waits for a connection. sqlx's default (30 s) would hold every
/// caller through an outage and then run its work long after anyone waits for it; a write
/// that fails here was not done, and callers answer from what they have.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("unsupported store URL (use sqlite://PATH or postgres://...): {0}")]
    Url(String),
    #[error("store: {0}")]
    Database(#[from] sqlx::Error),
    #[error("a notification of {0} bytes is larger than PostgreSQL allows")]
    TooLarge(usize),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Milliseconds since the UNIX epoch: the store's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A handle on the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Watch Together signals of this process (see `signals.rs`).
    signals: broadcast::Sender<WatchSignal>,
    /// PostgreSQL: the pool of the one LISTEN connection, started on first use.
    listen_pool: Option<PgPool>,
    listener: Arc<OnceCell<()>>,
    /// `record_event`'s group commit (see `intake.rs`).
    intake: Arc<intake::Intake>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a store URL names: `sqlite:...`, or `postgres://` (`postgresql://`).
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

impl fmt::Debug for Store {
    // The URL may carry a password: it is never kept, so it cannot be printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (and for SQLite creates) the store at `url` and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Self> {
        install_default_drivers();
        let (backend, url, connections, file) = match Backend::of_url(url) {
            Some(Backend::Sqlite) => {
                // One writer at a time is SQLite's nature; an in-memory database must share
                // one connection to be one database.
                let memory = url.contains(":memory:");
                let url = if memory || url.contains("mode=") {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                (Backend::Sqlite, url, if memory { 1 } else { 4 }, !memory)
            }
            Some(Backend::Postgres) => (Backend::Postgres, url.to_string(), 10, false),
            None => {
                let scheme = url.split(':').next().unwrap_or_default();
                return Err(StoreError::Url(format!("{scheme}:...")));
            }
        };
        let pool = AnyPoolOptions::new()
            .max_connections(connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(&url)
            .await?;
        if file {
            // Write-ahead logging: readers (the delivery loop) and the writer do not block each
            // other, and a commit is one fsync of the log. `synchronous` stays FULL, so a
            // commit is on disk when it returns. The setting is kept in the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        let listen_pool = match backend {
            Backend::Postgres => Some(PgPoolOptions::new().max_connections(1).connect_lazy(&url)?),
            Backend::Sqlite => None,
        };
        let store = Self {
            pool,
            backend,
            signals: broadcast::channel(4096).0,
            listen_pool,
            listener: Arc::default(),
            intake: Arc::default(),
        };
        schema::migrate(&store).await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers (readiness checks).
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection (tests drop their PostgreSQL database afterwards).
    pub async fn pool_close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

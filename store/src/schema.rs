//! The schema, versioned: each step runs once, in order, inside a transaction.

use crate::{Backend, Result, Store};

/// Append-only: never edit a step that has shipped.
const STEPS: &[&str] = &[
    // 1: overrides, meetings, command registrations
    "CREATE TABLE guild_overrides (
        guild_id TEXT NOT NULL,
        setting TEXT NOT NULL,
        value TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at BIGINT NOT NULL,
        PRIMARY KEY (guild_id, setting)
    );
    CREATE TABLE meetings (
        guild_id TEXT NOT NULL,
        meeting_id TEXT NOT NULL,
        resource_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        created_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        ended_by TEXT,
        ended_at BIGINT,
        PRIMARY KEY (guild_id, meeting_id)
    );
    CREATE TABLE command_registrations (
        application_id TEXT NOT NULL,
        guild_id TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        registered_at BIGINT NOT NULL,
        PRIMARY KEY (application_id, guild_id)
    )",
    // 2: the video queued for a voice channel's Watch Together Activity
    "CREATE TABLE watch_queue (
        channel_id TEXT PRIMARY KEY,
        guild_id TEXT NOT NULL,
        entry_id TEXT NOT NULL,
        queued_by TEXT NOT NULL,
        queued_at BIGINT NOT NULL
    )",
    // 3: a queue of several videos per channel (kept from step 2), and Watch Together rooms
    // shared by several Activity replicas
    "CREATE TABLE watch_queue_items (
        item_id TEXT PRIMARY KEY,
        channel_id TEXT NOT NULL,
        guild_id TEXT NOT NULL,
        entry_id TEXT NOT NULL,
        title TEXT,
        added_by TEXT NOT NULL,
        added_at BIGINT NOT NULL,
        position BIGINT NOT NULL
    );
    CREATE INDEX watch_queue_items_channel ON watch_queue_items (channel_id, position);
    INSERT INTO watch_queue_items (item_id, channel_id, guild_id, entry_id, title, added_by, added_at, position)
        SELECT 'q' || channel_id, channel_id, guild_id, entry_id, NULL, queued_by, queued_at * 1000, 1 FROM watch_queue;
    DROP TABLE watch_queue;
    CREATE TABLE watch_rooms (
        instance_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        seq BIGINT NOT NULL,
        updated_at BIGINT NOT NULL
    )",
    // 4: the notification outbox (see outbox.rs and docs/notifications.md)
    "CREATE TABLE notification_events (
        notification_id TEXT PRIMARY KEY,
        partner_id BIGINT NOT NULL,
        kind TEXT NOT NULL,
        payload TEXT NOT NULL,
        received_at BIGINT NOT NULL
    );
    CREATE TABLE notification_channels (
        channel_id TEXT PRIMARY KEY,
        next_seq BIGINT NOT NULL,
        lease_owner TEXT,
        lease_until BIGINT
    );
    CREATE TABLE notification_messages (
        message_id TEXT PRIMARY KEY,
        notification_id TEXT NOT NULL REFERENCES notification_events (notification_id),
        rule TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        nonce TEXT NOT NULL,
        body TEXT NOT NULL,
        state TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        not_before BIGINT NOT NULL,
        discord_message_id TEXT,
        last_error TEXT,
        error_at BIGINT,
        delivered_at BIGINT,
        created_at BIGINT NOT NULL,
        UNIQUE (channel_id, seq)
    );
    CREATE INDEX notification_messages_pending ON notification_messages (channel_id, state, seq);
    CREATE INDEX notification_messages_rule ON notification_messages (rule, state);
    CREATE TABLE notification_attempts (
        message_id TEXT NOT NULL REFERENCES notification_messages (message_id),
        attempt BIGINT NOT NULL,
        owner TEXT NOT NULL,
        at BIGINT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT,
        PRIMARY KEY (message_id, attempt)
    )",
    // 5: where a meeting was started, and its template entry, which its recordings name (their
    // templateEntryId), so a recording is posted where its meeting was started
    "ALTER TABLE meetings ADD COLUMN channel_id TEXT;
    ALTER TABLE meetings ADD COLUMN template_entry_id TEXT;
    CREATE INDEX meetings_template_entry ON meetings (template_entry_id)",
    // 6: which replica answers each interaction (see claims.rs)
    "CREATE TABLE interaction_claims (
        interaction_id TEXT PRIMARY KEY,
        replica TEXT NOT NULL,
        claimed_at BIGINT NOT NULL
    )",
    // 7: which replica connects each gateway shard, and the session it leaves (see shards.rs)
    "CREATE TABLE bot_replicas (
        application_id TEXT NOT NULL,
        replica TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (application_id, replica)
    );
    CREATE TABLE shard_leases (
        application_id TEXT NOT NULL,
        shards BIGINT NOT NULL,
        shard BIGINT NOT NULL,
        holder TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        session_id TEXT,
        sequence BIGINT,
        resume_url TEXT,
        PRIMARY KEY (application_id, shards, shard)
    );
    CREATE TABLE identify_slots (
        application_id TEXT NOT NULL,
        bucket BIGINT NOT NULL,
        next_at BIGINT NOT NULL,
        PRIMARY KEY (application_id, bucket)
    )",
    // 8: each guild's roles as the gateway last showed them (see roles.rs)
    "CREATE TABLE guild_roles (
        guild_id TEXT PRIMARY KEY,
        roles TEXT NOT NULL,
        updated_at BIGINT NOT NULL
    )",
];

/// The key of the advisory lock PostgreSQL migrations hold (any constant of our own).
const MIGRATION_LOCK: i64 = 0x6b64_5f73_6368_656d;

pub(crate) async fn migrate(store: &Store) -> Result<()> {
    let mut tx = store.pool().begin().await?;
    if store.backend() == Backend::Postgres {
        // Replicas starting together on a new database would otherwise race in the DDL
        // (`CREATE TABLE IF NOT EXISTS` is not safe against a concurrent create): one
        // migrates, the others wait and then find nothing to do. SQLite's write lock already
        // serializes them.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    let current: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
        .fetch_one(&mut *tx)
        .await?;
    let current = current.unwrap_or(0) as usize;
    for (index, step) in STEPS.iter().enumerate().skip(current) {
        for statement in step.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
            .bind(index as i64 + 1)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

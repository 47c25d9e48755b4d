//! The same behaviour on both backends: SQLite in a temporary file and a real PostgreSQL server
//! (a fresh database per test; `KD_TEST_POSTGRES` overrides the server URL).

use kd_store::{
    Backend, GLOBAL_COMMANDS, Meeting, MeetingState, MessageState, NewEvent, NewMessage,
    NewQueueItem, Outcome, RoomRow, RoomWrite, Store, WatchSignal,
};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

/// A database of its own on the PostgreSQL server, dropped when the guard goes.
struct PgDatabase {
    server: String,
    name: String,
}

impl PgDatabase {
    async fn create(tag: &str) -> Self {
        let server = std::env::var("KD_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_POSTGRES.into());
        let name = format!("kd_store_{tag}_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
            .await
            .unwrap_or_else(|e| {
                panic!("PostgreSQL at {server} is not reachable ({e}): run .ci/setup")
            });
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        Self { server, name }
    }

    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }

    async fn drop_now(self) {
        let mut admin = sqlx::PgConnection::connect(&format!("{}/postgres", self.server))
            .await
            .unwrap();
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut admin)
        .await
        .unwrap();
    }
}

fn meeting(guild: &str, id: &str, at: i64) -> Meeting {
    Meeting {
        guild_id: guild.into(),
        meeting_id: id.into(),
        resource_id: format!("r{id}"),
        kind: "meeting".into(),
        title: format!("Lecture {id}"),
        created_by: "111".into(),
        created_at: at,
        state: MeetingState::Active,
        channel_id: Some(format!("c{id}")),
        template_entry_id: Some(format!("0_t{id}")),
    }
}

async fn overrides_suite(store: &Store) {
    assert!(store.overrides("g1").await.unwrap().is_empty());
    store
        .set_override("g1", "channels.meetings", "lectures", "u1")
        .await
        .unwrap();
    store
        .set_override("g1", "features.meetings", "false", "u1")
        .await
        .unwrap();
    store
        .set_override("g1", "channels.meetings", "talks", "u2")
        .await
        .unwrap();
    store
        .set_override("g2", "channels.meetings", "other", "u3")
        .await
        .unwrap();
    let o = store.overrides("g1").await.unwrap();
    assert_eq!(o.len(), 2);
    assert_eq!(
        o["channels.meetings"], "talks",
        "a second set replaces the first"
    );
    assert!(
        store
            .reset_override("g1", "channels.meetings")
            .await
            .unwrap()
    );
    assert!(
        !store
            .reset_override("g1", "channels.meetings")
            .await
            .unwrap(),
        "nothing left to reset"
    );
    assert_eq!(
        store
            .overrides("g1")
            .await
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["features.meetings"]
    );
    assert_eq!(
        store.overrides("g2").await.unwrap()["channels.meetings"],
        "other",
        "guilds are separate"
    );
}

async fn meetings_suite(store: &Store) {
    store.add_meeting(&meeting("g1", "1", 100)).await.unwrap();
    store.add_meeting(&meeting("g1", "2", 200)).await.unwrap();
    store.add_meeting(&meeting("g2", "3", 300)).await.unwrap();
    assert!(
        store.add_meeting(&meeting("g1", "1", 400)).await.is_err(),
        "a meeting id is recorded once"
    );
    let active: Vec<String> = store
        .active_meetings("g1")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.meeting_id)
        .collect();
    assert_eq!(active, ["2", "1"], "newest first");
    assert!(store.end_meeting("g1", "2", "222").await.unwrap());
    assert!(
        !store.end_meeting("g1", "2", "333").await.unwrap(),
        "ending twice is refused"
    );
    assert!(
        !store.end_meeting("g2", "1", "333").await.unwrap(),
        "another guild's meeting is not found"
    );
    let ended = store.meeting("g1", "2").await.unwrap().unwrap();
    assert!(
        matches!(ended.state, MeetingState::Ended { ref by, .. } if by == "222"),
        "{ended:?}"
    );
    assert_eq!(store.active_meetings("g1").await.unwrap().len(), 1);
    assert_eq!(store.meeting("g1", "9").await.unwrap(), None);
    // A recording finds its meeting by the template entry it was made from, ended or not.
    let recorded = store.meeting_by_template("0_t2").await.unwrap().unwrap();
    assert_eq!(
        (recorded.guild_id.as_str(), recorded.channel_id.as_deref()),
        ("g1", Some("c2"))
    );
    assert_eq!(store.meeting_by_template("0_t9").await.unwrap(), None);
    let api = Meeting {
        channel_id: None,
        template_entry_id: None,
        ..meeting("g2", "4", 500)
    };
    store.add_meeting(&api).await.unwrap();
    assert_eq!(store.meeting("g2", "4").await.unwrap(), Some(api));
}

async fn watch_suite(store: &Store) {
    let mut signals = store.watch_signals().await.unwrap();
    assert_eq!(store.queued_watch("c1").await.unwrap(), None);
    store.queue_watch("g1", "c1", "1_a", "u1").await.unwrap();
    store.queue_watch("g1", "c1", "1_b", "u2").await.unwrap();
    let queued = store.queued_watch("c1").await.unwrap().unwrap();
    assert_eq!(
        (queued.entry_id.as_str(), queued.queued_by.as_str()),
        ("1_b", "u2"),
        "the latest queued is what /kaltura-watch just asked for"
    );
    let c = store
        .watch_queue_add(NewQueueItem {
            guild_id: "g1",
            channel_id: "c1",
            entry_id: "1_c",
            title: Some("Third"),
            added_by: "u3",
        })
        .await
        .unwrap();
    store.queue_watch("g1", "c2", "1_z", "u1").await.unwrap();
    let entries =
        |items: Vec<kd_store::QueueItem>| items.into_iter().map(|i| i.entry_id).collect::<Vec<_>>();
    assert_eq!(
        entries(store.watch_queue("c1", 50).await.unwrap()),
        ["1_a", "1_b", "1_c"]
    );
    assert!(store.watch_queue_move("c1", &c.item_id, 0).await.unwrap());
    assert!(!store.watch_queue_move("c1", "nope", 0).await.unwrap());
    assert!(
        !store.watch_queue_move("c2", &c.item_id, 0).await.unwrap(),
        "another channel's item"
    );
    assert_eq!(
        entries(store.watch_queue("c1", 50).await.unwrap()),
        ["1_c", "1_a", "1_b"]
    );
    let taken = store
        .watch_queue_take("c1", &c.item_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.title.as_deref(), Some("Third"));
    assert_eq!(
        store.watch_queue_take("c1", &c.item_id).await.unwrap(),
        None,
        "taken once"
    );
    assert_eq!(store.watch_queue_len("c1").await.unwrap(), 2);
    assert_eq!(entries(store.watch_queue("c1", 1).await.unwrap()), ["1_a"]);

    // Every change was signalled, with its channel.
    let mut queue_signals = Vec::new();
    while let Ok(Ok(signal)) =
        tokio::time::timeout(std::time::Duration::from_millis(500), signals.recv()).await
    {
        if let WatchSignal::Queue(channel) = signal {
            queue_signals.push(channel);
        }
    }
    assert_eq!(queue_signals, ["c1", "c1", "c1", "c2", "c1", "c1"]);
}

async fn rooms_suite(store: &Store) {
    let mut signals = store.watch_signals().await.unwrap();
    let seen = store
        .update_room("i-1", |row| {
            let write = RoomWrite {
                state: "one".into(),
                seq: 1,
                event: "created".into(),
            };
            (Some(write), row)
        })
        .await
        .unwrap();
    assert_eq!(seen, None, "a new room");
    // A writer that decides nothing changes nothing and announces nothing.
    let seen = store.update_room("i-1", |row| (None, row)).await.unwrap();
    assert_eq!(
        seen,
        Some(RoomRow {
            state: "one".into(),
            seq: 1
        })
    );
    // Concurrent writers are serialised: each sees the other's write. (Only PostgreSQL serves
    // several writers; one process on SQLite keeps rooms in memory.)
    let writers = if store.backend() == Backend::Postgres {
        8
    } else {
        1
    };
    let bump = |store: Store| async move {
        store
            .update_room("i-1", |row| {
                let row = row.unwrap();
                let write = RoomWrite {
                    state: format!("{}+", row.state),
                    seq: row.seq + 1,
                    event: format!("to {}", row.seq + 1),
                };
                (Some(write), ())
            })
            .await
            .unwrap()
    };
    let tasks: Vec<_> = (0..writers)
        .map(|_| tokio::spawn(bump(store.clone())))
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let row = store.room("i-1").await.unwrap().unwrap();
    let last = 1 + writers as i64;
    assert_eq!(row.state, format!("one{}", "+".repeat(writers)));
    assert_eq!(row.seq, last);
    let mut seqs = Vec::new();
    while let Ok(Ok(signal)) =
        tokio::time::timeout(std::time::Duration::from_millis(500), signals.recv()).await
    {
        if let WatchSignal::Room {
            instance_id,
            seq,
            event,
        } = signal
        {
            assert_eq!(instance_id, "i-1");
            assert!(event.is_some());
            seqs.push(seq);
        }
    }
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>(), "in commit order");
    assert!(!store.delete_room("i-1", 1).await.unwrap(), "changed since");
    assert!(store.delete_room("i-1", last).await.unwrap());
    assert_eq!(store.room("i-1").await.unwrap(), None);
}

async fn registrations_suite(store: &Store) {
    assert_eq!(
        store.registered_fingerprint("app", "g1").await.unwrap(),
        None
    );
    store.record_registration("app", "g1", "abc").await.unwrap();
    store.record_registration("app", "g1", "def").await.unwrap();
    assert_eq!(
        store
            .registered_fingerprint("app", "g1")
            .await
            .unwrap()
            .as_deref(),
        Some("def")
    );
    assert_eq!(
        store.registered_fingerprint("other", "g1").await.unwrap(),
        None
    );
    store.record_registration("app", "g2", "ghi").await.unwrap();
    store.record_registration("other", "g3", "x").await.unwrap();
    let all = store.registered_fingerprints("app").await.unwrap();
    assert_eq!(
        all,
        [("g1", "def"), ("g2", "ghi")]
            .map(|(g, f)| (g.to_string(), f.to_string()))
            .into()
    );
    // The global set is a record of its own, beside the guilds'.
    store
        .record_registration("app", GLOBAL_COMMANDS, "all")
        .await
        .unwrap();
    let fingerprint = |guild| async move {
        store
            .registered_fingerprint("app", guild)
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(fingerprint(GLOBAL_COMMANDS).await, "all");
    assert_eq!(fingerprint("g1").await, "def");
}

fn event(id: &str) -> NewEvent<'_> {
    NewEvent {
        notification_id: id,
        partner_id: 101,
        kind: "entryReady",
        payload: "{}",
        received_at: 1,
    }
}

fn to(rule: &'static str, channel_id: &'static str) -> NewMessage<'static> {
    NewMessage {
        rule,
        channel_id,
        body: r#"{"content":"ready"}"#,
    }
}

async fn outbox_suite(store: &Store) {
    // A notification Kaltura delivers twice is stored once, with its messages once.
    let routes = [to("lectures", "c1"), to("all", "c2")];
    assert!(store.record_event(&event("n1"), &routes).await.unwrap());
    assert!(!store.record_event(&event("n1"), &routes).await.unwrap());
    assert!(
        store
            .record_event(&event("n2"), &[to("lectures", "c1")])
            .await
            .unwrap()
    );
    let c1 = store.channel_outbox("c1").await.unwrap();
    assert_eq!(c1.iter().map(|m| m.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(c1[0].nonce, kd_store::nonce_for(&c1[0].message_id));
    assert_eq!(c1[0].nonce.len(), 25);
    assert_eq!(store.channel_outbox("c2").await.unwrap().len(), 1);
    assert_eq!(store.due_channels(10).await.unwrap(), ["c1", "c2"]);

    // One owner at a time; the lease expires or is released.
    let batch = store
        .claim_channel("c1", "a", 10, 1000, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(
        store.claim_channel("c1", "b", 20, 1000, 10).await.unwrap(),
        None
    );
    assert_eq!(store.due_channels(20).await.unwrap(), ["c2"]);
    assert!(
        store
            .claim_channel("c1", "b", 1011, 1000, 10)
            .await
            .unwrap()
            .is_some()
    );
    store.release_channel("c1", "a").await.unwrap(); // not a's any more: stays b's
    assert_eq!(
        store
            .claim_channel("c1", "a", 1020, 1000, 10)
            .await
            .unwrap(),
        None
    );
    store.release_channel("c1", "b").await.unwrap();

    // A retry holds the channel back until it is due; then delivery continues in order.
    let (first, second) = (&batch[0].message_id, &batch[1].message_id);
    let retry = Outcome::Retry {
        error: "429 rate limited".into(),
        retry_at: 2000,
    };
    assert!(
        store
            .record_attempt(first, "a", 1030, &retry)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_channel("c1", "a", 1040, 1000, 10)
            .await
            .unwrap()
            .unwrap()
            .is_empty()
    );
    let due = store
        .claim_channel("c1", "a", 2000, 1000, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(due.len(), 2);
    let done = Outcome::Delivered {
        discord_message_id: "900".into(),
    };
    assert!(store.record_attempt(first, "a", 2001, &done).await.unwrap());
    assert!(
        !store.record_attempt(first, "a", 2002, &done).await.unwrap(),
        "settled already"
    );
    let gone = Outcome::Failed {
        reason: "Unknown Channel (10003)".into(),
    };
    assert!(
        store
            .record_attempt(second, "a", 2003, &gone)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_channel("c1", "a", 2004, 1000, 10)
            .await
            .unwrap()
            .unwrap()
            .is_empty()
    );
    assert!(!store.record_attempt("nope", "a", 1, &done).await.unwrap());

    let settled = store.outbox_message(first).await.unwrap().unwrap();
    assert_eq!(settled.state, MessageState::Delivered);
    assert_eq!(settled.discord_message_id.as_deref(), Some("900"));
    assert_eq!(settled.attempts, 3);
    let history = store.attempts(first).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|a| a.outcome.as_str())
            .collect::<Vec<_>>(),
        ["retry", "delivered", "delivered"]
    );
    assert_eq!(history[0].detail.as_deref(), Some("429 rate limited"));
    assert_eq!(
        store.outbox_message(second).await.unwrap().unwrap().state,
        MessageState::Failed
    );

    let counts = store.rule_counts().await.unwrap();
    assert_eq!(counts.len(), 2);
    let (all, lectures) = (&counts[0], &counts[1]);
    assert_eq!(
        (all.rule.as_str(), all.delivered, all.failed, all.pending),
        ("all", 0, 0, 1)
    );
    assert_eq!(all.last_error, None);
    assert_eq!(
        (lectures.delivered, lectures.failed, lectures.pending),
        (1, 1, 0)
    );
    assert_eq!(lectures.last_delivery, Some(2001));
    assert_eq!(
        lectures.last_error.as_deref(),
        Some("Unknown Channel (10003)")
    );
}

/// Two owners deliver one channel's burst at once: each message is sent once, in order.
async fn racing_owners(a: &Store, b: &Store) {
    let ids: Vec<String> = (0..40).map(|i| format!("burst-{i}")).collect();
    for id in &ids {
        assert!(
            a.record_event(&event(id), &[to("burst", "race")])
                .await
                .unwrap()
        );
    }
    let sent: Arc<Mutex<Vec<(i64, &'static str)>>> = Arc::default();
    let deliver = |store: Store,
                   owner: &'static str,
                   sent: Arc<Mutex<Vec<(i64, &'static str)>>>| async move {
        loop {
            let now = kd_store::now_ms();
            let Some(batch) = store
                .claim_channel("race", owner, now, 60_000, 3)
                .await
                .unwrap()
            else {
                tokio::task::yield_now().await;
                continue;
            };
            if batch.is_empty() {
                store.release_channel("race", owner).await.unwrap();
                return;
            }
            for message in batch {
                sent.lock().unwrap().push((message.seq, owner));
                let done = Outcome::Delivered {
                    discord_message_id: message.seq.to_string(),
                };
                assert!(
                    store
                        .record_attempt(&message.message_id, owner, now, &done)
                        .await
                        .unwrap()
                );
            }
            store.release_channel("race", owner).await.unwrap();
            tokio::task::yield_now().await;
        }
    };
    let (x, y) = tokio::join!(
        tokio::spawn(deliver(a.clone(), "a", sent.clone())),
        tokio::spawn(deliver(b.clone(), "b", sent.clone()))
    );
    x.unwrap();
    y.unwrap();
    let sent = sent.lock().unwrap().clone();
    assert_eq!(
        sent.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        (1..=40).collect::<Vec<_>>()
    );
    let outbox = a.channel_outbox("race").await.unwrap();
    assert!(
        outbox
            .iter()
            .all(|m| m.state == MessageState::Delivered && m.attempts == 1)
    );
}

/// Two replicas receive every interaction of a shard during a hand-over: each is claimed by
/// exactly one of them, however they race; claims older than the cut are pruned, newer kept.
async fn claims_suite(a: &Store, b: &Store) {
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..30 {
        for (store, replica) in [(a, "a"), (b, "b")] {
            let store = store.clone();
            calls.spawn(async move {
                let id = format!("i{n}");
                let won = store.claim_interaction(&id, replica).await.unwrap();
                (id, won)
            });
        }
    }
    let answers = calls.join_all().await;
    for n in 0..30 {
        let id = format!("i{n}");
        let won = answers.iter().filter(|(i, won)| *i == id && *won).count();
        assert_eq!(won, 1, "{id}: {answers:?}");
    }
    assert!(
        !a.claim_interaction("i0", "a").await.unwrap(),
        "a claim is not made twice, not even by its own replica"
    );
    assert!(b.claim_interaction("old", "b").await.unwrap());
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let cut = kd_store::now_ms();
    assert!(b.claim_interaction("new", "b").await.unwrap());
    // The 30 racing claims and `old` were made before the cut.
    assert_eq!(a.prune_interaction_claims(cut).await.unwrap(), 31);
    assert!(a.claim_interaction("old", "a").await.unwrap(), "pruned");
    assert!(!a.claim_interaction("new", "a").await.unwrap(), "kept");
}

/// Two replicas share an application's shards: a shard is taken by one of them however they
/// race; a lease runs out unless renewed and can then be taken over, with the session its
/// holder saved; a release leaves the session for the next holder; identify slots of one
/// bucket are spaced by the interval, across replicas.
async fn shards_suite(a: &Store, b: &Store) {
    const TTL: i64 = 60_000;
    let app = "app";
    a.replica_heartbeat(app, "a", TTL).await.unwrap();
    assert_eq!(b.live_replicas(app).await.unwrap(), ["a"]);
    b.replica_heartbeat(app, "b", TTL).await.unwrap();
    b.replica_heartbeat(app, "c", -1).await.unwrap();
    assert_eq!(
        a.live_replicas(app).await.unwrap(),
        ["a", "b"],
        "c's ran out"
    );
    let mut calls = tokio::task::JoinSet::new();
    for shard in 0..12 {
        for (store, replica) in [(a, "a"), (b, "b")] {
            let store = store.clone();
            calls.spawn(async move {
                let taken = store
                    .take_shard(app, 12, shard, replica, TTL)
                    .await
                    .unwrap();
                (shard, replica, taken)
            });
        }
    }
    let takes = calls.join_all().await;
    for shard in 0..12 {
        let winners: Vec<_> = takes
            .iter()
            .filter(|(s, _, taken)| *s == shard && taken.is_some())
            .collect();
        assert_eq!(winners.len(), 1, "shard {shard}: {takes:?}");
        assert_eq!(winners[0].2, Some(None), "a new lease has no session");
    }
    let holders = a.shard_holders(app, 12).await.unwrap();
    assert_eq!(holders.len(), 12);
    assert!(holders.iter().all(|h| h.live));
    let of = |replica: &str| -> Vec<u32> {
        holders
            .iter()
            .filter(|h| h.holder == replica)
            .map(|h| h.shard)
            .collect()
    };
    // Whichever won shard 0 plays `a` below (on SQLite one may win every race).
    let (a, b, na, nb) = if of("a").contains(&0) {
        (a, b, "a", "b")
    } else {
        (b, a, "b", "a")
    };
    let (held_a, held_b) = (of(na), of(nb));
    assert_eq!(a.renew_shards(app, 12, na, TTL).await.unwrap(), held_a);
    // Held by a: b cannot take it, a can again (a restart under the same name).
    let shard = held_a[0];
    assert_eq!(b.take_shard(app, 12, shard, nb, TTL).await.unwrap(), None);
    let session = kd_store::SavedSession {
        session_id: "s1".into(),
        sequence: 41,
        resume_url: Some("wss://gateway.example/resume".into()),
    };
    assert!(a.save_session(app, 12, shard, na, &session).await.unwrap());
    assert!(
        !b.save_session(app, 12, shard, nb, &session).await.unwrap(),
        "only the holder writes its session"
    );
    assert_eq!(
        a.take_shard(app, 12, shard, na, TTL).await.unwrap(),
        Some(Some(session.clone()))
    );
    // A lease left to run out is taken over, session and all.
    a.renew_shards(app, 12, na, -1).await.unwrap();
    assert!(
        a.shard_holders(app, 12)
            .await
            .unwrap()
            .iter()
            .all(|h| h.holder != na || !h.live)
    );
    assert_eq!(
        b.take_shard(app, 12, shard, nb, TTL).await.unwrap(),
        Some(Some(session.clone()))
    );
    assert!(
        !a.renew_shards(app, 12, na, TTL)
            .await
            .unwrap()
            .contains(&shard),
        "a lease taken over is no longer renewed by its old holder"
    );
    // A release leaves the newer session for the next holder.
    let later = kd_store::SavedSession {
        sequence: 57,
        ..session
    };
    b.release_shard(app, 12, shard, nb, Some(&later))
        .await
        .unwrap();
    assert!(
        !b.renew_shards(app, 12, nb, TTL)
            .await
            .unwrap()
            .contains(&shard),
        "a lease let go is not renewed back"
    );
    assert_eq!(
        a.take_shard(app, 12, shard, na, TTL).await.unwrap(),
        Some(Some(later))
    );
    // Another layout (a new shard count) is leased afresh.
    assert_eq!(
        b.take_shard(app, 16, shard, nb, TTL).await.unwrap(),
        Some(None)
    );
    assert_eq!(b.renew_shards(app, 12, nb, TTL).await.unwrap(), held_b);
    b.replica_leave(app, nb).await.unwrap();
    assert_eq!(a.live_replicas(app).await.unwrap(), [na]);
    // Identify slots: one bucket's are 5 s apart whichever replica reserves them; another
    // bucket's are its own.
    let first = a.reserve_identify(app, 0, 5_000).await.unwrap();
    let second = b.reserve_identify(app, 0, 5_000).await.unwrap();
    let other = b.reserve_identify(app, 1, 5_000).await.unwrap();
    assert!(first <= kd_store::now_ms());
    assert_eq!(second - first, 5_000);
    assert!(other <= kd_store::now_ms(), "bucket 1 waits for nobody");
}

/// A guild's roles as one replica wrote them are what another reads; forgetting removes them.
async fn roles_suite(a: &Store, b: &Store) {
    let roles = |name: &str| Some(format!(r#"[{{"id":"1","name":"{name}"}}]"#));
    assert_eq!(b.guild_roles("g1").await.unwrap(), None);
    a.save_guild_roles(&BTreeMap::from([("g1".into(), roles("Teacher"))]))
        .await
        .unwrap();
    a.save_guild_roles(&BTreeMap::from([("g1".into(), roles("Lecturer"))]))
        .await
        .unwrap();
    assert_eq!(b.guild_roles("g1").await.unwrap(), roles("Lecturer"));
    b.save_guild_roles(&BTreeMap::from([("g1".into(), None)]))
        .await
        .unwrap();
    assert_eq!(a.guild_roles("g1").await.unwrap(), None);
    // A start's worth at once, past one statement's rows: written and forgotten together.
    let many: BTreeMap<String, Option<String>> = (0..1_200)
        .map(|n| (format!("g{n}"), roles(&format!("Role {n}"))))
        .collect();
    a.save_guild_roles(&many).await.unwrap();
    assert_eq!(b.guild_roles("g1199").await.unwrap(), roles("Role 1199"));
    let mut changes: BTreeMap<String, Option<String>> =
        (0..600).map(|n| (format!("g{n}"), None)).collect();
    changes.insert("g700".into(), roles("Renamed"));
    b.save_guild_roles(&changes).await.unwrap();
    assert_eq!(a.guild_roles("g599").await.unwrap(), None);
    assert_eq!(a.guild_roles("g600").await.unwrap(), roles("Role 600"));
    assert_eq!(a.guild_roles("g700").await.unwrap(), roles("Renamed"));
}

/// Concurrent intake on one store (written together, by group commit): each notification once,
/// however many times and however concurrently it comes; every channel numbered 1, 2, ... in
/// the order of commit, without gaps. Returns each call's answer by notification id.
async fn concurrent_intake(
    store: &Store,
    tag: &str,
    payload_of: fn(usize) -> String,
) -> Vec<(String, kd_store::Result<bool>)> {
    let channels: Vec<String> = (1..=3).map(|c| format!("{tag}-q{c}")).collect();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..60 {
        let store = store.clone();
        // Every id twice (a retry arriving while the first is being written).
        let id = format!("{tag}-{}", i / 2);
        let channel = channels[i / 2 % 3].clone();
        let payload = payload_of(i / 2);
        calls.spawn(async move {
            let event = NewEvent {
                notification_id: &id,
                partner_id: 101,
                kind: "entryReady",
                payload: &payload,
                received_at: 1,
            };
            let routes = [NewMessage {
                rule: "burst",
                channel_id: &channel,
                body: "{}",
            }];
            let answer = store.record_event(&event, &routes).await;
            (id, answer)
        });
    }
    let answers = calls.join_all().await;
    for channel in &channels {
        let outbox = store.channel_outbox(channel).await.unwrap();
        assert_eq!(
            outbox.iter().map(|m| m.seq).collect::<Vec<_>>(),
            (1..=outbox.len() as i64).collect::<Vec<_>>(),
            "{channel}"
        );
    }
    answers
}

/// Each of the 30 ids was new exactly once, but `refused`, whose every call failed.
fn once_each(answers: &[(String, kd_store::Result<bool>)], tag: &str, refused: Option<usize>) {
    for n in 0..30 {
        let id = format!("{tag}-{n}");
        let calls: Vec<_> = answers
            .iter()
            .filter(|(i, _)| *i == id)
            .map(|(_, a)| a)
            .collect();
        if refused == Some(n) {
            assert!(calls.iter().all(|a| a.is_err()), "{id}: {calls:?}");
        } else {
            let new = calls.iter().filter(|a| matches!(a, Ok(true))).count();
            assert_eq!(
                (new, calls.iter().all(|a| a.is_ok())),
                (1, true),
                "{id}: {calls:?}"
            );
        }
    }
}

#[tokio::test]
async fn sqlite_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::open(&url).await.unwrap();
    outbox_suite(&store).await;
    let other = Store::open(&url).await.unwrap();
    racing_owners(&store, &other).await;
    once_each(
        &concurrent_intake(&store, "many", |_| "{}".into()).await,
        "many",
        None,
    );
}

#[tokio::test]
async fn postgres_outbox() {
    let db = PgDatabase::create("outbox").await;
    let a = Store::open(&db.url()).await.unwrap();
    outbox_suite(&a).await;
    let b = Store::open(&db.url()).await.unwrap();
    racing_owners(&a, &b).await;
    // Two replicas receiving the same notification at once store it once.
    let (dup, routes) = (event("dup"), [to("burst", "dup")]);
    let (x, y) = tokio::join!(a.record_event(&dup, &routes), b.record_event(&dup, &routes));
    assert!(x.unwrap() ^ y.unwrap());
    assert_eq!(a.channel_outbox("dup").await.unwrap().len(), 1);
    once_each(
        &concurrent_intake(&b, "many", |_| "{}".into()).await,
        "many",
        None,
    );
    // A notification PostgreSQL refuses (text cannot hold NUL) fails alone, not the batch it
    // was written with.
    let nul = |n| if n == 7 { "\0".into() } else { "{}".into() };
    once_each(&concurrent_intake(&a, "nul", nul).await, "nul", Some(7));
    a.pool_close().await;
    b.pool_close().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_interaction_claims() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let (a, b) = (
        Store::open(&url).await.unwrap(),
        Store::open(&url).await.unwrap(),
    );
    claims_suite(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_interaction_claims() {
    let db = PgDatabase::create("claims").await;
    let a = Store::open(&db.url()).await.unwrap();
    let b = Store::open(&db.url()).await.unwrap();
    claims_suite(&a, &b).await;
    a.pool_close().await;
    b.pool_close().await;
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_shard_leases() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let (a, b) = (
        Store::open(&url).await.unwrap(),
        Store::open(&url).await.unwrap(),
    );
    shards_suite(&a, &b).await;
    roles_suite(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_shard_leases() {
    let db = PgDatabase::create("shards").await;
    let a = Store::open(&db.url()).await.unwrap();
    let b = Store::open(&db.url()).await.unwrap();
    shards_suite(&a, &b).await;
    roles_suite(&a, &b).await;
    a.pool_close().await;
    b.pool_close().await;
    db.drop_now().await;
}

#[tokio::test]
async fn sqlite_backend() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    overrides_suite(&store).await;
    meetings_suite(&store).await;
    registrations_suite(&store).await;
    watch_suite(&store).await;
    rooms_suite(&store).await;
    store.ping().await.unwrap();
    drop(store);
    // What was written survives reopening, and migrations do not run twice.
    let reopened = Store::open(&url).await.unwrap();
    assert_eq!(reopened.overrides("g1").await.unwrap().len(), 1);
    assert_eq!(reopened.active_meetings("g1").await.unwrap().len(), 1);
}

#[tokio::test]
async fn postgres_backend() {
    let db = PgDatabase::create("suite").await;
    let store = Store::open(&db.url()).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    overrides_suite(&store).await;
    meetings_suite(&store).await;
    registrations_suite(&store).await;
    watch_suite(&store).await;
    rooms_suite(&store).await;
    store.ping().await.unwrap();
    drop(store);
    let reopened = Store::open(&db.url()).await.unwrap();
    assert_eq!(reopened.overrides("g1").await.unwrap().len(), 1);
    reopened.pool_close().await;
    assert!(
        reopened.ping().await.is_err(),
        "a closed store is not ready"
    );
    db.drop_now().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_on_a_new_postgres_database_all_open_it() {
    let db = PgDatabase::create("start").await;
    let mut opens = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let url = db.url();
        opens.spawn(async move { Store::open(&url).await });
    }
    for opened in opens.join_all().await {
        let store = opened.expect("every replica opens the store");
        assert!(store.claim_interaction("i", "r").await.is_ok());
        store.pool_close().await;
    }
    db.drop_now().await;
}

#[tokio::test]
async fn two_replicas_on_postgres_agree_on_who_ended_a_meeting() {
    let db = PgDatabase::create("race").await;
    let a = Store::open(&db.url()).await.unwrap();
    let b = Store::open(&db.url()).await.unwrap();
    a.add_meeting(&meeting("g", "m", 1)).await.unwrap();
    let (x, y) = tokio::join!(
        a.end_meeting("g", "m", "alice"),
        b.end_meeting("g", "m", "bob")
    );
    assert!(x.unwrap() ^ y.unwrap(), "exactly one replica ends it");
    a.pool_close().await;
    b.pool_close().await;
    db.drop_now().await;
}

#[tokio::test]
async fn unsupported_urls_are_refused_without_echoing_them() {
    let err = Store::open("mysql://root:hunter2@db/x")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unsupported store URL"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

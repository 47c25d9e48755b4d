//! Where rooms live and how their changes reach every participant.
//!
//! Each room runs [`room::apply`] under a single writer: in one process (SQLite) a mutex of the
//! room; with several replicas (PostgreSQL) the room's row lock, the change announced with
//! NOTIFY and delivered by every replica to its own connections (PROTOCOL.md section 9).
//! Presence (1 Hz reports) stays local to the replica holding the connection; with several
//! replicas each one publishes a digest of its members every heartbeat.

use super::metrics::WatchMetrics;
use super::protocol::{
    Activity, Config, MAX_FRAME_BYTES, MAX_QUEUE, MemberView, QueueItemView, RATE_BURST,
    RATE_PER_SECOND, Report, RoomView, ServerMessage, You, close, quality,
};
use super::room::{self, Command, Effects, Millis, PlayState, Refusal, Room, Timings};
use super::session::SessionClaims;
use crate::AppState;
use axum::extract::ws::Utf8Bytes;
use kd_store::{Backend, QueueItem, RoomWrite, Store, StoreError, WatchSignal};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;

/// What the hub sends a connection's writer.
#[derive(Debug)]
pub enum Outbound {
    Text(Utf8Bytes),
}

/// A local connection as the hub sees it.
struct Conn {
    user_id: String,
    tx: mpsc::Sender<Outbound>,
    /// Set to a close code to end the connection (replaced, too slow).
    kill: watch::Sender<Option<u16>>,
}

impl Conn {
    fn send(&self, text: &Utf8Bytes) {
        if let Err(mpsc::error::TrySendError::Full(_)) =
            self.tx.try_send(Outbound::Text(text.clone()))
        {
            let _ = self.kill.send(Some(close::TOO_SLOW));
        }
    }
}

/// A member's live statistics, from its last report.
#[derive(Clone, Debug)]
struct Presence {
    report: Report,
    /// When the report arrived (remote: when the digest did).
    at: Instant,
    /// What was last told to the room's writer, to write only on change.
    told: Option<(bool, f64)>,
}

#[derive(Default)]
struct Inner {
    /// One process: the room itself. Several replicas: the latest state seen.
    room: Option<Room>,
    /// Several replicas: the last rev delivered to this replica's connections.
    delivered: u64,
    conns: HashMap<String, Conn>,
    presence: HashMap<String, Presence>,
    queue: Vec<QueueItem>,
    timer: Option<(Millis, AbortHandle)>,
    /// When the room was seen empty of members (then forgotten after a while).
    empty_since: Option<Instant>,
    /// Connections on their way in: the room must not be forgotten under them.
    joining: usize,
}

pub struct LocalRoom {
    pub instance_id: String,
    inner: Mutex<Inner>,
}

/// The room change announced to every replica.
#[derive(Serialize, Deserialize)]
struct Event {
    room: Room,
    effects: Effects,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("{0}")]
    Refused(Refusal),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl From<Refusal> for ExecError {
    fn from(r: Refusal) -> Self {
        ExecError::Refused(r)
    }
}

impl ExecError {
    pub fn code(&self) -> &'static str {
        match self {
            ExecError::Refused(r) => r.code(),
            ExecError::Store(_) => "unavailable",
        }
    }
}

/// One replica's presence digest: `room -> user -> report`.
#[derive(Serialize, Deserialize)]
struct Digest {
    replica: String,
    rooms: HashMap<String, HashMap<String, Report>>,
}

pub struct Hub {
    pub replica: String,
    store: Store,
    shared: bool,
    pub timings: Timings,
    rooms: Mutex<HashMap<String, Arc<LocalRoom>>>,
    /// Several replicas: when each other replica's digest last arrived.
    replicas: Mutex<HashMap<String, Instant>>,
    started: Instant,
    next_conn: AtomicU64,
    pub metrics: WatchMetrics,
}

fn text(message: &ServerMessage) -> Utf8Bytes {
    Utf8Bytes::from(message.to_json())
}

fn queue_view(queue: &[QueueItem]) -> Vec<QueueItemView<'_>> {
    queue
        .iter()
        .map(|q| QueueItemView {
            item_id: &q.item_id,
            entry_id: &q.entry_id,
            title: q.title.as_deref(),
            added_by: &q.added_by,
            added_at: q.added_at,
        })
        .collect()
}

impl Inner {
    fn activity(&self, user_id: &str, timings: &Timings) -> Activity {
        match self.presence.get(user_id) {
            Some(p) if p.at.elapsed() < Duration::from_millis(timings.inactive_after_ms) => {
                p.report.activity
            }
            _ => Activity::Inactive,
        }
    }

    fn members_view<'a>(&'a self, room: &'a Room, timings: &Timings) -> Vec<MemberView<'a>> {
        let pending = room.timeline.waiting.as_ref().map(|w| &w.pending);
        room.members
            .iter()
            .map(|m| {
                let report = self.presence.get(&m.seat.user_id).map(|p| &p.report);
                MemberView {
                    user_id: &m.seat.user_id,
                    name: &m.seat.name,
                    avatar: m.seat.avatar.as_deref(),
                    role: &m.seat.role,
                    control: m.seat.control,
                    connected: m.dropped_at.is_none(),
                    joined_at: m.joined_at,
                    report,
                    quality: quality(report),
                    activity: self.activity(&m.seat.user_id, timings),
                    ready: pending.is_some_and(|p| !p.contains(&m.seat.user_id)),
                }
            })
            .collect()
    }

    fn presence_text(&self, timings: &Timings) -> Option<Utf8Bytes> {
        let room = self.room.as_ref()?;
        Some(text(&ServerMessage::Presence {
            now: room::now_ms(),
            host: room.host.as_deref(),
            members: self.members_view(room, timings),
        }))
    }

    fn broadcast(&self, text: &Utf8Bytes) {
        for conn in self.conns.values() {
            conn.send(text);
        }
    }

    fn send_to_user(&self, user_id: &str, text: &Utf8Bytes) {
        for conn in self.conns.values().filter(|c| c.user_id == user_id) {
            conn.send(text);
        }
    }
}

impl Hub {
    pub fn new(store: Store, timings: Timings, metrics: WatchMetrics) -> Self {
        Self {
            replica: format!("r{:08x}", rand::random::<u32>()),
            shared: store.backend() == Backend::Postgres,
            store,
            timings,
            rooms: Mutex::default(),
            replicas: Mutex::default(),
            started: Instant::now(),
            next_conn: AtomicU64::new(1),
            metrics,
        }
    }

    pub fn config(&self) -> Config {
        Config {
            timings: self.timings,
            max_frame_bytes: MAX_FRAME_BYTES,
            rate_per_second: RATE_PER_SECOND,
            rate_burst: RATE_BURST,
            max_members: room::MAX_MEMBERS,
            max_queue: MAX_QUEUE,
        }
    }

    fn local(&self, instance_id: &str) -> Arc<LocalRoom> {
        self.rooms
            .lock()
            .expect("rooms lock")
            .entry(instance_id.to_string())
            .or_insert_with(|| {
                Arc::new(LocalRoom {
                    instance_id: instance_id.to_string(),
                    inner: Mutex::default(),
                })
            })
            .clone()
    }

    fn existing(&self, instance_id: &str) -> Option<Arc<LocalRoom>> {
        self.rooms
            .lock()
            .expect("rooms lock")
            .get(instance_id)
            .cloned()
    }

    /// The room as this replica knows it (with several replicas, as the database has it).
    pub async fn snapshot(&self, instance_id: &str) -> Result<Option<Room>, StoreError> {
        if self.shared {
            let row = self.store.room(instance_id).await?;
            return Ok(row.and_then(|r| serde_json::from_str(&r.state).ok()));
        }
        Ok(self
            .existing(instance_id)
            .and_then(|l| l.inner.lock().expect("room lock").room.clone()))
    }

    /// Whether the entry is the room's current one or queued in it.
    pub async fn room_has_entry(
        &self,
        claims: &SessionClaims,
        entry_id: &str,
    ) -> Result<bool, StoreError> {
        let current = self.snapshot(&claims.instance).await?;
        if current.as_ref().is_some_and(|r| {
            r.timeline.entry_id.as_deref() == Some(entry_id) && r.channel_id == claims.channel
        }) {
            return Ok(true);
        }
        let queue = self.store.watch_queue(&claims.channel, MAX_QUEUE).await?;
        Ok(queue.iter().any(|q| q.entry_id == entry_id))
    }

    /// Runs a command on the room under its single writer, delivers what changed (one
    /// process) and does the follow-ups the change asks for (queue, next entry).
    pub async fn execute(
        &self,
        api: &AppState,
        instance_id: &str,
        command: Command,
    ) -> Result<Effects, ExecError> {
        let effects = self.write(api, instance_id, command).await?;
        if let Some(item) = &effects.took_item
            && let Some(room) = self.snapshot(instance_id).await?
        {
            self.store.watch_queue_take(&room.channel_id, item).await?;
        }
        if effects.created
            && let Some(room) = self.snapshot(instance_id).await?
        {
            self.metrics.session_started(&room.guild_id);
        }
        if effects.ended {
            Box::pin(self.advance(api, instance_id, None, true)).await?;
        }
        Ok(effects)
    }

    async fn write(
        &self,
        api: &AppState,
        instance_id: &str,
        command: Command,
    ) -> Result<Effects, ExecError> {
        let now = room::now_ms();
        let timings = self.timings;
        if !self.shared {
            let local = self.local(instance_id);
            let mut inner = local.inner.lock().expect("room lock");
            let (room, effects) = room::apply(inner.room.clone(), command, now, &timings)?;
            if room.rev != inner.room.as_ref().map_or(0, |r| r.rev) {
                inner.room = Some(room);
                self.deliver(api, &local, &mut inner, &effects);
            }
            return Ok(effects);
        }
        let outcome = self
            .store
            .update_room(instance_id, |row| {
                let current: Option<Room> = row.and_then(|r| serde_json::from_str(&r.state).ok());
                let before = current.as_ref().map_or(0, |r| r.rev);
                match room::apply(current, command, now, &timings) {
                    Ok((room, effects)) if room.rev != before => {
                        let event = serde_json::to_string(&Event {
                            room: room.clone(),
                            effects: effects.clone(),
                        })
                        .expect("events serialise");
                        let write = RoomWrite {
                            state: serde_json::to_string(&room).expect("rooms serialise"),
                            seq: room.rev as i64,
                            event,
                        };
                        (Some(write), Ok((Some(room), effects)))
                    }
                    Ok((_, effects)) => (None, Ok((None, effects))),
                    Err(refusal) => (None, Err(refusal)),
                }
            })
            .await?;
        let (room, effects) = outcome?;
        if let Some(room) = room {
            // Seen before the notification arrives, so a joiner's welcome is up to date.
            let local = self.local(instance_id);
            let mut inner = local.inner.lock().expect("room lock");
            if inner.room.as_ref().is_none_or(|r| r.rev < room.rev) {
                inner.room = Some(room);
            }
        }
        Ok(effects)
    }

    /// Sends a change to this replica's connections of the room and re-arms its timer.
    fn deliver(
        &self,
        api: &AppState,
        local: &Arc<LocalRoom>,
        inner: &mut Inner,
        effects: &Effects,
    ) {
        let Some(room) = inner.room.clone() else {
            return;
        };
        if effects.timeline {
            inner.broadcast(&text(&ServerMessage::Timeline {
                timeline: &room.timeline,
            }));
        }
        if effects.roster
            && let Some(presence) = inner.presence_text(&self.timings)
        {
            inner.broadcast(&presence);
        }
        if let Some((from, name)) = &effects.host_request {
            let message = text(&ServerMessage::HostRequest { from, name });
            let deciders: HashSet<&str> = room
                .members
                .iter()
                .filter(|m| m.seat.control || room.host.as_deref() == Some(&m.seat.user_id))
                .map(|m| m.seat.user_id.as_str())
                .collect();
            for user in deciders {
                inner.send_to_user(user, &message);
            }
        }
        if let Some(conn) = effects.replaced.as_ref().and_then(|c| inner.conns.get(c)) {
            let _ = conn.kill.send(Some(close::REPLACED));
        }
        inner.empty_since = match (room.members.is_empty(), inner.empty_since) {
            (true, None) => Some(Instant::now()),
            (true, since) => since,
            (false, _) => None,
        };
        self.arm_timer(api, local, inner, &room);
    }

    /// Schedules the room's next Tick (every replica with connections in it arms one; ticks
    /// are idempotent, so the first to run wins).
    fn arm_timer(&self, api: &AppState, local: &Arc<LocalRoom>, inner: &mut Inner, room: &Room) {
        let next = room.next_deadline(&self.timings);
        if inner.timer.as_ref().map(|(at, _)| *at) == next {
            return;
        }
        if let Some((_, old)) = inner.timer.take() {
            old.abort();
        }
        let Some(at) = next else {
            return;
        };
        let (api, instance_id) = (api.clone(), local.instance_id.clone());
        let delay = Duration::from_secs_f64(((at - room::now_ms()).max(0.0) + 1.0) / 1000.0);
        let task = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let hub = &api.watch.hub;
            if let Some(local) = hub.existing(&instance_id) {
                local.inner.lock().expect("room lock").timer = None;
            }
            if let Err(err) = hub.execute(&api, &instance_id, Command::Tick).await {
                tracing::warn!(error = %err, "room tick failed");
            }
        });
        inner.timer = Some((at, task.abort_handle()));
    }

    /// Puts the next queue item (or `item_id`) on the timeline; with an empty queue the
    /// timeline is cleared (`skip`) or stays paused at the end (end of entry).
    pub async fn advance(
        &self,
        api: &AppState,
        instance_id: &str,
        item_id: Option<&str>,
        autoplay: bool,
    ) -> Result<(), ExecError> {
        let Some(room) = self.snapshot(instance_id).await? else {
            return Err(Refusal::NotMember.into());
        };
        let next = match item_id {
            Some(id) => Some(id.to_string()),
            None => self
                .store
                .watch_queue(&room.channel_id, 1)
                .await?
                .into_iter()
                .next()
                .map(|q| q.item_id),
        };
        let taken = match &next {
            Some(id) => Some(
                self.store
                    .watch_queue_take(&room.channel_id, id)
                    .await?
                    .ok_or(Refusal::NotFound)?,
            ),
            None if item_id.is_none() && !autoplay => None,
            // The end of the last entry: stay paused there.
            None => return Ok(()),
        };
        let entry = match taken {
            Some(item) => Some(super::entry(api, &room.guild_id, &item.entry_id, item.title).await),
            None => None,
        };
        self.write(api, instance_id, Command::SetEntry { entry, autoplay })
            .await
            .map(drop)
    }

    /// Joins a connection to its room; returns the connection's id.
    pub async fn connect(
        &self,
        api: &AppState,
        claims: &SessionClaims,
        tx: mpsc::Sender<Outbound>,
        kill: watch::Sender<Option<u16>>,
    ) -> Result<String, ExecError> {
        let conn = format!(
            "{}-{}",
            self.replica,
            self.next_conn.fetch_add(1, Ordering::Relaxed)
        );
        let local = self.local(&claims.instance);
        local.inner.lock().expect("room lock").joining += 1;
        let joined = self.join(api, claims, &local, &conn, tx, kill).await;
        local.inner.lock().expect("room lock").joining -= 1;
        joined.map(|()| conn)
    }

    async fn join(
        &self,
        api: &AppState,
        claims: &SessionClaims,
        local: &Arc<LocalRoom>,
        conn: &str,
        tx: mpsc::Sender<Outbound>,
        kill: watch::Sender<Option<u16>>,
    ) -> Result<(), ExecError> {
        let mut queue = self.store.watch_queue(&claims.channel, MAX_QUEUE).await?;
        let initial = match self.snapshot(&claims.instance).await? {
            // A new room starts on what was queued last (what launched the Activity).
            None => match queue.iter().max_by_key(|q| q.added_at) {
                Some(item) => Some((
                    item.item_id.clone(),
                    super::entry(api, &claims.guild, &item.entry_id, item.title.clone()).await,
                )),
                None => None,
            },
            Some(_) => None,
        };
        let effects = self
            .execute(
                api,
                &claims.instance,
                Command::Join {
                    instance_id: claims.instance.clone(),
                    guild_id: claims.guild.clone(),
                    channel_id: claims.channel.clone(),
                    joiner: room::Joiner {
                        user_id: claims.sub.clone(),
                        name: claims.name.clone(),
                        avatar: claims.avatar.clone(),
                        role: claims.role.clone(),
                        control: claims.can_control(),
                        conn: conn.to_string(),
                        replica: self.replica.clone(),
                    },
                    initial,
                },
            )
            .await?;
        if let Some(taken) = &effects.took_item {
            queue.retain(|q| &q.item_id != taken);
        }
        // Registered and welcomed under the room's lock: every later change comes after
        // the welcome, nothing earlier is missing from it.
        let mut inner = local.inner.lock().expect("room lock");
        if inner.conns.is_empty() {
            inner.queue = queue;
        }
        let Some(room) = inner.room.clone() else {
            return Err(Refusal::NotMember.into());
        };
        let welcome = text(&ServerMessage::Welcome {
            v: 1,
            you: You {
                user_id: &claims.sub,
                name: &claims.name,
                role: &claims.role,
                control: claims.can_control(),
            },
            room: RoomView {
                instance_id: &room.instance_id,
                guild_id: &room.guild_id,
                channel_id: &room.channel_id,
                timeline: &room.timeline,
                queue: queue_view(&inner.queue),
                host: room.host.as_deref(),
                members: inner.members_view(&room, &self.timings),
            },
            config: self.config(),
        });
        let _ = tx.try_send(Outbound::Text(welcome));
        inner.conns.insert(
            conn.to_string(),
            Conn {
                user_id: claims.sub.clone(),
                tx,
                kill,
            },
        );
        if self.shared {
            // A fresh replica of this room: arm what the room has due.
            self.arm_timer(api, local, &mut inner, &room);
        }
        self.metrics.participant_joined(&claims.guild);
        drop(inner);
        Ok(())
    }

    /// A connection ended: `graceful` when the client closed it.
    pub async fn disconnect(
        &self,
        api: &AppState,
        claims: &SessionClaims,
        conn: &str,
        graceful: bool,
    ) {
        if let Some(local) = self.existing(&claims.instance) {
            let mut inner = local.inner.lock().expect("room lock");
            inner.conns.remove(conn);
            if !inner.conns.values().any(|c| c.user_id == claims.sub) {
                inner.presence.remove(&claims.sub);
            }
        }
        self.metrics.participant_left(&claims.guild);
        let command = Command::Leave {
            user_id: claims.sub.clone(),
            conn: conn.to_string(),
            graceful,
        };
        if let Err(err) = self.execute(api, &claims.instance, command).await {
            tracing::warn!(error = %err, "leaving the room failed");
        }
    }

    /// A member's report: kept as presence, and the writer told when the member starts or
    /// stops counting for wait-for-ready or its RTT moved.
    pub async fn report(
        &self,
        api: &AppState,
        claims: &SessionClaims,
        report: Report,
    ) -> Result<(), ExecError> {
        let Some(local) = self.existing(&claims.instance) else {
            return Ok(());
        };
        let gating = report.activity == Activity::Active;
        // Coarse RTT: the lead only needs tens of milliseconds, the row need not move each second.
        let rtt = (report.rtt_ms.unwrap_or(0.0) / 25.0).ceil() * 25.0;
        let tell = {
            let mut inner = local.inner.lock().expect("room lock");
            let presence = inner
                .presence
                .entry(claims.sub.clone())
                .or_insert(Presence {
                    report: report.clone(),
                    at: Instant::now(),
                    told: None,
                });
            presence.report = report;
            presence.at = Instant::now();
            let tell = presence.told != Some((gating, rtt));
            presence.told = Some((gating, rtt));
            tell
        };
        if tell {
            self.write(
                api,
                &claims.instance,
                Command::Status {
                    user_id: claims.sub.clone(),
                    gating,
                    rtt_ms: rtt,
                },
            )
            .await?;
        }
        Ok(())
    }

    /// Sends the queue to the room's connections (after a change anywhere).
    async fn refresh_queue(&self, local: &Arc<LocalRoom>, channel_id: &str) {
        match self.store.watch_queue(channel_id, MAX_QUEUE).await {
            Ok(queue) => {
                let mut inner = local.inner.lock().expect("room lock");
                let message = text(&ServerMessage::Queue {
                    queue: queue_view(&queue),
                });
                inner.queue = queue;
                inner.broadcast(&message);
            }
            Err(err) => tracing::warn!(error = %err, "reading the queue failed"),
        }
    }

    /// The queue as the room last loaded it.
    pub fn queue_item(&self, instance_id: &str, item_id: &str) -> Option<QueueItem> {
        let local = self.existing(instance_id)?;
        let inner = local.inner.lock().expect("room lock");
        inner.queue.iter().find(|q| q.item_id == item_id).cloned()
    }

    /// Follows the store's signals: queue changes (any backend) and, with several replicas,
    /// room changes, presence digests and resyncs. Runs for the life of the server.
    pub async fn follow(api: AppState) {
        let hub = &api.watch.hub;
        let mut signals = loop {
            match hub.store.watch_signals().await {
                Ok(s) => break s,
                Err(err) => {
                    tracing::warn!(error = %err, "cannot listen for room changes; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        loop {
            let signal = match signals.recv().await {
                Ok(signal) => signal,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => WatchSignal::Resync,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            hub.on_signal(&api, signal).await;
        }
    }

    async fn on_signal(&self, api: &AppState, signal: WatchSignal) {
        match signal {
            WatchSignal::Queue(channel_id) => {
                let locals: Vec<Arc<LocalRoom>> = self
                    .rooms
                    .lock()
                    .expect("rooms lock")
                    .values()
                    .filter(|l| {
                        let inner = l.inner.lock().expect("room lock");
                        !inner.conns.is_empty()
                            && inner
                                .room
                                .as_ref()
                                .is_some_and(|r| r.channel_id == channel_id)
                    })
                    .cloned()
                    .collect();
                for local in locals {
                    self.refresh_queue(&local, &channel_id).await;
                }
            }
            WatchSignal::Room {
                instance_id, event, ..
            } if self.shared => {
                let Some(local) = self.existing(&instance_id) else {
                    return;
                };
                let event = match event.and_then(|e| serde_json::from_str::<Event>(&e).ok()) {
                    Some(event) => Some(event),
                    None => self.read_event(&instance_id).await,
                };
                if let Some(event) = event {
                    self.deliver_event(api, &local, event);
                }
            }
            WatchSignal::Presence(digest) if self.shared => self.merge_digest(&digest),
            WatchSignal::Resync if self.shared => {
                let locals: Vec<Arc<LocalRoom>> = self
                    .rooms
                    .lock()
                    .expect("rooms lock")
                    .values()
                    .cloned()
                    .collect();
                for local in locals {
                    if let Some(event) = self.read_event(&local.instance_id).await {
                        self.deliver_event(api, &local, event);
                    }
                }
            }
            _ => {}
        }
    }

    /// The room as stored, as an event that changed everything.
    async fn read_event(&self, instance_id: &str) -> Option<Event> {
        let room = self.snapshot(instance_id).await.ok()??;
        Some(Event {
            room,
            effects: Effects {
                timeline: true,
                roster: true,
                ..Effects::default()
            },
        })
    }

    fn deliver_event(&self, api: &AppState, local: &Arc<LocalRoom>, event: Event) {
        let mut inner = local.inner.lock().expect("room lock");
        if event.room.rev <= inner.delivered {
            return;
        }
        inner.delivered = event.room.rev;
        if inner.room.as_ref().is_none_or(|r| r.rev <= event.room.rev) {
            inner.room = Some(event.room);
        }
        self.deliver(api, local, &mut inner, &event.effects);
    }

    fn merge_digest(&self, digest: &str) {
        let Ok(digest) = serde_json::from_str::<Digest>(digest) else {
            return;
        };
        if digest.replica == self.replica {
            return;
        }
        self.replicas
            .lock()
            .expect("replicas lock")
            .insert(digest.replica.clone(), Instant::now());
        for (instance_id, reports) in digest.rooms {
            let Some(local) = self.existing(&instance_id) else {
                continue;
            };
            let mut inner = local.inner.lock().expect("room lock");
            for (user_id, report) in reports {
                inner.presence.insert(
                    user_id,
                    Presence {
                        report,
                        at: Instant::now(),
                        told: None,
                    },
                );
            }
        }
    }

    /// Every heartbeat: presence to every connection, inactive members told to the writer,
    /// minutes watched counted, empty rooms forgotten; with several replicas the digest of
    /// this replica's members published and silent replicas' members dropped.
    pub async fn heartbeat(api: AppState) {
        let hub = &api.watch.hub;
        let mut tick = tokio::time::interval(Duration::from_millis(hub.timings.heartbeat_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            hub.beat(&api).await;
        }
    }

    async fn beat(&self, api: &AppState) {
        let locals: Vec<Arc<LocalRoom>> = self
            .rooms
            .lock()
            .expect("rooms lock")
            .values()
            .cloned()
            .collect();
        let mut inactive = Vec::new();
        let mut digest = HashMap::new();
        let mut silent_replicas = Vec::new();
        let mut forget = Vec::new();
        let seconds = self.timings.heartbeat_ms as f64 / 1000.0;
        let inactive_after = Duration::from_millis(self.timings.inactive_after_ms);
        let known = self.replicas.lock().expect("replicas lock").clone();
        for local in &locals {
            let mut inner = local.inner.lock().expect("room lock");
            let Some(room) = inner.room.clone() else {
                continue;
            };
            if inner.conns.is_empty() && inner.joining == 0 {
                // An empty room is kept a while for a quick reconnect; with several replicas a
                // room whose members are all elsewhere is theirs to keep.
                if room.members.is_empty() && inner.empty_since.is_none() {
                    inner.empty_since = Some(Instant::now());
                }
                let empty_for = inner.empty_since.map_or(Duration::ZERO, |t| t.elapsed());
                let kept_enough = empty_for >= Duration::from_millis(self.timings.empty_room_ms);
                if room.members.is_empty() && kept_enough || !room.members.is_empty() && self.shared
                {
                    forget.push((local.instance_id.clone(), room.rev, room.members.is_empty()));
                }
                continue;
            }
            let local_users: HashSet<String> =
                inner.conns.values().map(|c| c.user_id.clone()).collect();
            let mut reports = HashMap::new();
            let mut playing = 0usize;
            for user in &local_users {
                let Some(presence) = inner.presence.get_mut(user) else {
                    continue;
                };
                if presence.at.elapsed() >= inactive_after {
                    if presence.told.is_some_and(|(gating, _)| gating) {
                        presence.told = Some((false, presence.told.map_or(0.0, |t| t.1)));
                        inactive.push((
                            local.instance_id.clone(),
                            user.clone(),
                            presence.told.unwrap().1,
                        ));
                    }
                } else if presence.report.state == super::protocol::MediaState::Playing
                    && room.timeline.state == PlayState::Playing
                {
                    playing += 1;
                }
                reports.insert(user.clone(), presence.report.clone());
            }
            self.metrics
                .watched(&room.guild_id, playing as f64 * seconds / 60.0);
            if self.shared {
                digest.insert(local.instance_id.clone(), reports);
                let startup = self.started.elapsed() < inactive_after;
                for member in room
                    .members
                    .iter()
                    .filter(|m| m.seat.replica != self.replica && m.dropped_at.is_none())
                {
                    let silent = known
                        .get(&member.seat.replica)
                        .map_or(!startup, |seen| seen.elapsed() >= inactive_after);
                    if silent {
                        silent_replicas
                            .push((local.instance_id.clone(), member.seat.replica.clone()));
                    }
                }
            }
            if let Some(presence) = inner.presence_text(&self.timings) {
                inner.broadcast(&presence);
            }
        }
        for (instance_id, user_id, rtt_ms) in inactive {
            let command = Command::Status {
                user_id,
                gating: false,
                rtt_ms,
            };
            if let Err(err) = self.write(api, &instance_id, command).await {
                tracing::debug!(error = %err, "marking a member inactive failed");
            }
        }
        silent_replicas.sort();
        silent_replicas.dedup();
        for (instance_id, replica) in silent_replicas {
            tracing::info!(%replica, room = %instance_id, "a replica went silent: its members are dropped");
            let _ = self
                .write(api, &instance_id, Command::DropReplica { replica })
                .await;
        }
        if self.shared && !digest.is_empty() {
            self.publish_digest(digest).await;
        }
        for (instance_id, rev, members_gone) in forget {
            let removed = {
                let mut rooms = self.rooms.lock().expect("rooms lock");
                let still_idle = rooms.get(&instance_id).is_some_and(|l| {
                    let inner = l.inner.lock().expect("room lock");
                    inner.conns.is_empty()
                        && inner.joining == 0
                        && inner.room.as_ref().is_some_and(|r| r.rev == rev)
                });
                still_idle && rooms.remove(&instance_id).is_some()
            };
            if removed && self.shared && members_gone {
                let _ = self.store.delete_room(&instance_id, rev as i64).await;
            }
        }
        self.metrics.rooms(
            &self
                .rooms
                .lock()
                .expect("rooms lock")
                .values()
                .filter_map(|l| {
                    let inner = l.inner.lock().expect("room lock");
                    (!inner.conns.is_empty())
                        .then(|| inner.room.as_ref().map(|r| r.guild_id.clone()))?
                })
                .collect::<Vec<_>>(),
        );
    }

    /// Publishes this replica's reports in notifications small enough for PostgreSQL.
    async fn publish_digest(&self, rooms: HashMap<String, HashMap<String, Report>>) {
        let mut batch = Digest {
            replica: self.replica.clone(),
            rooms: HashMap::new(),
        };
        let mut size = 64;
        for (instance_id, reports) in rooms {
            let cost =
                serde_json::to_string(&reports).map_or(0, |s| s.len()) + instance_id.len() + 8;
            if size + cost > kd_store::MAX_PAYLOAD && !batch.rooms.is_empty() {
                self.publish(&batch).await;
                batch.rooms.clear();
                size = 64;
            }
            size += cost;
            batch.rooms.insert(instance_id, reports);
        }
        // Even with no room, the digest says this replica is alive.
        self.publish(&batch).await;
    }

    async fn publish(&self, digest: &Digest) {
        let payload = serde_json::to_string(digest).expect("digests serialise");
        if let Err(err) = self.store.publish_presence(&payload).await {
            tracing::warn!(error = %err, "publishing presence failed");
        }
    }
}

//! A Watch Together room as plain data, and every change to it as a pure function of the room,
//! the command and the server clock. The one-process hub and the PostgreSQL single writer run
//! the same function, so several replicas behave as one (PROTOCOL.md sections 3 to 5).

use serde::{Deserialize, Serialize};

/// Server clock: milliseconds since the UNIX epoch.
pub type Millis = f64;

pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// The timings the server enforces (announced to clients in `welcome.config`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Timings {
    pub heartbeat_ms: u64,
    pub inactive_after_ms: u64,
    pub idle_close_ms: u64,
    pub ready_timeout_ms: u64,
    pub host_grace_ms: u64,
    /// How long an empty room is kept for a quick reconnect.
    #[serde(skip)]
    pub empty_room_ms: u64,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            heartbeat_ms: 1000,
            inactive_after_ms: 5000,
            idle_close_ms: 15000,
            ready_timeout_ms: 5000,
            host_grace_ms: 5000,
            empty_room_ms: 60_000,
        }
    }
}

pub const MAX_MEMBERS: usize = 50;
pub const MIN_RATE: f64 = 0.25;
pub const MAX_RATE: f64 = 2.0;
pub const MAX_POSITION: f64 = 10_000_000.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlayState {
    Paused,
    Playing,
    Waiting,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Waiting {
    pub deadline: Millis,
    pub pending: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub seq: u64,
    pub entry_id: Option<String>,
    pub title: Option<String>,
    pub duration: Option<f64>,
    pub state: PlayState,
    pub position: f64,
    pub anchor: Millis,
    pub rate: f64,
    pub waiting: Option<Waiting>,
}

impl Timeline {
    /// The room position at server time `t` (PROTOCOL.md 3.2). A pause lands at its anchor:
    /// until then the room plays on towards `position`.
    pub fn position_at(&self, t: Millis) -> f64 {
        match self.state {
            PlayState::Playing => self.position + (t - self.anchor).max(0.0) / 1000.0 * self.rate,
            PlayState::Paused => self.position - (self.anchor - t).max(0.0) / 1000.0 * self.rate,
            PlayState::Waiting => self.position,
        }
    }
}

/// A video to put on the timeline, with what Kaltura says of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub entry_id: String,
    pub title: Option<String>,
    pub duration: Option<f64>,
}

/// A member as the room's decisions need it; live statistics are presence, kept elsewhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Who holds the seat and through which connection (flattened: the stored row keeps its shape).
    #[serde(flatten)]
    pub seat: Joiner,
    pub joined_at: Millis,
    /// Set when the connection dropped; the seat is held for the grace period.
    pub dropped_at: Option<Millis>,
    /// Counts for wait-for-ready: has reported and is not inactive.
    pub gating: bool,
    pub rtt_ms: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Room {
    pub instance_id: String,
    pub guild_id: String,
    pub channel_id: String,
    /// Increases on every change of the room (timeline or not): the order of events.
    pub rev: u64,
    pub timeline: Timeline,
    pub host: Option<String>,
    pub members: Vec<Member>,
}

/// The member fields a joiner brings; a rejoin replaces them whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Joiner {
    pub user_id: String,
    pub name: String,
    pub avatar: Option<String>,
    pub role: String,
    pub control: bool,
    /// The connection that holds the seat (a newer one replaces it).
    pub conn: String,
    /// The replica that connection is on.
    pub replica: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Control {
    Play { position: Option<f64> },
    Pause { position: Option<f64> },
    Seek { position: f64 },
    Rate { rate: f64 },
}

// One command at a time, moved into `apply`: boxing the joiner would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// `initial` is the entry a new room starts with (ignored when the room exists).
    Join {
        instance_id: String,
        guild_id: String,
        channel_id: String,
        joiner: Joiner,
        initial: Option<(String, Entry)>,
    },
    /// `graceful`: the client closed normally (leaves at once); otherwise it dropped.
    Leave {
        user_id: String,
        conn: String,
        graceful: bool,
    },
    Status {
        user_id: String,
        gating: bool,
        rtt_ms: f64,
    },
    Ready {
        user_id: String,
        seq: u64,
    },
    Control {
        user_id: String,
        control: Control,
    },
    /// The entry changes (from the queue, already taken out of it).
    SetEntry {
        entry: Option<Entry>,
        autoplay: bool,
    },
    Handover {
        user_id: String,
        to: String,
    },
    RequestHost {
        user_id: String,
    },
    /// Members of a replica that stopped reporting are treated as dropped.
    DropReplica {
        replica: String,
    },
    /// Whatever is due at this time (ready deadline, end of grace, end of entry).
    Tick,
}

/// What a change did, beyond the new room.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Effects {
    pub timeline: bool,
    pub roster: bool,
    /// `(from, name)`: tell the host and the controllers.
    pub host_request: Option<(String, String)>,
    /// A connection that lost its seat to a newer one of the same user.
    pub replaced: Option<String>,
    /// The queue item the new room started with: the caller takes it out of the queue.
    pub took_item: Option<String>,
    /// The entry played to its end: the caller advances the queue.
    pub ended: bool,
    /// The room was created by this change.
    pub created: bool,
}

impl Effects {
    pub fn changed(&self) -> bool {
        self.timeline || self.roster || self.host_request.is_some()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("only the host and moderators can do that")]
    Forbidden,
    #[error("a value is out of range")]
    Invalid,
    #[error("no such member")]
    NotFound,
    #[error("nothing is playing in this room")]
    NoEntry,
    #[error("the room is full")]
    RoomFull,
    #[error("not in this room")]
    NotMember,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Forbidden => "forbidden",
            Refusal::Invalid => "invalid",
            Refusal::NotFound | Refusal::NotMember => "not_found",
            Refusal::NoEntry => "no_entry",
            Refusal::RoomFull => "room_full",
        }
    }
}

fn timeline_for(entry: Option<Entry>) -> Timeline {
    let (entry_id, title, duration) = match entry {
        Some(e) => (Some(e.entry_id), e.title, e.duration),
        None => (None, None, None),
    };
    Timeline {
        seq: 1,
        entry_id,
        title,
        duration,
        state: PlayState::Paused,
        position: 0.0,
        anchor: 0.0,
        rate: 1.0,
        waiting: None,
    }
}

fn valid_position(p: f64) -> Result<f64, Refusal> {
    if p.is_finite() && (0.0..=MAX_POSITION).contains(&p) {
        Ok(p)
    } else {
        Err(Refusal::Invalid)
    }
}

impl Room {
    pub fn member(&self, user_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.seat.user_id == user_id)
    }

    fn member_mut(&mut self, user_id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.seat.user_id == user_id)
    }

    pub fn can_control(&self, user_id: &str) -> bool {
        self.host.as_deref() == Some(user_id)
            || self.member(user_id).is_some_and(|m| m.seat.control)
    }

    fn connected(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.dropped_at.is_none())
    }

    /// How far in the future a start is scheduled: twice the slowest ready member's RTT.
    fn lead_ms(&self) -> f64 {
        let slowest = self
            .connected()
            .filter(|m| m.gating)
            .map(|m| m.rtt_ms)
            .fold(0.0, f64::max);
        (2.0 * slowest + 50.0).clamp(150.0, 1000.0)
    }

    fn start_playing(&mut self, now: Millis) {
        self.timeline.state = PlayState::Playing;
        self.timeline.anchor = now + self.lead_ms();
        self.timeline.waiting = None;
    }

    /// Waits for the gating members at `position`, or starts at once when there are none.
    fn begin_start(&mut self, position: f64, now: Millis, timings: &Timings) {
        self.timeline.position = position;
        let pending: Vec<String> = self
            .connected()
            .filter(|m| m.gating)
            .map(|m| m.seat.user_id.clone())
            .collect();
        if pending.is_empty() {
            self.start_playing(now);
        } else {
            self.timeline.state = PlayState::Waiting;
            self.timeline.waiting = Some(Waiting {
                deadline: now + timings.ready_timeout_ms as f64,
                pending,
            });
        }
    }

    /// Pauses at `position`, reached at server time `at` (now, or ahead like a start).
    fn pause_at(&mut self, position: f64, at: Millis) {
        self.timeline.state = PlayState::Paused;
        self.timeline.position = position;
        self.timeline.anchor = at;
        self.timeline.waiting = None;
    }

    fn remove_member(&mut self, user_id: &str) {
        self.members.retain(|m| m.seat.user_id != user_id);
        if let Some(waiting) = &mut self.timeline.waiting {
            waiting.pending.retain(|u| u != user_id);
        }
        if self.host.as_deref() == Some(user_id) {
            self.fail_over();
        }
    }

    /// The next host: a connected controller first, then whoever joined first.
    fn fail_over(&mut self) {
        self.host = self
            .connected()
            .min_by(|a, b| {
                b.seat
                    .control
                    .cmp(&a.seat.control)
                    .then(a.joined_at.total_cmp(&b.joined_at))
            })
            .map(|m| m.seat.user_id.clone());
    }

    /// When something is next due (for the Tick), if ever.
    pub fn next_deadline(&self, timings: &Timings) -> Option<Millis> {
        let grace = self
            .members
            .iter()
            .filter_map(|m| m.dropped_at)
            .map(|t| t + timings.host_grace_ms as f64);
        let waiting = self.timeline.waiting.as_ref().map(|w| w.deadline);
        let end = match (self.timeline.state, self.timeline.duration) {
            (PlayState::Playing, Some(duration)) if self.timeline.rate > 0.0 => Some(
                self.timeline.anchor
                    + (duration - self.timeline.position).max(0.0) / self.timeline.rate * 1000.0,
            ),
            _ => None,
        };
        grace.chain(waiting).chain(end).min_by(f64::total_cmp)
    }
}

/// Applies `command` to the room at server time `now`. A refusal changes nothing; a command
/// that changes nothing returns the room as it was with no effects.
pub fn apply(
    room: Option<Room>,
    command: Command,
    now: Millis,
    timings: &Timings,
) -> Result<(Room, Effects), Refusal> {
    let mut effects = Effects::default();
    let mut room = match (room, &command) {
        (Some(room), _) => room,
        (
            None,
            Command::Join {
                instance_id,
                guild_id,
                channel_id,
                joiner,
                initial,
            },
        ) => {
            effects.took_item = initial.as_ref().map(|(item, _)| item.clone());
            effects.created = true;
            Room {
                instance_id: instance_id.clone(),
                guild_id: guild_id.clone(),
                channel_id: channel_id.clone(),
                rev: 0,
                timeline: timeline_for(initial.clone().map(|(_, e)| e)),
                host: Some(joiner.user_id.clone()),
                members: Vec::new(),
            }
        }
        (None, _) => return Err(Refusal::NotMember),
    };
    let before_seq = room.timeline.seq;
    let before_waiting = room.timeline.waiting.clone();
    match command {
        Command::Join { joiner, .. } => {
            if let Some(member) = room.member_mut(&joiner.user_id) {
                if member.seat.conn != joiner.conn && member.dropped_at.is_none() {
                    effects.replaced = Some(member.seat.conn.clone());
                }
                member.seat = joiner;
                member.dropped_at = None;
            } else {
                if room.members.len() >= MAX_MEMBERS {
                    return Err(Refusal::RoomFull);
                }
                room.members.push(Member {
                    seat: joiner,
                    joined_at: now,
                    dropped_at: None,
                    gating: false,
                    rtt_ms: 0.0,
                });
            }
            if room.host.is_none() {
                room.fail_over();
            }
            effects.roster = true;
        }
        Command::Leave {
            user_id,
            conn,
            graceful,
        } => {
            let Some(seat) = room.member_mut(&user_id).filter(|m| m.seat.conn == conn) else {
                // An older connection of someone who reconnected: the seat is not its own.
                return Ok((room, effects));
            };
            if graceful {
                room.remove_member(&user_id);
            } else {
                seat.dropped_at = Some(now);
                seat.gating = false;
                if let Some(waiting) = &mut room.timeline.waiting {
                    waiting.pending.retain(|u| *u != user_id);
                }
            }
            effects.roster = true;
        }
        Command::Status {
            user_id,
            gating,
            rtt_ms,
        } => {
            let seat = room.member_mut(&user_id).ok_or(Refusal::NotMember)?;
            if seat.gating == gating && seat.rtt_ms == rtt_ms {
                return Ok((room, effects));
            }
            seat.gating = gating;
            seat.rtt_ms = rtt_ms;
            if !gating && let Some(waiting) = &mut room.timeline.waiting {
                waiting.pending.retain(|u| *u != user_id);
            }
            effects.roster = true;
        }
        Command::Ready { user_id, seq } => {
            room.member(&user_id).ok_or(Refusal::NotMember)?;
            let Some(waiting) = room.timeline.waiting.as_mut().filter(|_| seq == before_seq) else {
                return Ok((room, effects));
            };
            waiting.pending.retain(|u| *u != user_id);
        }
        Command::Control { user_id, control } => {
            if !room.can_control(&user_id) {
                return Err(Refusal::Forbidden);
            }
            if room.timeline.entry_id.is_none() {
                return Err(Refusal::NoEntry);
            }
            let current = room.timeline.position_at(now);
            match control {
                Control::Play { position } => {
                    let position = position.map(valid_position).transpose()?;
                    if room.timeline.state != PlayState::Paused && position.is_none() {
                        return Ok((room, effects));
                    }
                    room.begin_start(position.unwrap_or(current), now, timings);
                }
                Control::Pause { position } => {
                    match position.map(valid_position).transpose()? {
                        Some(position) => room.pause_at(position, now),
                        // Scheduled ahead as a start is, so everyone stops on one frame
                        // instead of stepping back by their latency.
                        None if room.timeline.state == PlayState::Playing => {
                            let at = now + room.lead_ms();
                            room.pause_at(room.timeline.position_at(at), at);
                        }
                        None => room.pause_at(current, now),
                    }
                }
                Control::Seek { position } => {
                    let position = valid_position(position)?;
                    if room.timeline.state == PlayState::Paused {
                        room.pause_at(position, now);
                    } else {
                        room.begin_start(position, now, timings);
                    }
                }
                Control::Rate { rate } => {
                    if !(rate.is_finite() && (MIN_RATE..=MAX_RATE).contains(&rate)) {
                        return Err(Refusal::Invalid);
                    }
                    if room.timeline.state == PlayState::Playing {
                        room.timeline.position = current;
                        room.timeline.anchor = room.timeline.anchor.max(now);
                    }
                    room.timeline.rate = rate;
                }
            }
            room.timeline.seq += 1;
        }
        Command::SetEntry { entry, autoplay } => {
            let seq = room.timeline.seq;
            let rate = room.timeline.rate;
            let has_entry = entry.is_some();
            room.timeline = Timeline {
                seq: seq + 1,
                rate,
                ..timeline_for(entry)
            };
            if autoplay && has_entry {
                room.begin_start(0.0, now, timings);
            }
        }
        Command::Handover { user_id, to } => {
            let is_host = room.host.as_deref() == Some(user_id.as_str());
            if !is_host && !room.member(&user_id).is_some_and(|m| m.seat.control) {
                return Err(Refusal::Forbidden);
            }
            if !room.connected().any(|m| m.seat.user_id == to) {
                return Err(Refusal::NotFound);
            }
            if room.host.as_deref() == Some(to.as_str()) {
                return Ok((room, effects));
            }
            room.host = Some(to);
            effects.roster = true;
        }
        Command::RequestHost { user_id } => {
            let member = room.member(&user_id).ok_or(Refusal::NotMember)?;
            if room.host.as_deref() == Some(user_id.as_str()) {
                return Ok((room, effects));
            }
            effects.host_request = Some((user_id, member.seat.name.clone()));
        }
        Command::DropReplica { replica } => {
            for seat in room
                .members
                .iter_mut()
                .filter(|m| m.seat.replica == replica && m.dropped_at.is_none())
            {
                seat.dropped_at = Some(now);
                seat.gating = false;
                effects.roster = true;
            }
        }
        Command::Tick => {
            let grace = timings.host_grace_ms as f64;
            let expired: Vec<String> = room
                .members
                .iter()
                .filter(|m| m.dropped_at.is_some_and(|t| t + grace <= now))
                .map(|m| m.seat.user_id.clone())
                .collect();
            for user_id in &expired {
                room.remove_member(user_id);
                effects.roster = true;
            }
            let timeline = &room.timeline;
            if timeline.waiting.as_ref().is_some_and(|w| w.deadline <= now) {
                room.start_playing(now);
                room.timeline.seq += 1;
            } else if let (PlayState::Playing, Some(duration)) = (timeline.state, timeline.duration)
                && timeline.position_at(now) >= duration
            {
                room.pause_at(duration, now);
                room.timeline.seq += 1;
                effects.ended = true;
            }
        }
    }
    // Whoever was last to be awaited (ready, gone, or no longer gating): start.
    if room
        .timeline
        .waiting
        .as_ref()
        .is_some_and(|w| w.pending.is_empty())
    {
        room.start_playing(now);
        room.timeline.seq += 1;
    }
    // Readiness changes are shown with the same seq, so a `ready` for it still counts.
    effects.timeline = room.timeline.seq != before_seq || room.timeline.waiting != before_waiting;
    if effects.changed() || effects.replaced.is_some() {
        room.rev += 1;
    }
    Ok((room, effects))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timings = Timings {
        heartbeat_ms: 1000,
        inactive_after_ms: 5000,
        idle_close_ms: 15000,
        ready_timeout_ms: 5000,
        host_grace_ms: 5000,
        empty_room_ms: 60_000,
    };

    fn joiner(user: &str, control: bool) -> Joiner {
        Joiner {
            user_id: user.into(),
            name: user.to_uppercase(),
            avatar: None,
            role: if control { "moderator" } else { "viewer" }.into(),
            control,
            conn: format!("c-{user}"),
            replica: "r1".into(),
        }
    }

    fn join(room: Option<Room>, user: &str, control: bool, now: f64) -> Room {
        let entry = Entry {
            entry_id: "0_one".into(),
            title: Some("One".into()),
            duration: Some(100.0),
        };
        apply(
            room,
            Command::Join {
                instance_id: "i".into(),
                guild_id: "g".into(),
                channel_id: "c".into(),
                joiner: joiner(user, control),
                initial: Some(("q1".into(), entry)),
            },
            now,
            &T,
        )
        .unwrap()
        .0
    }

    fn run(room: Room, command: Command, now: f64) -> (Room, Effects) {
        apply(Some(room), command, now, &T).unwrap()
    }

    fn control(user: &str, control: Control) -> Command {
        Command::Control {
            user_id: user.into(),
            control,
        }
    }

    fn gate(room: Room, user: &str, rtt: f64) -> Room {
        run(
            room,
            Command::Status {
                user_id: user.into(),
                gating: true,
                rtt_ms: rtt,
            },
            0.0,
        )
        .0
    }

    /// A room with host `a` (viewer) and `b` (viewer), both reporting, RTT 40 and 100 ms.
    fn two() -> Room {
        let room = join(None, "a", false, 1000.0);
        let room = join(Some(room), "b", false, 2000.0);
        gate(gate(room, "a", 40.0), "b", 100.0)
    }

    #[test]
    fn a_new_room_starts_paused_on_the_queued_entry_with_the_first_joiner_as_host() {
        let (room, effects) = apply(
            None,
            Command::Join {
                instance_id: "i".into(),
                guild_id: "g".into(),
                channel_id: "c".into(),
                joiner: joiner("a", false),
                initial: Some((
                    "q1".into(),
                    Entry {
                        entry_id: "0_one".into(),
                        title: None,
                        duration: None,
                    },
                )),
            },
            5.0,
            &T,
        )
        .unwrap();
        assert_eq!(room.host.as_deref(), Some("a"));
        assert_eq!(room.timeline.entry_id.as_deref(), Some("0_one"));
        assert_eq!(room.timeline.state, PlayState::Paused);
        assert_eq!(effects.took_item.as_deref(), Some("q1"));
        // Joining an existing room takes nothing from the queue.
        let (_, effects) = run(
            room,
            Command::Join {
                instance_id: "i".into(),
                guild_id: "g".into(),
                channel_id: "c".into(),
                joiner: joiner("b", false),
                initial: Some((
                    "q2".into(),
                    Entry {
                        entry_id: "0_two".into(),
                        title: None,
                        duration: None,
                    },
                )),
            },
            6.0,
        );
        assert_eq!(effects.took_item, None);
        assert!(effects.roster);
    }

    #[test]
    fn play_waits_for_ready_then_starts_in_the_future_by_twice_the_slowest_rtt() {
        let room = two();
        let (room, effects) = run(
            room,
            control("a", Control::Play { position: None }),
            10_000.0,
        );
        assert!(effects.timeline);
        assert_eq!(room.timeline.state, PlayState::Waiting);
        let waiting = room.timeline.waiting.clone().unwrap();
        assert_eq!(waiting.pending, ["a", "b"]);
        assert_eq!(waiting.deadline, 15_000.0);
        let seq = room.timeline.seq;
        let (room, _) = run(
            room,
            Command::Ready {
                user_id: "a".into(),
                seq,
            },
            10_100.0,
        );
        assert_eq!(room.timeline.state, PlayState::Waiting);
        // A ready for an older seq does not count.
        let (room, effects) = run(
            room,
            Command::Ready {
                user_id: "b".into(),
                seq: seq - 1,
            },
            10_150.0,
        );
        assert!(!effects.timeline);
        let seq = room.timeline.seq;
        let (room, _) = run(
            room,
            Command::Ready {
                user_id: "b".into(),
                seq,
            },
            10_200.0,
        );
        assert_eq!(room.timeline.state, PlayState::Playing);
        assert_eq!(room.timeline.anchor, 10_200.0 + 250.0);
        assert_eq!(
            room.timeline.position_at(10_200.0),
            0.0,
            "not before the anchor"
        );
        assert!((room.timeline.position_at(12_450.0) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn one_slow_member_cannot_hold_the_room_past_the_deadline() {
        let room = two();
        let (room, _) = run(
            room,
            control(
                "a",
                Control::Play {
                    position: Some(30.0),
                },
            ),
            0.0,
        );
        let seq = room.timeline.seq;
        let (room, _) = run(
            room,
            Command::Ready {
                user_id: "a".into(),
                seq,
            },
            100.0,
        );
        assert_eq!(room.next_deadline(&T), Some(5000.0));
        let (room, effects) = run(room, Command::Tick, 4999.0);
        assert!(!effects.timeline, "not yet due");
        let (room, effects) = run(room, Command::Tick, 5000.0);
        assert!(effects.timeline);
        assert_eq!(room.timeline.state, PlayState::Playing);
        assert_eq!(room.timeline.position, 30.0);
    }

    #[test]
    fn members_who_never_report_do_not_gate() {
        let room = join(None, "a", false, 0.0);
        let room = join(Some(room), "silent", false, 0.0);
        let room = gate(room, "a", 10.0);
        let (room, _) = run(room, control("a", Control::Play { position: None }), 0.0);
        assert_eq!(room.timeline.waiting.unwrap().pending, ["a"]);
    }

    #[test]
    fn only_the_host_and_controllers_control_the_timeline() {
        let room = two();
        let room = join(Some(room), "mod", true, 3000.0);
        for command in [
            control("b", Control::Play { position: None }),
            control("b", Control::Seek { position: 3.0 }),
            Command::Handover {
                user_id: "b".into(),
                to: "b".into(),
            },
        ] {
            assert_eq!(
                apply(Some(room.clone()), command, 0.0, &T),
                Err(Refusal::Forbidden)
            );
        }
        let (room, _) = run(room, control("mod", Control::Seek { position: 3.0 }), 0.0);
        assert_eq!(room.timeline.position, 3.0);
        let (room, _) = run(room, control("a", Control::Seek { position: 4.0 }), 0.0);
        assert_eq!(room.timeline.position, 4.0);
        // Everyone may ask; the request goes to the host.
        let (_, effects) = run(
            room.clone(),
            Command::RequestHost {
                user_id: "b".into(),
            },
            0.0,
        );
        assert_eq!(effects.host_request, Some(("b".into(), "B".into())));
        // Handing over to someone absent is refused; a controller may take the host.
        assert_eq!(
            apply(
                Some(room.clone()),
                Command::Handover {
                    user_id: "a".into(),
                    to: "zz".into()
                },
                0.0,
                &T
            ),
            Err(Refusal::NotFound)
        );
        let (room, _) = run(
            room,
            Command::Handover {
                user_id: "mod".into(),
                to: "mod".into(),
            },
            0.0,
        );
        assert_eq!(room.host.as_deref(), Some("mod"));
        assert!(!room.can_control("b"));
    }

    #[test]
    fn bad_values_are_refused_and_change_nothing() {
        let room = two();
        for command in [
            control("a", Control::Seek { position: -1.0 }),
            control("a", Control::Seek { position: f64::NAN }),
            control("a", Control::Rate { rate: 3.0 }),
            control(
                "a",
                Control::Play {
                    position: Some(1e12),
                },
            ),
        ] {
            assert_eq!(
                apply(Some(room.clone()), command, 0.0, &T),
                Err(Refusal::Invalid)
            );
        }
        let (empty, _) = run(
            room,
            Command::SetEntry {
                entry: None,
                autoplay: true,
            },
            0.0,
        );
        assert_eq!(
            apply(
                Some(empty),
                control("a", Control::Play { position: None }),
                0.0,
                &T
            ),
            Err(Refusal::NoEntry)
        );
    }

    #[test]
    fn seek_while_playing_restarts_through_ready_and_pause_freezes_the_position() {
        let room = two();
        let (room, _) = run(room, control("a", Control::Play { position: None }), 0.0);
        let (room, _) = run(room, Command::Tick, 5000.0);
        let anchor = room.timeline.anchor;
        // 10 s after the anchor, at rate 2 from then on.
        let (room, _) = run(
            room,
            control("a", Control::Rate { rate: 2.0 }),
            anchor + 10_000.0,
        );
        assert!((room.timeline.position_at(anchor + 11_000.0) - 12.0).abs() < 1e-9);
        let (room, _) = run(
            room,
            control("a", Control::Pause { position: None }),
            anchor + 11_000.0,
        );
        // Scheduled 2 * 100 ms (the slowest RTT) + 50 ms ahead, at rate 2: 0.5 s further on.
        assert_eq!(room.timeline.state, PlayState::Paused);
        assert_eq!(room.timeline.anchor, anchor + 11_250.0);
        assert!((room.timeline.position - 12.5).abs() < 1e-9);
        assert!((room.timeline.position_at(anchor + 11_000.0) - 12.0).abs() < 1e-9);
        assert!((room.timeline.position_at(anchor + 11_125.0) - 12.25).abs() < 1e-9);
        assert!((room.timeline.position_at(anchor + 20_000.0) - 12.5).abs() < 1e-9);
        let (room, _) = run(
            room,
            control("a", Control::Seek { position: 50.0 }),
            anchor + 12_000.0,
        );
        assert_eq!(
            (room.timeline.state, room.timeline.position),
            (PlayState::Paused, 50.0)
        );
        let (room, _) = run(
            room,
            control("a", Control::Play { position: None }),
            anchor + 13_000.0,
        );
        let (room, _) = run(room, Command::Tick, anchor + 18_000.0);
        let (room, _) = run(
            room,
            control("a", Control::Seek { position: 70.0 }),
            anchor + 19_000.0,
        );
        assert_eq!(
            (room.timeline.state, room.timeline.position),
            (PlayState::Waiting, 70.0)
        );
    }

    #[test]
    fn the_host_leaving_fails_over_at_once_and_dropping_after_the_grace() {
        let room = two();
        let room = join(Some(room), "mod", true, 3000.0);
        let leave = |user: &str, graceful| Command::Leave {
            user_id: user.into(),
            conn: format!("c-{user}"),
            graceful,
        };
        // A controller is preferred over earlier joiners.
        let (left, _) = run(room.clone(), leave("a", true), 0.0);
        assert_eq!(left.host.as_deref(), Some("mod"));

        let (dropped, _) = run(room.clone(), leave("a", false), 10_000.0);
        assert_eq!(dropped.host.as_deref(), Some("a"), "held during the grace");
        assert_eq!(dropped.next_deadline(&T), Some(15_000.0));
        // Back within the grace: still host.
        let back = join(Some(dropped.clone()), "a", false, 12_000.0);
        assert_eq!(back.host.as_deref(), Some("a"));
        assert_eq!(back.member("a").unwrap().joined_at, 1000.0, "same seat");
        let (gone, effects) = run(dropped, Command::Tick, 15_000.0);
        assert!(effects.roster);
        assert_eq!(gone.host.as_deref(), Some("mod"));
        assert!(gone.member("a").is_none());
        // An old connection closing after its user reconnected changes nothing.
        let (again, effects) = run(
            room,
            Command::Leave {
                user_id: "a".into(),
                conn: "old".into(),
                graceful: true,
            },
            0.0,
        );
        assert_eq!(effects, Effects::default());
        assert!(again.member("a").is_some());
    }

    #[test]
    fn a_second_connection_of_a_user_replaces_the_first() {
        let room = two();
        let mut again = joiner("a", false);
        again.conn = "c-a-2".into();
        let (room, effects) = run(
            room,
            Command::Join {
                instance_id: "i".into(),
                guild_id: "g".into(),
                channel_id: "c".into(),
                joiner: again,
                initial: None,
            },
            0.0,
        );
        assert_eq!(effects.replaced.as_deref(), Some("c-a"));
        assert_eq!(room.members.len(), 2);
    }

    #[test]
    fn a_replica_that_goes_silent_loses_its_members_after_the_grace() {
        let room = two();
        let mut remote = joiner("r", true);
        remote.replica = "r2".into();
        let (room, _) = run(
            room,
            Command::Join {
                instance_id: "i".into(),
                guild_id: "g".into(),
                channel_id: "c".into(),
                joiner: remote,
                initial: None,
            },
            0.0,
        );
        let (room, _) = run(
            room,
            Command::Handover {
                user_id: "a".into(),
                to: "r".into(),
            },
            0.0,
        );
        let (room, _) = run(
            room,
            Command::DropReplica {
                replica: "r2".into(),
            },
            100.0,
        );
        let (room, _) = run(room, Command::Tick, 5100.0);
        assert!(room.member("r").is_none());
        assert_eq!(room.host.as_deref(), Some("a"));
    }

    #[test]
    fn the_end_of_an_entry_pauses_there_and_asks_for_the_next() {
        let room = two();
        let (room, _) = run(room, control("a", Control::Seek { position: 99.0 }), 0.0);
        let (room, _) = run(room, control("a", Control::Play { position: None }), 0.0);
        let (room, _) = run(room, Command::Tick, 5000.0);
        let end = room.next_deadline(&T).unwrap();
        assert!((end - (room.timeline.anchor + 1000.0)).abs() < 1e-6);
        let (room, effects) = run(room, Command::Tick, end);
        assert!(effects.ended);
        assert_eq!(
            (room.timeline.state, room.timeline.position),
            (PlayState::Paused, 100.0)
        );
        let next = Entry {
            entry_id: "0_two".into(),
            title: None,
            duration: None,
        };
        let (room, _) = run(
            room,
            Command::SetEntry {
                entry: Some(next),
                autoplay: true,
            },
            end,
        );
        assert_eq!(room.timeline.entry_id.as_deref(), Some("0_two"));
        assert_eq!(
            (room.timeline.state, room.timeline.position),
            (PlayState::Waiting, 0.0)
        );
    }

    #[test]
    fn the_room_is_full_at_max_members_but_members_may_come_back() {
        let mut room = join(None, "u0", false, 0.0);
        for i in 1..MAX_MEMBERS {
            room = join(Some(room), &format!("u{i}"), false, 0.0);
        }
        let full = apply(
            Some(room.clone()),
            Command::Join {
                instance_id: "i".into(),
                guild_id: "g".into(),
                channel_id: "c".into(),
                joiner: joiner("late", false),
                initial: None,
            },
            0.0,
            &T,
        );
        assert_eq!(full, Err(Refusal::RoomFull));
        join(Some(room), "u3", false, 0.0);
    }
}

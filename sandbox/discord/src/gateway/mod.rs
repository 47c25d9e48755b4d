//! The Gateway: sessions with their sequence numbers and replay buffers, and the fan-out of
//! dispatches to them. The websocket side lives in `connection`.

pub mod connection;
pub mod intents;

use crate::config::SessionStartLimit;
use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Dispatches a session keeps for replay on resume; a resume from further back gets op 9.
const REPLAY_CAPACITY: usize = 4096;

/// A dispatch the world produced: sent to every session whose intents and shard cover it.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: &'static str,
    pub guild_id: Option<u64>,
    /// The intent a session needs to receive it; 0 for none (READY, INTERACTION_CREATE, ...).
    pub intent: u64,
    pub data: Value,
    /// A message whose content, embeds, components and attachments only sessions with the
    /// MESSAGE_CONTENT intent see (not the bot's own, and not mentioning the bot).
    pub gated_content: bool,
}

impl Event {
    pub fn new(name: &'static str, guild_id: Option<u64>, intent: u64, data: Value) -> Self {
        Self {
            name,
            guild_id,
            intent,
            data,
            gated_content: false,
        }
    }

    pub fn with_gated_content(self) -> Self {
        Self {
            gated_content: true,
            ..self
        }
    }

    /// The payload as a session with `intents` receives it.
    fn data_for(&self, intents: u64) -> std::borrow::Cow<'_, Value> {
        if !self.gated_content || intents & intents::MESSAGE_CONTENT != 0 {
            return std::borrow::Cow::Borrowed(&self.data);
        }
        let mut data = self.data.clone();
        data["content"] = Value::from("");
        for field in ["embeds", "components", "attachments"] {
            data[field] = Value::Array(vec![]);
        }
        std::borrow::Cow::Owned(data)
    }
}

/// Gateway opcodes.
pub mod op {
    pub const DISPATCH: u8 = 0;
    pub const HEARTBEAT: u8 = 1;
    pub const IDENTIFY: u8 = 2;
    pub const PRESENCE_UPDATE: u8 = 3;
    pub const VOICE_STATE_UPDATE: u8 = 4;
    pub const RESUME: u8 = 6;
    pub const RECONNECT: u8 = 7;
    pub const REQUEST_GUILD_MEMBERS: u8 = 8;
    pub const INVALID_SESSION: u8 = 9;
    pub const HELLO: u8 = 10;
    pub const HEARTBEAT_ACK: u8 = 11;
}

/// The payload envelope. Field order matters: clients such as twilight scan for `"t":`, `"s":`
/// and `"op":` before `"d"`, so this is a struct, not a map.
#[derive(Serialize)]
struct Envelope<'a> {
    t: Option<&'a str>,
    s: Option<u64>,
    op: u8,
    d: &'a Value,
}

pub fn frame(op: u8, d: &Value) -> String {
    serde_json::to_string(&Envelope {
        t: None,
        s: None,
        op,
        d,
    })
    .unwrap_or_default()
}

fn dispatch_frame(name: &str, seq: u64, d: &Value) -> String {
    serde_json::to_string(&Envelope {
        t: Some(name),
        s: Some(seq),
        op: op::DISPATCH,
        d,
    })
    .unwrap_or_default()
}

/// What a connection task is told to do.
#[derive(Debug)]
pub enum Outbound {
    Text(String),
    /// Send this close frame and end the connection.
    Close(u16, &'static str),
    /// Cut the TCP connection without a close frame (fault injection).
    Drop,
}

#[derive(Debug, Clone)]
pub struct Conn {
    pub id: u64,
    pub tx: mpsc::UnboundedSender<Outbound>,
}

#[derive(Debug)]
pub struct Session {
    pub id: String,
    pub intents: u64,
    pub shard: [u64; 2],
    pub seq: u64,
    sent: VecDeque<(u64, String)>,
    conn: Option<Conn>,
    disconnected_at: Option<Instant>,
}

impl Session {
    fn accepts(&self, event: &Event) -> bool {
        let intent_ok = event.intent == 0 || self.intents & event.intent != 0;
        let shard_ok = event
            .guild_id
            .is_none_or(|g| (g >> 22) % self.shard[1].max(1) == self.shard[0]);
        intent_ok && shard_ok
    }

    /// Numbers and records a dispatch, and sends it when connected.
    fn push(&mut self, name: &str, data: &Value) {
        self.seq += 1;
        let text = dispatch_frame(name, self.seq, data);
        if let Some(conn) = &self.conn {
            let _ = conn.tx.send(Outbound::Text(text.clone()));
        }
        self.sent.push_back((self.seq, text));
        if self.sent.len() > REPLAY_CAPACITY {
            self.sent.pop_front();
        }
    }
}

/// Why a resume failed.
#[derive(Debug, PartialEq, Eq)]
pub enum ResumeError {
    /// Unknown or expired session, or history no longer buffered: op 9 (not resumable).
    Invalid,
    /// The client claims a sequence the session never reached: close 4007.
    InvalidSeq,
}

/// A snapshot of one session for the control API.
#[derive(Debug, Clone, Serialize)]
pub struct SessionInfo {
    pub session_id: String,
    pub seq: u64,
    pub connected: bool,
    pub intents: u64,
    pub shard: [u64; 2],
}

/// Why an IDENTIFY may not start a session.
#[derive(Debug, PartialEq, Eq)]
pub enum StartRefused {
    /// `remaining` is 0: Discord terminates every session and resets the token.
    Exhausted,
    /// The shard's concurrency bucket identified less than `identify_interval` ago: op 9.
    TooSoon,
}

/// `session_start_limit` as `/gateway/bot` reports it (`reset_after` in milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SessionStartStatus {
    pub total: u32,
    pub remaining: u32,
    pub reset_after: u64,
    pub max_concurrency: u32,
}

/// The identifies counted against the session start limit.
#[derive(Debug)]
struct SessionStarts {
    limit: SessionStartLimit,
    used: u32,
    /// When the current period began (its first identify); `None` before that.
    period_start: Option<Instant>,
    /// The last identify of each concurrency bucket.
    bucket_last: HashMap<u64, Instant>,
}

impl SessionStarts {
    fn new(limit: SessionStartLimit) -> Self {
        Self {
            limit,
            used: 0,
            period_start: None,
            bucket_last: HashMap::new(),
        }
    }

    fn roll(&mut self, now: Instant) {
        if self
            .period_start
            .is_some_and(|at| now.duration_since(at) >= self.limit.reset_after)
        {
            self.used = 0;
            self.period_start = None;
        }
    }

    fn start(&mut self, shard_id: u64, now: Instant) -> Result<(), StartRefused> {
        self.roll(now);
        if self.used >= self.limit.total {
            return Err(StartRefused::Exhausted);
        }
        let bucket = shard_id % u64::from(self.limit.max_concurrency.max(1));
        if self
            .bucket_last
            .get(&bucket)
            .is_some_and(|at| now.duration_since(*at) < self.limit.identify_interval)
        {
            return Err(StartRefused::TooSoon);
        }
        self.bucket_last.insert(bucket, now);
        self.used += 1;
        self.period_start.get_or_insert(now);
        Ok(())
    }

    fn status(&mut self, now: Instant) -> SessionStartStatus {
        self.roll(now);
        let left = self.period_start.map_or(self.limit.reset_after, |at| {
            self.limit
                .reset_after
                .saturating_sub(now.duration_since(at))
        });
        SessionStartStatus {
            total: self.limit.total,
            remaining: self.limit.total.saturating_sub(self.used),
            reset_after: u64::try_from(left.as_millis()).unwrap_or(u64::MAX),
            max_concurrency: self.limit.max_concurrency,
        }
    }
}

#[derive(Debug)]
pub struct Gateway {
    sessions: HashMap<String, Session>,
    next_conn: u64,
    starts: SessionStarts,
}

impl Gateway {
    pub fn new(limit: SessionStartLimit) -> Self {
        Self {
            sessions: HashMap::new(),
            next_conn: 0,
            starts: SessionStarts::new(limit),
        }
    }

    /// Counts an IDENTIFY of `shard_id` against the session start limit.
    pub fn start_session(&mut self, shard_id: u64) -> Result<(), StartRefused> {
        self.starts.start(shard_id, Instant::now())
    }

    pub fn session_start_status(&mut self) -> SessionStartStatus {
        self.starts.status(Instant::now())
    }

    /// A new limit, with a fresh period: `remaining` is `total` and every bucket may identify.
    pub fn set_session_start_limit(&mut self, limit: SessionStartLimit) {
        self.starts = SessionStarts::new(limit);
    }

    /// Closes every connection with `close` and forgets every session (the limit was exceeded).
    pub fn terminate_all(&mut self, (code, reason): (u16, &'static str)) -> usize {
        let count = self.broadcast(|| Outbound::Close(code, reason));
        self.sessions.clear();
        count
    }
    pub fn new_conn_id(&mut self) -> u64 {
        self.next_conn += 1;
        self.next_conn
    }

    /// A fresh session attached to `conn`; the caller then dispatches READY and GUILD_CREATEs.
    pub fn create_session(&mut self, conn: Conn, intents: u64, shard: [u64; 2]) -> String {
        let id = crate::ids::token(32).to_lowercase();
        let session = Session {
            id: id.clone(),
            intents,
            shard,
            seq: 0,
            sent: VecDeque::new(),
            conn: Some(conn),
            disconnected_at: None,
        };
        self.sessions.insert(id.clone(), session);
        id
    }

    /// Sends one dispatch to a single session (READY and its GUILD_CREATEs).
    pub fn dispatch_to(&mut self, session_id: &str, name: &str, data: &Value) {
        if let Some(session) = self.sessions.get_mut(session_id) {
            session.push(name, data);
        }
    }

    pub fn dispatch(&mut self, event: &Event, resume_window: Duration) {
        self.expire(resume_window);
        for session in self.sessions.values_mut().filter(|s| s.accepts(event)) {
            let data = event.data_for(session.intents);
            session.push(event.name, &data);
        }
    }

    /// Reattaches a session to a new connection and returns the frames after `seq` to replay.
    /// A connection still holding the session is cut, as Discord does.
    pub fn resume(
        &mut self,
        session_id: &str,
        seq: u64,
        conn: Conn,
        resume_window: Duration,
    ) -> Result<Vec<String>, ResumeError> {
        self.expire(resume_window);
        let session = self
            .sessions
            .get_mut(session_id)
            .ok_or(ResumeError::Invalid)?;
        if seq > session.seq {
            return Err(ResumeError::InvalidSeq);
        }
        let oldest = session.sent.front().map_or(session.seq + 1, |(s, _)| *s);
        if seq + 1 < oldest {
            self.sessions.remove(session_id);
            return Err(ResumeError::Invalid);
        }
        if let Some(old) = session.conn.replace(conn) {
            let _ = old.tx.send(Outbound::Drop);
        }
        session.disconnected_at = None;
        Ok(session
            .sent
            .iter()
            .filter(|(s, _)| *s > seq)
            .map(|(_, text)| text.clone())
            .collect())
    }

    /// The connection ended. A normal close (1000/1001) ends the session; otherwise it stays
    /// resumable for the resume window.
    pub fn detach(&mut self, session_id: &str, conn_id: u64, end_session: bool) {
        let Some(session) = self.sessions.get_mut(session_id) else {
            return;
        };
        if session.conn.as_ref().is_some_and(|c| c.id == conn_id) {
            session.conn = None;
            session.disconnected_at = Some(Instant::now());
            if end_session {
                self.sessions.remove(session_id);
            }
        }
    }

    fn expire(&mut self, resume_window: Duration) {
        self.sessions.retain(|_, s| {
            s.disconnected_at
                .is_none_or(|at| at.elapsed() < resume_window)
        });
    }

    /// Sends `message` to every live connection; returns how many got it.
    pub fn broadcast(&self, message: impl Fn() -> Outbound) -> usize {
        self.sessions
            .values()
            .filter_map(|s| s.conn.as_ref())
            .filter(|c| c.tx.send(message()).is_ok())
            .count()
    }

    /// Tells every connected client its session is invalid; non-resumable ones are forgotten.
    pub fn invalidate_all(&mut self, resumable: bool) -> usize {
        let text = frame(op::INVALID_SESSION, &Value::Bool(resumable));
        let count = self.broadcast(|| Outbound::Text(text.clone()));
        if !resumable {
            self.sessions.clear();
        }
        count
    }

    pub fn sessions(&self) -> Vec<SessionInfo> {
        let mut list: Vec<SessionInfo> = self
            .sessions
            .values()
            .map(|s| SessionInfo {
                session_id: s.id.clone(),
                seq: s.seq,
                connected: s.conn.is_some(),
                intents: s.intents,
                shard: s.shard,
            })
            .collect();
        list.sort_by(|a, b| a.session_id.cmp(&b.session_id));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn(gateway: &mut Gateway) -> (Conn, mpsc::UnboundedReceiver<Outbound>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Conn {
                id: gateway.new_conn_id(),
                tx,
            },
            rx,
        )
    }

    fn texts(rx: &mut mpsc::UnboundedReceiver<Outbound>) -> Vec<String> {
        std::iter::from_fn(|| match rx.try_recv() {
            Ok(Outbound::Text(t)) => Some(t),
            _ => None,
        })
        .collect()
    }

    #[test]
    fn envelope_keys_come_before_d() {
        assert_eq!(
            dispatch_frame("READY", 1, &json!({"a": 1})),
            r#"{"t":"READY","s":1,"op":0,"d":{"a":1}}"#
        );
        assert_eq!(
            frame(op::HELLO, &json!({"heartbeat_interval": 5})),
            r#"{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":5}}"#
        );
    }

    #[test]
    fn resume_replays_what_was_missed_and_rejects_future_seq() {
        let window = Duration::from_secs(60);
        let mut gateway = Gateway::new(SessionStartLimit::default());
        let (first, mut rx) = conn(&mut gateway);
        let id = gateway.create_session(first.clone(), intents::GUILDS, [0, 1]);
        let event = Event::new("GUILD_UPDATE", Some(1), intents::GUILDS, json!({}));
        gateway.dispatch(&event, window);
        gateway.dispatch(&event, window);
        assert_eq!(texts(&mut rx).len(), 2);
        gateway.detach(&id, first.id, false);
        gateway.dispatch(&event, window);
        let (second, _rx2) = conn(&mut gateway);
        assert_eq!(
            gateway.resume(&id, 9, second.clone(), window),
            Err(ResumeError::InvalidSeq)
        );
        let replay = gateway.resume(&id, 1, second, window).unwrap();
        assert_eq!(replay.len(), 2);
        assert!(replay[0].contains(r#""s":2"#) && replay[1].contains(r#""s":3"#));
    }

    #[test]
    fn intents_and_shards_filter_dispatches() {
        let window = Duration::from_secs(60);
        let mut gateway = Gateway::new(SessionStartLimit::default());
        let (c, mut rx) = conn(&mut gateway);
        gateway.create_session(c, intents::GUILDS, [1, 2]);
        let shard1_guild = 1 << 22;
        gateway.dispatch(
            &Event::new(
                "GUILD_MEMBER_UPDATE",
                Some(shard1_guild),
                intents::GUILD_MEMBERS,
                json!({}),
            ),
            window,
        );
        gateway.dispatch(
            &Event::new("GUILD_UPDATE", Some(0), intents::GUILDS, json!({})),
            window,
        );
        gateway.dispatch(
            &Event::new(
                "GUILD_UPDATE",
                Some(shard1_guild),
                intents::GUILDS,
                json!({}),
            ),
            window,
        );
        let got = texts(&mut rx);
        assert_eq!(got.len(), 1);
        assert!(got[0].contains(r#""s":1"#));
    }

    #[test]
    fn message_content_needs_its_intent() {
        let window = Duration::from_secs(60);
        let mut gateway = Gateway::new(SessionStartLimit::default());
        let (with, mut with_rx) = conn(&mut gateway);
        let (without, mut without_rx) = conn(&mut gateway);
        gateway.create_session(
            with,
            intents::GUILD_MESSAGES | intents::MESSAGE_CONTENT,
            [0, 1],
        );
        gateway.create_session(without, intents::GUILD_MESSAGES, [0, 1]);
        let data = json!({"content": "secret", "embeds": [{"title": "t"}], "components": [], "attachments": []});
        let event = Event::new("MESSAGE_CREATE", Some(1), intents::GUILD_MESSAGES, data)
            .with_gated_content();
        gateway.dispatch(&event, window);
        assert!(texts(&mut with_rx)[0].contains("secret"));
        let blanked = texts(&mut without_rx);
        assert!(blanked[0].contains(r#""content":"""#) && !blanked[0].contains("title"));
    }

    #[test]
    fn a_session_disconnected_past_the_resume_window_is_gone() {
        let mut gateway = Gateway::new(SessionStartLimit::default());
        let (c, _rx) = conn(&mut gateway);
        let id = gateway.create_session(c.clone(), 1, [0, 1]);
        gateway.detach(&id, c.id, false);
        let (again, _rx2) = conn(&mut gateway);
        assert_eq!(
            gateway.resume(&id, 0, again, Duration::ZERO),
            Err(ResumeError::Invalid)
        );
    }

    #[test]
    fn session_starts_are_counted_per_period_and_bucket() {
        let second = Duration::from_secs(1);
        let mut starts = SessionStarts::new(SessionStartLimit {
            total: 3,
            max_concurrency: 2,
            reset_after: 60 * second,
            identify_interval: 5 * second,
        });
        let t0 = Instant::now();
        assert_eq!(starts.status(t0).reset_after, 60_000);
        assert_eq!(starts.start(0, t0), Ok(()));
        assert_eq!(starts.start(1, t0), Ok(()), "bucket 1");
        assert_eq!(starts.start(2, t0 + second), Err(StartRefused::TooSoon));
        assert_eq!(
            starts.status(t0 + second).remaining,
            1,
            "a refusal costs nothing"
        );
        assert_eq!(starts.start(2, t0 + 5 * second), Ok(()));
        assert_eq!(
            starts.start(3, t0 + 10 * second),
            Err(StartRefused::Exhausted)
        );
        let status = starts.status(t0 + 10 * second);
        assert_eq!((status.remaining, status.reset_after), (0, 50_000));
        let reset = starts.status(t0 + 60 * second);
        assert_eq!((reset.remaining, reset.reset_after), (3, 60_000));
        assert_eq!(starts.start(3, t0 + 60 * second), Ok(()));
    }

    #[test]
    fn normal_close_ends_the_session() {
        let mut gateway = Gateway::new(SessionStartLimit::default());
        let (c, _rx) = conn(&mut gateway);
        let id = gateway.create_session(c.clone(), 1, [0, 1]);
        gateway.detach(&id, c.id, true);
        assert!(gateway.sessions().is_empty());
    }
}

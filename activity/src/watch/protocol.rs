//! The websocket messages of PROTOCOL.md, version 1, and their validation. Parsing is strict
//! about types and ranges (a bad frame closes that connection with 4000) and lenient about
//! unknown fields (forward compatibility).

use super::room::{Control, MAX_POSITION, Millis, Timeline, Timings};
use serde::{Deserialize, Serialize};

pub const VERSIONS: &[u32] = &[1];
pub const MAX_FRAME_BYTES: usize = 4096;
pub const RATE_PER_SECOND: u32 = 20;
pub const RATE_BURST: u32 = 40;
pub const MAX_QUEUE: i64 = 50;
/// Messages a slow client may have waiting before it is closed with 4011.
pub const OUTBOUND_QUEUE: usize = 256;

/// Close codes (PROTOCOL.md section 7).
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const TOO_BIG: u16 = 1009;
    pub const SERVER_ERROR: u16 = 1011;
    pub const BAD_FRAME: u16 = 4000;
    pub const UNAUTHORIZED: u16 = 4001;
    pub const HELLO_TIMEOUT: u16 = 4002;
    pub const UNSUPPORTED_VERSION: u16 = 4003;
    pub const RATE_LIMITED: u16 = 4008;
    pub const REPLACED: u16 = 4009;
    pub const IDLE: u16 = 4010;
    pub const TOO_SLOW: u16 = 4011;
    pub const ROOM_FULL: u16 = 4013;
}

#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub req: Option<u32>,
    #[serde(flatten)]
    pub message: ClientMessage,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Hello { v: u32, token: String },
    Time { id: u64, t0: f64 },
    Report(Report),
    Ready { seq: u64 },
    Play { position: Option<f64> },
    Pause { position: Option<f64> },
    Seek { position: f64 },
    Rate { rate: f64 },
    Skip,
    PlayItem { item_id: String },
    QueueAdd { entry_id: String },
    QueueMove { item_id: String, index: usize },
    QueueRemove { item_id: String },
    Handover { to: String },
    RequestHost,
}

impl ClientMessage {
    pub fn name(&self) -> &'static str {
        match self {
            ClientMessage::Hello { .. } => "hello",
            ClientMessage::Time { .. } => "time",
            ClientMessage::Report(_) => "report",
            ClientMessage::Ready { .. } => "ready",
            ClientMessage::Play { .. } => "play",
            ClientMessage::Pause { .. } => "pause",
            ClientMessage::Seek { .. } => "seek",
            ClientMessage::Rate { .. } => "rate",
            ClientMessage::Skip => "skip",
            ClientMessage::PlayItem { .. } => "play_item",
            ClientMessage::QueueAdd { .. } => "queue_add",
            ClientMessage::QueueMove { .. } => "queue_move",
            ClientMessage::QueueRemove { .. } => "queue_remove",
            ClientMessage::Handover { .. } => "handover",
            ClientMessage::RequestHost => "request_host",
        }
    }

    /// The timeline control this message asks for, if it is one.
    pub fn control(&self) -> Option<Control> {
        Some(match *self {
            ClientMessage::Play { position } => Control::Play { position },
            ClientMessage::Pause { position } => Control::Pause { position },
            ClientMessage::Seek { position } => Control::Seek { position },
            ClientMessage::Rate { rate } => Control::Rate { rate },
            _ => return None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    Idle,
    Loading,
    Playing,
    Paused,
    Buffering,
    Seeking,
    Ended,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    Active,
    Away,
    /// Never sent by clients (refused): the server's verdict on a silent member.
    Inactive,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub state: MediaState,
    pub position: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtt_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_ms: Option<f64>,
    pub activity: Activity,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Not JSON, unknown type, missing field, wrong type, or out of range.
    Frame(String),
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<Envelope, Malformed> {
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|e| Malformed::Frame(e.to_string()))?;
    check(&envelope.message)?;
    Ok(envelope)
}

fn check(message: &ClientMessage) -> Result<(), Malformed> {
    let bad = |what: &str| Err(Malformed::Frame(format!("{what} is out of range")));
    let in_range = |x: f64, limit: f64| x.is_finite() && x.abs() <= limit;
    match message {
        ClientMessage::Report(r) => {
            if !(in_range(r.position, MAX_POSITION) && r.position >= 0.0) {
                return bad("position");
            }
            for v in [r.error_ms, r.rtt_ms, r.jitter_ms].into_iter().flatten() {
                if !in_range(v, 10_000_000.0) {
                    return bad("a measurement");
                }
            }
            if r.activity == Activity::Inactive {
                return bad("activity");
            }
        }
        ClientMessage::Time { t0, .. } if !t0.is_finite() => return bad("t0"),
        ClientMessage::Hello { token, .. } if token.len() > 2048 => return bad("token"),
        ClientMessage::PlayItem { item_id }
        | ClientMessage::QueueMove { item_id, .. }
        | ClientMessage::QueueRemove { item_id }
            if item_id.len() > 64 =>
        {
            return bad("item_id");
        }
        ClientMessage::Handover { to } if to.len() > 32 => return bad("to"),
        _ => {}
    }
    Ok(())
}

/// The presence of one member (PROTOCOL.md 2.4).
#[derive(Clone, Debug, Serialize)]
pub struct MemberView<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub avatar: Option<&'a str>,
    pub role: &'a str,
    pub control: bool,
    pub connected: bool,
    pub joined_at: Millis,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub report: Option<&'a Report>,
    pub quality: Quality,
    pub activity: Activity,
    pub ready: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    Good,
    Fair,
    Poor,
    Unknown,
}

/// Network quality from the reported RTT and jitter (PROTOCOL.md 2.4).
pub fn quality(report: Option<&Report>) -> Quality {
    let Some((rtt, jitter)) = report.and_then(|r| Some((r.rtt_ms?, r.jitter_ms.unwrap_or(0.0))))
    else {
        return Quality::Unknown;
    };
    if rtt < 150.0 && jitter < 30.0 {
        Quality::Good
    } else if rtt < 400.0 && jitter < 100.0 {
        Quality::Fair
    } else {
        Quality::Poor
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct QueueItemView<'a> {
    pub item_id: &'a str,
    pub entry_id: &'a str,
    pub title: Option<&'a str>,
    pub added_by: &'a str,
    pub added_at: i64,
}

#[derive(Debug, Serialize)]
pub struct Config {
    #[serde(flatten)]
    pub timings: Timings,
    pub max_frame_bytes: usize,
    pub rate_per_second: u32,
    pub rate_burst: u32,
    pub max_members: usize,
    pub max_queue: i64,
}

#[derive(Debug, Serialize)]
pub struct You<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    pub control: bool,
}

#[derive(Debug, Serialize)]
pub struct RoomView<'a> {
    pub instance_id: &'a str,
    pub guild_id: &'a str,
    pub channel_id: &'a str,
    pub timeline: &'a Timeline,
    pub queue: Vec<QueueItemView<'a>>,
    pub host: Option<&'a str>,
    pub members: Vec<MemberView<'a>>,
}

// Built, serialised once and dropped: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage<'a> {
    Welcome {
        v: u32,
        you: You<'a>,
        room: RoomView<'a>,
        config: Config,
    },
    Time {
        id: u64,
        t0: f64,
        t1: Millis,
        t2: Millis,
    },
    Timeline {
        timeline: &'a Timeline,
    },
    Queue {
        queue: Vec<QueueItemView<'a>>,
    },
    Presence {
        now: Millis,
        host: Option<&'a str>,
        members: Vec<MemberView<'a>>,
    },
    HostRequest {
        from: &'a str,
        name: &'a str,
    },
    Error {
        code: &'a str,
        message: &'a str,
        request: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        req: Option<u32>,
    },
}

impl ServerMessage<'_> {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages serialise")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_message_parses_and_bad_ones_do_not() {
        let ok = [
            r#"{"type":"hello","v":1,"token":"t"}"#,
            r#"{"type":"time","id":1,"t0":12.5}"#,
            r#"{"type":"report","state":"playing","position":1.5,"activity":"active","rtt_ms":20}"#,
            r#"{"type":"ready","seq":3,"req":7}"#,
            r#"{"type":"play"}"#,
            r#"{"type":"pause","position":2}"#,
            r#"{"type":"seek","position":2}"#,
            r#"{"type":"rate","rate":1.5}"#,
            r#"{"type":"skip"}"#,
            r#"{"type":"play_item","item_id":"q1"}"#,
            r#"{"type":"queue_add","entry_id":"0_abc"}"#,
            r#"{"type":"queue_move","item_id":"q1","index":0}"#,
            r#"{"type":"queue_remove","item_id":"q1"}"#,
            r#"{"type":"handover","to":"1"}"#,
            r#"{"type":"request_host","future_field":true}"#,
        ];
        for text in ok {
            parse(text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
        }
        assert_eq!(
            parse(r#"{"type":"ready","seq":3,"req":7}"#).unwrap().req,
            Some(7)
        );
        let bad = [
            "",
            "not json",
            "[]",
            r#"{"type":"dance"}"#,
            r#"{"type":"seek"}"#,
            r#"{"type":"seek","position":"10"}"#,
            r#"{"type":"report","state":"playing","position":-1,"activity":"active"}"#,
            r#"{"type":"report","state":"playing","position":1,"activity":"inactive"}"#,
            r#"{"type":"report","state":"flying","position":1,"activity":"active"}"#,
            r#"{"type":"ready","seq":-1}"#,
            r#"{"type":"time","id":1,"t0":1e999}"#,
        ];
        for text in bad {
            assert!(parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn quality_follows_rtt_and_jitter() {
        let report = |rtt: Option<f64>, jitter| Report {
            state: MediaState::Playing,
            position: 0.0,
            seq: None,
            error_ms: None,
            rtt_ms: rtt,
            jitter_ms: Some(jitter),
            activity: Activity::Active,
        };
        assert_eq!(quality(None), Quality::Unknown);
        assert_eq!(quality(Some(&report(None, 1.0))), Quality::Unknown);
        assert_eq!(quality(Some(&report(Some(40.0), 5.0))), Quality::Good);
        assert_eq!(quality(Some(&report(Some(40.0), 50.0))), Quality::Fair);
        assert_eq!(quality(Some(&report(Some(300.0), 5.0))), Quality::Fair);
        assert_eq!(quality(Some(&report(Some(500.0), 5.0))), Quality::Poor);
    }
}

//! Watch Together from a participant's side: Discord sign-in through `POST /api/token`, and a
//! websocket client of the protocol (tokio-tungstenite) that reads what the server sends.

use super::Server;
use futures_util::{SinkExt, StreamExt};
use kd_core::command::Command;
use kd_sandbox_discord::NewCommandInteraction;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

pub const WAIT: Duration = Duration::from_secs(10);

/// The timings of the tests: short enough to wait for, long enough for a loaded machine.
pub fn timings() -> kd_activity::watch::room::Timings {
    kd_activity::watch::room::Timings {
        heartbeat_ms: 500,
        inactive_after_ms: 30_000,
        idle_close_ms: 40_000,
        ready_timeout_ms: 1500,
        host_grace_ms: 1500,
        empty_room_ms: 60_000,
    }
}

/// A running Activity: its instance id, in the test guild's voice channel.
pub struct Activity {
    pub instance_id: String,
    pub guild_id: String,
    pub channel_id: String,
}

/// The sandbox's entries, as Kaltura ids.
pub fn entries(server: &Server) -> Vec<String> {
    server
        .world
        .kaltura
        .entries()
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

/// `user` runs `/kaltura-watch entry` in the voice channel: the bot queues it and Discord
/// launches the Activity with that user in it.
pub async fn launch(server: &Server, user: u64, entry: &str) -> Activity {
    let world = &server.world;
    let sent = world
        .discord
        .invoke_command(NewCommandInteraction {
            channel_id: world.guild.voice_channel_id,
            ..world.spec(
                user,
                Command::Watch.name(),
                vec![json!({"name": "entry", "value": entry})],
            )
        })
        .unwrap();
    let view = world.answer(sent.id).await;
    let instance_id = view
        .activity_instance_id
        .clone()
        .unwrap_or_else(|| panic!("the Activity launched: {:?}", view.callback));
    Activity {
        instance_id,
        guild_id: world.guild.id.to_string(),
        channel_id: world.guild.voice_channel_id.to_string(),
    }
}

impl Activity {
    /// The user opens the Activity too (Discord adds them to the instance).
    pub fn enter(&self, server: &Server, user: u64) {
        server
            .world
            .discord
            .set_activity_participant(&self.instance_id, user, true)
            .unwrap();
    }

    /// The user opens the Activity, signs in and joins the room on the server at `base` (one
    /// of several replicas, or the test's own server).
    pub async fn join(&self, server: &Server, user: u64, base: &str) -> Client {
        self.enter(server, user);
        Client::connect(base, &session(server, user, self).await).await
    }
}

/// `POST /api/token` with a fresh authorization code of `user`.
pub async fn token_answer(server: &Server, user: u64, activity: &Activity) -> super::Answer {
    let code = server
        .world
        .discord
        .mint_oauth_code(user, vec!["identify".into()], None)
        .unwrap();
    server
        .send(
            server
                .request(reqwest::Method::POST, "/api/token", None)
                .json(&json!({
                    "code": code,
                    "instance_id": activity.instance_id,
                    "guild_id": activity.guild_id,
                    "channel_id": activity.channel_id,
                })),
        )
        .await
}

/// The session token of `user` in the Activity.
pub async fn session(server: &Server, user: u64, activity: &Activity) -> String {
    let answer = token_answer(server, user, activity).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    answer.json()["session"].as_str().unwrap().to_string()
}

pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub welcome: Value,
    pub user_id: String,
    /// The last timeline and queue received (welcome included).
    pub timeline: Value,
    pub queue: Value,
}

pub fn ws_url(base: &str) -> String {
    format!("{}/api/watch/ws", base.replacen("http://", "ws://", 1))
}

/// A websocket that has said nothing yet.
pub async fn raw(base: &str) -> WebSocketStream<MaybeTlsStream<TcpStream>> {
    connect_async(ws_url(base))
        .await
        .expect("the websocket opens")
        .0
}

/// Reads until the server closes; its close code (None: closed without a close frame).
pub async fn close_code(ws: &mut WebSocketStream<MaybeTlsStream<TcpStream>>) -> Option<u16> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => panic!("the server did not close the connection"),
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Ok(None) => return None,
        }
    }
}

impl Client {
    pub async fn connect(base: &str, session: &str) -> Client {
        let mut ws = raw(base).await;
        ws.send(Message::text(
            json!({"type": "hello", "v": 1, "token": session}).to_string(),
        ))
        .await
        .unwrap();
        let mut client = Client {
            ws,
            welcome: Value::Null,
            user_id: String::new(),
            timeline: Value::Null,
            queue: Value::Null,
        };
        let welcome = client.next_of("welcome").await;
        client.user_id = welcome["you"]["user_id"].as_str().unwrap().to_string();
        client.timeline = welcome["room"]["timeline"].clone();
        client.queue = welcome["room"]["queue"].clone();
        client.welcome = welcome;
        client
    }

    pub async fn send(&mut self, message: Value) {
        self.ws
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    pub async fn send_raw(&mut self, message: Message) {
        self.ws.send(message).await.unwrap();
    }

    /// The next message of this type (others are skipped; timelines are remembered).
    pub async fn next_of(&mut self, kind: &str) -> Value {
        self.next_where(kind, |_| true).await
    }

    pub async fn next_where(&mut self, kind: &str, ok: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{}: no {kind} message in time", self.user_id));
            let text = match message {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => panic!(
                    "{}: closed while waiting for {kind}: {frame:?}",
                    self.user_id
                ),
                Some(Ok(_)) => continue,
                other => panic!(
                    "{}: connection ended while waiting for {kind}: {other:?}",
                    self.user_id
                ),
            };
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["type"] == "timeline" {
                self.timeline = value["timeline"].clone();
            }
            if value["type"] == "queue" {
                self.queue = value["queue"].clone();
            }
            if value["type"] == kind && ok(&value) {
                return value;
            }
        }
    }

    /// The next timeline in this state.
    pub async fn timeline_in(&mut self, state: &str) -> Value {
        if self.timeline["state"] == state {
            return self.timeline.clone();
        }
        self.next_where("timeline", |m| m["timeline"]["state"] == state)
            .await["timeline"]
            .clone()
    }

    /// Waits until the queue (as last received) passes `check`.
    pub async fn queue_until(&mut self, check: impl Fn(&Value) -> bool) -> Value {
        if check(&self.queue) {
            return self.queue.clone();
        }
        self.next_where("queue", |m| check(&m["queue"])).await["queue"].clone()
    }

    /// A report that makes this member count for wait-for-ready.
    pub async fn report(&mut self, state: &str, position: f64) {
        self.send(json!({"type": "report", "state": state, "position": position, "activity": "active", "rtt_ms": 20.0, "jitter_ms": 2.0}))
            .await;
    }

    /// Says ready for the timeline it is waiting on.
    pub async fn ready(&mut self) {
        let seq = self.timeline["seq"].clone();
        self.send(json!({"type": "ready", "seq": seq})).await;
    }

    /// Waits until presence shows `check` true.
    pub async fn presence_until(&mut self, check: impl Fn(&Value) -> bool) -> Value {
        self.next_where("presence", check).await
    }

    /// Leaves as the Activity closing does.
    pub async fn leave(mut self) {
        let _ = self
            .ws
            .send(Message::Close(Some(CloseFrame {
                code: 1000.into(),
                reason: "bye".into(),
            })))
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }

    /// The network goes away: no close frame.
    pub fn vanish(self) {
        drop(self.ws);
    }
}

/// The room position of a timeline at server time `t` (PROTOCOL.md 3.2).
pub fn position_at(timeline: &Value, t: f64) -> f64 {
    let position = timeline["position"].as_f64().unwrap();
    if timeline["state"] == "playing" {
        let anchor = timeline["anchor"].as_f64().unwrap();
        position + (t - anchor).max(0.0) / 1000.0 * timeline["rate"].as_f64().unwrap()
    } else {
        position
    }
}

pub fn now_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        * 1000.0
}

/// Everyone reports (so everyone counts for wait-for-ready).
pub async fn all_report(clients: &mut [Client]) {
    for c in clients.iter_mut() {
        c.report("paused", 0.0).await;
    }
    // Reports of different connections arrive in any order: wait until the room has them all.
    let n = clients.len();
    clients[0]
        .presence_until(|p| {
            let members = p["members"].as_array().unwrap();
            members.len() == n && members.iter().all(|m| m["state"].is_string())
        })
        .await;
}

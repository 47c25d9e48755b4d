//! One gateway websocket: Hello, heartbeats, Identify/Resume with Discord's close codes, and
//! delivery of the session's dispatches.

use super::{Conn, Outbound, ResumeError, StartRefused, frame, intents, op};
use crate::model::id_str;
use crate::sandbox::Sandbox;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

/// A close the server initiates: code and Discord's reason text.
type Close = (u16, &'static str);

const UNKNOWN_OPCODE: Close = (4001, "Unknown opcode.");
const DECODE_ERROR: Close = (4002, "Error while decoding payload.");
const NOT_AUTHENTICATED: Close = (4003, "Not authenticated.");
const AUTHENTICATION_FAILED: Close = (4004, "Authentication failed.");
const ALREADY_AUTHENTICATED: Close = (4005, "Already authenticated.");
const INVALID_SEQ: Close = (4007, "Invalid seq.");
const RATE_LIMITED: Close = (4008, "Rate limited.");
const SESSION_TIMED_OUT: Close = (4009, "Session timed out.");
const INVALID_SHARD: Close = (4010, "Invalid shard.");
const SHARDING_REQUIRED: Close = (4011, "Sharding required.");
const INVALID_API_VERSION: Close = (4012, "Invalid API version.");
const INVALID_INTENTS: Close = (4013, "Invalid intent(s).");
const DISALLOWED_INTENTS: Close = (4014, "Disallowed intent(s).");

/// `?v=` must name a gateway version Discord still serves (9 or 10) when given.
pub async fn upgrade(
    State(sandbox): State<Sandbox>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let version_ok = query.get("v").is_none_or(|v| v == "9" || v == "10");
    ws.on_upgrade(move |mut socket| async move {
        if version_ok {
            Connection::new(sandbox).run(socket).await;
        } else {
            close_with(&mut socket, INVALID_API_VERSION).await;
        }
    })
}

struct Connection {
    sandbox: Sandbox,
    conn: Conn,
    rx: mpsc::UnboundedReceiver<Outbound>,
    session: Option<String>,
    /// When the connection times out unless a heartbeat arrives.
    deadline: Instant,
    /// Client payloads in the current rate-limit window, and when it started.
    sent: (Instant, u32),
}

/// Discord allows 120 client payloads per 60 seconds on a connection.
const PAYLOAD_LIMIT: u32 = 120;
const PAYLOAD_WINDOW: Duration = Duration::from_secs(60);

impl Connection {
    fn new(sandbox: Sandbox) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let id = sandbox.gateway().new_conn_id();
        let deadline = Instant::now() + sandbox.config().heartbeat_interval * 2;
        Self {
            sandbox,
            conn: Conn { id, tx },
            rx,
            session: None,
            deadline,
            sent: (Instant::now(), 0),
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        let interval = self.sandbox.config().heartbeat_interval;
        self.send(frame(op::HELLO, &json!({"heartbeat_interval": interval.as_millis() as u64, "_trace": ["kd-sandbox-discord"]})));
        let mut end_session = false;
        loop {
            tokio::select! {
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Text(text))) => {
                        if let Err(close) = self.handle(text.as_str()) {
                            end_session = close != INVALID_SEQ;
                            close_with(&mut socket, close).await;
                            break;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        close_with(&mut socket, DECODE_ERROR).await;
                        break;
                    }
                    Some(Ok(Message::Close(frame))) => {
                        // A client closing with 1000/1001 ends its session; other codes keep it resumable.
                        end_session = frame.as_ref().is_some_and(|f| f.code == 1000 || f.code == 1001);
                        // RFC 6455 5.5.1: the close is answered with a close, which is what tells
                        // the client its close went through (twilight waits for it). The
                        // websocket queued that answer; flushing sends it.
                        let _ = socket.flush().await;
                        break;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Err(_)) | None => break,
                },
                outbound = self.rx.recv() => match outbound {
                    Some(Outbound::Text(text)) => {
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            break;
                        }
                    }
                    Some(Outbound::Close(code, reason)) => {
                        end_session = true;
                        close_with(&mut socket, (code, reason)).await;
                        break;
                    }
                    Some(Outbound::Drop) | None => break,
                },
                () = sleep_until(self.deadline) => {
                    end_session = true;
                    close_with(&mut socket, SESSION_TIMED_OUT).await;
                    break;
                }
            }
        }
        if let Some(session) = &self.session {
            self.sandbox
                .gateway()
                .detach(session, self.conn.id, end_session);
        }
    }

    fn send(&self, text: String) {
        let _ = self.conn.tx.send(Outbound::Text(text));
    }

    fn handle(&mut self, text: &str) -> Result<(), Close> {
        let now = Instant::now();
        if now >= self.sent.0 + PAYLOAD_WINDOW {
            self.sent = (now, 0);
        }
        self.sent.1 += 1;
        if self.sent.1 > PAYLOAD_LIMIT {
            return Err(RATE_LIMITED);
        }
        let payload: Value = serde_json::from_str(text).map_err(|_| DECODE_ERROR)?;
        let opcode = payload["op"].as_u64().ok_or(DECODE_ERROR)?;
        let d = &payload["d"];
        match u8::try_from(opcode).unwrap_or(u8::MAX) {
            op::HEARTBEAT => {
                self.deadline = Instant::now() + self.sandbox.config().heartbeat_interval * 3 / 2;
                self.send(frame(op::HEARTBEAT_ACK, &Value::Null));
                Ok(())
            }
            op::IDENTIFY => self.identify(d),
            op::RESUME => self.resume(d),
            op::PRESENCE_UPDATE | op::VOICE_STATE_UPDATE | op::REQUEST_GUILD_MEMBERS
                if self.session.is_none() =>
            {
                Err(NOT_AUTHENTICATED)
            }
            op::PRESENCE_UPDATE | op::VOICE_STATE_UPDATE => Ok(()),
            op::REQUEST_GUILD_MEMBERS => {
                self.members_chunk(d);
                Ok(())
            }
            _ if self.session.is_none() => Err(NOT_AUTHENTICATED),
            _ => Err(UNKNOWN_OPCODE),
        }
    }

    fn check_token(&self, d: &Value) -> Result<(), Close> {
        let token = d["token"].as_str().unwrap_or("");
        let token = token.strip_prefix("Bot ").unwrap_or(token);
        if self.sandbox.world(|w| w.app.bot_token == token) {
            Ok(())
        } else {
            Err(AUTHENTICATION_FAILED)
        }
    }

    fn identify(&mut self, d: &Value) -> Result<(), Close> {
        if self.session.is_some() {
            return Err(ALREADY_AUTHENTICATED);
        }
        self.check_token(d)?;
        let intents = d["intents"].as_u64().ok_or(INVALID_INTENTS)?;
        if intents & !intents::ALL != 0 {
            return Err(INVALID_INTENTS);
        }
        if intents & intents::PRIVILEGED & !self.sandbox.config().privileged_intents != 0 {
            return Err(DISALLOWED_INTENTS);
        }
        let shard = match d.get("shard").filter(|s| !s.is_null()) {
            None => [0, 1],
            Some(shard) => match (shard[0].as_u64(), shard[1].as_u64()) {
                (Some(id), Some(count)) if id < count => [id, count],
                _ => return Err(INVALID_SHARD),
            },
        };
        // Bound first: a guard in the match's scrutinee would hold the gateway lock through the
        // arms, which take it again.
        let started = self.sandbox.gateway().start_session(shard[0]);
        match started {
            Ok(()) => {}
            Err(StartRefused::TooSoon) => {
                self.send(frame(op::INVALID_SESSION, &Value::Bool(false)));
                return Ok(());
            }
            Err(StartRefused::Exhausted) => {
                // Discord: "all active sessions for the app will be terminated, the bot token
                // will be reset". The old token then fails, so every connection gets 4004.
                let _ = self.sandbox.apply(|w| {
                    w.reset_bot_token();
                    Ok(((), vec![]))
                });
                self.sandbox.gateway().terminate_all(AUTHENTICATION_FAILED);
                return Err(AUTHENTICATION_FAILED);
            }
        }
        let sandbox = self.sandbox.clone();
        let gateway_url = sandbox.gateway_url().to_owned();
        let session_id = sandbox.world(|w| {
            let guilds: Vec<_> = w.bot_guilds().filter(|g| (g.id >> 22) % shard[1] == shard[0]).collect();
            if guilds.len() > 2500 {
                return Err(SHARDING_REQUIRED);
            }
            let mut gateway = sandbox.gateway();
            let session_id = gateway.create_session(self.conn.clone(), intents, shard);
            let ready = json!({
                "v": 10,
                "user": w.bot_user().to_current_json(false),
                "guilds": guilds.iter().map(|g| json!({"id": id_str(g.id), "unavailable": true})).collect::<Vec<_>>(),
                "session_id": session_id,
                "resume_gateway_url": gateway_url,
                "shard": shard,
                "application": {"id": id_str(w.app.id), "flags": 0},
                "session_type": "normal",
                "private_channels": [],
                "relationships": [],
                "presences": [],
                "guild_join_requests": [],
                "user_settings": {},
                "_trace": ["kd-sandbox-discord"],
            });
            gateway.dispatch_to(&session_id, "READY", &ready);
            if intents & intents::GUILDS != 0 {
                for guild in guilds {
                    gateway.dispatch_to(&session_id, "GUILD_CREATE", &w.guild_create_payload(guild));
                }
            }
            Ok(session_id)
        })?;
        self.session = Some(session_id);
        Ok(())
    }

    fn resume(&mut self, d: &Value) -> Result<(), Close> {
        if self.session.is_some() {
            return Err(ALREADY_AUTHENTICATED);
        }
        self.check_token(d)?;
        let session_id = d["session_id"].as_str().unwrap_or("").to_owned();
        let seq = d["seq"].as_u64().unwrap_or(0);
        let window = self.sandbox.config().resume_window;
        let mut gateway = self.sandbox.gateway();
        match gateway.resume(&session_id, seq, self.conn.clone(), window) {
            Ok(replay) => {
                for text in replay {
                    self.send(text);
                }
                gateway.dispatch_to(
                    &session_id,
                    "RESUMED",
                    &json!({"_trace": ["kd-sandbox-discord"]}),
                );
                drop(gateway);
                self.session = Some(session_id);
                Ok(())
            }
            Err(ResumeError::Invalid) => {
                self.send(frame(op::INVALID_SESSION, &Value::Bool(false)));
                Ok(())
            }
            Err(ResumeError::InvalidSeq) => Err(INVALID_SEQ),
        }
    }

    /// Op 8: one GUILD_MEMBERS_CHUNK with the matching members.
    fn members_chunk(&self, d: &Value) {
        let Some(session) = &self.session else { return };
        let guild_id = crate::ids::parse_id(&d["guild_id"]).unwrap_or(0);
        let query = d["query"].as_str().unwrap_or("").to_lowercase();
        let user_ids: Vec<u64> = d["user_ids"]
            .as_array()
            .map(|ids| ids.iter().filter_map(crate::ids::parse_id).collect())
            .unwrap_or_default();
        let members = self.sandbox.world(|w| {
            let Ok(guild) = w.bot_guild(guild_id) else {
                return vec![];
            };
            guild
                .members
                .values()
                .filter_map(|m| w.user(m.user_id).ok().map(|u| (m, u)))
                .filter(|(m, u)| {
                    if user_ids.is_empty() {
                        u.username.to_lowercase().starts_with(&query)
                    } else {
                        user_ids.contains(&m.user_id)
                    }
                })
                .map(|(m, u)| m.to_json(u, None))
                .collect::<Vec<_>>()
        });
        let mut chunk = json!({"guild_id": id_str(guild_id), "members": members, "chunk_index": 0, "chunk_count": 1});
        if let Some(nonce) = d.get("nonce") {
            chunk["nonce"] = nonce.clone();
        }
        self.sandbox
            .gateway()
            .dispatch_to(session, "GUILD_MEMBERS_CHUNK", &chunk);
    }
}

async fn close_with(socket: &mut WebSocket, (code, reason): Close) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

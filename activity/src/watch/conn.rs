//! One participant's websocket: `hello` and the session check, then the member's requests,
//! each frame checked for size, rate and shape. Whatever one client sends, only its own
//! connection is closed (PROTOCOL.md sections 6 and 7).

use super::hub::{ExecError, Outbound};
use super::protocol::{
    self, ClientMessage, MAX_FRAME_BYTES, MAX_QUEUE, OUTBOUND_QUEUE, RATE_BURST, RATE_PER_SECOND,
    ServerMessage, VERSIONS, close,
};
use super::room::{self, Command, Refusal};
use super::session::{self, SessionClaims};
use crate::AppState;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use governor::{Quota, RateLimiter};
use kd_store::NewQueueItem;
use std::num::NonZeroU32;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Larger frames are dropped by the websocket layer itself; up to here they get a clean 1009.
const HARD_FRAME_LIMIT: usize = 64 * 1024;
/// The protocol's frames are a few hundred bytes; tungstenite's defaults (128 KiB to read and
/// 128 KiB to write, per connection) made 5,000 participants cost 740 MiB. A larger frame
/// still arrives whole, read in more steps.
const READ_BUFFER: usize = 4 * 1024;

pub async fn upgrade(State(api): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(HARD_FRAME_LIMIT)
        .max_frame_size(HARD_FRAME_LIMIT)
        .read_buffer_size(READ_BUFFER)
        // Every message is flushed as it is sent (it is a timeline update someone waits for).
        .write_buffer_size(0)
        .on_upgrade(move |socket| run(api, socket))
}

/// Why the reading side stopped.
enum End {
    /// The client closed: leaving.
    Left,
    /// The connection broke or went silent: dropped (the seat is held for the grace period).
    Dropped,
    /// The server closes with this code.
    Close(u16),
}

async fn run(api: AppState, socket: WebSocket) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Outbound>(OUTBOUND_QUEUE);
    let (kill, mut killed) = watch::channel::<Option<u16>>(None);
    // The writer: everything for this client, then at most one close frame.
    let mut writer_killed = killed.clone();
    let writer = tokio::spawn(async move {
        let code = loop {
            tokio::select! {
                out = rx.recv() => match out {
                    Some(Outbound::Text(text)) => {
                        if sink.send(Message::Text(text)).await.is_err() {
                            return;
                        }
                    }
                    // The reader ended; a close code may have been set just before.
                    None => break *writer_killed.borrow(),
                },
                _ = writer_killed.changed() => break *writer_killed.borrow(),
            }
        };
        if let Some(code) = code {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from(reason(code)),
            };
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                sink.send(Message::Close(Some(frame))),
            )
            .await;
        }
    });
    let end = session(&api, &mut stream, &tx, &kill, &mut killed).await;
    let code = match end {
        End::Close(code) => Some(code),
        _ => None,
    };
    if let Some(code) = code {
        api.watch.hub.metrics.closed(code);
        let _ = kill.send(Some(code));
    }
    drop(tx);
    let _ = writer.await;
    // The close handshake: read until the client's close (or a second), so what it still
    // sends cannot turn our close into a reset that loses the close frame.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

fn reason(code: u16) -> String {
    match code {
        close::TOO_BIG => format!("frame larger than {MAX_FRAME_BYTES} bytes"),
        close::BAD_FRAME => "bad frame".into(),
        close::UNAUTHORIZED => "unauthorized".into(),
        close::HELLO_TIMEOUT => "hello timeout".into(),
        close::UNSUPPORTED_VERSION => {
            let supported: Vec<String> = VERSIONS.iter().map(u32::to_string).collect();
            format!("supported: {}", supported.join(","))
        }
        close::RATE_LIMITED => "rate limited".into(),
        close::REPLACED => "replaced by a newer connection".into(),
        close::IDLE => "idle".into(),
        close::TOO_SLOW => "too slow".into(),
        close::ROOM_FULL => "room full".into(),
        close::GOING_AWAY => "going away".into(),
        _ => "server error".into(),
    }
}

type Stream = futures_util::stream::SplitStream<WebSocket>;

/// One frame of text, after the size check; None when the connection ended.
enum Frame {
    Text(Utf8Bytes),
    End(End),
}

fn frame(message: Option<Result<Message, axum::Error>>) -> Option<Frame> {
    Some(match message {
        None | Some(Err(_)) => Frame::End(End::Dropped),
        Some(Ok(Message::Text(text))) if text.len() > MAX_FRAME_BYTES => {
            Frame::End(End::Close(close::TOO_BIG))
        }
        Some(Ok(Message::Text(text))) => Frame::Text(text),
        Some(Ok(Message::Binary(_))) => Frame::End(End::Close(close::BAD_FRAME)),
        Some(Ok(Message::Close(frame))) => match frame.map(|f| f.code) {
            None | Some(close::NORMAL) | Some(close::GOING_AWAY) => Frame::End(End::Left),
            Some(_) => Frame::End(End::Dropped),
        },
        // Pings are answered by the websocket layer; they still show the client is there.
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => return None,
    })
}

async fn session(
    api: &AppState,
    stream: &mut Stream,
    tx: &mpsc::Sender<Outbound>,
    kill: &watch::Sender<Option<u16>>,
    killed: &mut watch::Receiver<Option<u16>>,
) -> End {
    let hub = &api.watch.hub;
    // hello, within its time.
    let hello = tokio::time::timeout(HELLO_TIMEOUT, async {
        loop {
            if let Some(frame) = frame(stream.next().await) {
                return frame;
            }
        }
    })
    .await;
    let text = match hello {
        Err(_) => return End::Close(close::HELLO_TIMEOUT),
        Ok(Frame::End(end)) => return end,
        Ok(Frame::Text(text)) => text,
    };
    let claims = match protocol::parse(&text).map(|e| e.message) {
        Ok(ClientMessage::Hello { v, .. }) if !VERSIONS.contains(&v) => {
            return End::Close(close::UNSUPPORTED_VERSION);
        }
        Ok(ClientMessage::Hello { token, .. }) => match session::verify(&api.watch.key, &token) {
            Ok(claims) => claims,
            Err(_) => return End::Close(close::UNAUTHORIZED),
        },
        _ => return End::Close(close::BAD_FRAME),
    };
    let conn = match hub.connect(api, &claims, tx.clone(), kill.clone()).await {
        Ok(joined) => joined,
        Err(ExecError::Refused(Refusal::RoomFull)) => return End::Close(close::ROOM_FULL),
        Err(err) => {
            tracing::warn!(error = %err, "joining a room failed");
            return End::Close(close::SERVER_ERROR);
        }
    };
    let end = members_loop(api, &claims, stream, tx, killed).await;
    let graceful = matches!(end, End::Left);
    hub.disconnect(api, &claims, &conn, graceful).await;
    end
}

async fn members_loop(
    api: &AppState,
    claims: &SessionClaims,
    stream: &mut Stream,
    tx: &mpsc::Sender<Outbound>,
    killed: &mut watch::Receiver<Option<u16>>,
) -> End {
    let idle = Duration::from_millis(api.watch.hub.timings.idle_close_ms);
    let limiter = RateLimiter::direct(
        Quota::per_second(NonZeroU32::new(RATE_PER_SECOND).expect("non-zero"))
            .allow_burst(NonZeroU32::new(RATE_BURST).expect("non-zero")),
    );
    loop {
        let next = tokio::select! {
            next = tokio::time::timeout(idle, stream.next()) => next,
            _ = killed.changed() => {
                // Closed by the hub (replaced, too slow): the writer sends the close frame.
                return End::Close((*killed.borrow()).unwrap_or(close::SERVER_ERROR));
            }
        };
        let Ok(message) = next else {
            return End::Close(close::IDLE);
        };
        let received = room::now_ms();
        let text = match frame(message) {
            None => continue,
            Some(Frame::End(end)) => return end,
            Some(Frame::Text(text)) => text,
        };
        if limiter.check().is_err() {
            return End::Close(close::RATE_LIMITED);
        }
        let envelope = match protocol::parse(&text) {
            Ok(e) => e,
            Err(_) => return End::Close(close::BAD_FRAME),
        };
        let name = envelope.message.name();
        match handle(api, claims, envelope.message, received, tx).await {
            Ok(()) => {}
            Err(Handled::Close(code)) => return End::Close(code),
            Err(Handled::Refused(code, message)) => {
                let error = ServerMessage::Error {
                    code,
                    message: &message,
                    request: name,
                    req: envelope.req,
                };
                let _ = tx.try_send(Outbound::Text(Utf8Bytes::from(error.to_json())));
            }
        }
    }
}

enum Handled {
    Close(u16),
    Refused(&'static str, String),
}

impl From<ExecError> for Handled {
    fn from(err: ExecError) -> Self {
        if let ExecError::Store(store) = &err {
            tracing::warn!(error = %store, "a room change failed");
        }
        Handled::Refused(err.code(), err.to_string())
    }
}

fn refused(code: &'static str, message: &str) -> Handled {
    Handled::Refused(code, message.to_string())
}

async fn handle(
    api: &AppState,
    claims: &SessionClaims,
    message: ClientMessage,
    received: f64,
    tx: &mpsc::Sender<Outbound>,
) -> Result<(), Handled> {
    let hub = &api.watch.hub;
    let instance = claims.instance.as_str();
    let user_id = claims.sub.clone();
    match message {
        ClientMessage::Play { .. }
        | ClientMessage::Pause { .. }
        | ClientMessage::Seek { .. }
        | ClientMessage::Rate { .. } => {
            let control = message.control().expect("a timeline control");
            hub.execute(api, instance, Command::Control { user_id, control })
                .await?;
        }
        ClientMessage::Hello { .. } => return Err(Handled::Close(close::BAD_FRAME)),
        ClientMessage::Time { id, t0 } => {
            let reply = ServerMessage::Time {
                id,
                t0,
                t1: received,
                t2: room::now_ms(),
            };
            let _ = tx.try_send(Outbound::Text(Utf8Bytes::from(reply.to_json())));
        }
        ClientMessage::Report(report) => hub.report(api, claims, report).await?,
        ClientMessage::Ready { seq } => {
            hub.execute(api, instance, Command::Ready { user_id, seq })
                .await?;
        }
        ClientMessage::Handover { to } => {
            hub.execute(api, instance, Command::Handover { user_id, to })
                .await?;
        }
        ClientMessage::RequestHost => {
            hub.execute(api, instance, Command::RequestHost { user_id })
                .await?;
        }
        ClientMessage::Skip | ClientMessage::PlayItem { .. } => {
            let room = hub.snapshot(instance).await.map_err(ExecError::from)?;
            let room = room.ok_or(ExecError::Refused(Refusal::NotMember))?;
            if !room.can_control(&claims.sub) {
                return Err(ExecError::Refused(Refusal::Forbidden).into());
            }
            let item = match &message {
                ClientMessage::PlayItem { item_id } => Some(item_id.as_str()),
                _ => None,
            };
            let autoplay = room.timeline.state != room::PlayState::Paused;
            hub.advance(api, instance, item, autoplay).await?;
        }
        ClientMessage::QueueAdd { entry_id } => {
            if !super::playback::is_entry_id(&entry_id) {
                return Err(refused("invalid", "entry_id is not a Kaltura entry id"));
            }
            let store = &api.store;
            let length = store.watch_queue_len(&claims.channel).await;
            if length.map_err(ExecError::from)? >= MAX_QUEUE {
                return Err(refused("queue_full", "the queue is full"));
            }
            let entry = super::lookup(api, &claims.guild, &entry_id)
                .await
                .map_err(|(code, message)| refused(code, &message))?;
            store
                .watch_queue_add(NewQueueItem {
                    guild_id: &claims.guild,
                    channel_id: &claims.channel,
                    entry_id: &entry.entry_id,
                    title: entry.title.as_deref(),
                    added_by: &claims.sub,
                })
                .await
                .map_err(ExecError::from)?;
        }
        ClientMessage::QueueMove { item_id, index } => {
            let room = hub.snapshot(instance).await.map_err(ExecError::from)?;
            if !room.is_some_and(|r| r.can_control(&claims.sub)) {
                return Err(ExecError::Refused(Refusal::Forbidden).into());
            }
            let moved = api
                .store
                .watch_queue_move(&claims.channel, &item_id, index)
                .await
                .map_err(ExecError::from)?;
            if !moved {
                return Err(ExecError::Refused(Refusal::NotFound).into());
            }
        }
        ClientMessage::QueueRemove { item_id } => {
            let room = hub.snapshot(instance).await.map_err(ExecError::from)?;
            let controls = room.is_some_and(|r| r.can_control(&claims.sub));
            let item = hub.queue_item(instance, &item_id);
            let author = item.as_ref().is_some_and(|i| i.added_by == claims.sub);
            if !controls && !author {
                return Err(match item {
                    Some(_) => ExecError::Refused(Refusal::Forbidden).into(),
                    None => ExecError::Refused(Refusal::NotFound).into(),
                });
            }
            let taken = api
                .store
                .watch_queue_take(&claims.channel, &item_id)
                .await
                .map_err(ExecError::from)?;
            if taken.is_none() {
                return Err(ExecError::Refused(Refusal::NotFound).into());
            }
        }
    }
    Ok(())
}

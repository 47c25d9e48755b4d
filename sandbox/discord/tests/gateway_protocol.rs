//! The gateway at the protocol level with a plain websocket client: Hello, heartbeat ACK,
//! the close codes Discord uses for each mistake, the session start limit and resumes from
//! another connection.

mod common;

use common::{guild_with_member, start};
use futures_util::{SinkExt, StreamExt};
use kd_sandbox_discord::{Config, DiscordSandbox, NewGuild, SessionStartLimit};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(sandbox: &DiscordSandbox) -> (Socket, Value) {
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("{}?v=10&encoding=json", sandbox.gateway_url()))
            .await
            .unwrap();
    let hello = next_json(&mut socket).await;
    assert_eq!(hello["op"], 10);
    (socket, hello)
}

async fn next_json(socket: &mut Socket) -> Value {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame")
            .expect("open")
            .unwrap()
        {
            Message::Text(text) => return serde_json::from_str(&text).unwrap(),
            Message::Close(frame) => panic!("closed: {frame:?}"),
            _ => {}
        }
    }
}

/// Sends the payloads and returns the close code the server answers with.
async fn close_code(sandbox: &DiscordSandbox, payloads: &[Value]) -> u16 {
    let (mut socket, _) = connect(sandbox).await;
    for payload in payloads {
        let text = if payload.is_string() {
            payload.as_str().unwrap().to_owned()
        } else {
            payload.to_string()
        };
        socket.send(Message::text(text)).await.unwrap();
    }
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a close within 5 s")
        {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(_)) => {}
            other => panic!("connection ended without a close frame: {other:?}"),
        }
    }
}

fn identify(token: &str, intents: u64) -> Value {
    json!({"op": 2, "d": {"token": token, "intents": intents, "properties": {"os": "linux", "browser": "test", "device": "test"}}})
}

#[tokio::test]
async fn hello_then_heartbeat_ack() {
    let sandbox = start(Config {
        heartbeat_interval: Duration::from_millis(45_000),
        ..Config::default()
    })
    .await;
    let (mut socket, hello) = connect(&sandbox).await;
    assert_eq!(
        hello,
        json!({"t": null, "s": null, "op": 10, "d": {"heartbeat_interval": 45000, "_trace": ["kd-sandbox-discord"]}})
    );
    socket
        .send(Message::text(r#"{"op":1,"d":null}"#))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut socket).await,
        json!({"t": null, "s": null, "op": 11, "d": null})
    );
}

#[tokio::test]
async fn identify_mistakes_close_with_discord_codes() {
    // Several identifies in a row: without pacing, Discord's 5 s per bucket would answer
    // the later ones with op 9 (tested on its own below).
    let sandbox = start(limit(SessionStartLimit {
        identify_interval: Duration::ZERO,
        ..SessionStartLimit::default()
    }))
    .await;
    let token = sandbox.bot_token();
    assert_eq!(close_code(&sandbox, &[identify("wrong", 1)]).await, 4004);
    assert_eq!(
        close_code(&sandbox, &[identify(&token, 1 << 30)]).await,
        4013
    );
    assert_eq!(
        close_code(&sandbox, &[identify(&token, 1 << 8)]).await,
        4014,
        "GUILD_PRESENCES is not approved"
    );
    assert_eq!(close_code(&sandbox, &[json!("not json")]).await, 4002);
    assert_eq!(
        close_code(&sandbox, &[json!({"op": 3, "d": {}})]).await,
        4003
    );
    assert_eq!(
        close_code(&sandbox, &[identify(&token, 1), identify(&token, 1)]).await,
        4005
    );
    assert_eq!(
        close_code(
            &sandbox,
            &[identify(&token, 1), json!({"op": 99, "d": null})]
        )
        .await,
        4001
    );
    let bad_shard =
        json!({"op": 2, "d": {"token": token, "intents": 1, "shard": [2, 2], "properties": {}}});
    assert_eq!(close_code(&sandbox, &[bad_shard]).await, 4010);
}

#[tokio::test]
async fn resume_with_a_future_seq_is_4007_and_unknown_session_is_op9() {
    let sandbox = start(Config::default()).await;
    guild_with_member(&sandbox);
    let token = sandbox.bot_token();
    let (mut socket, _) = connect(&sandbox).await;
    socket
        .send(Message::text(identify(&token, 1).to_string()))
        .await
        .unwrap();
    let ready = next_json(&mut socket).await;
    assert_eq!(
        (ready["t"].as_str(), ready["s"].as_u64()),
        (Some("READY"), Some(1))
    );
    let session_id = ready["d"]["session_id"].as_str().unwrap().to_owned();
    drop(socket);

    let resume = |seq: u64, session: &str| json!({"op": 6, "d": {"token": token, "session_id": session, "seq": seq}});
    assert_eq!(close_code(&sandbox, &[resume(50, &session_id)]).await, 4007);

    let (mut socket, _) = connect(&sandbox).await;
    socket
        .send(Message::text(resume(1, "no-such-session").to_string()))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut socket).await,
        json!({"t": null, "s": null, "op": 9, "d": false})
    );

    // The real session resumes: GUILD_CREATE (s=2) is replayed, then RESUMED.
    let (mut socket, _) = connect(&sandbox).await;
    socket
        .send(Message::text(resume(1, &session_id).to_string()))
        .await
        .unwrap();
    let replayed = next_json(&mut socket).await;
    assert_eq!(
        (replayed["t"].as_str(), replayed["s"].as_u64()),
        (Some("GUILD_CREATE"), Some(2))
    );
    let resumed = next_json(&mut socket).await;
    assert_eq!(
        (resumed["t"].as_str(), resumed["s"].as_u64()),
        (Some("RESUMED"), Some(3))
    );
}

#[tokio::test]
async fn an_unsupported_api_version_is_4012() {
    let sandbox = start(Config::default()).await;
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("{}?v=6&encoding=json", sandbox.gateway_url()))
            .await
            .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a frame")
    {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4012),
        other => panic!("expected close 4012, got {other:?}"),
    }
}

#[tokio::test]
async fn more_than_120_payloads_a_minute_is_4008() {
    let sandbox = start(Config::default()).await;
    let heartbeats = vec![json!({"op": 1, "d": null}); 121];
    assert_eq!(close_code(&sandbox, &heartbeats).await, 4008);
}

#[tokio::test]
async fn missing_heartbeats_time_the_session_out() {
    let sandbox = start(Config {
        heartbeat_interval: Duration::from_millis(200),
        ..Config::default()
    })
    .await;
    let token = sandbox.bot_token();
    assert_eq!(close_code(&sandbox, &[identify(&token, 1)]).await, 4009);
    assert!(
        sandbox.gateway_sessions().is_empty(),
        "a timed-out session cannot be resumed"
    );
}

/// A new connection that identifies as `shard`; returns it with the first payload answered.
async fn identify_shard(sandbox: &DiscordSandbox, token: &str, shard: [u64; 2]) -> (Socket, Value) {
    let (mut socket, _) = connect(sandbox).await;
    let mut payload = identify(token, 1);
    payload["d"]["shard"] = json!(shard);
    socket
        .send(Message::text(payload.to_string()))
        .await
        .unwrap();
    let answer = next_json(&mut socket).await;
    (socket, answer)
}

/// Reads an open connection until it ends: the close code, or `None` when cut without one.
async fn end_of(socket: &mut Socket) -> Option<u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("the connection ends within 5 s")
        {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code.into()),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

const INVALID_SESSION: fn() -> Value = || json!({"t": null, "s": null, "op": 9, "d": false});

fn limit(limit: SessionStartLimit) -> Config {
    Config {
        session_start_limit: limit,
        ..Config::default()
    }
}

/// Discord: "Upon hitting this limit, all active sessions for the app will be terminated, the
/// bot token will be reset". The refused identify and every live session get 4004.
#[tokio::test]
async fn an_identify_past_the_session_start_limit_ends_every_session_and_resets_the_token() {
    let sandbox = start(limit(SessionStartLimit {
        total: 2,
        identify_interval: Duration::ZERO,
        ..SessionStartLimit::default()
    }))
    .await;
    let token = sandbox.bot_token();
    let (mut first, ready) = identify_shard(&sandbox, &token, [0, 1]).await;
    assert_eq!(ready["t"], "READY");
    let (mut second, ready) = identify_shard(&sandbox, &token, [0, 1]).await;
    assert_eq!(ready["t"], "READY");
    assert_eq!(sandbox.session_start_limit().remaining, 0);

    assert_eq!(close_code(&sandbox, &[identify(&token, 1)]).await, 4004);
    assert_eq!(end_of(&mut first).await, Some(4004));
    assert_eq!(end_of(&mut second).await, Some(4004));
    assert!(sandbox.gateway_sessions().is_empty());

    let new_token = sandbox.bot_token();
    assert_ne!(new_token, token, "the token was reset");
    let web = common::web();
    let gateway_bot = |token: String| {
        web.get(format!("{}/api/v10/gateway/bot", sandbox.base_url()))
            .header("Authorization", format!("Bot {token}"))
            .send()
    };
    assert_eq!(gateway_bot(token.clone()).await.unwrap().status(), 401);
    let body: Value = gateway_bot(new_token).await.unwrap().json().await.unwrap();
    assert_eq!(body["session_start_limit"]["remaining"], 0);
    assert_eq!(body["session_start_limit"]["total"], 2);
    let resume = json!({"op": 6, "d": {"token": token, "session_id": "any", "seq": 0}});
    assert_eq!(
        close_code(&sandbox, &[resume]).await,
        4004,
        "the old token is dead"
    );
}

/// Discord buckets identifies by `shard_id % max_concurrency`, one per bucket per 5 seconds,
/// and answers one too soon with op 9 (not resumable); it starts nothing and costs nothing.
#[tokio::test]
async fn an_identify_too_soon_for_its_concurrency_bucket_is_op9() {
    let interval = Duration::from_millis(400);
    let sandbox = start(limit(SessionStartLimit {
        max_concurrency: 2,
        identify_interval: interval,
        ..SessionStartLimit::default()
    }))
    .await;
    let token = sandbox.bot_token();
    let (_zero, ready) = identify_shard(&sandbox, &token, [0, 4]).await;
    assert_eq!(ready["t"], "READY");
    let (_one, ready) = identify_shard(&sandbox, &token, [1, 4]).await;
    assert_eq!(ready["t"], "READY", "another bucket");
    let (mut two, refused) = identify_shard(&sandbox, &token, [2, 4]).await;
    assert_eq!(refused, INVALID_SESSION(), "bucket 0 identified just now");
    assert_eq!(sandbox.gateway_sessions().len(), 2);
    let status = sandbox.session_start_limit();
    assert_eq!((status.total, status.remaining), (1000, 998));
    assert_eq!(status.max_concurrency, 2);

    tokio::time::sleep(interval).await;
    let mut again = identify(&token, 1);
    again["d"]["shard"] = json!([2, 4]);
    two.send(Message::text(again.to_string())).await.unwrap();
    let ready = next_json(&mut two).await;
    assert_eq!(ready["t"], "READY", "the bucket is open again");
    assert_eq!(ready["d"]["shard"], json!([2, 4]));
    assert_eq!(sandbox.session_start_limit().remaining, 997);
}

#[tokio::test]
async fn the_session_start_limit_resets_after_reset_after() {
    let period = Duration::from_millis(500);
    let sandbox = start(limit(SessionStartLimit {
        total: 1,
        reset_after: period,
        identify_interval: Duration::ZERO,
        ..SessionStartLimit::default()
    }))
    .await;
    let token = sandbox.bot_token();
    assert_eq!(sandbox.session_start_limit().reset_after, 500);
    let (_first, ready) = identify_shard(&sandbox, &token, [0, 1]).await;
    assert_eq!(ready["t"], "READY");
    let used = sandbox.session_start_limit();
    assert_eq!(used.remaining, 0);
    assert!(used.reset_after <= 500, "{used:?}");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        sandbox.session_start_limit().reset_after < used.reset_after,
        "it counts down"
    );

    tokio::time::sleep(period).await;
    assert_eq!(sandbox.session_start_limit().remaining, 1);
    let (_second, ready) = identify_shard(&sandbox, &token, [0, 1]).await;
    assert_eq!(ready["t"], "READY");
    assert_eq!(sandbox.bot_token(), token);
}

/// A session belongs to the token, not the connection: another connection resumes it, and
/// the connection still holding it is cut.
#[tokio::test]
async fn a_resume_from_another_connection_takes_the_session_over() {
    let sandbox = start(Config::default()).await;
    let token = sandbox.bot_token();
    let (mut old, ready) = identify_shard(&sandbox, &token, [0, 1]).await;
    let session_id = ready["d"]["session_id"].as_str().unwrap().to_owned();

    let (mut new, _) = connect(&sandbox).await;
    let resume = json!({"op": 6, "d": {"token": token, "session_id": session_id, "seq": 1}});
    new.send(Message::text(resume.to_string())).await.unwrap();
    let resumed = next_json(&mut new).await;
    assert_eq!(
        (resumed["t"].as_str(), resumed["s"].as_u64()),
        (Some("RESUMED"), Some(2))
    );
    assert_eq!(end_of(&mut old).await, None, "the old connection is cut");

    sandbox
        .create_guild(NewGuild {
            name: "after".into(),
            ..NewGuild::default()
        })
        .unwrap();
    let created = next_json(&mut new).await;
    assert_eq!(
        (created["t"].as_str(), created["s"].as_u64()),
        (Some("GUILD_CREATE"), Some(3))
    );
    let sessions = sandbox.gateway_sessions();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].connected);
    assert_eq!(
        sandbox.session_start_limit().remaining,
        999,
        "resumes are free"
    );
}

/// RFC 6455: a close is answered with a close (clients such as twilight wait for it before
/// they consider a resumable close done), and a 4000 close keeps the session resumable.
#[tokio::test]
async fn a_client_close_is_answered_with_a_close_and_4000_keeps_the_session() {
    let sandbox = start(Config::default()).await;
    let (mut socket, ready) = identify_shard(&sandbox, &sandbox.bot_token(), [0, 1]).await;
    let session_id = ready["d"]["session_id"].as_str().unwrap().to_string();
    socket
        .send(Message::Close(Some(
            tokio_tungstenite::tungstenite::protocol::CloseFrame {
                code: 4000.into(),
                reason: "handing over".into(),
            },
        )))
        .await
        .unwrap();
    assert_eq!(end_of(&mut socket).await, Some(4000), "the close echoed");
    // The sandbox lets go of the connection just after answering.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while sandbox
        .gateway_sessions()
        .iter()
        .any(|s| s.session_id == session_id && s.connected)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the session stays attached"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (mut other, _) = connect(&sandbox).await;
    other
        .send(Message::text(
            json!({"op": 6, "d": {"token": sandbox.bot_token(), "session_id": session_id, "seq": 0}})
                .to_string(),
        ))
        .await
        .unwrap();
    loop {
        let event = next_json(&mut other).await;
        if event["t"] == "RESUMED" {
            break;
        }
    }
}

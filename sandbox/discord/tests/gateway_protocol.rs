//! The gateway at the protocol level with a plain websocket client: Hello, heartbeat ACK,
//! and the close codes Discord uses for each mistake.

mod common;

use common::{guild_with_member, start};
use futures_util::{SinkExt, StreamExt};
use kd_sandbox_discord::{Config, DiscordSandbox};
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
    let sandbox = start(Config::default()).await;
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

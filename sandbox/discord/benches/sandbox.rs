//! Sandbox throughput and latency, printed as JSON. Run:
//! `cargo bench -p kd-sandbox-discord --bench sandbox`

use futures_util::{SinkExt, StreamExt};
use kd_sandbox_discord::{
    Config, DiscordSandbox, MemberSpec, NewCommandInteraction, NewGuild, NewUser,
};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const DISPATCHES: usize = 20_000;
const ROUND_TRIPS: usize = 500;

#[tokio::main]
async fn main() {
    let sandbox = DiscordSandbox::start(Config::default())
        .await
        .expect("sandbox starts");
    let guild = sandbox
        .create_guild(NewGuild {
            name: "bench".into(),
            ..NewGuild::default()
        })
        .unwrap();
    let ann = sandbox
        .create_user(NewUser {
            username: "ann".into(),
            ..NewUser::default()
        })
        .unwrap()
        .id;
    sandbox
        .put_member(guild.id, ann, MemberSpec::default())
        .unwrap();
    let auth = format!("Bot {}", sandbox.bot_token());
    let api = format!("{}/api/v10", sandbox.base_url());
    // The workspace builds reqwest without a default TLS provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    http.put(format!(
        "{api}/applications/{}/commands",
        sandbox.application_id()
    ))
    .header("authorization", &auth)
    .json(&json!([{"name": "ping", "description": "Ping"}]))
    .send()
    .await
    .unwrap();
    let mut socket = identify(&sandbox).await;

    // Gateway fan-out: member messages -> MESSAGE_CREATE on the bot's connection.
    let started = Instant::now();
    for i in 0..DISPATCHES {
        sandbox
            .send_message_as(guild.general_channel_id, ann, format!("m{i}"))
            .unwrap();
    }
    let mut received = 0;
    while received < DISPATCHES {
        if next_dispatch(&mut socket).await["t"] == "MESSAGE_CREATE" {
            received += 1;
        }
    }
    let dispatch_rate = DISPATCHES as f64 / started.elapsed().as_secs_f64();

    // Interaction round trip: member runs a command -> INTERACTION_CREATE -> callback -> response stored.
    let mut round_trips = Vec::with_capacity(ROUND_TRIPS);
    for _ in 0..ROUND_TRIPS {
        let started = Instant::now();
        let spec = NewCommandInteraction {
            guild_id: guild.id,
            channel_id: guild.general_channel_id,
            user_id: ann,
            name: "ping".into(),
            ..NewCommandInteraction::default()
        };
        let invoked = sandbox.invoke_command(spec).unwrap();
        loop {
            if next_dispatch(&mut socket).await["t"] == "INTERACTION_CREATE" {
                break;
            }
        }
        let status = http
            .post(format!(
                "{api}/interactions/{}/{}/callback",
                invoked.id, invoked.token
            ))
            .json(&json!({"type": 4, "data": {"content": "pong"}}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 204);
        round_trips.push(started.elapsed());
    }

    // REST latency within the global limit (50 per second).
    // Start from a fresh global window: the command registration above may still count.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut rest = Vec::with_capacity(50);
    for _ in 0..50 {
        let started = Instant::now();
        let status = http
            .get(format!("{api}/users/@me"))
            .header("authorization", &auth)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        rest.push(started.elapsed());
    }

    println!(
        "{}",
        json!({
            "gateway_dispatches_per_sec": dispatch_rate.round(),
            "interaction_round_trip_us": percentiles(&mut round_trips),
            "rest_get_current_user_us": percentiles(&mut rest),
        })
    );
}

fn percentiles(samples: &mut [Duration]) -> Value {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize].as_micros() as u64;
    json!({"p50": at(0.5), "p99": at(0.99), "max": at(1.0)})
}

async fn identify(sandbox: &DiscordSandbox) -> Socket {
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("{}?v=10&encoding=json", sandbox.gateway_url()))
            .await
            .unwrap();
    let identify = json!({"op": 2, "d": {"token": sandbox.bot_token(), "intents": (1 << 0) | (1 << 9) | (1 << 15), "properties": {}}});
    socket
        .send(Message::text(identify.to_string()))
        .await
        .unwrap();
    // Dispatches before the session exists would not reach it.
    while next_dispatch(&mut socket).await["t"] != "GUILD_CREATE" {}
    socket
}

async fn next_dispatch(socket: &mut Socket) -> Value {
    loop {
        if let Message::Text(text) = socket.next().await.expect("open").expect("frame") {
            let value: Value = serde_json::from_str(&text).unwrap();
            if value["op"] == 0 {
                return value;
            }
        }
    }
}

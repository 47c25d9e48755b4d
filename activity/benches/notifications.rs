//! Notifications, measured (release build; prints JSON): the intake's rate and response time
//! for signed Kaltura notifications (`POST /webhooks/kaltura`, 32 concurrent senders, each
//! stored with its routed message before the answer), and event-to-message latency (from the
//! POST to the message's creation in the Discord sandbox) with the bot delivering, paced under
//! Discord's limits so nothing is throttled: on SQLite and on PostgreSQL, with Discord on
//! loopback and at 100 ms +/- 30 ms. `KD_BENCH_EVENTS` sets the intake's count (default 2,000).

#[path = "../tests/support/mod.rs"]
mod support;

use kd_activity::ApiOptions;
use kd_core::config::RuleRuntime;
use kd_crds::LocalRef;
use kd_crds::notification::{Event, Filters, NotificationRuleSpec};
use kd_sandbox_discord::NewChannel;
use kd_sandbox_kaltura::webhook::{
    Algo, BodyStyle, Outgoing, PayloadFormat, WebhookSender, notification,
};
use serde_json::{Value, json};
use sqlx::Connection;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::Server;

/// Channels the latency run spreads over: each gets one message per 5 s, Discord's per-channel
/// rate, while all together stay under the global 50 per second.
const CHANNELS: usize = 40;
const LATENCY_EVENTS: usize = 200;
const LATENCY_EVERY: Duration = Duration::from_millis(125);
const SENDERS: usize = 32;

fn percentiles(mut micros: Vec<u64>) -> Value {
    micros.sort_unstable();
    let at = |p: f64| micros[((micros.len() - 1) as f64 * p) as usize];
    json!({"p50_ms": at(0.5) as f64 / 1000.0, "p99_ms": at(0.99) as f64 / 1000.0, "max_ms": micros[micros.len() - 1] as f64 / 1000.0, "n": micros.len()})
}

async fn postgres_store() -> kd_store::Store {
    let server = std::env::var("KD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("kd_notify_bench_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    for statement in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(&statement).execute(&mut admin).await.unwrap();
    }
    kd_store::Store::open(&format!("{server}/{name}"))
        .await
        .unwrap()
}

/// A server whose guild routes entries tagged `c<k>` to channel k.
async fn server(store: Option<kd_store::Store>) -> (Server, Vec<u64>) {
    let server = Server::start_on(ApiOptions::default(), store).await;
    let world = &server.world;
    let channels: Vec<u64> = (0..CHANNELS)
        .map(|k| {
            world
                .discord
                .create_channel(
                    world.guild.id,
                    NewChannel {
                        name: format!("n{k}"),
                        kind: 0,
                    },
                )
                .unwrap()
                .id
        })
        .collect();
    let rules: Vec<RuleRuntime> = channels
        .iter()
        .enumerate()
        .map(|(k, id)| RuleRuntime {
            name: format!("kaltura/c{k}"),
            spec: NotificationRuleSpec {
                guild_config_ref: LocalRef {
                    name: "physics-101".into(),
                },
                events: vec![Event::EntryReady],
                filters: Filters {
                    tags: vec![format!("c{k}")],
                    ..Filters::default()
                },
                channel: id.to_string(),
                template: Some("{{ name }}".into()),
                mention_roles: vec![],
                max_per_minute: 600,
            },
        })
        .collect();
    world.reconfigure(|c| {
        for guild in c.guilds.values_mut() {
            guild.features.notifications = true;
            guild.notification_rules = rules.clone();
        }
    });
    (server, channels)
}

fn outgoing(server: &Server, job: i64, channel: usize, name: &str) -> Outgoing {
    let kaltura = &server.world.kaltura;
    Outgoing {
        url: format!("{}/webhooks/kaltura", server.base),
        notification: notification(
            "3",
            "1",
            json!({"objectType": "KalturaMediaEntry", "id": format!("0_{job}"), "name": name,
                   "status": "2", "tags": format!("c{channel}")}),
            (12, "Entry Ready", "HTTP_ENTRY_READY"),
            job,
            kaltura.partner_id(),
        ),
        style: BodyStyle::Form,
        format: PayloadFormat::Json,
        secret: Some(kaltura.admin_secret().to_string()),
        algo: Algo::Sha256,
    }
}

/// Microseconds since midnight UTC of the sandbox's `2026-12-02T06:39:51.123456+00:00`.
fn time_of_day_us(timestamp: &str) -> i64 {
    let clock = &timestamp[11..26];
    let h: i64 = clock[0..2].parse().unwrap();
    let m: i64 = clock[3..5].parse().unwrap();
    let s: f64 = clock[6..].parse().unwrap();
    (h * 3600 + m * 60) * 1_000_000 + (s * 1e6) as i64
}

fn now_of_day_us() -> i64 {
    let us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64;
    us % 86_400_000_000
}

/// Intake: `events` notifications from 32 concurrent senders, as fast as they are answered,
/// each routed to one message (delivered meanwhile at Discord's pace).
async fn intake(server: &Arc<Server>, events: usize) -> Value {
    let sender = Arc::new(WebhookSender::new(1, Duration::ZERO, Duration::from_secs(10)).unwrap());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..SENDERS {
        let (server, sender) = (server.clone(), sender.clone());
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            for i in (t..events).step_by(SENDERS) {
                let out = outgoing(&server, 1_000_000 + i as i64, i % CHANNELS, "intake");
                let t0 = Instant::now();
                let delivery = sender.send(&out).await;
                assert_eq!(delivery.status, Some(200));
                times.push(t0.elapsed().as_micros() as u64);
            }
            times
        }));
    }
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.unwrap());
    }
    let rate = events as f64 / started.elapsed().as_secs_f64();
    json!({"events": events, "per_sec": rate.round(), "response": percentiles(times)})
}

/// Event-to-message: one event every 125 ms, round robin over the channels.
async fn latency(server: &Server, channels: &[u64], tag: &str) -> Value {
    let sender = WebhookSender::new(1, Duration::ZERO, Duration::from_secs(10)).unwrap();
    let mut sent: HashMap<String, i64> = HashMap::new();
    let mut tick = tokio::time::interval(LATENCY_EVERY);
    for i in 0..LATENCY_EVENTS {
        tick.tick().await;
        let name = format!("{tag}-{i}");
        let at = now_of_day_us();
        let delivery = sender
            .send(&outgoing(
                server,
                2_000_000 + i as i64 + tag.len() as i64 * 10_000,
                i % CHANNELS,
                &name,
            ))
            .await;
        assert_eq!(delivery.status, Some(200));
        sent.insert(name, at);
    }
    let discord = &server.world.discord;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut latencies = Vec::new();
    loop {
        latencies.clear();
        for channel in channels {
            for message in discord.messages(*channel).unwrap() {
                let content = message["content"].as_str().unwrap_or_default();
                if let Some(at) = sent.get(content) {
                    let created = time_of_day_us(message["timestamp"].as_str().unwrap());
                    let mut us = created - at;
                    if us < 0 {
                        us += 86_400_000_000;
                    }
                    latencies.push(us as u64);
                }
            }
        }
        if latencies.len() >= LATENCY_EVENTS || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    percentiles(latencies.clone())
}

async fn run(backend: &str, store: Option<kd_store::Store>, events: usize) -> Value {
    let (server, channels) = server(store).await;
    let server = Arc::new(server);
    let intake = intake(&server, events).await;
    // The intake's messages go out at Discord's pace first; the latency run starts after.
    let store = server.world.store.clone();
    let drained = Instant::now();
    loop {
        let pending: i64 = store
            .rule_counts()
            .await
            .unwrap()
            .iter()
            .map(|c| c.pending)
            .sum();
        if pending == 0 || drained.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let drain_secs = drained.elapsed().as_secs_f64();
    // Give the per-channel buckets a full window to refill.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let loopback = latency(&server, &channels, "loop").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    server
        .world
        .discord
        .set_latency_jitter(Duration::from_millis(100), Duration::from_millis(30));
    let slow = latency(&server, &channels, "slow").await;
    json!({
        "backend": backend,
        "intake": intake,
        "intake_backlog_delivered_secs": (drain_secs * 10.0).round() / 10.0,
        "event_to_message_loopback": loopback,
        "event_to_message_discord_100ms_30ms": slow,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events: usize = std::env::var("KD_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let sqlite = run("sqlite", None, events).await;
    let postgres = run("postgres", Some(postgres_store().await), events).await;
    println!(
        "{}",
        json!({"notifications": [sqlite, postgres], "latency_events": LATENCY_EVENTS, "channels": CHANNELS})
    );
}

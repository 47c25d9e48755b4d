//! Notifications, measured (release build; prints JSON): the intake's response times at the
//! target rate and its ceiling for signed Kaltura notifications (`POST /webhooks/kaltura`, 32
//! concurrent senders, each stored with its routed message before the answer; paced to 1,000
//! per second together, then as fast as answered), and event-to-message latency (from the
//! POST to the message's creation in the Discord sandbox) with the bot delivering, paced under
//! Discord's limits so nothing is throttled: on SQLite and on PostgreSQL, with Discord on
//! loopback and at 100 ms +/- 30 ms. `KD_BENCH_EVENTS` sets each intake run's count (default 2,000),
//! `KD_BENCH_BACKENDS` the backends (default `sqlite,postgres`).

#[path = "../tests/support/mod.rs"]
mod support;

use kd_activity::ApiOptions;
use kd_core::config::RuleRuntime;
use kd_crds::notification::Event;
use kd_sandbox_kaltura::webhook::{
    Algo, BodyStyle, Outgoing, PayloadFormat, WebhookSender, notification,
};
use kd_testing::bench::{Network, summary_ms};
use kd_tests::{World, notification_rule};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::Server;

/// Channels the latency run spreads over. Discord allows 5 messages per 5 s per channel and 50
/// requests per second in all; one event every 125 ms round robin gives each channel one
/// message per 5 s and the bot 8 per second, so no bucket is reached however the windows fall.
const CHANNELS: usize = 40;
const LATENCY_EVENTS: usize = 200;
const LATENCY_EVERY: Duration = Duration::from_millis(125);
const SENDERS: usize = 32;
/// Kaltura job ids: each run its own, or its notifications would be repeats (answered, not
/// posted). The intake's two runs take `events` each from the first.
const INTAKE_JOBS: i64 = 1;
const LATENCY_JOBS: i64 = 1_000_000_000;
/// How long the latency run waits for its messages after the last event.
const LATENCY_WAIT: Duration = Duration::from_secs(120);

/// Issue 13's targets.
const INTAKE_PER_SEC: f64 = 1_000.0;
const INTAKE_P99_MS: f64 = 20.0;
const EVENT_TO_MESSAGE_P99_MS: f64 = 1_000.0;

/// `summary_ms`, and when nothing was measured, what that means instead of a number.
fn summary(samples: &mut [Duration], when_empty: &str) -> Value {
    let mut summary = summary_ms(samples);
    if samples.is_empty() {
        summary["finding"] = json!(when_empty);
    }
    summary
}

fn p99_at_most(summary: &Value, bound_ms: f64) -> bool {
    summary["p99_ms"]
        .as_f64()
        .is_some_and(|p99| p99 <= bound_ms)
}

/// The 429s the Discord sandbox answered since its `from`-th request.
fn too_many_requests(server: &Server, from: usize) -> usize {
    let requests = server.world.discord.requests();
    requests[from.min(requests.len())..]
        .iter()
        .filter(|r| r.status == 429)
        .count()
}

async fn postgres_store() -> kd_store::Store {
    let url = support::postgres_database("kd_notify_bench").await;
    kd_store::Store::open(&url).await.unwrap()
}

/// A server whose guild routes entries tagged `c<k>` to channel k.
async fn server(store: Option<kd_store::Store>) -> (Server, Vec<u64>) {
    let world = match store {
        Some(store) => World::start_with_store(store).await,
        None => World::start().await,
    };
    let server = Server::start_in(world, ApiOptions::default()).await;
    let world = &server.world;
    let channels: Vec<u64> = (0..CHANNELS)
        .map(|k| world.text_channel(&format!("n{k}")))
        .collect();
    let rules: Vec<RuleRuntime> = channels
        .iter()
        .enumerate()
        .map(|(k, id)| {
            let mut rule = notification_rule(&format!("c{k}"), &id.to_string());
            rule.spec.events = vec![Event::EntryReady];
            rule.spec.filters.tags = vec![format!("c{k}")];
            rule.spec.template = Some("{{ name }}".into());
            rule
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

/// How hard the intake's senders push.
#[derive(Clone, Copy)]
enum Load {
    /// Together at this rate (each sender at its share): the response times at that load.
    Paced(f64),
    /// Each as fast as it is answered: the ceiling. With 32 senders the mean response time is
    /// then 32 over the rate (Little's law), so its percentiles say more about the rate.
    Ceiling,
}

/// Intake: `events` notifications from 32 concurrent senders, each routed to one message
/// (delivered meanwhile at Discord's pace).
async fn intake(server: &Arc<Server>, events: usize, load: Load, jobs: i64) -> Value {
    let sender = Arc::new(WebhookSender::new(1, Duration::ZERO, Duration::from_secs(10)).unwrap());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for t in 0..SENDERS {
        let (server, sender) = (server.clone(), sender.clone());
        tasks.push(tokio::spawn(async move {
            let mut pace = match load {
                Load::Paced(rate) => {
                    let every = Duration::from_secs_f64(SENDERS as f64 / rate);
                    // Staggered, so the senders together send evenly.
                    let first =
                        tokio::time::Instant::now() + every.mul_f64(t as f64 / SENDERS as f64);
                    Some(tokio::time::interval_at(first, every))
                }
                Load::Ceiling => None,
            };
            let (mut times, mut refused) = (Vec::new(), Vec::new());
            for i in (t..events).step_by(SENDERS) {
                if let Some(pace) = &mut pace {
                    pace.tick().await;
                }
                let out = outgoing(&server, jobs + i as i64, i % CHANNELS, "intake");
                let t0 = Instant::now();
                match sender.send(&out).await.status {
                    Some(200) => times.push(t0.elapsed()),
                    status => refused.push(status.map_or("no answer".into(), |s| s.to_string())),
                }
            }
            (times, refused)
        }));
    }
    let mut times = Vec::new();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for task in tasks {
        let (t, r) = task.await.unwrap();
        times.extend(t);
        for status in r {
            *refused.entry(status).or_default() += 1;
        }
    }
    let rate = times.len() as f64 / started.elapsed().as_secs_f64();
    json!({
        "offered_per_sec": match load { Load::Paced(rate) => json!(rate), Load::Ceiling => json!("as fast as answered") },
        "events": events,
        "accepted_per_sec": rate.round(),
        "not_accepted_by_status": refused,
        "response": summary(&mut times, "no notification was accepted"),
    })
}

/// Issue 13's intake target: the target rate answered within the bound, and a ceiling above it.
fn intake_target(at_target: &Value, ceiling: &Value) -> Value {
    let all_accepted = [at_target, ceiling].iter().all(|run| {
        run["not_accepted_by_status"]
            .as_object()
            .is_some_and(|r| r.is_empty())
    });
    let ceiling_rate = ceiling["accepted_per_sec"].as_f64().unwrap_or(0.0);
    json!({
        "per_sec_at_least": INTAKE_PER_SEC,
        "p99_ms_at_most": INTAKE_P99_MS,
        "met": all_accepted
            && ceiling_rate >= INTAKE_PER_SEC
            && p99_at_most(&at_target["response"], INTAKE_P99_MS),
    })
}

/// Event-to-message: one event every 125 ms, round robin over the channels, from the POST to
/// the message's creation time in the Discord sandbox.
async fn latency(server: &Server, channels: &[u64], network: Network, jobs: i64) -> Value {
    let discord = &server.world.discord;
    let (base, jitter) = network.latency_jitter();
    discord.set_latency_jitter(base, jitter);
    let requests_before = discord.requests().len();
    let sender = WebhookSender::new(1, Duration::ZERO, Duration::from_secs(10)).unwrap();
    let mut sent: HashMap<String, i64> = HashMap::new();
    let mut not_accepted = 0;
    let mut tick = tokio::time::interval(LATENCY_EVERY);
    for i in 0..LATENCY_EVENTS {
        tick.tick().await;
        let name = format!("e2m-{jobs}-{i}");
        let at = now_of_day_us();
        let out = outgoing(server, jobs + i as i64, i % CHANNELS, &name);
        if sender.send(&out).await.status == Some(200) {
            sent.insert(name, at);
        } else {
            not_accepted += 1;
        }
    }
    let deadline = Instant::now() + LATENCY_WAIT;
    let mut latencies = Vec::new();
    loop {
        latencies.clear();
        for channel in channels {
            for message in discord.messages(*channel).unwrap() {
                let content = message["content"].as_str().unwrap_or_default();
                if let Some(at) = sent.get(content) {
                    let created = time_of_day_us(message["timestamp"].as_str().unwrap());
                    let us = (created - at).rem_euclid(86_400_000_000);
                    latencies.push(Duration::from_micros(us as u64));
                }
            }
        }
        if latencies.len() >= sent.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let missing = sent.len() - latencies.len();
    let event_to_message = summary(
        &mut latencies,
        "no message reached Discord within 120 s of the last event",
    );
    let throttled = too_many_requests(server, requests_before);
    let met = not_accepted == 0
        && missing == 0
        && throttled == 0
        && p99_at_most(&event_to_message, EVENT_TO_MESSAGE_P99_MS);
    json!({
        "discord_latency_ms": network.to_json(),
        "events": LATENCY_EVENTS,
        "not_accepted": not_accepted,
        "not_delivered_within_120s": missing,
        "discord_429s": throttled,
        "event_to_message": event_to_message,
        "target": {
            "p99_ms_at_most": EVENT_TO_MESSAGE_P99_MS,
            "met": met,
        },
    })
}

async fn run(backend: &str, store: Option<kd_store::Store>, events: usize) -> Value {
    let (server, channels) = server(store).await;
    let server = Arc::new(server);
    let at_target = intake(&server, events, Load::Paced(INTAKE_PER_SEC), INTAKE_JOBS).await;
    let jobs = INTAKE_JOBS + events as i64;
    let ceiling = intake(&server, events, Load::Ceiling, jobs).await;
    // The intake's messages go out at Discord's pace first (its 429s are that pace); the
    // latency runs start after.
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
    let backlog_429s = too_many_requests(&server, 0);
    let mut latencies = Vec::new();
    for (k, network) in Network::BOTH.into_iter().enumerate() {
        // A full window for every channel's bucket to refill.
        tokio::time::sleep(Duration::from_secs(6)).await;
        let jobs = LATENCY_JOBS + k as i64 * LATENCY_EVENTS as i64;
        latencies.push(latency(&server, &channels, network, jobs).await);
    }
    json!({
        "backend": backend,
        "intake": {
            "target": intake_target(&at_target, &ceiling),
            "at_target_rate": at_target,
            "ceiling": ceiling,
        },
        "intake_backlog_delivered_secs": (drain_secs * 10.0).round() / 10.0,
        "intake_backlog_discord_429s": backlog_429s,
        "event_to_message": latencies,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let events: usize = std::env::var("KD_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let backends = std::env::var("KD_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let mut runs = Vec::new();
    for backend in backends.split(',') {
        let store = match backend {
            "sqlite" => None,
            "postgres" => Some(postgres_store().await),
            other => panic!("KD_BENCH_BACKENDS: {other:?} is neither sqlite nor postgres"),
        };
        runs.push(run(backend, store, events).await);
    }
    println!(
        "{}",
        json!({"notifications": runs, "latency_events": LATENCY_EVENTS, "channels": CHANNELS})
    );
}

//! Ack latency of the bot: from the sandbox creating an INTERACTION_CREATE to it receiving the
//! bot's callback, at a fixed rate, for a command that needs no Kaltura call and for a video
//! search against the Kaltura sandbox; on loopback, and with 100 ms +/- 30 ms added to every
//! Discord REST request (Discord is never on loopback). Prints JSON.
//!
//! `cargo bench -p kd-tests --bench bot_ack` (release build).

use kd_core::command::Command;
use kd_testing::bench::{Network, summary_ms};
use kd_tests::World;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RATE: u64 = 200;
const SECONDS: u64 = 10;
/// The ack p99 targets: on loopback, and what the bot may add to the slowest injected delay.
const LOOPBACK_P99_MS: f64 = 10.0;
const ALLOWED_OVER_MS: f64 = 20.0;

/// The bot's own `interaction_seconds` sum and count for `name` so far.
fn bot_time(world: &World, name: &str) -> (f64, f64) {
    let metrics = world.bot.metrics.encode();
    let sample = |suffix: &str| {
        let key = format!("kaltura_discord_bot_interaction_seconds_{suffix}{{command=\"{name}\"}}");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(key.as_str()))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (sample("sum"), sample("count"))
}

async fn measure(
    world: &Arc<World>,
    user: u64,
    name: &str,
    options: Vec<serde_json::Value>,
) -> serde_json::Value {
    let (sum_before, count_before) = bot_time(world, name);
    let count = RATE * SECONDS;
    let interval = Duration::from_micros(1_000_000 / RATE);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(count as usize);
    let started = Instant::now();
    for _ in 0..count {
        tick.tick().await;
        let world = world.clone();
        let spec = world.spec(user, name, options.clone());
        tasks.push(tokio::spawn(async move {
            let sent_at = Instant::now();
            let sent = world
                .discord
                .invoke_command(spec)
                .expect("sandbox takes the command");
            let view = world
                .discord
                .wait_interaction_response(sent.id, Duration::from_secs(10))
                .await;
            view.map(|_| sent_at.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut lost = 0;
    for task in tasks {
        match task.await.unwrap() {
            Some(ms) => latencies.push(ms),
            None => lost += 1,
        }
    }
    let achieved = count as f64 / started.elapsed().as_secs_f64();
    // The bot's own view: from receiving INTERACTION_CREATE to its callback being taken
    // (with injected latency, that includes the callback's trip to Discord).
    let (sum, observed) = bot_time(world, name);
    let bot_mean_ms = (sum - sum_before) / (observed - count_before).max(1.0) * 1000.0;
    json!({
        "command": name,
        "target_rate_per_s": RATE,
        "achieved_rate_per_s": (achieved * 10.0).round() / 10.0,
        "interactions": count,
        "unanswered": lost,
        "ack": summary_ms(&mut latencies),
        "bot_processing_mean_ms": (bot_mean_ms * 100.0).round() / 100.0,
    })
}

fn main() {
    // Per-interaction info logs would cost more than the work measured.
    if std::env::var_os("RUST_LOG").is_none() {
        // SAFETY: set before any other thread starts.
        unsafe { std::env::set_var("RUST_LOG", "warn") };
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let world = Arc::new(World::start().await);
        // Warm up connections and caches.
        world
            .run_sub(world.admin, Command::Config.name(), "view", &[])
            .await;
        let mut runs = Vec::new();
        for network in Network::BOTH {
            let (latency, jitter) = network.latency_jitter();
            world.discord.set_latency_jitter(latency, jitter);
            for (user, name, options) in [
                (
                    world.admin,
                    Command::Config.name(),
                    vec![json!({"name": "view", "options": []})],
                ),
                (
                    world.student,
                    Command::VideoSearch.name(),
                    vec![json!({"name": "query", "value": "lecture"})],
                ),
            ] {
                let mut run = measure(&world, user, name, options).await;
                let bound = match network {
                    Network::Loopback => LOOPBACK_P99_MS,
                    Network::Injected => {
                        network.worst_case().as_secs_f64() * 1000.0 + ALLOWED_OVER_MS
                    }
                };
                run["discord_latency_ms"] = network.to_json();
                run["target"] = json!({
                    "unanswered": 0,
                    "p99_ms_at_most": bound,
                    "met": run["unanswered"] == 0 && run["ack"]["p99_ms"].as_f64().unwrap_or(f64::MAX) <= bound,
                });
                runs.push(run);
            }
        }
        println!("{}", json!({"bot_ack_latency": runs}));
    });
}

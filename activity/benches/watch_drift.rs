//! Watch Together drift in real Chromium with the real Kaltura player (prints JSON): three
//! participants (`KD_BENCH_PARTICIPANTS`) through the Discord sandbox's host page play one
//! entry; their pairwise position difference, read from each page's media element against the
//! machine's one clock, in steady state (p50/p95/max); the time to converge (every pair within
//! 50 ms, staying so for 1 s) after seeks and after a join; on loopback and with 100 ms +/- 30 ms
//! added each way to every message and response through the Activity proxy.

#[path = "../tests/support/mod.rs"]
mod support;

use kd_sandbox_discord::Latency;
use serde_json::{Value, json};
use std::time::Duration;
use support::browser::BrowserRoom;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One run in a fresh world: `participants` watch, then one more joins.
async fn run(participants: usize, latency: Option<Latency>) -> Value {
    let room = BrowserRoom::start("watch_drift", participants).await;
    if let Some(latency) = latency {
        room.server.world.discord.set_activity_latency(latency);
    }
    let world = &room.server.world;
    // The teacher hosts; the others (and the late joiner, last) have no roles.
    let hosts: Vec<String> = std::iter::once(world.teacher)
        .chain(room.others.iter().copied())
        .map(|user| room.host_page(user, "desktop"))
        .collect();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/tests/browser/drift.cjs");
    kd_browser::Script::new(script)
        .env("HOSTS", json!(hosts).to_string())
        .env(
            "STEADY_SECONDS",
            env_or("KD_BENCH_STEADY_SECONDS", 20).to_string(),
        )
        .run()
        .await
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let participants = env_or("KD_BENCH_PARTICIPANTS", 3);
    let loopback = run(participants, None).await;
    let jitter = Latency {
        base: Duration::from_millis(100),
        jitter: Duration::from_millis(30),
    };
    let latency = run(participants, Some(jitter)).await;
    println!(
        "{}",
        json!({
            "benchmark": "watch_drift",
            "participants": participants,
            "targets": {"steady_p95_ms": 50, "convergence_ms": 2000, "seek_below_ms": 400},
            "loopback": loopback,
            "latency_100ms_30ms": latency,
        })
    );
}

//! `kaltura-discord up` on the examples: start to ready (every resource `Ready`, the bot's
//! commands registered in the Discord sandbox) on a fresh state folder and on a kept one, RSS
//! at ready, an edit's time until the bot runs it, and RSS after scripted use (a TA's slash
//! commands for `KD_BENCH_USE_SECS`, default 600, at `KD_BENCH_RATE` commands a second,
//! default 10: a class of 30 each running one every 3 s). Prints JSON.
//!
//! The Discord sandbox keeps what Discord keeps (every channel message, and each interaction
//! for its token's 15 minutes), so RSS grows with the commands run; the JSON gives the growth
//! per command.
//!
//! `cargo bench -p kd-controller --bench up_ready` (release build).

#[path = "../tests/up_support/mod.rs"]
mod up_support;

use kd_core::command::Command;
use serde_json::json;
use std::time::{Duration, Instant};
use up_support::{Discord, Up, copy_examples};

const PHYSICS: &str = "1283874310720716890";

fn rss_mib(up: &Up) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", up.pid())).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let use_for = Duration::from_secs(env_or("KD_BENCH_USE_SECS", 600));
    let rate = env_or("KD_BENCH_RATE", 10).max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (folder, state) = (dir.path().join("manifests"), dir.path().join("state"));
        copy_examples(&folder);
        let mut cold = Vec::new();
        for _ in 0..3 {
            let _ = std::fs::remove_dir_all(&state);
            let mut up = Up::start(&folder, &state);
            up.ready().await;
            cold.push(seconds(up.started.elapsed()));
            up.signal("INT");
        }
        let up = Up::start(&folder, &state);
        up.ready().await;
        let warm = seconds(up.started.elapsed());
        let rss_ready = rss_mib(&up);

        let discord = Discord::of(&up).await;
        let (general, ta) = discord.ids(PHYSICS, "general", "ta").await;
        let file = folder.join("guilds/physics-101.yaml");
        let original = std::fs::read_to_string(&file).unwrap();
        let mut edits = Vec::new();
        for i in 0..5 {
            let text = if i % 2 == 0 {
                original.replace("kaltura-start: [Teacher, TA]", "kaltura-start: [Teacher]")
            } else {
                original.clone()
            };
            let from = up.line_count();
            let written = Instant::now();
            std::fs::write(&file, text).unwrap();
            up.wait_line("applied: revision ", from, Duration::from_secs(30))
                .await;
            edits.push(seconds(written.elapsed()));
        }

        let used = Instant::now();
        let mut commands = 0u64;
        let mut pace = tokio::time::interval(Duration::from_secs(1) / rate as u32);
        pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while used.elapsed() < use_for {
            for (name, options) in [
                (
                    Command::VideoSearch.name(),
                    json!([{"name": "query", "value": "Lecture"}]),
                ),
                (Command::List.name(), json!([])),
                // A TA's day: `/kaltura-config` needs Manage Server, which a TA has not.
                (
                    Command::VideoSearch.name(),
                    json!([{"name": "query", "value": "Physics"}]),
                ),
            ] {
                pace.tick().await;
                discord.run(PHYSICS, &general, &ta, name, options).await;
                commands += 1;
            }
        }
        let rss_used = rss_mib(&up);
        println!(
            "{}",
            json!({
                "bench": "up_ready",
                "folder": "examples/",
                "start_to_ready_fresh_state_s": cold,
                "start_to_ready_kept_state_s": warm,
                "rss_at_ready_mib": (rss_ready * 10.0).round() / 10.0,
                "edit_to_applied_s": edits,
                "scripted_use_s": use_for.as_secs(),
                "commands_per_s": rate,
                "commands_run": commands,
                "rss_after_use_mib": (rss_used * 10.0).round() / 10.0,
                "rss_per_command_kib": ((rss_used - rss_ready) * 1024.0 / commands.max(1) as f64).round(),
                "targets": {"ready_s": 2.0, "rss_mib": 150},
            })
        );
    });
}

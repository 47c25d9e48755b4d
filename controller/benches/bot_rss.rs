//! Memory of the bot process with 2,500 guilds configured: the `kaltura-discord bot` binary
//! against the Discord sandbox holding 2,500 guilds, measured once every guild's commands are
//! registered (its steady state), with the time those registrations took; on loopback and with
//! Discord latency injected. Prints JSON.
//!
//! `cargo bench -p kd-controller --bench bot_rss` (release build).

use kd_sandbox_discord::{Config, DiscordSandbox, NewGuild};
use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use kd_testing::bench::{Network, mib, proc_status};
use kd_tests::process::WorkloadProcess;
use serde_json::json;
use std::process::Stdio;
use std::time::{Duration, Instant};

const GUILDS: usize = 2500;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let runs: Vec<_> = Network::BOTH
        .into_iter()
        .map(|network| runtime.block_on(measure(network)))
        .collect();
    println!("{}", json!({ "bot_memory": runs }));
}

async fn measure(network: Network) -> serde_json::Value {
    let discord = DiscordSandbox::start(Config::default()).await.unwrap();
    let (latency, jitter) = network.latency_jitter();
    discord.set_latency_jitter(latency, jitter);
    let kaltura = KalturaSandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let ids: Vec<u64> = (0..GUILDS)
        .map(|i| {
            discord
                .create_guild(NewGuild {
                    name: format!("Course {i}"),
                    ..NewGuild::default()
                })
                .unwrap()
                .id
        })
        .collect();
    let mut config = kd_tests::runtime_config(&discord, &kaltura, ids[0]);
    let template = config.guilds.values().next().unwrap().clone();
    config.guilds = ids
        .iter()
        .map(|id| (id.to_string(), template.clone()))
        .collect();
    let config =
        kd_core::config::RuntimeConfig::new(config.application, config.partners, config.guilds);

    let started = Instant::now();
    let bot = WorkloadProcess::bot(
        env!("CARGO_BIN_EXE_kaltura-discord"),
        &discord,
        &kaltura,
        &config,
        &["--log", "warn"],
        Stdio::null(),
    );
    let registered = loop {
        let done = bot
            .metric("kaltura_discord_bot_command_registrations_total")
            .unwrap_or(0.0);
        if done as usize >= GUILDS || started.elapsed() > Duration::from_secs(300) {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let registration_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = bot.process.child.id();
    let rss = proc_status(pid, "VmRSS:");
    let peak = proc_status(pid, "VmHWM:");
    let anon = proc_status(pid, "RssAnon:");
    let file_backed = proc_status(pid, "RssFile:");
    let threads = proc_status(pid, "Threads:");
    drop(bot);
    json!({
            "discord_latency_ms": network.to_json(),
            "guilds": GUILDS,
            "config_bytes": config.to_json().len(),
            "registered_guilds": registered,
            "registration_seconds": (registration_seconds * 10.0).round() / 10.0,
            "rss_mib": mib(rss),
            "peak_rss_mib": mib(peak),
            "rss_anon_mib": mib(anon),
            "rss_file_mib": mib(file_backed),
            "threads": threads,
    })
}

//! Bot replicas sharing the gateway at scale: `KD_BENCH_GUILDS` guilds (default 100,000) over
//! 40 shards, 4 `kaltura-discord bot` processes on one PostgreSQL store, against the Discord
//! sandbox (which identifies 16 shards at a time, as Discord lets large bots). Prints JSON:
//!
//! - `all_shards_ready_s`: from starting the 4 replicas until each is ready (holding its share
//!   of the shards, all connected) and every shard has exactly one connected session.
//! - `replica_peak_rss_mib`: each replica's peak RSS (VmHWM) after the load below, and
//!   `replica_guilds`, how many guilds each keeps (those of its shards).
//! - `ack_starting`: interactions made at 1,000/s for 10 s on guilds drawn across all of them,
//!   from the sandbox making INTERACTION_CREATE to it receiving the callback, right after all
//!   are ready (each replica still checking every guild's command registration);
//!   `registrations_checked_s` when those checks are done; `ack`: the same load then.
//! - `handover_s`: one replica killed with SIGKILL until every shard is connected again (the
//!   others resume its sessions once its 5 s leases run out).
//! - `single_replica`: the other replicas stopped (their shards handed over), one replica
//!   alone on all 40 shards at rising rates; `max_rate_p99_le_10ms` is the highest rate whose
//!   ack p99 stayed within 10 ms.
//!
//! PostgreSQL runs with `fsync=off` (as every test server here): commits cost no disk flush.
//! `cargo bench -p kd-controller --bench shard_scale` (release build); `KD_BENCH_GUILDS=N` for
//! another size, `KD_BENCH_BOT_LOG=FILE` keeps the replicas' log.

use kd_core::command::Command;
use kd_core::config::RuntimeConfig;
use kd_crds::application::CommandScope;
use kd_sandbox_discord::{Config, NewCommandInteraction, NewGuild, Sandbox, SessionStartLimit};
use kd_testing::bench::{mib, proc_status, summary_ms};
use kd_tests::postgres::PrivatePostgres;
use kd_tests::process::{Outside, WorkloadProcess};
use kd_tests::shards;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kaltura-discord");
const SHARDS: u64 = 40;
const REPLICAS: usize = 4;
const RATE: u64 = 1000;
const SECONDS: u64 = 10;
/// The single replica's rates, each for `STEP_SECONDS`.
const STEPS: [u64; 5] = [500, 1000, 1500, 2000, 3000];
const STEP_SECONDS: u64 = 5;

fn main() {
    let guilds: u64 = std::env::var("KD_BENCH_GUILDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(run(guilds));
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
}

async fn run(count: u64) -> Value {
    let postgres = PrivatePostgres::start();
    let outside = Outside::start_with(Config {
        session_start_limit: SessionStartLimit {
            max_concurrency: 16,
            ..SessionStartLimit::default()
        },
        ..Config::default()
    })
    .await;
    let discord: Sandbox = (*outside.discord).clone();
    let made = Instant::now();
    // Ids a millisecond apart fall on consecutive shards: with the sandbox's own guild (the
    // shard before the first), 2,500 guilds each, the most Discord lets one shard hold (more
    // and it closes the session with 4011, sharding required).
    let base = outside.guild.id >> 22;
    let own = (outside.guild.id, outside.guild.general_channel_id);
    let guilds: Vec<(u64, u64)> = std::iter::once(own)
        .chain((0..count.saturating_sub(1)).map(|n| {
            let guild = discord
                .create_guild(NewGuild {
                    name: format!("Course {n}"),
                    id: Some((base + 1 + n) << 22),
                    ..NewGuild::default()
                })
                .unwrap();
            discord
                .put_member(guild.id, outside.user, Default::default())
                .unwrap();
            (guild.id, guild.general_channel_id)
        }))
        .collect();
    let mut per_shard: BTreeMap<u64, usize> = BTreeMap::new();
    for (guild, _) in &guilds {
        *per_shard.entry((guild >> 22) % SHARDS).or_default() += 1;
    }
    eprintln!(
        "{count} guilds in {:.1} s, {}..{} per shard",
        made.elapsed().as_secs_f64(),
        per_shard.values().min().unwrap(),
        per_shard.values().max().unwrap()
    );
    let template = kd_tests::runtime_config(&outside.discord, &outside.kaltura, outside.guild.id);
    let guild = template.guilds.values().next().unwrap().clone();
    let mut application = template.application.clone();
    // Large fleets register one global command set (Discord's 200 guild-command creates a day
    // per guild would not be the limit; 50 requests/s over 100,000 guilds would).
    application.command_scope = CommandScope::Global;
    let config = RuntimeConfig::new(
        application,
        template.partners.clone(),
        guilds
            .iter()
            .enumerate()
            .map(|(n, (id, _))| {
                let mut guild = guild.clone();
                guild.config_name = format!("course-{n}");
                (id.to_string(), guild)
            })
            .collect(),
    );
    let config_bytes = config.to_json().len();
    let url = postgres.url();
    let replica = || {
        WorkloadProcess::bot(
            BIN,
            &outside.discord,
            &outside.kaltura,
            &config,
            &["--shards", &SHARDS.to_string(), "--store", &url],
            log(),
        )
    };

    let started = Instant::now();
    let mut replicas: Vec<WorkloadProcess> = (0..REPLICAS).map(|_| replica()).collect();
    for bot in &replicas {
        ready(bot, Duration::from_secs(300)).await;
    }
    shards::until_each_connected_once(&discord, SHARDS, Duration::from_secs(60)).await;
    let all_ready = started.elapsed();
    eprintln!("all shards ready in {:.1} s", all_ready.as_secs_f64());

    let measure = async |what: &str| {
        let (mut acks, lost) = load(&discord, &guilds, outside.user, RATE, SECONDS).await;
        let ack = json!({
            "rate_per_s": RATE,
            "seconds": SECONDS,
            "lost": lost,
            "latency": summary_ms(&mut acks),
        });
        eprintln!("ack at {RATE}/s, {what}: {ack}");
        ack
    };
    let ack_starting = measure("starting").await;
    for bot in &replicas {
        registrations_checked(bot).await;
    }
    let checked = started.elapsed();
    eprintln!("registrations checked at {:.1} s", checked.as_secs_f64());
    let ack = measure("steady").await;
    let rss: Vec<f64> = replicas
        .iter()
        .map(|r| mib(proc_status(r.process.child.id(), "VmHWM:")))
        .collect();
    let kept: Vec<usize> = replicas
        .iter()
        .map(|r| {
            status(r)
                .and_then(|s| Some(s["guilds"].as_object()?.len()))
                .unwrap_or(0)
        })
        .collect();

    let mut killed = replicas.remove(0);
    let dead_at = Instant::now();
    killed.process.stop();
    shards::until_served_again(&discord, SHARDS, Duration::from_secs(60)).await;
    let handover = dead_at.elapsed();
    eprintln!("hand-over after SIGKILL: {:.2} s", handover.as_secs_f64());

    // One replica alone: the others leave, handing their shards over.
    while replicas.len() > 1 {
        let mut leaving = replicas.remove(0);
        leaving.process.terminate(Duration::from_secs(25));
    }
    ready(&replicas[0], Duration::from_secs(60)).await;
    shards::until_each_connected_once(&discord, SHARDS, Duration::from_secs(60)).await;
    let mut steps = Vec::new();
    let mut max_rate = 0;
    for rate in STEPS {
        let (mut acks, lost) = load(&discord, &guilds, outside.user, rate, STEP_SECONDS).await;
        let latency = summary_ms(&mut acks);
        let p99 = latency["p99_ms"].as_f64().unwrap_or(f64::MAX);
        eprintln!("one replica at {rate}/s: {latency}");
        if p99 <= 10.0 && lost == 0 {
            max_rate = rate;
        }
        steps.push(json!({"rate_per_s": rate, "lost": lost, "latency": latency}));
        if p99 > 10.0 {
            break;
        }
    }
    json!({
        "bench": "shard_scale",
        "guilds": count,
        "shards": SHARDS,
        "replicas": REPLICAS,
        "config_bytes": config_bytes,
        "all_shards_ready_s": round(all_ready),
        "replica_peak_rss_mib": rss,
        "replica_guilds": kept,
        "ack_starting": ack_starting,
        "registrations_checked_s": round(checked),
        "ack": ack,
        "handover_s": round(handover),
        "single_replica": {
            "steps": steps,
            "max_rate_p99_le_10ms": max_rate,
        },
        "targets": {"rss_mib": 256, "ack_p99_ms": 20, "handover_s": 10, "single_replica_rate": 1000},
    })
}

/// The replicas' log: `KD_BENCH_BOT_LOG=FILE` appends it there (at info), else nowhere.
fn log() -> Stdio {
    match std::env::var_os("KD_BENCH_BOT_LOG") {
        Some(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("the bot log file opens")
            .into(),
        None => Stdio::null(),
    }
}

fn round(d: Duration) -> f64 {
    (d.as_secs_f64() * 100.0).round() / 100.0
}

async fn ready(bot: &WorkloadProcess, within: Duration) {
    let deadline = Instant::now() + within;
    while bot
        .get("/readyz")
        .is_none_or(|r| !r.starts_with("HTTP/1.1 200"))
    {
        assert!(
            Instant::now() < deadline,
            "a replica was not ready within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The replica's report.
fn status(bot: &WorkloadProcess) -> Option<Value> {
    let response = bot.get("/status")?;
    serde_json::from_str(kd_testing::http::body(&response)?).ok()
}

/// Waits until the replica's report has no guild pending its registration check.
async fn registrations_checked(bot: &WorkloadProcess) {
    loop {
        let pending = status(bot).map(|report| {
            report["guilds"].as_object().map_or(usize::MAX, |g| {
                g.values().filter(|s| s["state"] == "pending").count()
            })
        });
        if pending == Some(0) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// `rate` interactions a second for `seconds` on guilds spread over all of them; the ack
/// latencies and how many got no answer within 10 s.
async fn load(
    discord: &Sandbox,
    guilds: &[(u64, u64)],
    user: u64,
    rate: u64,
    seconds: u64,
) -> (Vec<Duration>, usize) {
    let count = rate * seconds;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    // A stride coprime with the guild count visits them all, spread over the shards.
    let stride = 7919 % guilds.len().max(1);
    let mut at = 0usize;
    let mut tasks = Vec::with_capacity(count as usize);
    for _ in 0..count {
        tick.tick().await;
        at = (at + stride.max(1)) % guilds.len();
        let (guild_id, channel_id) = guilds[at];
        let discord = discord.clone();
        tasks.push(tokio::spawn(async move {
            let sent_at = Instant::now();
            let sent = discord
                .invoke_command(NewCommandInteraction {
                    guild_id,
                    channel_id,
                    user_id: user,
                    name: Command::List.name().into(),
                    ..NewCommandInteraction::default()
                })
                .expect("the sandbox takes the command");
            discord
                .wait_interaction_response(sent.id, Duration::from_secs(10))
                .await
                .map(|_| sent_at.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut lost = 0;
    for task in tasks {
        match task.await.unwrap() {
            Some(latency) => latencies.push(latency),
            None => lost += 1,
        }
    }
    (latencies, lost)
}

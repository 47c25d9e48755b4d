//! Watch Together fan-out (release build; prints JSON): 5,000 websocket participants in 500
//! rooms of 10, each sending its report at the protocol's heartbeat rate (1 Hz) and receiving
//! the 1 Hz presence; every host seeks 10 times. Measured: from the host sending the seek to
//! each participant of the room (the host included) reading the new timeline, p50/p99/max, and
//! the server processes' RSS. Once with one server process on SQLite, once with two server
//! processes on one PostgreSQL with each room's participants split across them.
//!
//! The server processes are this binary run as `watch_fanout serve`; the load client is this
//! process (tokio-tungstenite). Everything runs on one machine, so the load client's CPU
//! competes with the servers'.

#[path = "../tests/support/mod.rs"]
mod support;

use futures_util::{SinkExt, StreamExt};
use kd_activity::watch::session::{SESSION_AUDIENCE, SessionClaims, session_key};
use kd_activity::{Api, ApiOptions};
use kd_core::config::RuntimeConfig;
use kd_core::secrets::SecretMap;
use kd_sandbox_discord::{Config, DiscordSandbox};
use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use kd_store::Store;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::connect_async_with_config;
use tokio_tungstenite::tungstenite::Message;

/// `KD_BENCH_ROOMS` runs a smaller room count (a quick check of the program itself).
fn rooms() -> usize {
    std::env::var("KD_BENCH_ROOMS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(500)
}
const PER_ROOM: usize = 10;
const ROUNDS: usize = 10;
const GUILD: &str = "1000";

#[derive(Serialize, Deserialize)]
struct ServeSpec {
    config: RuntimeConfig,
    bot_token: String,
    admin_secret: String,
    store_url: String,
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("serve") {
        serve();
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(drive());
    }
}

/// A server process: the whole HTTP surface on a free port, printed on stdout.
fn serve() {
    let spec: ServeSpec = serde_json::from_str(&std::env::var("KD_BENCH_SPEC").unwrap()).unwrap();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let store = Store::open(&spec.store_url).await.unwrap();
            let mut secrets = SecretMap::default();
            secrets.insert("discord", "botToken", &spec.bot_token);
            secrets.insert("kaltura", "adminSecret", &spec.admin_secret);
            let (_tx, rx) = tokio::sync::watch::channel(Arc::new(spec.config));
            // All participants may be on one process: more connections than the default 512.
            let options = ApiOptions {
                server: kd_server::Limits {
                    max_connections: rooms() * PER_ROOM + 100,
                    ..kd_server::Limits::default()
                },
                ..ApiOptions::default()
            };
            let api = Api::new(options, rx, store, Arc::new(secrets)).unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("{}", listener.local_addr().unwrap().port());
            kd_activity::serve(api, listener).await.unwrap();
        });
}

struct Servers {
    children: Vec<Child>,
    bases: Vec<String>,
}

impl Servers {
    fn start(spec: &ServeSpec, count: usize) -> Servers {
        let spec = serde_json::to_string(spec).unwrap();
        let mut children = Vec::new();
        let mut bases = Vec::new();
        for _ in 0..count {
            let mut child = Command::new(std::env::current_exe().unwrap())
                .arg("serve")
                .env("KD_BENCH_SPEC", &spec)
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let mut line = String::new();
            std::io::BufReader::new(child.stdout.take().unwrap())
                .read_line(&mut line)
                .unwrap();
            bases.push(format!("ws://127.0.0.1:{}/api/watch/ws", line.trim()));
            children.push(child);
        }
        Servers { children, bases }
    }

    /// (current, peak) resident memory of each server process, MiB.
    fn rss(&self) -> Vec<(f64, f64)> {
        self.children
            .iter()
            .map(|c| {
                let status = std::fs::read_to_string(format!("/proc/{}/status", c.id())).unwrap();
                let kib = |field: &str| {
                    status
                        .lines()
                        .find_map(|l| l.strip_prefix(field))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
                        .unwrap_or(0.0)
                };
                (kib("VmRSS:") / 1024.0, kib("VmHWM:") / 1024.0)
            })
            .collect()
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// When each host sent each seek: (room, position) -> instant.
type Sent = Arc<Mutex<HashMap<(usize, u64), Instant>>>;

fn claims(room: usize, member: usize) -> SessionClaims {
    let now = kd_kaltura::ks::unix_now();
    SessionClaims {
        sub: format!("{}", 10_000 + room * PER_ROOM + member),
        name: format!("viewer {member}"),
        avatar: None,
        instance: format!("i-bench-{room}"),
        guild: GUILD.into(),
        channel: format!("{}", 20_000 + room),
        // The first member of each room controls (and, joining first, is host).
        role: if member == 0 { "moderator" } else { "viewer" }.into(),
        aud: SESSION_AUDIENCE.into(),
        iss: kd_core::join_token::ISSUER.into(),
        iat: now,
        exp: now + 3600,
    }
}

/// One participant: joins, reports every second, records when seeks reach it; the host
/// sends the seeks it is told to.
async fn participant(
    url: String,
    token: String,
    room: usize,
    mut actions: Option<tokio::sync::mpsc::Receiver<u64>>,
    sent: Sent,
    latencies: tokio::sync::mpsc::UnboundedSender<u64>,
    joined: tokio::sync::mpsc::UnboundedSender<()>,
) {
    // No Nagle: a seek is one small frame that must leave at once.
    let (ws, _) = connect_async_with_config(&url, None, true)
        .await
        .expect("connects");
    let (mut sink, mut stream) = ws.split();
    sink.send(Message::text(
        json!({"type": "hello", "v": 1, "token": token}).to_string(),
    ))
    .await
    .unwrap();
    let mut beat = tokio::time::interval(Duration::from_secs(1));
    let mut welcomed = false;
    loop {
        tokio::select! {
            _ = beat.tick() => {
                let report = json!({"type": "report", "state": "paused", "position": 0.0, "activity": "active", "rtt_ms": 5.0, "jitter_ms": 1.0});
                if sink.send(Message::text(report.to_string())).await.is_err() { return; }
            }
            action = async { match actions.as_mut() { Some(rx) => rx.recv().await, None => std::future::pending().await } } => {
                let Some(position) = action else { return };
                sent.lock().unwrap().insert((room, position), Instant::now());
                let seek = json!({"type": "seek", "position": position as f64});
                if sink.send(Message::text(seek.to_string())).await.is_err() { return; }
            }
            message = stream.next() => {
                let Some(Ok(Message::Text(text))) = message else {
                    if matches!(message, None | Some(Err(_)) | Some(Ok(Message::Close(_)))) { return; }
                    continue;
                };
                let received = Instant::now();
                if !welcomed && text.starts_with(r#"{"type":"welcome""#) {
                    welcomed = true;
                    let _ = joined.send(());
                } else if text.starts_with(r#"{"type":"timeline""#) {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    let position = value["timeline"]["position"].as_f64().unwrap_or(0.0) as u64;
                    if let Some(at) = sent.lock().unwrap().get(&(room, position)) {
                        let _ = latencies.send(received.duration_since(*at).as_micros() as u64);
                    }
                }
            }
        }
    }
}

fn percentiles(mut micros: Vec<u64>) -> Value {
    micros.sort_unstable();
    let at = |p: f64| micros[((micros.len() - 1) as f64 * p) as usize] as f64 / 1000.0;
    json!({"p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": micros[micros.len() - 1] as f64 / 1000.0})
}

async fn run(spec: &ServeSpec, entry: &str, replicas: usize) -> Value {
    let store = Store::open(&spec.store_url).await.unwrap();
    for room in 0..rooms() {
        let c = claims(room, 0);
        store
            .queue_watch(GUILD, &c.channel, entry, &c.sub)
            .await
            .unwrap();
    }
    store.pool_close().await;
    let servers = Servers::start(spec, replicas);
    let key = session_key(&spec.bot_token);
    let sent: Sent = Arc::default();
    let (latency_tx, mut latency_rx) = tokio::sync::mpsc::unbounded_channel();
    let (joined_tx, mut joined_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut hosts = Vec::new();
    let started = Instant::now();
    for member in 0..PER_ROOM {
        for room in 0..rooms() {
            let (actions, rx) = if member == 0 {
                let (tx, rx) = tokio::sync::mpsc::channel(ROUNDS);
                (Some(tx), Some(rx))
            } else {
                (None, None)
            };
            if let Some(tx) = actions {
                hosts.push(tx);
            }
            let url = servers.bases[(room + member) % replicas].clone();
            let token = key.sign(&claims(room, member));
            tokio::spawn(participant(
                url,
                token,
                room,
                rx,
                sent.clone(),
                latency_tx.clone(),
                joined_tx.clone(),
            ));
        }
        eprintln!("wave {member}: connecting");
        // Hosts first (one per room), then the others.
        for _ in 0..rooms() {
            joined_rx.recv().await.unwrap();
        }
    }
    let join_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{replicas} replica(s): {} participants joined in {join_seconds:.1} s",
        rooms() * PER_ROOM
    );
    drop(latency_tx);
    // Let every member's first report land (all gating), then measure.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let steady_rss = servers.rss();
    for round in 0..ROUNDS {
        for (room, host) in hosts.iter().enumerate() {
            host.send((round * 100 + 1) as u64).await.unwrap();
            // The rooms' seeks spread over a second.
            if room % 50 == 49 {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = servers.rss();
    drop(hosts);
    let mut micros = Vec::new();
    while let Ok(m) = latency_rx.try_recv() {
        micros.push(m);
    }
    let expected = rooms() * PER_ROOM * ROUNDS;
    json!({
        "replicas": replicas,
        "participants": rooms() * PER_ROOM,
        "rooms": rooms(),
        "heartbeat_ms": 1000,
        "host_actions": rooms() * ROUNDS,
        "receipts": micros.len(),
        "receipts_expected": expected,
        "host_action_to_receipt": percentiles(micros),
        "join_seconds": join_seconds,
        "server_rss_mib": rss.iter().map(|r| r.0).collect::<Vec<_>>(),
        "server_peak_rss_mib": rss.iter().map(|r| r.1).collect::<Vec<_>>(),
        "server_rss_before_actions_mib": steady_rss.iter().map(|r| r.0).collect::<Vec<_>>(),
    })
}

async fn drive() {
    let discord = DiscordSandbox::start(Config::default()).await.unwrap();
    let kaltura = KalturaSandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let config = kd_tests::runtime_config(&discord, &kaltura, GUILD.parse().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ServeSpec {
        config,
        bot_token: discord.bot_token(),
        admin_secret: kaltura.admin_secret().to_string(),
        store_url: format!("sqlite://{}", dir.path().join("bench.db").display()),
    };
    let entries = kaltura.entries();
    let entry = entries[0]["id"].as_str().unwrap();
    let one = run(&spec, entry, 1).await;
    spec.store_url = support::postgres_database("kd_watch_bench").await;
    let two = run(&spec, entry, 2).await;
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "bench": "watch_fanout",
            "targets": {"p99_ms": 50, "server_rss_mib": 256},
            "one_replica_sqlite": one,
            "two_replicas_postgres": two,
        }))
        .unwrap()
    );
}

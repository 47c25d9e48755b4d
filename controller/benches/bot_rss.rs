//! Memory of the bot process with 2,500 guilds configured: the `kaltura-discord bot` binary
//! against the Discord sandbox holding 2,500 guilds, measured once every guild's commands are
//! registered (its steady state). Prints JSON.
//!
//! `cargo bench -p kd-controller --bench bot_rss` (release build).

use kd_sandbox_discord::{Config, DiscordSandbox, NewGuild};
use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GUILDS: usize = 2500;

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn metric(port: u16, name: &str) -> Option<f64> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.trim().parse().ok())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let discord = DiscordSandbox::start(Config::default()).await.unwrap();
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
            kd_bot::config::RuntimeConfig::new(config.application, config.partners, config.guilds);

        let dir = tempfile::tempdir().unwrap();
        for (secret, key, value) in [
            ("discord", "botToken", discord.bot_token()),
            ("kaltura", "adminSecret", kaltura.admin_secret().to_string()),
        ] {
            std::fs::create_dir_all(dir.path().join(secret)).unwrap();
            std::fs::write(dir.path().join(secret).join(key), value).unwrap();
        }
        let file = dir.path().join("runtime.json");
        std::fs::write(&file, config.to_json()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kaltura-discord"))
            .args(["bot", "--config"])
            .arg(&file)
            .arg("--secrets-dir")
            .arg(dir.path())
            .arg("--store")
            .arg(format!("sqlite://{}", dir.path().join("bot.db").display()))
            .args([
                "--discord-rest",
                discord.http_authority(),
                "--discord-gateway",
                discord.gateway_url(),
            ])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--log", "warn"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let registered = loop {
            let done =
                metric(port, "kaltura_discord_bot_command_registrations_total").unwrap_or(0.0);
            if done as usize >= GUILDS || started.elapsed() > Duration::from_secs(300) {
                break done;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        let registration_seconds = started.elapsed().as_secs_f64();
        tokio::time::sleep(Duration::from_secs(2)).await;
        let pid = child.id();
        let rss = status_kib(pid, "VmRSS:");
        let peak = status_kib(pid, "VmHWM:");
        let _ = child.kill();
        let _ = child.wait();
        println!(
            "{}",
            json!({"bot_memory": {
                "guilds": GUILDS,
                "config_bytes": config.to_json().len(),
                "registered_guilds": registered,
                "registration_seconds": (registration_seconds * 10.0).round() / 10.0,
                "rss_mib": (rss as f64 / 1024.0 * 10.0).round() / 10.0,
                "peak_rss_mib": (peak as f64 / 1024.0 * 10.0).round() / 10.0,
            }})
        );
    });
}

//! `kaltura-discord bot` as deployed: a separate process reading a runtime-config file and
//! mounted secrets, connected to the Discord and Kaltura sandboxes, following edits of the file
//! and serving /metrics.

use kd_sandbox_discord::{Config, DiscordSandbox, NewCommandInteraction, NewGuild, NewUser};
use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kaltura-discord");

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn get(port: u16, path: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    out
}

async fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_process_serves_follows_its_config_file_and_reports_metrics() {
    let discord = DiscordSandbox::start(Config::default()).await.unwrap();
    let kaltura = KalturaSandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let guild = discord
        .create_guild(NewGuild {
            name: "Physics".into(),
            ..NewGuild::default()
        })
        .unwrap();
    let user = discord
        .create_user(NewUser {
            username: "ada".into(),
            ..NewUser::default()
        })
        .unwrap();
    discord
        .put_member(guild.id, user.id, Default::default())
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    for (secret, key, value) in [
        ("discord", "botToken", discord.bot_token()),
        ("kaltura", "adminSecret", kaltura.admin_secret().to_string()),
    ] {
        std::fs::create_dir_all(dir.path().join(secret)).unwrap();
        std::fs::write(dir.path().join(secret).join(key), format!("{value}\n")).unwrap();
    }
    let mut config = kd_tests::runtime_config(&discord, &kaltura, guild.id);
    let file = dir.path().join("runtime.json");
    std::fs::write(&file, config.to_json()).unwrap();
    let port = free_port();
    let child = Command::new(BIN)
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
        .args([
            "--shards",
            "1",
            "--poll",
            "100ms",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut child = Killed(child);

    let names = |discord: &DiscordSandbox| -> Vec<String> {
        discord
            .commands(Some(guild.id))
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    eventually("commands registered", || {
        names(&discord)
            .contains(&"kaltura-video-search".to_string())
            .then_some(())
    })
    .await;

    let sent = discord
        .invoke_command(NewCommandInteraction {
            guild_id: guild.id,
            channel_id: guild.general_channel_id,
            user_id: user.id,
            name: "kaltura-list".into(),
            ..NewCommandInteraction::default()
        })
        .unwrap();
    let view = discord
        .wait_interaction_response(sent.id, Duration::from_secs(10))
        .await
        .expect("answered");
    assert_eq!(
        view.callback.unwrap()["data"]["content"],
        "No meetings are running. Start one with `/kaltura-start`."
    );

    // Editing the file (as a ConfigMap update does) applies the new revision in place.
    config
        .guilds
        .values_mut()
        .for_each(|g| g.features.video_search = false);
    let config =
        kd_bot::config::RuntimeConfig::new(config.application, config.partners, config.guilds);
    std::fs::write(&file, config.to_json()).unwrap();
    eventually("commands re-registered", || {
        (!names(&discord).contains(&"kaltura-video-search".to_string())).then_some(())
    })
    .await;
    assert_eq!(
        discord.gateway_sessions().len(),
        1,
        "no reconnect for a new revision"
    );

    let metrics = eventually("metrics", || {
        Some(get(port, "/metrics")).filter(|m| m.contains(&config.revision))
    })
    .await;
    assert!(
        metrics.contains(
            "kaltura_discord_bot_interactions_total{command=\"kaltura-list\",outcome=\"ok\"} 1"
        ),
        "{metrics}"
    );
    assert!(get(port, "/healthz").ends_with("ok"));

    let _ = child.0.kill();
    let mut log = String::new();
    child
        .0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("running config revision"), "{log}");
    assert!(
        !log.contains(&discord.bot_token()),
        "the bot token reached the log"
    );
    assert!(
        !log.contains(kaltura.admin_secret()),
        "the admin secret reached the log"
    );
}

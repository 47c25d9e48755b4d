//! The `kaltura-discord bot` and `serve` binaries as deployed: mounted-style secrets and a
//! runtime-config file in a temporary folder, the sandboxes' URLs, HTTP on a free port.

use kd_bot::config::RuntimeConfig;
use kd_sandbox_discord::{Config, DiscordSandbox, GuildCreated, NewGuild, NewUser};
use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// The outside world a workload process runs against: both sandboxes and one guild with one
/// member, `ada`, who has no roles.
pub struct Outside {
    pub discord: DiscordSandbox,
    pub kaltura: KalturaSandbox,
    pub guild: GuildCreated,
    pub user: u64,
}

impl Outside {
    pub async fn start() -> Self {
        let discord = DiscordSandbox::start(Config::default())
            .await
            .expect("Discord sandbox starts");
        let kaltura = KalturaSandbox::start(SandboxConfig::default())
            .await
            .expect("Kaltura sandbox starts");
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
            .unwrap()
            .id;
        discord
            .put_member(guild.id, user, Default::default())
            .unwrap();
        Self {
            discord,
            kaltura,
            guild,
            user,
        }
    }
}

/// A workload process (`bot` or `serve`).
pub struct WorkloadProcess {
    pub child: Child,
    pub port: u16,
    pub config_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl WorkloadProcess {
    /// Starts `bin bot` against the sandboxes with `config`; `extra` arguments are appended
    /// (a `--store` among them replaces the SQLite file of its own).
    pub fn bot(
        bin: &str,
        discord: &DiscordSandbox,
        kaltura: &KalturaSandbox,
        config: &RuntimeConfig,
        extra: &[&str],
        stdout: Stdio,
    ) -> Self {
        let command = [
            "bot",
            "--discord-rest",
            discord.http_authority(),
            "--discord-gateway",
            discord.gateway_url(),
        ];
        Self::spawn(bin, &command, discord, kaltura, config, extra, stdout)
    }

    /// Starts `bin serve` in front of the sandboxes with `config`; `extra` arguments are appended.
    pub fn serve(
        bin: &str,
        discord: &DiscordSandbox,
        kaltura: &KalturaSandbox,
        config: &RuntimeConfig,
        extra: &[&str],
        stdout: Stdio,
    ) -> Self {
        let api = format!("{}/api/v10", discord.base_url());
        Self::spawn(
            bin,
            &["serve", "--discord-api", &api],
            discord,
            kaltura,
            config,
            extra,
            stdout,
        )
    }

    fn spawn(
        bin: &str,
        command: &[&str],
        discord: &DiscordSandbox,
        kaltura: &KalturaSandbox,
        config: &RuntimeConfig,
        extra: &[&str],
        stdout: Stdio,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let secrets = [
            ("discord", "botToken", discord.bot_token()),
            ("kaltura", "adminSecret", kaltura.admin_secret().to_string()),
        ];
        for (secret, key, value) in secrets {
            std::fs::create_dir_all(dir.path().join(secret)).unwrap();
            // Mounted Secret files often end with a newline; the bot must not mind.
            std::fs::write(dir.path().join(secret).join(key), format!("{value}\n")).unwrap();
        }
        let config_file = dir.path().join("runtime.json");
        std::fs::write(&config_file, config.to_json()).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(command)
            .arg("--config")
            .arg(&config_file)
            .arg("--secrets-dir")
            .arg(dir.path())
            .args(if extra.contains(&"--store") {
                vec![]
            } else {
                let sqlite = format!("sqlite://{}", dir.path().join("store.db").display());
                vec!["--store".to_string(), sqlite]
            })
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(stdout)
            // Start-up errors show in the test's output.
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Self {
            child,
            port,
            config_file,
            _dir: dir,
        }
    }

    /// Replaces the config file, as a ConfigMap update does.
    pub fn write_config(&self, config: &RuntimeConfig) {
        std::fs::write(&self.config_file, config.to_json()).unwrap();
    }

    /// The base URL of its HTTP port.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET path` on its HTTP port; None while it is not listening yet.
    pub fn get(&self, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut out = String::new();
        stream.read_to_string(&mut out).ok()?;
        Some(out)
    }

    /// One sample of the Prometheus text, by its full name with labels.
    pub fn metric(&self, sample: &str) -> Option<f64> {
        let text = self.get("/metrics")?;
        text.lines()
            .find_map(|l| l.strip_prefix(sample))
            .and_then(|v| v.trim().parse().ok())
    }
}

impl Drop for WorkloadProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

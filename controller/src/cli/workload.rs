//! What every process running an application's workload (`bot`, `serve`) takes: its rendered
//! runtime config, the mounted Secrets, the store and how to log.

use anyhow::Context;
use kd_bot::config::RuntimeConfig;
use kd_bot::config_source;
use kd_bot::secrets::MountedSecrets;
use kd_store::Store;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(clap::Args)]
pub struct WorkloadArgs {
    /// The runtime config (`kaltura-discord render` output, or a mounted ConfigMap); re-read when it changes.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Mounted Secrets: `<dir>/<secret name>/<key>`.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/run/secrets/kaltura-discord"
    )]
    secrets_dir: PathBuf,
    /// Where overrides, meetings and registrations live: sqlite://FILE or postgres://...
    #[arg(
        long,
        env = "KALTURA_DISCORD_STORE",
        hide_env_values = true,
        default_value = "sqlite://kaltura-discord.db"
    )]
    store: String,
    /// How often to look for a new config.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    poll: Duration,
    /// Log level or directives (RUST_LOG syntax).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
    /// `text` for people, `json` (one object per line) for log collectors.
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

/// The opened inputs of a workload.
pub struct Workload {
    pub config: watch::Receiver<Arc<RuntimeConfig>>,
    pub store: Store,
    pub secrets: Arc<MountedSecrets>,
}

impl WorkloadArgs {
    /// Installs the log subscriber (token-bearing targets capped, see `kd_bot::logging`).
    pub fn init_logs(&self) {
        let logs = tracing_subscriber::fmt().with_env_filter(kd_bot::logging::filter(&self.log));
        if self.log_format == "json" {
            logs.json().init();
        } else {
            logs.init();
        }
    }

    /// Reads the config (and starts following it), opens the store.
    pub async fn open(self) -> anyhow::Result<Workload> {
        let config =
            config_source::watch_file(&self.config, self.poll).map_err(anyhow::Error::msg)?;
        let store = Store::open(&self.store)
            .await
            .context("opening the store")?;
        Ok(Workload {
            config,
            store,
            secrets: Arc::new(MountedSecrets {
                dir: self.secrets_dir,
            }),
        })
    }
}

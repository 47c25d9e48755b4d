//! What every process running an application's workload (`bot`, `serve`) takes: its rendered
//! runtime config, the mounted Secrets, the store and how to log.

use super::logs::LogArgs;
use anyhow::Context;
use kd_bot::config_source;
use kd_core::config::RuntimeConfig;
use kd_core::secrets::MountedSecrets;
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
    #[command(flatten)]
    logs: LogArgs,
}

/// The opened inputs of a workload.
pub struct Workload {
    pub config: watch::Receiver<Arc<RuntimeConfig>>,
    pub store: Store,
    pub secrets: Arc<MountedSecrets>,
}

impl WorkloadArgs {
    pub fn init_logs(&self) {
        self.logs.init();
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

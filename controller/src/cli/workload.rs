//! What every process running an application's workload (`bot`, `serve`) takes: its rendered
//! runtime config, the mounted Secrets, the store and how to log.

use super::logs::LogArgs;
use anyhow::Context;
use kd_bot::config_source;
use kd_core::config::{RuntimeConfig, Served};
use kd_core::secrets::MountedSecrets;
use kd_store::{Backend, Store};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(clap::Args)]
#[group(id = "runtime-config", required = true, multiple = false, args = ["config", "config_map"])]
pub struct WorkloadArgs {
    /// The runtime config from a file (`kaltura-discord render` output); re-read when it changes.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The runtime config from the Kubernetes API: the index ConfigMap the operator writes
    /// (`<application>-config`), watched, with its parts. Credentials from the pod's
    /// ServiceAccount, or KUBECONFIG.
    #[arg(long, value_name = "NAME")]
    config_map: Option<String>,
    /// Namespace of `--config-map`; the pod's own (or the kubeconfig context's) when absent.
    #[arg(long, value_name = "NAMESPACE", requires = "config_map")]
    config_namespace: Option<String>,
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
    /// How often to look for a new config file.
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

    /// The store's backend, from its URL (None for one `open` refuses).
    pub fn backend(&self) -> Option<Backend> {
        Backend::of_url(&self.store)
    }

    /// Reads the config keeping the guilds `served` names (and starts following both),
    /// opens the store.
    pub async fn open(self, served: watch::Receiver<Served>) -> anyhow::Result<Workload> {
        let config = match (&self.config, &self.config_map) {
            (Some(file), _) => {
                config_source::watch_file(file, self.poll, served).map_err(anyhow::Error::msg)?
            }
            (None, Some(name)) => {
                let client = kube::Client::try_default()
                    .await
                    .context("connecting to the Kubernetes API for --config-map")?;
                let namespace = self
                    .config_namespace
                    .clone()
                    .unwrap_or_else(|| client.default_namespace().to_string());
                kd_controller::config_watch::watch(client, &namespace, name, served)
                    .await
                    .map_err(anyhow::Error::msg)?
            }
            (None, None) => unreachable!("clap requires --config or --config-map"),
        };
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

//! `kaltura-discord serve`: the public HTTP surface of one application (join links, `/api/v1`,
//! `/healthz`, `/readyz`, `/metrics`), from a rendered runtime config it follows as it changes.

use anyhow::Context;
use kd_activity::{Api, ApiOptions};
use kd_bot::config_source;
use kd_bot::secrets::MountedSecrets;
use kd_store::Store;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
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
    /// The store the bot writes (meetings registry, overrides): sqlite://FILE or postgres://...
    #[arg(
        long,
        env = "KALTURA_DISCORD_STORE",
        hide_env_values = true,
        default_value = "sqlite://kaltura-discord.db"
    )]
    store: String,
    /// Discord REST base URL (`http://HOST:PORT/api/v10` of the sandbox).
    #[arg(long, value_name = "URL", default_value = kd_activity::DISCORD_API)]
    discord_api: String,
    /// Address to serve on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// A browser origin allowed to call the API (CORS); repeat for several.
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origins: Vec<String>,
    /// Requests per minute per user, and the burst on top.
    #[arg(long, default_value = "120")]
    rate_per_minute: NonZeroU32,
    #[arg(long, default_value = "30")]
    rate_burst: NonZeroU32,
    /// How often to look for a new config.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    poll: Duration,
    /// Log level or directives (RUST_LOG syntax).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(kd_bot::logging::filter(&args.log))
        .init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<ExitCode> {
    let config = config_source::watch_file(&args.config, args.poll).map_err(anyhow::Error::msg)?;
    let store = Store::open(&args.store)
        .await
        .context("opening the store")?;
    let options = ApiOptions {
        discord_api: args.discord_api,
        cors_origins: args.cors_origins,
        rate_per_minute: args.rate_per_minute,
        rate_burst: args.rate_burst,
        ..ApiOptions::default()
    };
    let api = Api::new(
        options,
        config,
        store,
        Arc::new(MountedSecrets {
            dir: args.secrets_dir,
        }),
    )?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "serving the public HTTP surface");
    tokio::select! {
        result = kd_activity::serve(api, listener) => result.context("the HTTP server failed")?,
        signal = tokio::signal::ctrl_c() => signal.context("waiting for Ctrl-C")?,
    }
    Ok(ExitCode::SUCCESS)
}

//! `kaltura-discord bot`: the Discord bot of one application, from a rendered runtime config
//! that it follows as it changes, with `/metrics` and `/healthz` for the cluster.

use anyhow::Context;
use axum::Router;
use axum::routing::get;
use kd_bot::config_source;
use kd_bot::runtime::{Bot, BotOptions};
use kd_bot::secrets::MountedSecrets;
use kd_store::Store;
use std::net::SocketAddr;
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
    /// Where overrides, meetings and registrations live: sqlite://FILE or postgres://...
    #[arg(
        long,
        env = "KALTURA_DISCORD_STORE",
        hide_env_values = true,
        default_value = "sqlite://kaltura-discord.db"
    )]
    store: String,
    /// Discord REST as host:port over plain HTTP (the Discord sandbox); Discord itself when absent.
    #[arg(long, value_name = "HOST:PORT")]
    discord_rest: Option<String>,
    /// Discord gateway URL (ws://host:port of the sandbox); Discord's when absent.
    #[arg(long, value_name = "URL")]
    discord_gateway: Option<String>,
    /// Gateway shards; Discord's recommendation when absent.
    #[arg(long)]
    shards: Option<u32>,
    /// Serve /metrics and /healthz here.
    #[arg(long, default_value = "0.0.0.0:9100")]
    listen: SocketAddr,
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
    let options = BotOptions {
        http_proxy: args.discord_rest,
        gateway_url: args.discord_gateway,
        shards: args.shards,
        intents: kd_bot::runtime::intents(&config.borrow()),
        ..BotOptions::default()
    };
    let bot = Bot::new(
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
    let metrics_bot = bot.clone();
    let app = Router::new()
        .route(
            "/metrics",
            get(move || std::future::ready(metrics_bot.metrics.encode())),
        )
        .route("/healthz", get(|| std::future::ready("ok")));
    tracing::info!(listen = %args.listen, "serving /metrics and /healthz");
    let http = tokio::spawn(async move { axum::serve(listener, app).await });
    tokio::select! {
        result = bot.run() => result.context("the bot stopped")?,
        result = http => result.context("the metrics server stopped")?.context("the metrics server failed")?,
        signal = tokio::signal::ctrl_c() => signal.context("waiting for Ctrl-C")?,
    }
    Ok(ExitCode::SUCCESS)
}

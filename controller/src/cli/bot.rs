//! `kaltura-discord bot`: the Discord bot of one application, from a rendered runtime config
//! that it follows as it changes, with `/metrics`, `/status`, `/healthz` and `/readyz` (store
//! and gateway) for the cluster.

use super::http::HttpArgs;
use super::workload::{Workload, WorkloadArgs};
use anyhow::Context;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use kd_bot::endpoint::RestEndpoint;
use kd_bot::runtime::{Bot, BotOptions};
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    workload: WorkloadArgs,
    /// Discord REST elsewhere: https://HOST:PORT, or http://HOST:PORT or HOST:PORT for plain
    /// HTTP (the Discord sandbox); Discord itself when absent.
    #[arg(long, value_name = "URL")]
    discord_rest: Option<RestEndpoint>,
    /// Discord gateway URL (ws:// or wss://host:port of the sandbox); Discord's when absent.
    #[arg(long, value_name = "URL")]
    discord_gateway: Option<String>,
    /// Gateway shards; Discord's recommendation when absent.
    #[arg(long)]
    shards: Option<u32>,
    /// Serve /metrics, /status (what the operator reads), /healthz and /readyz here.
    #[arg(long, default_value = "0.0.0.0:9100")]
    listen: SocketAddr,
    #[command(flatten)]
    http: HttpArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    args.workload.init_logs();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<ExitCode> {
    let Workload {
        config,
        store,
        secrets,
    } = args.workload.open().await?;
    let options = BotOptions {
        http_proxy: args.discord_rest,
        gateway_url: args.discord_gateway,
        shards: args.shards,
        intents: kd_bot::runtime::intents(&config.borrow()),
        ..BotOptions::default()
    };
    let bot = Bot::new(options, config, store, secrets)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let (metrics_bot, status_bot, ready_bot) = (bot.clone(), bot.clone(), bot.clone());
    let app = Router::new()
        .route(
            "/metrics",
            get(move || std::future::ready(metrics_bot.metrics.encode())),
        )
        .route(
            "/status",
            get(move || std::future::ready(Json(status_bot.report()))),
        )
        .route("/healthz", get(|| std::future::ready("ok")))
        .route(
            "/readyz",
            get(move || async move {
                let readiness = ready_bot.readiness().await;
                let status = if readiness.ready {
                    StatusCode::OK
                } else {
                    StatusCode::SERVICE_UNAVAILABLE
                };
                (status, Json(readiness))
            }),
        );
    tracing::info!(listen = %args.listen, "serving /metrics, /status, /healthz and /readyz");
    let http = tokio::spawn(kd_server::serve(listener, app, args.http.limits()));
    tokio::select! {
        result = bot.run() => result.context("the bot stopped")?,
        result = http => result.context("the metrics server stopped")?.context("the metrics server failed")?,
        signal = tokio::signal::ctrl_c() => signal.context("waiting for Ctrl-C")?,
    }
    Ok(ExitCode::SUCCESS)
}

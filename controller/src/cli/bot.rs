//! `kaltura-discord bot`: the Discord bot of one application, from a rendered runtime config
//! that it follows as it changes, with `/metrics`, `/status`, `/healthz` and `/readyz` (store
//! and gateway) for the cluster.
//!
//! `/status` answers at once, with the report's `ETag`. A poll that sends that tag back in
//! `If-None-Match` is answered 304 while the report is unchanged, and with `?wait=SECONDS` it
//! is held until the report changes (then 200 with the new one) or the wait ends (304): the
//! operator follows every bot that way and hears of a new revision within a round trip.

use super::http::HttpArgs;
use super::shard_leases::KubernetesLeases;
use super::workload::{Workload, WorkloadArgs};
use anyhow::Context;
use axum::extract::Query;
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use kd_bot::endpoint::RestEndpoint;
use kd_bot::runtime::{Bot, BotOptions, Sharing};
use kd_core::config::Served;
use kd_store::Backend;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How long a stopping bot may take to hand its shards over and answer what it has.
const LEAVE_BOUND: Duration = Duration::from_secs(20);

/// The longest a `/status` poll is held, and never within a second of the request timeout,
/// which would cut it with 408.
const MAX_WAIT: Duration = Duration::from_secs(60);

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
    /// Where replicas agree on who connects which shard: `store` (lease rows on a PostgreSQL
    /// store; on SQLite this process connects every shard) or `kubernetes` (Leases in the
    /// pod's namespace, through its ServiceAccount or KUBECONFIG).
    #[arg(long, value_enum, default_value_t = ShardLeases::Store)]
    shard_leases: ShardLeases,
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
    // Leases share the shards (as `Bot::run` decides): a replica among several keeps the
    // config of its shards' guilds alone, none before it holds a shard; a bot alone keeps
    // every guild.
    let among_replicas = matches!(args.shard_leases, ShardLeases::Kubernetes)
        || args.workload.backend() == Some(Backend::Postgres);
    let (served, kept) = watch::channel(if among_replicas {
        Served::Shards {
            total: 0,
            held: Default::default(),
        }
    } else {
        Served::All
    });
    let Workload {
        config,
        store,
        secrets,
    } = args.workload.open(kept).await?;
    let sharing = match args.shard_leases {
        ShardLeases::Store => Sharing::Store,
        ShardLeases::Kubernetes => {
            let client = kube::Client::try_default()
                .await
                .context("connecting to the Kubernetes API for --shard-leases kubernetes")?;
            let namespace = client.default_namespace().to_string();
            let app = config.borrow().application.name.clone();
            Sharing::Service(Arc::new(KubernetesLeases::new(client, &namespace, &app)))
        }
    };
    let options = BotOptions {
        http_proxy: args.discord_rest,
        gateway_url: args.discord_gateway,
        shards: args.shards,
        intents: kd_bot::runtime::intents(&config.borrow()),
        served: among_replicas.then(|| Arc::new(served)),
        sharing,
        ..BotOptions::default()
    };
    let bot = Bot::new(options, config, store, secrets)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let (metrics_bot, status_bot, ready_bot) = (bot.clone(), bot.clone(), bot.clone());
    let limits = args.http.limits();
    let max_wait = MAX_WAIT.min(
        limits
            .request_timeout
            .saturating_sub(Duration::from_secs(1)),
    );
    let app = Router::new()
        .route(
            "/metrics",
            get(move || std::future::ready(metrics_bot.metrics.encode())),
        )
        .route(
            "/status",
            get(
                move |query: Query<StatusQuery>, headers: HeaderMap| async move {
                    status(&status_bot, &query, &headers, max_wait).await
                },
            ),
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
    let http = tokio::spawn(kd_server::serve(listener, app, limits));
    let mut running = tokio::spawn(bot.clone().run());
    tokio::select! {
        result = &mut running => return result.context("the bot stopped")?.map(|()| ExitCode::SUCCESS).context("the bot stopped"),
        result = http => result.context("the metrics server stopped")?.context("the metrics server failed")?,
        signal = super::stop_signal()? => tracing::info!(signal, "stopping: handing the gateway shards over"),
    }
    // Within Kubernetes' 30 s grace: shards handed over, interactions under way answered.
    bot.leave();
    match tokio::time::timeout(LEAVE_BOUND, running).await {
        Ok(result) => result
            .context("the bot stopped")?
            .context("the bot stopped")?,
        Err(_) => tracing::warn!("the bot did not stop within {LEAVE_BOUND:?}; exiting anyway"),
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ShardLeases {
    Store,
    Kubernetes,
}

#[derive(serde::Deserialize)]
struct StatusQuery {
    /// Seconds to hold a poll whose `If-None-Match` is the current report's tag.
    wait: Option<u64>,
}

/// `/status`: the report with its `ETag`, or 304 when the poller's tag is still current after
/// the wait it asked for (at most `max_wait`).
async fn status(
    bot: &Bot,
    query: &StatusQuery,
    headers: &HeaderMap,
    max_wait: Duration,
) -> Response {
    let seen = headers.get(IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    let wait = Duration::from_secs(query.wait.unwrap_or(0)).min(max_wait);
    match bot.report_unless(seen, wait).await {
        Some(report) => ([(ETAG, report.etag())], Json(report)).into_response(),
        None => {
            let etag = seen.unwrap_or_default().to_string();
            (StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response()
        }
    }
}

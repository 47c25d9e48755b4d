//! `kaltura-discord serve`: the public HTTP surface of one application (join links, `/api/v1`,
//! the Watch Together Activity's page and its API, `/healthz`, `/readyz`, `/metrics`), from a
//! rendered runtime config it follows as it changes.

use super::http::HttpArgs;
use super::workload::{Workload, WorkloadArgs};
use anyhow::Context;
use kd_activity::{Api, ApiOptions};
use kd_core::config::Served;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use tokio::sync::watch;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    workload: WorkloadArgs,
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
    /// Proxies in front of the server that append the client's address to X-Forwarded-For
    /// (an ingress: 1). The token exchange is limited per client address; with 0 the header is
    /// ignored and the peer address counts.
    #[arg(long, default_value = "0")]
    trusted_proxy_hops: usize,
    /// The built Activity app (`activity/web/dist` of a checkout after `.ci/setup.d/web.sh`),
    /// served at `/`, where Discord's root URL mapping points. The image carries it at the default.
    #[arg(
        long,
        value_name = "DIR",
        env = "KD_WEB_DIST",
        default_value = "/usr/share/kaltura-discord/web"
    )]
    web_dist: PathBuf,
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
    } = args.workload.open(watch::channel(Served::All).1).await?;
    let options = ApiOptions {
        discord_api: args.discord_api,
        cors_origins: args.cors_origins,
        rate_per_minute: args.rate_per_minute,
        rate_burst: args.rate_burst,
        trusted_proxy_hops: args.trusted_proxy_hops,
        server: args.http.limits(),
        web_dist: Some(args.web_dist),
        ..ApiOptions::default()
    };
    let api = Api::new(options, config, store, secrets)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    tracing::info!(listen = %listener.local_addr()?, "serving the public HTTP surface");
    tokio::select! {
        result = kd_activity::serve(api, listener) => result.context("the HTTP server failed")?,
        signal = super::stop_signal()? => tracing::info!(signal, "stopping"),
    }
    Ok(ExitCode::SUCCESS)
}

//! `kaltura-discord operator`: the Kubernetes operator. Watches the custom resources, deploys
//! each application's bot and Activity, and writes status back; serves `/metrics`, `/healthz`
//! and `/readyz` (ready after the first full reconcile).

use super::http::HttpArgs;
use super::logs::LogArgs;
use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use kd_controller::operator::{self, Options, metrics::Metrics};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(clap::Args)]
pub struct Args {
    /// Watch only this namespace; all namespaces when absent.
    #[arg(long, env = "KD_WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// Serve /metrics, /healthz and /readyz here.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: SocketAddr,
    /// Image of the bot and Activity pods for applications that name none.
    #[arg(long, env = "KD_WORKLOAD_IMAGE", default_value = concat!("ghcr.io/kaltura-discord/kaltura-discord:", env!("CARGO_PKG_VERSION")))]
    workload_image: String,
    /// Reconcile this often even without a change, for what only time moves (credential checks,
    /// finalizer deadlines); bot reports, watched changes and apply retries wake it at once.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    resync: Duration,
    /// Check each KalturaPartner's credentials against Kaltura this often (and on create and on
    /// a change of its Secret).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    verify_every: Duration,
    /// How long a deleted GuildConfig waits for the bot to remove the guild's commands before
    /// its finalizer is released anyway (with a Warning Event).
    #[arg(long, default_value = "2m", value_parser = humantime::parse_duration)]
    finalizer_timeout: Duration,
    /// Reconcile only while holding the leader Lease, so several replicas never write at once.
    #[arg(long, env = "KD_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Name of the leader Lease.
    #[arg(long, default_value = "kaltura-discord-operator")]
    lease_name: String,
    /// Namespace of the leader Lease: the operator's own (the chart sets it from the downward API).
    #[arg(long, env = "KD_POD_NAMESPACE", default_value = "default")]
    lease_namespace: String,
    /// This replica's identity in the Lease: its pod name; host name and process id when unset.
    #[arg(long, env = "KD_POD_NAME")]
    identity: Option<String>,
    /// How long the Lease stays valid after a renewal: a stand-by takes over at most this long
    /// after the leader stopped.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    lease_duration: Duration,
    #[command(flatten)]
    http: HttpArgs,
    #[command(flatten)]
    logs: LogArgs,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    args.logs.init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<ExitCode> {
    let client = kube::Client::try_default()
        .await
        .context("connecting to Kubernetes (in-cluster config or KUBECONFIG)")?;
    let metrics = Arc::new(Metrics::default());
    let (ready, is_ready) = watch::channel(false);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let encode = metrics.clone();
    let app = Router::new()
        .route("/metrics", get(move || std::future::ready(encode.encode())))
        .route("/healthz", get(|| std::future::ready("ok")))
        .route(
            "/readyz",
            get(move || {
                let ready = *is_ready.borrow();
                std::future::ready(if ready {
                    (StatusCode::OK, "ready")
                } else {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        "waiting for the first reconcile",
                    )
                })
            }),
        );
    tracing::info!(listen = %args.listen, "serving /metrics, /healthz and /readyz");
    let http = tokio::spawn(kd_server::serve(listener, app, args.http.limits()));
    let options = Options {
        namespace: args.namespace,
        workload_image: args.workload_image,
        resync: args.resync,
        verify_every: args.verify_every,
        finalizer_timeout: args.finalizer_timeout,
        election: args.leader_election.then(|| operator::leader::Election {
            namespace: args.lease_namespace,
            name: args.lease_name,
            identity: args.identity.unwrap_or_else(default_identity),
            duration: args.lease_duration,
        }),
    };
    // A stop signal ends the loop, which then gives the leader Lease up.
    let signal = super::stop_signal()?;
    let stop = async move {
        // Awaited outside the macro, which skips its fields when info is off.
        let signal = signal.await;
        tracing::info!(signal, "stopping");
    };
    tokio::select! {
        result = operator::run(client, options, metrics, ready, stop) => result.context("the operator stopped")?,
        result = http => result.context("the metrics server stopped")?.context("the metrics server failed")?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Unique enough outside a pod: the host name and the process id.
fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "operator".into());
    format!("{host}-{}", std::process::id())
}

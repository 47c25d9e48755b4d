//! One module per subcommand: argument struct plus a `run` function.

pub mod bot;
pub mod crds;
pub mod http;
pub mod kaltura;
pub mod logs;
pub mod operator;
pub mod render;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod serve;
mod shard_leases;
pub mod status;
#[cfg(feature = "sandbox")]
pub mod up;
pub mod validate;
pub mod workload;

/// Resolves with the name of the first SIGINT (Ctrl-C) or SIGTERM (what Kubernetes sends a pod
/// it stops): every long-running command ends cleanly on either. The handlers are installed
/// at once, so a signal that comes before the future is first polled is not lost.
pub fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = &'static str>> {
    use anyhow::Context;
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        }
    })
}

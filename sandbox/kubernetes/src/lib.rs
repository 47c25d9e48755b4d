//! An emulator of the Kubernetes API subset the operator uses: discovery, built-in types stored
//! as schemaless objects, CustomResourceDefinitions with structural-schema and CEL validation,
//! every verb (watch, server-side apply and the patch formats included), Table output for
//! `kubectl get`, and ServiceAccount tokens held to RBAC (impersonation and access reviews too).
//!
//! Unmodified clients talk to it: kubectl through [`Sandbox::write_kubeconfig`], kube-rs through
//! `kube::Config::from_custom_kubeconfig`. It depends on no product crate, so a mistake shared
//! with the product cannot hide.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kd_sandbox_kubernetes::{Config, KubernetesSandbox};
//! let cluster = KubernetesSandbox::start(Config::default()).await?;
//! cluster.write_kubeconfig("/tmp/kubeconfig")?;
//! println!("API server {} (token {})", cluster.base_url(), cluster.token());
//! # Ok(()) }
//! ```

mod apply;
mod auth;
mod clock;
mod config;
mod crd;
mod deletion;
mod discovery;
mod escalation;
mod events;
mod http;
mod jsonpath;
mod limits;
mod objects;
mod patch;
mod protobuf;
mod rbac;
mod resource;
mod sandbox;
mod scale;
mod schema;
mod selector;
mod status;
mod store;
mod table;
mod watch;

pub use auth::NoServiceAccount;
pub use config::Config;
pub use sandbox::Sandbox;

use std::ops::Deref;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running API server. Dereferences to [`Sandbox`] for the typed helpers; stops when dropped.
pub struct KubernetesSandbox {
    sandbox: Sandbox,
    server: JoinHandle<()>,
}

impl KubernetesSandbox {
    /// Binds `config.listen` and serves the API over plain HTTP.
    pub async fn start(config: Config) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let sandbox = Sandbox::new(config, format!("http://{addr}"));
        let app = http::router(sandbox.clone());
        let server = tokio::spawn(async move {
            // Watch events go out as they happen, not when the peer's delayed ACK arrives.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            if let Err(err) = axum::serve(listener, app).await {
                tracing::error!(%err, "kubernetes sandbox server stopped");
            }
        });
        tracing::info!(%addr, "kubernetes sandbox listening");
        Ok(Self { sandbox, server })
    }

    /// Serves until the server stops (the CLI's foreground mode).
    pub async fn wait(mut self) {
        let _ = (&mut self.server).await;
    }
}

impl Deref for KubernetesSandbox {
    type Target = Sandbox;

    fn deref(&self) -> &Sandbox {
        &self.sandbox
    }
}

impl Drop for KubernetesSandbox {
    fn drop(&mut self) {
        self.server.abort();
    }
}

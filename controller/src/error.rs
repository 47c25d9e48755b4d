//! What can go wrong in a reconcile pass. Each variant names the step that failed, which labels
//! the `reconcile_errors_total` metric; the message is what a condition or the log shows.

/// An error of the operator's reconcile pipeline.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The reflector caches stopped before their first complete list.
    #[error("the watch caches stopped before they were ready")]
    CachesNotReady(#[from] kube::runtime::reflector::store::WriterDropped),
    /// The leader Lease could not be created or read.
    #[error("leader election failed: {0}")]
    Lease(#[from] kube_lease_manager::LeaseManagerError),
    /// The HTTP client that reads bot reports could not be built.
    #[error("building the HTTP client for bot reports failed")]
    HttpClient(#[source] reqwest::Error),
    /// Server-side apply of one workload object failed.
    #[error("applying {kind} {name} failed: {error}")]
    Apply {
        kind: String,
        name: String,
        error: kube::Error,
    },
    /// Listing or deleting the objects an application no longer wants failed.
    #[error("pruning {kind} {name} failed: {error}")]
    Prune {
        kind: String,
        /// `*` when listing them failed.
        name: String,
        error: kube::Error,
    },
    /// Writing a resource's status failed.
    #[error("writing the status of {kind} {name} failed: {error}")]
    Status {
        kind: &'static str,
        name: String,
        error: kube::Error,
    },
    /// Adding or removing a GuildConfig's finalizer failed.
    #[error("updating the finalizer of GuildConfig {name} failed: {error}")]
    Finalizer { name: String, error: kube::Error },
    /// No ready endpoint of the bot Service.
    #[error("no ready bot pod")]
    NoBotPod,
    /// A bot pod's `/status` could not be read.
    #[error("reading the bot report at {url} failed: {error}")]
    BotReport { url: String, error: reqwest::Error },
}

impl Error {
    /// The metric label of the step that failed.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::CachesNotReady(_) => "watch",
            Error::HttpClient(_) => "http_client",
            Error::Lease(_) => "lease",
            Error::Apply { .. } => "apply",
            Error::Prune { .. } => "prune",
            Error::Status { .. } => "status",
            Error::Finalizer { .. } => "finalizer",
            Error::NoBotPod | Error::BotReport { .. } => "bot_report",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

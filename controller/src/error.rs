//! What can go wrong in a reconcile pass. Each variant names the step that failed and, from the
//! API server's answer, why: the two labels of the `reconcile_errors_total` metric. The message
//! is what a condition or the log shows.

use std::sync::Arc;
use std::time::Duration;

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
    /// Applying and pruning one application's workloads took longer than its bound.
    #[error("applying the workloads of {application} took longer than {}s", after.as_secs())]
    ApplyTimedOut {
        application: String,
        after: Duration,
    },
    /// One failure shown in several places: the pass that saw it counts it, and the status
    /// keeps saying it while its retry waits.
    #[error("{0}")]
    Shared(Arc<Error>),
    /// Writing a resource's status failed.
    #[error("writing the status of {kind} {name} failed: {error}")]
    Status {
        kind: &'static str,
        name: String,
        error: kube::Error,
    },
    /// Adding or removing the finalizer of a GuildConfig or DiscordApplication failed.
    #[error("updating the finalizer of {kind} {name} failed: {error}")]
    Finalizer {
        kind: String,
        name: String,
        error: kube::Error,
    },
    /// No ready endpoint of the bot Service.
    #[error("no ready bot pod")]
    NoBotPod,
    /// A bot pod's `/status` could not be read (the latest attempt; shared by every pass that
    /// reads it from the report cache).
    #[error("reading the bot report at {url} failed: {error}")]
    BotReport {
        url: String,
        error: Arc<reqwest::Error>,
    },
}

impl Error {
    /// The metric label of the step that failed.
    pub fn step(&self) -> &'static str {
        match self {
            Error::CachesNotReady(_) => "watch",
            Error::HttpClient(_) => "http_client",
            Error::Lease(_) => "lease",
            Error::Apply { .. } | Error::ApplyTimedOut { .. } => "apply",
            Error::Shared(error) => error.step(),
            Error::Prune { .. } => "prune",
            Error::Status { .. } => "status",
            Error::Finalizer { .. } => "finalizer",
            Error::NoBotPod | Error::BotReport { .. } => "bot_report",
        }
    }

    /// The metric label of why it failed: see [`kube_reason`].
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Apply { error, .. }
            | Error::Prune { error, .. }
            | Error::Status { error, .. }
            | Error::Finalizer { error, .. } => kube_reason(error),
            Error::Shared(error) => error.reason(),
            Error::ApplyTimedOut { .. } => "timeout",
            Error::NoBotPod | Error::BotReport { .. } => "unavailable",
            Error::CachesNotReady(_) | Error::HttpClient(_) | Error::Lease(_) => "other",
        }
    }
}

/// Why the API server (or the way to it) refused a call, as a few stable words an alert can
/// tell apart: `conflict`, `invalid`, `forbidden`, `not_found`, `too_large`, `unavailable`,
/// `timeout`, or `other`.
pub fn kube_reason(error: &kube::Error) -> &'static str {
    if let kube::Error::Api(status) = error {
        let message = status.message.to_ascii_lowercase();
        // Size refusals come as 413, or as 422/500 whose message says so (an annotation "Too
        // long", etcd's "request is too large"): the fix is the same, a smaller object.
        if status.code == 413
            || ["entity too large", "too long", "request is too large"]
                .iter()
                .any(|m| message.contains(m))
        {
            return "too_large";
        }
        return match status.code {
            409 => "conflict",
            422 => "invalid",
            403 => "forbidden",
            404 => "not_found",
            408 | 504 => "timeout",
            429 | 500..=599 => "unavailable",
            _ if status.reason == "Timeout" => "timeout",
            _ => "other",
        };
    }
    // Transport errors carry their cause only in text, through a chain of boxed sources.
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    let text = text.to_ascii_lowercase();
    if ["timed out", "timeout", "deadline", "elapsed"]
        .iter()
        .any(|m| text.contains(m))
    {
        "timeout"
    } else if [
        "connection refused",
        "connection reset",
        "connection closed",
        "broken pipe",
        "error trying to connect",
        "dns error",
    ]
    .iter()
    .any(|m| text.contains(m))
    {
        "unavailable"
    } else {
        "other"
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::Status;

    fn api(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Status::failure(message, reason).with_code(code).boxed())
    }

    #[test]
    fn api_answers_are_named_by_their_code() {
        for (error, reason) in [
            (
                api(409, "Conflict", "the object has been modified"),
                "conflict",
            ),
            (
                api(422, "Invalid", "spec.replicas: Invalid value"),
                "invalid",
            ),
            (
                api(403, "Forbidden", "cannot patch deployments"),
                "forbidden",
            ),
            (
                api(404, "NotFound", "namespaces \"x\" not found"),
                "not_found",
            ),
            (api(413, "RequestEntityTooLarge", ""), "too_large"),
            (
                api(
                    422,
                    "Invalid",
                    "metadata.annotations: Too long: must have at most 262144 bytes",
                ),
                "too_large",
            ),
            (
                api(500, "InternalError", "etcdserver: request is too large"),
                "too_large",
            ),
            (
                api(503, "ServiceUnavailable", "the server is shutting down"),
                "unavailable",
            ),
            (api(429, "TooManyRequests", "slow down"), "unavailable"),
            (
                api(
                    504,
                    "Timeout",
                    "the server was unable to return a response in time",
                ),
                "timeout",
            ),
            (api(400, "BadRequest", "nope"), "other"),
        ] {
            assert_eq!(kube_reason(&error), reason, "{error}");
        }
    }

    #[test]
    fn transport_failures_are_named_by_their_cause() {
        let service = |text: &str| kube::Error::Service(text.to_string().into());
        assert_eq!(
            kube_reason(&service(
                "tcp connect error: Connection refused (os error 111)"
            )),
            "unavailable"
        );
        assert_eq!(kube_reason(&service("operation timed out")), "timeout");
        assert_eq!(kube_reason(&kube::Error::TlsRequired), "other");
    }

    #[test]
    fn a_shared_error_keeps_its_step_reason_and_words() {
        let failed = Arc::new(Error::Apply {
            kind: "ConfigMap".into(),
            name: "campus-bot-config".into(),
            error: api(409, "Conflict", "modified"),
        });
        let again = Error::Shared(failed.clone());
        assert_eq!((again.step(), again.reason()), ("apply", "conflict"));
        assert_eq!(again.to_string(), failed.to_string());
    }
}

//! Prometheus metrics of the operator: reconcile passes by result, the errors of each pass by
//! the step that failed, and the passes' duration.

use crate::error::Error;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    errors: Family<ReasonLabel, Counter>,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kaltura_discord_operator");
        let reconciles = Family::<ResultLabel, Counter>::default();
        registry.register(
            "reconciles",
            "Reconcile passes, by result (error when a step failed)",
            reconciles.clone(),
        );
        let errors = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed steps of reconcile passes, by the step (apply, prune, status)",
            errors.clone(),
        );
        let duration = Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]);
        registry.register(
            "reconcile_seconds",
            "Time one reconcile pass takes",
            duration.clone(),
        );
        Self {
            registry,
            reconciles,
            errors,
            duration,
        }
    }
}

impl Metrics {
    pub fn observe(&self, took: Duration, errors: &[Error]) {
        let result = if errors.is_empty() { "ok" } else { "error" };
        self.reconciles.get_or_create(&ResultLabel { result }).inc();
        for error in errors {
            let reason = error.reason();
            self.errors.get_or_create(&ReasonLabel { reason }).inc();
        }
        self.duration.observe(took.as_secs_f64());
    }

    pub fn encode(&self) -> String {
        kd_core::metrics::encode(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failed_step_counts_under_its_reason() {
        let refused = || Error::Apply {
            kind: "ConfigMap".into(),
            name: "campus-bot-config".into(),
            error: kube::Error::Service("connection refused".into()),
        };
        let metrics = Metrics::default();
        metrics.observe(Duration::from_millis(5), &[]);
        metrics.observe(
            Duration::from_millis(5),
            &[Error::NoBotPod, refused(), refused()],
        );
        let text = metrics.encode();
        for sample in [
            r#"kaltura_discord_operator_reconciles_total{result="ok"} 1"#,
            r#"kaltura_discord_operator_reconciles_total{result="error"} 1"#,
            r#"kaltura_discord_operator_reconcile_errors_total{reason="apply"} 2"#,
            r#"kaltura_discord_operator_reconcile_errors_total{reason="bot_report"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == sample), "{sample} in\n{text}");
        }
    }
}

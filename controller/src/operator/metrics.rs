//! Prometheus metrics of the operator: reconcile passes by result, the errors of each pass by
//! the step that failed and why (see [`crate::error::kube_reason`]), the passes' duration, whether this replica leads, and what the
//! statuses it writes say of each application (the alerts of the chart's PrometheusRule).

use crate::error::Error;
use crate::reconcile::status::Report;
use kd_crds::DiscordApplicationStatus;
use kd_crds::references::ObjectKey;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    step: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    app_namespace: String,
    application: String,
    condition: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GuildLabels {
    app_namespace: String,
    application: String,
    reason: String,
}

pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    errors: Family<ErrorLabels, Counter>,
    duration: Histogram,
    leader: Gauge,
    conditions: Family<ConditionLabels, Gauge>,
    guilds: Family<GuildLabels, Gauge>,
    pending: Family<AppLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AppLabels {
    app_namespace: String,
    application: String,
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
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Failed steps of reconcile passes, by the step (apply, prune, status, finalizer) and the reason (conflict, invalid, forbidden, not_found, too_large, unavailable, timeout, other)",
            errors.clone(),
        );
        let duration = Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]);
        registry.register(
            "reconcile_seconds",
            "Time one reconcile pass takes",
            duration.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the leader Lease and reconciles, 0 while it stands by",
            leader.clone(),
        );
        let conditions = Family::<ConditionLabels, Gauge>::default();
        registry.register(
            "application_condition",
            "Each DiscordApplication condition as written to status: 1 when True, else 0, with its reason",
            conditions.clone(),
        );
        let guilds = Family::<GuildLabels, Gauge>::default();
        registry.register(
            "guilds",
            "GuildConfigs of each application, by the reason of their Ready condition",
            guilds.clone(),
        );
        let pending = Family::<AppLabels, Gauge>::default();
        registry.register(
            "notifications_pending",
            "Notifications waiting for delivery in each application's outbox, as its bot reports",
            pending.clone(),
        );
        Self {
            registry,
            reconciles,
            errors,
            duration,
            leader,
            conditions,
            guilds,
            pending,
        }
    }
}

impl Metrics {
    pub fn observe(&self, took: Duration, errors: &[Error]) {
        let result = if errors.is_empty() { "ok" } else { "error" };
        self.reconciles.get_or_create(&ResultLabel { result }).inc();
        for error in errors {
            let labels = ErrorLabels {
                step: error.step(),
                reason: error.reason(),
            };
            self.errors.get_or_create(&labels).inc();
        }
        self.duration.observe(took.as_secs_f64());
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader.set(leading.into());
    }

    /// Replaces the outbox gauges with what the bots report.
    pub fn observe_reports(&self, bots: &BTreeMap<ObjectKey, Report>) {
        self.pending.clear();
        for (app, report) in bots {
            if let Ok(report) = report {
                let pending: i64 = report
                    .notifications
                    .values()
                    .map(|d| d.pending.max(0))
                    .sum();
                let labels = AppLabels {
                    app_namespace: app.namespace.clone(),
                    application: app.name.clone(),
                };
                self.pending.get_or_create(&labels).set(pending);
            }
        }
    }

    /// Replaces the per-application gauges: the applications' conditions, and how many
    /// GuildConfigs of each application have each `Ready` reason.
    pub fn observe_statuses(
        &self,
        applications: &[(ObjectKey, DiscordApplicationStatus)],
        guilds: &BTreeMap<(ObjectKey, String), usize>,
    ) {
        self.conditions.clear();
        for (key, status) in applications {
            for condition in &status.conditions {
                let labels = ConditionLabels {
                    app_namespace: key.namespace.clone(),
                    application: key.name.clone(),
                    condition: condition.type_.clone(),
                    reason: condition.reason.clone(),
                };
                self.conditions
                    .get_or_create(&labels)
                    .set((condition.status == "True").into());
            }
        }
        self.guilds.clear();
        for ((app, reason), count) in guilds {
            let labels = GuildLabels {
                app_namespace: app.namespace.clone(),
                application: app.name.clone(),
                reason: reason.clone(),
            };
            self.guilds.get_or_create(&labels).set(*count as i64);
        }
    }

    pub fn encode(&self) -> String {
        kd_core::metrics::encode(&self.registry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failed_step_counts_under_its_step_and_reason() {
        let refused = || Error::Apply {
            kind: "ConfigMap".into(),
            name: "campus-bot-config".into(),
            error: kube::Error::Service("connection refused".into()),
        };
        let conflict = Error::Status {
            kind: "GuildConfig",
            name: "physics-101".into(),
            error: kube::Error::Api(
                kube::core::Status::failure("the object has been modified", "Conflict")
                    .with_code(409)
                    .boxed(),
            ),
        };
        let metrics = Metrics::default();
        metrics.observe(Duration::from_millis(5), &[]);
        metrics.observe(
            Duration::from_millis(5),
            &[Error::NoBotPod, refused(), refused(), conflict],
        );
        let text = metrics.encode();
        for sample in [
            r#"kaltura_discord_operator_reconciles_total{result="ok"} 1"#,
            r#"kaltura_discord_operator_reconciles_total{result="error"} 1"#,
            r#"kaltura_discord_operator_reconcile_errors_total{step="apply",reason="unavailable"} 2"#,
            r#"kaltura_discord_operator_reconcile_errors_total{step="bot_report",reason="unavailable"} 1"#,
            r#"kaltura_discord_operator_reconcile_errors_total{step="status",reason="conflict"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == sample), "{sample} in\n{text}");
        }
    }
}

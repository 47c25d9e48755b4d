//! Prometheus metrics of the bot: interactions by command and outcome, their latency, deferrals,
//! claims left to another replica, command registrations, user sync and the configuration
//! revision it runs.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    pub command: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabel {
    pub command: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RevisionLabel {
    pub revision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UserSyncLabels {
    /// first_use, member_update or reconcile.
    pub trigger: String,
    /// added, updated, unchanged or failed.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: String,
}

pub struct Metrics {
    pub registry: Registry,
    pub interactions: Family<CommandLabels, Counter>,
    pub latency: Family<CommandLabel, Histogram>,
    pub deferred: Family<CommandLabel, Counter>,
    pub claimed_elsewhere: Counter,
    pub unclaimed: Counter,
    pub expired: Counter,
    pub registrations: Counter,
    pub settings_fallbacks: Counter,
    pub revision: Family<RevisionLabel, Gauge>,
    pub user_syncs: Family<UserSyncLabels, Counter>,
    pub user_sync_passes: Family<OutcomeLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("kaltura_discord_bot");
        let interactions = Family::<CommandLabels, Counter>::default();
        registry.register(
            "interactions",
            "Interactions handled, by command and outcome (ok, denied, failed; unanswered when Discord never got an answer in time)",
            interactions.clone(),
        );
        let latency = Family::<CommandLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        registry.register(
            "interaction_seconds",
            "Time from receiving an interaction to its final answer (answered ones only)",
            latency.clone(),
        );
        let deferred = Family::<CommandLabel, Counter>::default();
        registry.register(
            "deferred",
            "Interactions answered late, after a deferral",
            deferred.clone(),
        );
        let claimed_elsewhere = Counter::default();
        registry.register(
            "interactions_claimed_elsewhere",
            "Interactions left alone because another replica (on the same shard during a hand-over) claimed them first",
            claimed_elsewhere.clone(),
        );
        let expired = Counter::default();
        registry.register(
            "interactions_expired",
            "Interactions that reached this replica after Discord's 3 s to answer had passed (replayed after a shard hand-over that took longer), left unanswered",
            expired.clone(),
        );
        let unclaimed = Counter::default();
        registry.register(
            "interactions_unclaimed",
            "Interactions answered without a claim: the store did not answer in time, so another replica may have answered too",
            unclaimed.clone(),
        );
        let registrations = Counter::default();
        registry.register(
            "command_registrations",
            "Command sets sent to Discord (a guild's or the global one)",
            registrations.clone(),
        );
        let settings_fallbacks = Counter::default();
        registry.register(
            "settings_fallbacks",
            "Interactions answered from the GuildConfig alone: the store did not give the guild's overrides in time",
            settings_fallbacks.clone(),
        );
        let revision = Family::<RevisionLabel, Gauge>::default();
        registry.register(
            "config_revision",
            "The runtime-config revision in use (value 1)",
            revision.clone(),
        );
        let user_syncs = Family::<UserSyncLabels, Counter>::default();
        registry.register(
            "user_syncs",
            "Kaltura users synced from Discord members, by trigger and outcome",
            user_syncs.clone(),
        );
        let user_sync_passes = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "user_sync_passes",
            "Periodic user sync passes over a guild's members, by outcome (ok, failed)",
            user_sync_passes.clone(),
        );
        Self {
            registry,
            interactions,
            latency,
            deferred,
            claimed_elsewhere,
            unclaimed,
            expired,
            registrations,
            settings_fallbacks,
            revision,
            user_syncs,
            user_sync_passes,
        }
    }
}

impl Metrics {
    pub fn encode(&self) -> String {
        kd_core::metrics::encode(&self.registry)
    }

    pub fn set_revision(&self, revision: &str) {
        self.revision.clear();
        self.revision
            .get_or_create(&RevisionLabel {
                revision: revision.to_string(),
            })
            .set(1);
    }
}

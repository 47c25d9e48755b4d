//! What a running bot tells the operator: the config revision it runs, its gateway shards,
//! per configured guild whether the guild's command set is registered, and where the
//! application's global command set stands. The bot serves it as
//! JSON at `/status`; the operator turns it into DiscordApplication and GuildConfig status.

use crate::command::COMMAND_SET_VERSION;
use crate::roles::GuildRole;
use kd_crds::application::CommandScope;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BotReport {
    pub application_id: String,
    /// The runtime-config revision applied last.
    pub revision: String,
    /// The version of the slash-command set this binary registers.
    pub command_set_version: String,
    /// The application's gateway shards, and how many of those this process holds are
    /// connected (READY or RESUMED received).
    pub shards: u32,
    pub shards_connected: u32,
    /// Which shards each replica holds, by replica name: this process's own (a merge of
    /// several replicas' reports has them all). Absent from a process that serves every shard
    /// alone without leases.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub holders: BTreeMap<String, Vec<u32>>,
    /// Every guild of the running config, by guild id, those it clears included.
    pub guilds: BTreeMap<String, Registration>,
    /// The application's global command set, under the config's
    /// [`global_revision`](crate::config::RuntimeConfig::global_revision): `Registered` with
    /// every command in `Global` scope, `Cleared` when Discord holds none of ours (the
    /// `Guild` scope, or the application being deleted).
    #[serde(default)]
    pub global: Registration,
    /// The roles of each configured guild the bot has seen (from the gateway), by guild id: the
    /// operator resolves RoleMapping rules that name a role by name against them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub roles: BTreeMap<String, Vec<GuildRole>>,
    /// Notification delivery per NotificationRule (`namespace/name`), from the shared outbox.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notifications: BTreeMap<String, RuleDelivery>,
}

impl BotReport {
    /// The HTTP entity tag of this report: a digest of its JSON, quoted as RFC 9110 wants. A
    /// poller sends it back in `If-None-Match` to be answered only once the report differs.
    pub fn etag(&self) -> String {
        let json = serde_json::to_vec(self).expect("a report serializes");
        format!("\"{}\"", hex::encode(&Sha256::digest(json)[..12]))
    }
}

/// What a NotificationRule's status shows of its deliveries.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct RuleDelivery {
    pub delivered: i64,
    pub failed: i64,
    pub pending: i64,
    /// When the last message was delivered (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery: Option<i64>,
    /// The latest error of a retry or a failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Where a guild's command registration stands (or the global set's, [`BotReport::global`]).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum Registration {
    /// Not checked yet under the running config.
    #[default]
    Pending,
    /// Discord holds the guild's command set (sent now, or found unchanged) under the guild's
    /// config of `revision` ([`RuntimeConfig::guild_revision`](crate::config::RuntimeConfig::guild_revision)).
    /// In `Global` scope the guild holds none of its own (`commands` 0) and is served by the
    /// application's global set ([`BotReport::global`]).
    #[serde(rename_all = "camelCase")]
    Registered {
        commands: usize,
        fingerprint: String,
        revision: String,
        /// Absent for `Guild`, as reports from before scopes were.
        #[serde(default, skip_serializing_if = "CommandScope::is_guild")]
        scope: CommandScope,
    },
    /// The guild is being let go (its GuildConfig is being deleted) and Discord holds no
    /// commands of ours for it any more.
    #[serde(rename_all = "camelCase")]
    Cleared { revision: String },
    /// Discord refused the command set (or clearing it); `error` is what it said.
    #[serde(rename_all = "camelCase")]
    Failed { error: String, revision: String },
}

/// The bot's registration outcomes and shard states, updated as they happen.
#[derive(Debug, Default)]
pub struct Tracker {
    registrations: BTreeMap<String, Registration>,
    global: Registration,
    shards: u32,
    /// The shards this process holds.
    held: std::collections::BTreeSet<u32>,
    /// Its shards connected: a shard may connect before its holding is filed.
    connected: std::collections::BTreeSet<u32>,
    /// How many it should hold (its share among the replicas); None until it knows.
    share: Option<u32>,
    /// Its name in the shard leases; empty when it holds every shard without them.
    replica: String,
}

impl Tracker {
    /// The application runs `total` shards; `replica` names this process in the leases.
    pub fn set_shards(&mut self, total: u32, replica: &str) {
        self.shards = total;
        self.replica = replica.to_string();
    }

    /// This process now holds `held`, of a share of `share`.
    pub fn hold(&mut self, held: &std::collections::BTreeSet<u32>, share: u32) {
        self.held.clone_from(held);
        self.share = Some(share);
    }

    pub fn shard_connected(&mut self, shard: u32, connected: bool) {
        if shard >= self.shards {
            return;
        }
        if connected {
            self.connected.insert(shard);
        } else {
            self.connected.remove(&shard);
        }
    }

    /// How many of the shards it holds are connected.
    pub fn held_connected(&self) -> u32 {
        self.held.intersection(&self.connected).count() as u32
    }

    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// How many shards it holds.
    pub fn held(&self) -> u32 {
        self.held.len() as u32
    }

    pub fn held_shards(&self) -> std::collections::BTreeSet<u32> {
        self.held.clone()
    }

    /// Whether it holds its whole share and every shard of it is connected.
    pub fn settled(&self) -> bool {
        self.shards > 0
            && self.share.is_some_and(|share| {
                self.held.len() as u32 == share && self.held_connected() == share
            })
    }

    /// Forgets the registrations of guilds `keep` refuses.
    pub fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.registrations.retain(|id, _| keep(id));
    }

    pub fn record(&mut self, guild_id: &str, registration: Registration) {
        self.registrations
            .insert(guild_id.to_string(), registration);
    }

    pub fn record_global(&mut self, registration: Registration) {
        self.global = registration;
    }

    /// The report for the configured `guilds` (those being cleared included): others are left out,
    /// guilds not checked yet are `Pending`.
    pub fn report<'a>(
        &self,
        application_id: &str,
        revision: &str,
        guilds: impl Iterator<Item = &'a String>,
    ) -> BotReport {
        BotReport {
            application_id: application_id.to_string(),
            revision: revision.to_string(),
            command_set_version: COMMAND_SET_VERSION.to_string(),
            shards: self.shards,
            shards_connected: self.held_connected(),
            holders: if self.replica.is_empty() {
                BTreeMap::new()
            } else {
                BTreeMap::from([(self.replica.clone(), self.held.iter().copied().collect())])
            },
            guilds: guilds
                .map(|id| {
                    let state = self
                        .registrations
                        .get(id)
                        .cloned()
                        .unwrap_or(Registration::Pending);
                    (id.clone(), state)
                })
                .collect(),
            global: self.global.clone(),
            roles: BTreeMap::new(),
            notifications: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_covers_configured_guilds_only_and_counts_connected_shards() {
        let mut tracker = Tracker::default();
        tracker.set_shards(2, "");
        assert!(!tracker.settled(), "no share known yet");
        tracker.hold(&[0, 1].into(), 2);
        tracker.shard_connected(1, true);
        tracker.shard_connected(7, true);
        assert!(!tracker.settled(), "shard 0 is not connected");
        tracker.record(
            "1",
            Registration::Registered {
                commands: 7,
                fingerprint: "f".into(),
                revision: "r1".into(),
                scope: CommandScope::Guild,
            },
        );
        tracker.record(
            "gone",
            Registration::Failed {
                error: "x".into(),
                revision: "r1".into(),
            },
        );
        let configured = ["1".to_string(), "2".to_string()];
        let report = tracker.report("app", "r2", configured.iter());
        assert_eq!((report.shards, report.shards_connected), (2, 1));
        assert!(report.holders.is_empty(), "no leases, no holders");
        tracker.shard_connected(0, true);
        assert!(tracker.settled());
        tracker.set_shards(12, "bot-a");
        tracker.hold(&[1, 4].into(), 4);
        let report = tracker.report("app", "r2", std::iter::empty());
        assert_eq!((report.shards, report.shards_connected), (12, 1));
        assert_eq!(report.holders["bot-a"], [1, 4]);
        assert!(!tracker.settled(), "2 of a share of 4");
        let report = tracker.report("app", "r2", configured.iter());
        assert_eq!(report.command_set_version, COMMAND_SET_VERSION);
        assert_eq!(report.guilds.len(), 2);
        assert_eq!(report.guilds["2"], Registration::Pending);
        assert!(matches!(
            report.guilds["1"],
            Registration::Registered { commands: 7, .. }
        ));
        assert_eq!(report.global, Registration::Pending, "not checked yet");
        let cleared = Registration::Cleared {
            revision: "g1".into(),
        };
        tracker.record_global(cleared.clone());
        assert_eq!(
            tracker.report("app", "r2", std::iter::empty()).global,
            cleared
        );
    }

    #[test]
    fn the_etag_is_quoted_and_moves_with_any_field_only() {
        let report = Tracker::default().report("app", "r1", std::iter::empty());
        let etag = report.etag();
        assert!(etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'));
        assert_eq!(report.clone().etag(), etag);
        let mut next = report;
        next.shards_connected = 1;
        assert_ne!(next.etag(), etag);
    }

    #[test]
    fn the_wire_shape_is_tagged_camel_case() {
        assert_eq!(
            serde_json::to_value(Registration::Cleared {
                revision: "r".into()
            })
            .unwrap(),
            serde_json::json!({"state": "cleared", "revision": "r"})
        );
        let json = serde_json::to_value(Registration::Failed {
            error: "Missing Access".into(),
            revision: "r".into(),
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"state": "failed", "error": "Missing Access", "revision": "r"})
        );
        let report: BotReport = serde_json::from_value(serde_json::json!({
            "applicationId": "1", "revision": "r", "commandSetVersion": "1",
            "shards": 1, "shardsConnected": 1,
            "guilds": {"5": {"state": "registered", "commands": 3, "fingerprint": "f", "revision": "r"}}
        }))
        .unwrap();
        assert_eq!(report.guilds.len(), 1);
        assert_eq!(
            report.global,
            Registration::Pending,
            "a bot from before global commands"
        );
        let served = |scope| Registration::Registered {
            commands: 0,
            fingerprint: "e".into(),
            revision: "r".into(),
            scope,
        };
        assert_eq!(
            serde_json::to_value(served(CommandScope::Global)).unwrap(),
            serde_json::json!({"state": "registered", "commands": 0, "fingerprint": "e", "revision": "r", "scope": "Global"})
        );
        let guild = serde_json::to_value(served(CommandScope::Guild)).unwrap();
        assert!(guild.get("scope").is_none(), "{guild}");
        assert_eq!(
            serde_json::from_value::<Registration>(guild).unwrap(),
            served(CommandScope::Guild)
        );
    }
}

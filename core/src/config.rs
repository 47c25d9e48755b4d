//! The runtime configuration the bot runs: rendered by the operator from the custom resources
//! (one per DiscordApplication), read from a file or handed over in-process, and applied without
//! reconnecting. It holds Secret *references* only, so it can live in a ConfigMap.

use kd_crds::SecretKeyRef;
use kd_crds::application::{CommandScope, Intent};
use kd_crds::guild::{Channels, Features, Overridable, Templates};
use kd_crds::notification::NotificationRuleSpec;
use kd_crds::partner::SessionPolicies;
use kd_crds::role_mapping::RoleRule;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

pub mod parts;

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeConfig {
    /// Content hash of everything below; the bot reports it back as the revision it runs.
    pub revision: String,
    pub application: ApplicationRuntime,
    /// KalturaPartners by resource name.
    pub partners: BTreeMap<String, PartnerRuntime>,
    /// Guilds by Discord guild id.
    pub guilds: BTreeMap<String, GuildRuntime>,
    /// Guild ids whose GuildConfig is being deleted: the bot removes their commands and reports
    /// them cleared, so the operator can let the GuildConfig go. Absent when empty, so a config
    /// without deletions keeps its revision.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub clearing: BTreeSet<String>,
    /// Which guilds this copy keeps of those the config holds (`guilds` and `clearing` are
    /// only those): a bot replica among several keeps the guilds of its shards.
    #[serde(skip)]
    pub served: Served,
    /// Every NotificationRule's `maxPerMinute` by rule name, of all the config's guilds, when
    /// this copy keeps only some (any replica may deliver any rule's messages, paced by it);
    /// empty while it keeps them all, whose rules say it themselves.
    #[serde(skip)]
    pub(crate) rule_rates: BTreeMap<String, i32>,
}

/// Which guilds of a config a process keeps. A bot replica among several keeps those on the
/// gateway shards it serves, so that its memory and its per-guild work grow with its share of
/// the shards, not with the application's size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Served {
    /// Every guild: a process serving every shard, the Activity.
    #[default]
    All,
    /// The guilds on the shards `held` of `total` (none while it holds none).
    Shards { total: u32, held: BTreeSet<u32> },
}

impl Served {
    pub fn contains(&self, guild_id: &str) -> bool {
        match self {
            Served::All => true,
            Served::Shards { total, held } => {
                shard_of(guild_id, *total).is_some_and(|shard| held.contains(&shard))
            }
        }
    }

    /// Whether this keeps every guild `other` keeps.
    pub fn covers(&self, other: &Served) -> bool {
        match (self, other) {
            (Served::All, _) => true,
            (Served::Shards { .. }, Served::All) => false,
            (Served::Shards { total, held }, Served::Shards { total: t, held: h }) => {
                h.is_empty() || (total == t && h.is_subset(held))
            }
        }
    }
}

/// The gateway shard of `guild_id` among `total`: Discord's `(guild_id >> 22) % num_shards`.
/// None for an id that is not a snowflake (no shard receives it).
pub fn shard_of(guild_id: &str, total: u32) -> Option<u32> {
    let id: u64 = guild_id.parse().ok()?;
    Some(((id >> 22) % u64::from(total.max(1))) as u32)
}

/// The `maxPerMinute` of the NotificationRules of `guilds`, by rule name.
fn rates_of<'a>(guilds: impl IntoIterator<Item = &'a GuildRuntime>) -> BTreeMap<String, i32> {
    guilds
        .into_iter()
        .flat_map(|g| &g.notification_rules)
        .map(|r| (r.name.clone(), r.spec.max_per_minute))
        .collect()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationRuntime {
    pub name: String,
    pub namespace: String,
    pub application_id: String,
    pub bot_token_ref: SecretKeyRef,
    /// The OAuth2 client secret (the Activity exchanges authorization codes with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<SecretKeyRef>,
    /// Base URL of the Activity and join links; absent when the Activity is off.
    pub public_url: Option<String>,
    pub activity_enabled: bool,
    /// Gateway intents from the DiscordApplication.
    pub intents: Vec<Intent>,
    /// Where the slash commands are registered: per guild, or one global set. Absent for
    /// `Guild`, so configs from before it keep their revision.
    #[serde(default, skip_serializing_if = "CommandScope::is_guild")]
    pub command_scope: CommandScope,
    /// The DiscordApplication is being deleted: the bot removes its global commands (whatever
    /// the scope) and reports them cleared, so the operator can let it go.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleting: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PartnerRuntime {
    pub partner_id: i64,
    pub service_url: String,
    pub admin_secret_ref: SecretKeyRef,
    pub sessions: SessionPolicies,
    pub player_ui_conf_id: Option<i64>,
    /// The secret Kaltura signs HTTP notifications with; the admin secret when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret_ref: Option<SecretKeyRef>,
}

impl PartnerRuntime {
    /// The secret notification signatures are checked with (Kaltura's own fallback).
    pub fn webhook_secret(&self) -> &SecretKeyRef {
        self.webhook_secret_ref
            .as_ref()
            .unwrap_or(&self.admin_secret_ref)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GuildRuntime {
    /// The GuildConfig this came from.
    pub config_name: String,
    /// Key into [`RuntimeConfig::partners`].
    pub partner: String,
    pub features: Features,
    /// Command name -> role names or ids allowed to run it.
    pub permissions: BTreeMap<String, Vec<String>>,
    pub channels: Channels,
    pub templates: Templates,
    /// Setting groups guild admins may override from Discord.
    pub overridable: Vec<Overridable>,
    pub roles: RoleTable,
    /// The guild's NotificationRules (delivered only while `features.notifications` is on).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notification_rules: Vec<RuleRuntime>,
}

/// A NotificationRule as the bot and the intake route with it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RuleRuntime {
    /// `namespace/name` of the NotificationRule: the key of its status.
    pub name: String,
    #[serde(flatten)]
    pub spec: NotificationRuleSpec,
}

/// The guild's RoleMapping, or only a default when it has none.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RoleTable {
    pub rules: Vec<RoleRule>,
    pub default: String,
}

impl Default for RoleTable {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            default: "viewer".into(),
        }
    }
}

impl RuntimeConfig {
    /// Builds a config whose revision is the hash of its content: equal content, equal revision.
    pub fn new(
        application: ApplicationRuntime,
        partners: BTreeMap<String, PartnerRuntime>,
        guilds: BTreeMap<String, GuildRuntime>,
    ) -> Self {
        Self::sealed(application, partners, guilds, BTreeSet::new()).0
    }

    /// A config that also clears the commands of `clearing`, with the pieces it is written in
    /// and its guilds' revisions: one serialization of each guild for all of them.
    pub fn sealed(
        application: ApplicationRuntime,
        partners: BTreeMap<String, PartnerRuntime>,
        guilds: BTreeMap<String, GuildRuntime>,
        clearing: BTreeSet<String>,
    ) -> (Self, parts::Pieces) {
        let mut config = Self {
            revision: String::new(),
            application,
            partners,
            guilds,
            clearing,
            served: Served::All,
            rule_rates: BTreeMap::new(),
        };
        let pieces = parts::Pieces::of(&config);
        config.revision = pieces.index.revision.clone();
        (config, pieces)
    }

    /// The same config that also clears the commands of `guild_ids`, resealed.
    pub fn with_clearing(mut self, guild_ids: BTreeSet<String>) -> Self {
        self.clearing = guild_ids;
        self.revision = self.content_hash();
        self
    }

    /// The revision of its index ([`parts::Index`]), so a config read from one file and one
    /// assembled from ConfigMaps agree.
    fn content_hash(&self) -> String {
        parts::Index::of(self).0.revision
    }

    /// This config keeping only the guilds `served` names; None when it does not hold them
    /// all (they must be read again).
    pub fn narrowed(&self, served: &Served) -> Option<Self> {
        if !self.served.covers(served) {
            return None;
        }
        Some(Self {
            revision: self.revision.clone(),
            application: self.application.clone(),
            partners: self.partners.clone(),
            guilds: self
                .guilds
                .iter()
                .filter(|(id, _)| served.contains(id))
                .map(|(id, guild)| (id.clone(), guild.clone()))
                .collect(),
            clearing: self
                .clearing
                .iter()
                .filter(|id| served.contains(id))
                .cloned()
                .collect(),
            served: served.clone(),
            rule_rates: match self.served {
                Served::All => rates_of(self.guilds.values()),
                Served::Shards { .. } => self.rule_rates.clone(),
            },
        })
    }

    /// The `maxPerMinute` of the NotificationRule named `rule` (`namespace/name`).
    pub fn rule_rate(&self, rule: &str) -> Option<i32> {
        match self.served {
            Served::All => self
                .guilds
                .values()
                .flat_map(|g| &g.notification_rules)
                .find(|r| r.name == rule)
                .map(|r| r.spec.max_per_minute),
            Served::Shards { .. } => self.rule_rates.get(rule).copied(),
        }
    }

    /// Reads a rendered config, refusing one whose revision does not match its content
    /// (hand-edited or truncated).
    pub fn from_json(text: &str) -> Result<Self, String> {
        parts::read(text, &Served::All, false)
    }

    /// Reads a rendered config keeping only the guilds `served` names, checked against its
    /// revision as a whole: what is not kept is read and let go guild by guild.
    pub fn from_json_served(text: &str, served: &Served) -> Result<Self, String> {
        parts::read(text, served, false)
    }

    /// Reads again, for other guilds, the very text [`Self::from_json_served`] accepted
    /// before: its revision stands, and the guilds not kept are read for their rules alone.
    pub fn from_json_again(text: &str, served: &Served) -> Result<Self, String> {
        parts::read(text, served, true)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("runtime config serializes")
    }

    /// The revision of one guild's share of the config: its settings, its partner's, whether
    /// it is being cleared and the command scope. The bot reports it per guild and the
    /// operator compares it per guild, so an edit to one guild moves that guild's status alone.
    pub fn guild_revision(&self, guild_id: &str) -> String {
        let (guild, partner, clearing, scope) = self.guild_share(guild_id);
        let guild = serde_json::to_string(&guild).expect("guilds serialize");
        let partner = serde_json::to_string(&partner).expect("partners serialize");
        parts::share_revision(&guild, &partner, clearing, scope)
    }

    /// Whether guild `guild_id` runs differently under `other` (see [`Self::guild_revision`]),
    /// compared without hashing.
    pub fn guild_differs(&self, other: &RuntimeConfig, guild_id: &str) -> bool {
        self.guild_share(guild_id) != other.guild_share(guild_id)
    }

    fn guild_share(
        &self,
        guild_id: &str,
    ) -> (
        Option<&GuildRuntime>,
        Option<&PartnerRuntime>,
        bool,
        CommandScope,
    ) {
        let guild = self.guilds.get(guild_id);
        (
            guild,
            guild.and_then(|g| self.partners.get(&g.partner)),
            self.clearing.contains(guild_id),
            self.application.command_scope,
        )
    }

    /// The revision of the application's global command set: what it should be (every
    /// command in `Global` scope, none otherwise or while the application is deleted). The bot
    /// reports its global registration under it, as it reports guilds under theirs.
    pub fn global_revision(&self) -> String {
        let share = (self.application.command_scope, self.application.deleting);
        let bytes = serde_json::to_vec(&share).expect("the scope serializes");
        hex::encode(&Sha256::digest(&bytes)[..6])
    }

    /// Whether the application's global set should hold the commands (else it should be empty).
    pub fn global_commands_wanted(&self) -> bool {
        self.application.command_scope == CommandScope::Global && !self.application.deleting
    }

    pub fn guild(&self, guild_id: &str) -> Option<&GuildRuntime> {
        self.guilds.get(guild_id)
    }

    pub fn partner_of(&self, guild: &GuildRuntime) -> Option<&PartnerRuntime> {
        self.partners.get(&guild.partner)
    }

    /// The partner with this Kaltura partner id, by resource name.
    pub fn partner_by_id(&self, partner_id: i64) -> Option<(&String, &PartnerRuntime)> {
        self.partners
            .iter()
            .find(|(_, p)| p.partner_id == partner_id)
    }
}

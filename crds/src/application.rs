//! `DiscordApplication`: one Discord application (bot + Activity) and how it is deployed.

use crate::common::{ComputeResources, LocalRef, SNOWFLAKE_PATTERN, SecretKeyRef};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A Discord application: its credentials by Secret reference, the bot and Activity workloads
/// the operator runs for it, and where their state is stored.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kaltura-discord.io",
    version = "v1alpha1",
    kind = "DiscordApplication",
    doc = "A Discord application: credentials by Secret reference, bot and Activity workloads, storage.",
    namespaced,
    status = "DiscordApplicationStatus",
    shortname = "dapp",
    category = "kaltura-discord",
    printcolumn = r#"{"name":"Application","type":"string","jsonPath":".spec.applicationId"}"#,
    printcolumn = r#"{"name":"Guilds","type":"integer","jsonPath":".status.guildCount"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.runningRevision"}"#,
    printcolumn = r#"{"name":"Shards","type":"string","jsonPath":".status.shards"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = kube::core::Rule::new("!self.activity.enabled || has(self.clientSecretRef)").message("required when the Activity is enabled (it exchanges the OAuth code)").field_path(".clientSecretRef"))]
#[x_kube(validation = kube::core::Rule::new("self.bot.replicas <= 1 && self.activity.replicas <= 1 || self.storage.type == 'postgres'").message("more than one bot or Activity replica needs storage.type postgres (SQLite is one file on one pod)").field_path(".storage.type"))]
#[serde(rename_all = "camelCase")]
pub struct DiscordApplicationSpec {
    /// The application (client) id from the Discord developer portal.
    #[schemars(regex(pattern = SNOWFLAKE_PATTERN))]
    pub application_id: String,
    /// The bot token.
    pub bot_token_ref: SecretKeyRef,
    /// The OAuth2 client secret, used by the Activity to exchange authorization codes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_ref: Option<SecretKeyRef>,
    /// The application's public key, to verify HTTP interactions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_ref: Option<SecretKeyRef>,
    /// The KalturaPartner used by guilds that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_partner_ref: Option<LocalRef>,
    /// Container image of the bot and Activity pods; the operator's own version when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,
    /// The gateway bot.
    #[serde(default)]
    pub bot: BotSettings,
    /// The Watch Together Activity.
    #[serde(default)]
    pub activity: ActivitySettings,
    /// Where notification outbox, meetings, user links and Discord-side overrides are kept.
    #[serde(default)]
    pub storage: Storage,
}

/// Gateway intents the bot may ask for.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
pub enum Intent {
    Guilds,
    GuildMembers,
    GuildVoiceStates,
    GuildMessages,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct BotSettings {
    /// Bot pods. 0 stops the bot.
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 16))]
    pub replicas: i32,
    /// Gateway shards; Discord's recommendation when unset (one per 2,500 guilds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1024))]
    pub shards: Option<i32>,
    /// Gateway intents. GuildMembers (privileged) is needed for user sync.
    #[serde(default = "default_intents")]
    #[schemars(length(min = 1))]
    #[x_kube(validation = kube::core::Rule::new("'Guilds' in self").message("the Guilds intent is always needed"))]
    pub intents: Vec<Intent>,
    /// CPU and memory of the bot container.
    #[serde(default)]
    pub resources: ComputeResources,
    /// How the slash commands reach the guilds. `Guild`: each guild gets its own set (one
    /// request per guild, at Discord's 50 requests/s), with only the commands of the features
    /// it has on. `Global`: one application-wide set of every command (one request, however
    /// many guilds; recommended above ~1,000 guilds); a command whose feature is off in a
    /// guild is still listed there and answers that it is off.
    #[serde(default)]
    pub command_scope: CommandScope,
}

impl Default for BotSettings {
    fn default() -> Self {
        Self {
            replicas: 1,
            shards: None,
            intents: default_intents(),
            resources: ComputeResources::default(),
            command_scope: CommandScope::default(),
        }
    }
}

/// Where the bot registers its slash commands.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum CommandScope {
    /// One command set per guild, of the features it has on.
    #[default]
    Guild,
    /// One global command set of every command, for all guilds.
    Global,
}

impl CommandScope {
    pub fn is_guild(&self) -> bool {
        *self == CommandScope::Guild
    }
}

fn one() -> i32 {
    1
}

fn default_intents() -> Vec<Intent> {
    vec![Intent::Guilds]
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!self.enabled || has(self.publicUrl)").message("publicUrl is required when the Activity is enabled").field_path(".publicUrl"))]
pub struct ActivitySettings {
    /// Serve the Watch Together Activity.
    #[serde(default)]
    pub enabled: bool,
    /// Public base URL of the Activity and join links (https, or http on localhost for development).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^https://[^/?#]+(/[^?#]*)?$') || self.matches('^http://(localhost|127[.]0[.]0[.]1)(:[0-9]+)?(/[^?#]*)?$')").message("must be an https URL (http only for localhost)"))]
    pub public_url: Option<String>,
    /// Activity pods.
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 16))]
    pub replicas: i32,
    /// CPU and memory of the Activity container.
    #[serde(default)]
    pub resources: ComputeResources,
}

impl Default for ActivitySettings {
    fn default() -> Self {
        Self {
            enabled: false,
            public_url: None,
            replicas: 1,
            resources: ComputeResources::default(),
        }
    }
}

/// Storage backend for what must survive a restart.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum StorageType {
    /// One SQLite file (embedded default; one replica).
    #[default]
    Sqlite,
    /// A PostgreSQL server (several replicas).
    Postgres,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("(self.type == 'postgres') == has(self.postgresDsnRef)").message("postgresDsnRef is required for type postgres and only allowed with it").field_path(".postgresDsnRef"))]
pub struct Storage {
    /// `sqlite` or `postgres`.
    #[serde(default, rename = "type")]
    pub kind: StorageType,
    /// The PostgreSQL connection string (it carries a password, so it is a Secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres_dsn_ref: Option<SecretKeyRef>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscordApplicationStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Deployed`, `BotConnected`, `ActivityReady`, `CommandsRegistered`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Guilds configured for this application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guild_count: Option<i32>,
    /// The runtime-config revision the operator rendered last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_revision: Option<String>,
    /// The revision the bot and Activity report they run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_revision: Option<String>,
    /// How many global slash commands Discord holds for the application, as the bot reported
    /// last; absent when none. While set, the application keeps its finalizer, so deleting it
    /// removes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_commands: Option<i32>,
    /// Gateway shards connected of the application's shards, as `connected/total` (`12/12`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<String>,
    /// Which bot replica holds which shards, when replicas share them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shard_holders: Vec<ShardHolding>,
}

/// The shards one bot replica holds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShardHolding {
    /// The replica's name: its pod and process.
    pub replica: String,
    /// Its shards, as ranges (`0-3,8`).
    pub shards: String,
}

/// `0-3,8,10-11`: shard numbers (sorted) as ranges.
pub fn shard_ranges(shards: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut iter = shards.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().unwrap_or(end);
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::shard_ranges;

    #[test]
    fn shards_read_as_ranges() {
        assert_eq!(shard_ranges(&[]), "");
        assert_eq!(shard_ranges(&[4]), "4");
        assert_eq!(shard_ranges(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
    }
}

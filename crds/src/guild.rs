//! `GuildConfig`: what one Discord server gets, who may do what, and what admins may change.

use crate::command::Command;
use crate::common::{LocalRef, NAME_OR_ID_PATTERN, SNOWFLAKE_PATTERN};
use crate::template;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The Kaltura features of one Discord server, with the bot's behaviour there.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kaltura-discord.io",
    version = "v1alpha1",
    kind = "GuildConfig",
    doc = "The Kaltura features of one Discord server, who may use them, and what its admins may change.",
    namespaced,
    status = "GuildConfigStatus",
    shortname = "gc",
    category = "kaltura-discord",
    printcolumn = r#"{"name":"Guild","type":"string","jsonPath":".spec.guildId"}"#,
    printcolumn = r#"{"name":"Application","type":"string","jsonPath":".spec.applicationRef.name"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.configRevision"}"#,
    printcolumn = r#"{"name":"Commands","type":"string","description":"Version of the slash-command set registered in the guild","jsonPath":".status.commandSetVersion"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct GuildConfigSpec {
    /// The DiscordApplication serving this guild.
    pub application_ref: LocalRef,
    /// The Discord server (guild) id.
    #[schemars(regex(pattern = SNOWFLAKE_PATTERN))]
    #[x_kube(validation = kube::core::Rule::new("self == oldSelf").message("guildId is immutable: create a new GuildConfig for another guild"))]
    pub guild_id: String,
    /// The KalturaPartner for this guild; the application's default partner when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_ref: Option<LocalRef>,
    /// Which Kaltura features the guild gets.
    #[serde(default)]
    pub features: Features,
    /// Who may run which command.
    #[serde(default)]
    pub commands: Commands,
    /// Channels the bot posts to, by name or id.
    #[serde(default)]
    pub channels: Channels,
    /// Texts of the bot's announcements.
    #[serde(default)]
    pub templates: Templates,
    /// Settings that guild admins may override from Discord with `/kaltura-config set`.
    #[serde(default)]
    pub discord_overrides: DiscordOverrides,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    /// /kaltura-start, -join, -list, -end.
    #[serde(default = "yes")]
    pub meetings: bool,
    /// /kaltura-video-search.
    #[serde(default = "yes")]
    pub video_search: bool,
    /// /kaltura-watch and the Activity.
    #[serde(default)]
    pub watch_together: bool,
    /// NotificationRules deliver to this guild.
    #[serde(default)]
    pub notifications: bool,
    /// Create and update Kaltura users for members.
    #[serde(default)]
    pub user_sync: bool,
}

impl Default for Features {
    fn default() -> Self {
        Self {
            meetings: true,
            video_search: true,
            watch_together: false,
            notifications: false,
            user_sync: false,
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Commands {
    /// Command name -> Discord roles (names or ids) allowed to run it. A command not listed is
    /// open to every member; the role mapping still decides what Kaltura lets them do.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = Command::ALL.len()), inner(length(min = 1, max = 50), inner(regex(pattern = NAME_OR_ID_PATTERN))))]
    #[x_kube(validation = known_commands_rule())]
    pub permissions: BTreeMap<String, Vec<String>>,
}

/// `commands.permissions` keys must be permission keys of the bot's commands.
fn known_commands_rule() -> kube::core::Rule {
    let keys: Vec<&str> = Command::ALL.iter().map(|c| c.permission_key()).collect();
    let quoted: Vec<String> = keys.iter().map(|k| format!("'{k}'")).collect();
    kube::core::Rule::new(format!("self.all(k, k in [{}])", quoted.join(", ")))
        .message(format!("keys must be commands of the bot: {}", keys.join(", ")).as_str())
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Channels {
    /// Where announcements go when nothing more specific is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_OR_ID_PATTERN))]
    pub default: Option<String>,
    /// Meeting announcements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_OR_ID_PATTERN))]
    pub meetings: Option<String>,
    /// Recording-ready notices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = NAME_OR_ID_PATTERN))]
    pub recordings: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Templates {
    /// Posted when a member starts a meeting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2000))]
    #[x_kube(validation = template::field_rule(template::MEETING))]
    pub meeting_started: Option<String>,
    /// Posted when a member shares a video from search.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2000))]
    #[x_kube(validation = template::field_rule(template::VIDEO_SHARED))]
    pub video_shared: Option<String>,
}

/// Groups of settings a GitOps owner may delegate to the guild's admins.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Overridable {
    Features,
    Channels,
    Templates,
    Permissions,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct DiscordOverrides {
    /// Delegated setting groups; everything else stays as declared in Git.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4))]
    #[x_kube(validation = kube::core::Rule::new("self.all(a, self.exists_one(b, b == a))").message("each setting group is listed once"))]
    pub allowed: Vec<Overridable>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct GuildConfigStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and `CommandsRegistered`, with a human reason when not ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Revision of the rendered guild configuration the bot runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_revision: Option<String>,
    /// Version of the slash-command set registered in the guild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_set_version: Option<String>,
}

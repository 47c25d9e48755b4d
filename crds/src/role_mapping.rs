//! `RoleMapping`: which Kaltura role a Discord member acts with, from their Discord roles.

use crate::common::{LocalRef, SNOWFLAKE_PATTERN};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A Kaltura role: one of the three built-in levels or the id of a custom Kaltura userRole.
pub const KALTURA_ROLE_PATTERN: &str = "^(viewer|moderator|admin|[0-9]{1,18})$";

/// Rules from Discord roles to Kaltura roles for one guild. The matching rule with the highest
/// priority wins; members matching none get `default`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kaltura-discord.io",
    version = "v1alpha1",
    kind = "RoleMapping",
    doc = "Discord roles to Kaltura roles for one guild.",
    namespaced,
    status = "RoleMappingStatus",
    shortname = "rm",
    category = "kaltura-discord",
    printcolumn = r#"{"name":"GuildConfig","type":"string","jsonPath":".spec.guildConfigRef.name"}"#,
    printcolumn = r#"{"name":"Default","type":"string","jsonPath":".spec.default"}"#,
    printcolumn = r#"{"name":"Unmatched","type":"string","jsonPath":".status.unmatchedRules","priority":1}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RoleMappingSpec {
    /// The GuildConfig whose guild this mapping applies to.
    pub guild_config_ref: LocalRef,
    /// Rules, tried from the highest priority down.
    #[serde(default)]
    #[schemars(length(max = 100))]
    #[x_kube(validation = kube::core::Rule::new("self.all(a, self.exists_one(b, b.priority == a.priority))").message("priorities must be distinct, so the winning rule is never ambiguous"))]
    pub rules: Vec<RoleRule>,
    /// The Kaltura role of members no rule matches.
    #[serde(default = "viewer")]
    #[schemars(regex(pattern = KALTURA_ROLE_PATTERN))]
    pub default: String,
}

fn viewer() -> String {
    "viewer".into()
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleRule {
    /// The Discord role, by name or by id.
    pub discord_role: RoleSelector,
    /// `viewer`, `moderator`, `admin`, or a custom Kaltura userRole id.
    #[schemars(regex(pattern = KALTURA_ROLE_PATTERN))]
    pub kaltura_role: String,
    /// Higher wins.
    #[serde(default)]
    #[schemars(range(min = 0, max = 10000))]
    pub priority: i32,
}

/// Names a Discord role by exactly one of name or id.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[x_kube(validation = kube::core::Rule::new("has(self.name) != has(self.id)").message("name a role by name or by id, not both"))]
pub struct RoleSelector {
    /// The role's name as shown in Discord.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub name: Option<String>,
    /// The role's snowflake id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = SNOWFLAKE_PATTERN))]
    pub id: Option<String>,
}

/// A rule's Discord role as found in the guild.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedRole {
    pub name: String,
    pub id: String,
    pub kaltura_role: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleMappingStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Rules whose role was found, with both name and id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_roles: Vec<ResolvedRole>,
    /// Rules naming a role the guild does not have.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmatched_rules: Vec<String>,
}

//! Role mapping: which Kaltura role a member acts with, and who may run which command.
//! Pure functions over the guild's roles and the member's role ids.

use crate::command::Command;
use crate::config::RoleTable;
use kd_crds::role_mapping::{ResolvedRole, RoleRule};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A Discord role as the guild has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuildRole {
    pub id: String,
    pub name: String,
}

/// The role a member acts with in Kaltura.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum KalturaRole {
    Viewer,
    Moderator,
    Admin,
    /// A custom Kaltura userRole id, applied with the `setrole` privilege.
    Custom(String),
}

impl KalturaRole {
    /// Parses the API's spelling (`viewer`, `moderator`, `admin` or a userRole id).
    pub fn parse(value: &str) -> Self {
        match value {
            "viewer" => Self::Viewer,
            "moderator" => Self::Moderator,
            "admin" => Self::Admin,
            id => Self::Custom(id.to_string()),
        }
    }

    /// The API's spelling, as written in RoleMappings and join tokens.
    pub fn api_name(&self) -> String {
        match self {
            Self::Viewer => "viewer".into(),
            Self::Moderator => "moderator".into(),
            Self::Admin => "admin".into(),
            Self::Custom(id) => id.clone(),
        }
    }

    /// Moderators and admins may end anyone's meeting; a custom role's powers are unknown
    /// here, so it counts as a viewer for that.
    pub fn is_moderator_or_above(&self) -> bool {
        matches!(self, Self::Moderator | Self::Admin)
    }

    /// KS privileges of a Kaltura Meetings join link: hosts join with the admin role.
    pub fn meeting_privileges(&self) -> &'static str {
        if self.is_moderator_or_above() {
            "role:adminRole,userContextualRole:0"
        } else {
            "role:viewerRole,userContextualRole:3"
        }
    }
}

impl fmt::Display for KalturaRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Viewer => f.write_str("viewer"),
            Self::Moderator => f.write_str("moderator"),
            Self::Admin => f.write_str("admin"),
            Self::Custom(id) => write!(f, "custom role {id}"),
        }
    }
}

/// Whether `selector` (a role name or id, as written in a GuildConfig or RoleMapping) names
/// the guild role `role`. Names are matched exactly, as Discord shows them.
fn names(selector_name: Option<&str>, selector_id: Option<&str>, role: &GuildRole) -> bool {
    selector_id == Some(role.id.as_str()) || selector_name == Some(role.name.as_str())
}

/// Ids of the guild roles a free-form "name or id" entry refers to.
fn ids_named<'a>(entry: &'a str, roles: &'a [GuildRole]) -> impl Iterator<Item = &'a str> + 'a {
    roles
        .iter()
        .filter(move |r| names(Some(entry), Some(entry), r))
        .map(|r| r.id.as_str())
}

/// The outcome of mapping a member: the role and the rule that decided it (None: default).
#[derive(Clone, Debug, PartialEq)]
pub struct Mapped<'a> {
    pub role: KalturaRole,
    pub rule: Option<&'a RoleRule>,
}

/// The member's Kaltura role: the matching rule of highest priority, else the default.
pub fn map_member<'a>(
    mapping: &'a RoleTable,
    guild_roles: &[GuildRole],
    member_roles: &[String],
) -> Mapped<'a> {
    let member_has = |rule: &RoleRule| {
        guild_roles.iter().any(|role| {
            member_roles.contains(&role.id)
                && names(
                    rule.discord_role.name.as_deref(),
                    rule.discord_role.id.as_deref(),
                    role,
                )
        })
    };
    match mapping
        .rules
        .iter()
        .filter(|r| member_has(r))
        .max_by_key(|r| r.priority)
    {
        Some(rule) => Mapped {
            role: KalturaRole::parse(&rule.kaltura_role),
            rule: Some(rule),
        },
        None => Mapped {
            role: KalturaRole::parse(&mapping.default),
            rule: None,
        },
    }
}

/// How each rule resolves against the guild's roles, for the RoleMapping status: rules found
/// (with name and id) and rules naming no role of the guild.
pub fn resolve_rules(
    mapping: &RoleTable,
    guild_roles: &[GuildRole],
) -> (Vec<ResolvedRole>, Vec<String>) {
    let mut resolved = Vec::new();
    let mut unmatched = Vec::new();
    for rule in &mapping.rules {
        let selector = &rule.discord_role;
        let found: Vec<&GuildRole> = guild_roles
            .iter()
            .filter(|r| names(selector.name.as_deref(), selector.id.as_deref(), r))
            .collect();
        if found.is_empty() {
            let label = match (&selector.name, &selector.id) {
                (Some(name), _) => format!("name {name}"),
                (None, Some(id)) => format!("id {id}"),
                (None, None) => "an empty selector".to_string(),
            };
            unmatched.push(label);
        }
        resolved.extend(found.into_iter().map(|r| ResolvedRole {
            name: r.name.clone(),
            id: r.id.clone(),
            kaltura_role: rule.kaltura_role.clone(),
        }));
    }
    (resolved, unmatched)
}

/// Whether a member may run `command` under a GuildConfig's `commands.permissions`: commands
/// not listed are open to everyone; listed ones need one of the named roles (by name or id).
pub fn may_run(
    command: Command,
    permissions: &BTreeMap<String, Vec<String>>,
    guild_roles: &[GuildRole],
    member_roles: &[String],
) -> bool {
    match permissions.get(command.permission_key()) {
        None => true,
        Some(allowed) => allowed
            .iter()
            .flat_map(|entry| ids_named(entry, guild_roles).chain(std::iter::once(entry.as_str())))
            .any(|id| member_roles.iter().any(|m| m == id)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kd_crds::role_mapping::RoleSelector;
    use proptest::prelude::*;

    fn role(id: &str, name: &str) -> GuildRole {
        GuildRole {
            id: id.into(),
            name: name.into(),
        }
    }

    fn rule(name: Option<&str>, id: Option<&str>, kaltura: &str, priority: i32) -> RoleRule {
        RoleRule {
            discord_role: RoleSelector {
                name: name.map(Into::into),
                id: id.map(Into::into),
            },
            kaltura_role: kaltura.into(),
            priority,
        }
    }

    fn guild() -> Vec<GuildRole> {
        vec![
            role("100", "Teacher"),
            role("200", "TA"),
            role("300", "Students"),
            role("400", "TA"),
        ]
    }

    fn mapping() -> RoleTable {
        RoleTable {
            rules: vec![
                rule(Some("TA"), None, "moderator", 50),
                rule(Some("Teacher"), None, "admin", 100),
                rule(None, Some("300"), "9001", 10),
            ],
            default: "viewer".into(),
        }
    }

    #[test]
    fn highest_priority_matching_rule_wins() {
        let m = mapping();
        let both = map_member(&m, &guild(), &["200".into(), "100".into()]);
        assert_eq!(both.role, KalturaRole::Admin);
        assert_eq!(both.rule.unwrap().priority, 100);
        assert_eq!(
            map_member(&m, &guild(), &["200".into()]).role,
            KalturaRole::Moderator
        );
        assert_eq!(
            map_member(&m, &guild(), &["300".into()]).role,
            KalturaRole::Custom("9001".into())
        );
    }

    #[test]
    fn a_role_name_shared_by_two_roles_matches_either() {
        assert_eq!(
            map_member(&mapping(), &guild(), &["400".into()]).role,
            KalturaRole::Moderator
        );
    }

    #[test]
    fn members_matching_no_rule_get_the_default() {
        let m = mapping();
        let none = map_member(&m, &guild(), &["999".into()]);
        assert_eq!(
            none,
            Mapped {
                role: KalturaRole::Viewer,
                rule: None
            }
        );
        let mut strict = m.clone();
        strict.default = "moderator".into();
        assert_eq!(
            map_member(&strict, &guild(), &[]).role,
            KalturaRole::Moderator
        );
    }

    #[test]
    fn a_role_id_the_member_lacks_does_not_match_by_name() {
        // The member holds a role *named* like an id rule's id: ids only match ids.
        let roles = vec![role("555", "300")];
        assert_eq!(
            map_member(&mapping(), &roles, &["555".into()]).role,
            KalturaRole::Viewer
        );
    }

    #[test]
    fn rules_resolve_to_ids_and_unmatched_ones_are_named() {
        let mut m = mapping();
        m.rules.push(rule(Some("Dean"), None, "admin", 200));
        m.rules.push(rule(None, Some("777"), "admin", 300));
        let (resolved, unmatched) = resolve_rules(&m, &guild());
        let ids: Vec<&str> = resolved.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["200", "400", "100", "300"]);
        assert_eq!(unmatched, ["name Dean", "id 777"]);
    }

    #[test]
    fn command_permissions_by_name_or_id() {
        let mut perms = BTreeMap::new();
        perms.insert(
            Command::Start.permission_key().to_string(),
            vec!["Teacher".to_string(), "300".to_string()],
        );
        let g = guild();
        assert!(
            may_run(Command::List, &perms, &g, &[]),
            "unlisted commands are open"
        );
        assert!(
            may_run(Command::Start, &perms, &g, &["100".into()]),
            "by name"
        );
        assert!(
            may_run(Command::Start, &perms, &g, &["300".into()]),
            "by id"
        );
        assert!(!may_run(Command::Start, &perms, &g, &["200".into()]));
        assert!(!may_run(Command::Start, &perms, &g, &[]));
    }

    #[test]
    fn meeting_privileges_follow_the_role() {
        assert_eq!(
            KalturaRole::Admin.meeting_privileges(),
            "role:adminRole,userContextualRole:0"
        );
        assert_eq!(
            KalturaRole::Moderator.meeting_privileges(),
            "role:adminRole,userContextualRole:0"
        );
        assert_eq!(
            KalturaRole::Viewer.meeting_privileges(),
            "role:viewerRole,userContextualRole:3"
        );
        assert_eq!(
            KalturaRole::Custom("5".into()).meeting_privileges(),
            "role:viewerRole,userContextualRole:3"
        );
    }

    proptest! {
        /// Adding a role to a member never lowers the priority of the rule that decides.
        #[test]
        fn more_roles_never_lower_the_winning_priority(extra in proptest::sample::subsequence(vec!["100", "200", "300", "400", "999"], 0..5), base in proptest::sample::subsequence(vec!["100", "200", "300", "400"], 0..4)) {
            let m = mapping();
            let g = guild();
            let base: Vec<String> = base.into_iter().map(String::from).collect();
            let mut more = base.clone();
            more.extend(extra.into_iter().map(String::from));
            let p = |roles: &[String]| map_member(&m, &g, roles).rule.map(|r| r.priority).unwrap_or(-1);
            prop_assert!(p(&more) >= p(&base));
        }
    }
}

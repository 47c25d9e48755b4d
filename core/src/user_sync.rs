//! User sync: the Kaltura user a Discord member should be, and what to send to make it so.
//! Pure functions; the bot fetches members and users and carries the change out.
//!
//! Exactly three things are copied, and nothing else (see docs/user-sync.md): the user id
//! `discord_<Discord user id>`, the screen name (the member's name in the guild) and the role
//! the guild's RoleMapping gives the member, as a Kaltura userRole id. Email, avatar, roles'
//! names, other fields of the Kaltura user and anything a Kaltura admin set stay as they are.

use crate::config::RoleTable;
use crate::roles::{self, GuildRole, KalturaRole};
use crate::scope::Member;
use kd_kaltura::types::{User, UserInput, UserRole};

/// Kaltura user ids of synced members start with this.
pub const USER_ID_PREFIX: &str = "discord_";

/// The Kaltura user id of a Discord user.
pub fn kaltura_user_id(discord_user_id: &str) -> String {
    format!("{USER_ID_PREFIX}{discord_user_id}")
}

/// The Kaltura userRole system names the built-in levels stand for in the partner.
const VIEWER_ROLE: &str = "PRIVATE_ONLY_VIEWER_ROLE";
const MODERATOR_ROLE: &str = "CONTENT_MODERATOR_ROLE";
const ADMIN_ROLE: &str = "PARTNER_ADMIN_ROLE";

/// Which Kaltura userRole id each built-in level is in one partner (from `userRole.list`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleDirectory {
    viewer: Option<String>,
    moderator: Option<String>,
    admin: Option<String>,
}

impl RoleDirectory {
    pub fn from_roles(roles: &[UserRole]) -> Self {
        let find = |system_name: &str| {
            roles
                .iter()
                .find(|r| r.system_name.as_deref() == Some(system_name))
                .map(|r| r.id.to_string())
        };
        Self {
            viewer: find(VIEWER_ROLE),
            moderator: find(MODERATOR_ROLE),
            admin: find(ADMIN_ROLE),
        }
    }

    /// The userRole id of `role`: a custom role is its own id; a level the partner has no role
    /// for is None.
    pub fn role_id(&self, role: &KalturaRole) -> Option<String> {
        match role {
            KalturaRole::Viewer => self.viewer.clone(),
            KalturaRole::Moderator => self.moderator.clone(),
            KalturaRole::Admin => self.admin.clone(),
            KalturaRole::Custom(id) => Some(id.clone()),
        }
    }
}

/// What Kaltura should hold for a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredUser {
    pub id: String,
    pub screen_name: String,
    /// The mapped role's userRole id; None when the partner has no role for the mapped level
    /// (then the user's roles are left as they are).
    pub role_id: Option<String>,
    /// The mapped role, for logs.
    pub role: KalturaRole,
}

/// The Kaltura user `member` should be under the guild's role mapping.
pub fn desired(
    member: &Member,
    guild_roles: &[GuildRole],
    table: &RoleTable,
    directory: &RoleDirectory,
) -> DesiredUser {
    let role = roles::map_member(table, guild_roles, &member.roles).role;
    DesiredUser {
        id: kaltura_user_id(&member.id),
        screen_name: member.display_name.clone(),
        role_id: directory.role_id(&role),
        role,
    }
}

/// What to send to Kaltura.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// `user.add` of a new user.
    Add(UserInput),
    /// `user.update` of the fields that differ.
    Update(UserInput),
    /// Kaltura already holds what is wanted.
    Nothing,
}

/// Compares what Kaltura holds (None: no such user) with what is wanted.
pub fn plan(desired: &DesiredUser, existing: Option<&User>) -> Change {
    let Some(user) = existing else {
        return Change::Add(UserInput {
            id: Some(desired.id.clone()),
            screen_name: Some(desired.screen_name.clone()),
            role_ids: desired.role_id.clone(),
            ..UserInput::default()
        });
    };
    let differs = |now: &Option<String>, wanted: &str| now.as_deref() != Some(wanted);
    let update = UserInput {
        screen_name: differs(&user.screen_name, &desired.screen_name)
            .then(|| desired.screen_name.clone()),
        role_ids: desired
            .role_id
            .as_ref()
            .filter(|wanted| differs(&user.role_ids, wanted))
            .cloned(),
        ..UserInput::default()
    };
    if update == UserInput::default() {
        Change::Nothing
    } else {
        Change::Update(update)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kd_crds::role_mapping::{RoleRule, RoleSelector};

    fn member(roles: &[&str]) -> Member {
        Member {
            id: "81".into(),
            display_name: "Ada".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            manages_guild: false,
        }
    }

    fn guild_roles() -> Vec<GuildRole> {
        vec![
            GuildRole {
                id: "1".into(),
                name: "Teacher".into(),
            },
            GuildRole {
                id: "2".into(),
                name: "Lab".into(),
            },
        ]
    }

    fn table() -> RoleTable {
        let rule = |name: &str, kaltura: &str, priority| RoleRule {
            discord_role: RoleSelector {
                name: Some(name.into()),
                id: None,
            },
            kaltura_role: kaltura.into(),
            priority,
        };
        RoleTable {
            rules: vec![rule("Teacher", "moderator", 10), rule("Lab", "1004", 5)],
            default: "viewer".into(),
        }
    }

    fn directory() -> RoleDirectory {
        let role = |id, system_name: &str| UserRole {
            id,
            system_name: Some(system_name.into()),
            ..UserRole::default()
        };
        RoleDirectory::from_roles(&[
            role(1001, "PRIVATE_ONLY_VIEWER_ROLE"),
            role(1002, "CONTENT_MODERATOR_ROLE"),
            role(1003, "PARTNER_ADMIN_ROLE"),
        ])
    }

    fn user(screen_name: &str, role_ids: &str) -> User {
        User {
            id: "discord_81".into(),
            screen_name: Some(screen_name.into()),
            role_ids: Some(role_ids.into()),
            email: Some("set.in@kaltura.example".into()),
            ..User::default()
        }
    }

    #[test]
    fn the_mapping_decides_the_role_id() {
        let wanted = desired(&member(&[]), &guild_roles(), &table(), &directory());
        assert_eq!(wanted.id, "discord_81");
        assert_eq!(wanted.screen_name, "Ada");
        assert_eq!(wanted.role_id.as_deref(), Some("1001"));
        let teacher = desired(&member(&["1", "2"]), &guild_roles(), &table(), &directory());
        assert_eq!(
            (teacher.role, teacher.role_id.as_deref()),
            (KalturaRole::Moderator, Some("1002"))
        );
        let lab = desired(&member(&["2"]), &guild_roles(), &table(), &directory());
        assert_eq!(
            lab.role_id.as_deref(),
            Some("1004"),
            "a custom role is its id"
        );
        let bare = desired(
            &member(&[]),
            &guild_roles(),
            &table(),
            &RoleDirectory::default(),
        );
        assert_eq!(bare.role_id, None, "no viewer role in the partner");
    }

    #[test]
    fn a_missing_user_is_added_with_the_copied_fields_only() {
        let wanted = desired(&member(&["1"]), &guild_roles(), &table(), &directory());
        assert_eq!(
            plan(&wanted, None),
            Change::Add(UserInput {
                id: Some("discord_81".into()),
                screen_name: Some("Ada".into()),
                role_ids: Some("1002".into()),
                ..UserInput::default()
            })
        );
    }

    #[test]
    fn only_what_differs_is_updated() {
        let wanted = desired(&member(&["1"]), &guild_roles(), &table(), &directory());
        assert_eq!(plan(&wanted, Some(&user("Ada", "1002"))), Change::Nothing);
        assert_eq!(
            plan(&wanted, Some(&user("Ada", "1001"))),
            Change::Update(UserInput {
                role_ids: Some("1002".into()),
                ..UserInput::default()
            })
        );
        assert_eq!(
            plan(&wanted, Some(&user("Ada L.", "1002"))),
            Change::Update(UserInput {
                screen_name: Some("Ada".into()),
                ..UserInput::default()
            })
        );
    }

    #[test]
    fn an_unresolved_level_leaves_the_roles_alone() {
        let wanted = desired(
            &member(&[]),
            &guild_roles(),
            &table(),
            &RoleDirectory::default(),
        );
        assert_eq!(plan(&wanted, Some(&user("Ada", "1003"))), Change::Nothing);
        let Change::Add(input) = plan(&wanted, None) else {
            panic!("added");
        };
        assert_eq!(input.role_ids, None);
    }
}

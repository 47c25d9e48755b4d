//! The one gate of slash commands, buttons and the HTTP API: the guild is configured, the
//! command's feature is on, the member's roles may run it, and the command's own conditions
//! hold. What passes is an [`Allowed`] scope, which every operation takes.

use crate::command::Command;
use crate::config::{PartnerRuntime, RuntimeConfig};
use crate::error::Failure;
use crate::kaltura::KalturaClients;
use crate::roles::{KalturaRole, map_member, may_run};
use crate::scope::{GuildScope, Member, Scope};
use kd_kaltura::Client;
use std::fmt;
use std::sync::Arc;

/// Why the gate refused a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotConfigured {
        guild_id: String,
    },
    FeatureOff {
        command: Command,
    },
    RoleRequired {
        command: Command,
        allowed: String,
    },
    NeedsManageServer {
        command: Command,
    },
    /// Whoever starts a meeting hosts it, so the role mapping must make them a moderator.
    HostNeedsModerator {
        role: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotConfigured { guild_id } => write!(
                f,
                "This server is not set up for Kaltura yet: an administrator needs to add a GuildConfig for guild id {guild_id}."
            ),
            Refusal::FeatureOff { command } => {
                write!(f, "`/{command}` is turned off on this server.")
            }
            Refusal::RoleRequired { command, allowed } => write!(
                f,
                "You need one of these roles to use `/{command}`: {allowed}."
            ),
            Refusal::NeedsManageServer { command } => {
                write!(f, "`/{command}` needs the Manage Server permission.")
            }
            Refusal::HostNeedsModerator { role } => write!(
                f,
                "Starting a meeting needs the moderator or admin role in this server's role mapping; yours is {role}."
            ),
        }
    }
}

impl std::error::Error for Refusal {}

/// A member the gate let through for one command, in a configured guild.
#[derive(Clone, Debug)]
pub struct Allowed {
    pub command: Command,
    pub config: Arc<RuntimeConfig>,
    pub guild_id: String,
    pub member: Member,
    /// The Kaltura role the member acts with, by the guild's role mapping.
    pub role: KalturaRole,
    pub guild: GuildScope,
}

impl Scope {
    /// Lets the member run `command`, or says why not.
    pub fn allow(self, command: Command) -> Result<Allowed, Refusal> {
        let Some(guild) = self.guild else {
            return Err(Refusal::NotConfigured {
                guild_id: self.guild_id,
            });
        };
        let effective = &guild.effective;
        if !command.enabled(&effective.features) {
            return Err(Refusal::FeatureOff { command });
        }
        if !may_run(
            command,
            &effective.permissions,
            &self.guild_roles,
            &self.member.roles,
        ) {
            let allowed = effective
                .permissions
                .get(command.permission_key())
                .map(|r| r.join(", "))
                .unwrap_or_default();
            return Err(Refusal::RoleRequired { command, allowed });
        }
        if command.needs_manage_server() && !self.member.manages_guild {
            return Err(Refusal::NeedsManageServer { command });
        }
        let role = map_member(&effective.roles, &self.guild_roles, &self.member.roles).role;
        if command == Command::Start && !role.is_moderator_or_above() {
            return Err(Refusal::HostNeedsModerator {
                role: role.to_string(),
            });
        }
        Ok(Allowed {
            command,
            config: self.config,
            guild_id: self.guild_id,
            member: self.member,
            role,
            guild,
        })
    }
}

impl Allowed {
    /// The guild's Kaltura partner.
    pub fn partner(&self) -> Result<&PartnerRuntime, Failure> {
        self.config
            .partner_of(&self.guild.declared)
            .ok_or(Failure::NoPartner)
    }

    /// A Kaltura client of the guild's partner, with its admin session.
    pub fn client(&self, kaltura: &KalturaClients) -> Result<Client, Failure> {
        kaltura.client(self.partner()?).map_err(Failure::Setup)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{GUILD, config, member, teacher_role};

    fn scope(config: RuntimeConfig, roles: &[&str], manages_guild: bool) -> Scope {
        let guild = config
            .guild(GUILD)
            .map(|g| GuildScope::new(g.clone(), Default::default()));
        Scope {
            config: Arc::new(config),
            guild_id: GUILD.into(),
            member: member(roles, manages_guild),
            guild_roles: vec![teacher_role()],
            guild,
        }
    }

    #[test]
    fn start_needs_a_listed_role_and_a_moderator_mapping() {
        let refused = scope(config(true), &[], false)
            .allow(Command::Start)
            .unwrap_err();
        assert_eq!(
            refused.to_string(),
            "You need one of these roles to use `/kaltura-start`: Teacher."
        );
        let allowed = scope(config(true), &["100"], false)
            .allow(Command::Start)
            .unwrap();
        assert_eq!(allowed.role, KalturaRole::Moderator);

        let mut open = config(true);
        open.guilds.get_mut(GUILD).unwrap().permissions.clear();
        let refused = scope(open, &[], false).allow(Command::Start).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "Starting a meeting needs the moderator or admin role in this server's role mapping; yours is viewer."
        );
    }

    #[test]
    fn an_unconfigured_guild_and_disabled_features_are_explained() {
        let mut unconfigured = scope(config(true), &[], false);
        unconfigured.guild = None;
        assert!(
            unconfigured
                .allow(Command::List)
                .unwrap_err()
                .to_string()
                .contains("not set up for Kaltura yet")
        );
        let mut off = config(true);
        off.guilds.get_mut(GUILD).unwrap().features.meetings = false;
        assert_eq!(
            scope(off, &[], false)
                .allow(Command::List)
                .unwrap_err()
                .to_string(),
            "`/kaltura-list` is turned off on this server."
        );
    }

    #[test]
    fn settings_need_manage_server() {
        assert_eq!(
            scope(config(true), &[], false)
                .allow(Command::Config)
                .unwrap_err(),
            Refusal::NeedsManageServer {
                command: Command::Config
            }
        );
        assert!(
            scope(config(true), &[], true)
                .allow(Command::Config)
                .is_ok()
        );
        let mut notifying = config(true);
        notifying
            .guilds
            .get_mut(GUILD)
            .unwrap()
            .features
            .notifications = true;
        assert_eq!(
            scope(notifying.clone(), &[], false)
                .allow(Command::Notify)
                .unwrap_err()
                .to_string(),
            "`/kaltura-notify` needs the Manage Server permission."
        );
        assert!(scope(notifying, &[], true).allow(Command::Notify).is_ok());
        assert_eq!(
            scope(config(true), &[], true)
                .allow(Command::Notify)
                .unwrap_err(),
            Refusal::FeatureOff {
                command: Command::Notify
            }
        );
    }

    #[test]
    fn overrides_in_force_decide() {
        let declared = config(true);
        let mut s = scope(declared.clone(), &[], false);
        let mut guild = declared.guild(GUILD).unwrap().clone();
        guild.overridable = vec![kd_crds::guild::Overridable::Features];
        s.guild = Some(GuildScope::new(
            guild,
            [("features.videoSearch".to_string(), "off".to_string())].into(),
        ));
        assert_eq!(
            s.allow(Command::VideoSearch).unwrap_err(),
            Refusal::FeatureOff {
                command: Command::VideoSearch
            }
        );
    }
}

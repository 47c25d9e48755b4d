//! Who asks, and in which guild: the caller's scope, with the guild's Discord-side overrides
//! loaded and applied once, for the gate and the operations alike.

use crate::config::{GuildRuntime, RuntimeConfig};
use crate::overrides;
use crate::roles::GuildRole;
use crate::settings::{self, Overrides};
use kd_store::Store;
use std::sync::Arc;

/// A member of the guild, as the gate sees them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Discord user id.
    pub id: String,
    /// Nickname, global name or username, in that order.
    pub display_name: String,
    /// Ids of the member's roles in the guild.
    pub roles: Vec<String>,
    /// Whether Discord grants them Manage Server (or Administrator) there.
    pub manages_guild: bool,
}

/// A configured guild: as declared in Git, and as it runs with its overrides.
#[derive(Clone, Debug, PartialEq)]
pub struct GuildScope {
    /// As declared in Git: its partner, role mapping and what it delegates.
    pub declared: GuildRuntime,
    /// With the delegated Discord-side overrides applied: features, channels, templates and
    /// permissions as they are in force.
    pub effective: GuildRuntime,
    pub overrides: Overrides,
    /// The stored settings could not be read in time: `overrides` is empty and answers say so.
    pub degraded: bool,
}

impl GuildScope {
    /// The guild `guild_id` of `config` with its overrides from the store; None when the
    /// config has no such guild.
    pub async fn load(config: &RuntimeConfig, store: &Store, guild_id: &str) -> Option<Self> {
        let declared = config.guild(guild_id)?.clone();
        let (overrides, degraded) = overrides::load(store, guild_id).await;
        Some(Self {
            degraded,
            ..Self::new(declared, overrides)
        })
    }

    pub fn new(declared: GuildRuntime, overrides: Overrides) -> Self {
        Self {
            effective: settings::apply(&declared, &overrides),
            declared,
            overrides,
            degraded: false,
        }
    }
}

/// Everything the gate reads about one request.
#[derive(Clone, Debug)]
pub struct Scope {
    pub config: Arc<RuntimeConfig>,
    pub guild_id: String,
    pub member: Member,
    /// The guild's roles (at least the member's), with names: permissions and role mappings
    /// may name roles.
    pub guild_roles: Vec<GuildRole>,
    /// None when the guild is not configured.
    pub guild: Option<GuildScope>,
}

impl Scope {
    pub async fn load(
        config: Arc<RuntimeConfig>,
        store: &Store,
        guild_id: &str,
        member: Member,
        guild_roles: Vec<GuildRole>,
    ) -> Self {
        let guild = GuildScope::load(&config, store, guild_id).await;
        Self {
            config,
            guild_id: guild_id.to_string(),
            member,
            guild_roles,
            guild,
        }
    }
}

//! The emulated Discord: users, guilds, channels, messages, commands, interactions, OAuth2 grants.
//!
//! Plain data and synchronous operations. Each change returns the gateway events it causes;
//! the caller dispatches them after releasing the lock.

pub mod activities;
mod commands;
mod guilds;
mod interactions;
mod messages;
pub mod oauth;

pub use commands::CommandScope;
pub use guilds::{GuildCreated, MemberSpec, NewChannel, NewGuild, NewRole, NewUser, OverwriteSpec};
pub use interactions::{
    InteractionRef, InteractionView, NewCommandInteraction, NewComponentInteraction,
    NewModalSubmit, WebhookMessage,
};
pub use messages::{MessageSpec, Page};

use crate::error::{ApiError, ApiResult};
use crate::gateway::Event;
use crate::ids::Snowflakes;
use crate::model::{ActivityInstance, Channel, Grant, Guild, Interaction, Message, User};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The application the sandbox hosts, with its bot user.
#[derive(Clone)]
pub struct Application {
    pub id: u64,
    pub bot_user_id: u64,
    pub name: String,
    pub bot_token: String,
    pub client_secret: String,
}

/// Timings the world enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub interaction_deadline: Duration,
    pub interaction_token_lifetime: Duration,
    pub nonce_window: Duration,
}

pub struct World {
    pub ids: Snowflakes,
    pub app: Application,
    pub limits: Limits,
    users: BTreeMap<u64, User>,
    guilds: BTreeMap<u64, Guild>,
    channels: BTreeMap<u64, Channel>,
    messages: BTreeMap<u64, Message>,
    /// `enforce_nonce` memory: (channel, author, nonce) to the message it created.
    nonces: HashMap<(u64, u64, String), u64>,
    commands: BTreeMap<CommandScope, Vec<serde_json::Value>>,
    interactions: BTreeMap<u64, Interaction>,
    interaction_tokens: HashMap<String, u64>,
    oauth_codes: HashMap<String, Grant>,
    access_tokens: HashMap<String, Grant>,
    refresh_tokens: HashMap<String, Grant>,
    activity_instances: BTreeMap<String, ActivityInstance>,
}

pub type Changes<T> = ApiResult<(T, Vec<Event>)>;

/// Shaped like a real token: base64 of the user id, then random parts.
fn new_bot_token(bot_user_id: u64) -> String {
    format!(
        "{}.{}.{}",
        base64_id(bot_user_id),
        crate::ids::token(6),
        crate::ids::token(38)
    )
}

impl World {
    /// Replaces the bot token, as Discord does when the session start limit is exceeded: the
    /// old one then fails on REST (401) and the gateway (4004).
    pub fn reset_bot_token(&mut self) {
        self.app.bot_token = new_bot_token(self.app.bot_user_id);
    }

    pub fn new(
        app_id: Option<u64>,
        bot_token: Option<String>,
        client_secret: Option<String>,
        limits: Limits,
    ) -> Self {
        let mut ids = Snowflakes::default();
        let id = app_id.unwrap_or_else(|| ids.next());
        let bot_user_id = id;
        let name = "Sandbox Bot".to_owned();
        let app = Application {
            id,
            bot_user_id,
            name: name.clone(),
            bot_token: bot_token.unwrap_or_else(|| new_bot_token(bot_user_id)),
            client_secret: client_secret.unwrap_or_else(|| crate::ids::token(32)),
        };
        let mut users = BTreeMap::new();
        users.insert(
            bot_user_id,
            User {
                id: bot_user_id,
                username: "sandbox-bot".into(),
                global_name: Some(name),
                bot: true,
                email: None,
            },
        );
        Self {
            ids,
            app,
            limits,
            users,
            guilds: BTreeMap::new(),
            channels: BTreeMap::new(),
            messages: BTreeMap::new(),
            nonces: HashMap::new(),
            commands: BTreeMap::new(),
            interactions: BTreeMap::new(),
            interaction_tokens: HashMap::new(),
            oauth_codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            activity_instances: BTreeMap::new(),
        }
    }

    pub fn bot_user(&self) -> &User {
        &self.users[&self.app.bot_user_id]
    }

    pub fn user(&self, id: u64) -> ApiResult<&User> {
        self.users.get(&id).ok_or_else(ApiError::unknown_user)
    }

    pub fn guild(&self, id: u64) -> ApiResult<&Guild> {
        self.guilds.get(&id).ok_or_else(ApiError::unknown_guild)
    }

    fn guild_mut(&mut self, id: u64) -> ApiResult<&mut Guild> {
        self.guilds.get_mut(&id).ok_or_else(ApiError::unknown_guild)
    }

    /// A guild the bot is a member of; Missing Access for one it is not in.
    pub fn bot_guild(&self, id: u64) -> ApiResult<&Guild> {
        let guild = self.guild(id)?;
        if guild.members.contains_key(&self.app.bot_user_id) {
            Ok(guild)
        } else {
            Err(ApiError::missing_access())
        }
    }

    pub fn channel(&self, id: u64) -> ApiResult<&Channel> {
        self.channels.get(&id).ok_or_else(ApiError::unknown_channel)
    }

    /// Guilds the bot is in, in id order.
    pub fn bot_guilds(&self) -> impl Iterator<Item = &Guild> {
        self.guilds
            .values()
            .filter(|guild| guild.members.contains_key(&self.app.bot_user_id))
    }

    /// The bot's permissions in a guild.
    /// The bot's permissions in a channel, overwrites applied.
    pub fn bot_channel_permissions(&self, channel: &Channel) -> u64 {
        let member = self
            .guilds
            .get(&channel.guild_id)
            .and_then(|g| g.members.get(&self.app.bot_user_id).map(|m| (g, m)));
        member.map_or(0, |(guild, member)| {
            guild.channel_permissions_of(member, channel)
        })
    }

    pub fn bot_permissions(&self, guild: &Guild) -> u64 {
        guild
            .members
            .get(&self.app.bot_user_id)
            .map_or(0, |member| guild.permissions_of(member))
    }

    /// Snapshot of every guild, for the control API.
    pub fn guilds(&self) -> impl Iterator<Item = &Guild> {
        self.guilds.values()
    }

    pub fn guild_channels(&self, guild: &Guild) -> Vec<&Channel> {
        guild
            .channels
            .iter()
            .filter_map(|id| self.channels.get(id))
            .collect()
    }
}

fn base64_id(id: u64) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(id.to_string())
}

#[cfg(test)]
pub(crate) fn test_world() -> World {
    World::new(
        None,
        None,
        None,
        Limits {
            interaction_deadline: Duration::from_secs(3),
            interaction_token_lifetime: Duration::from_secs(900),
            nonce_window: Duration::from_secs(300),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_token_starts_with_base64_of_the_bot_id() {
        // "123" in base64 without padding.
        assert_eq!(base64_id(123), "MTIz");
        let world = test_world();
        assert!(
            world
                .app
                .bot_token
                .starts_with(&base64_id(world.app.bot_user_id))
        );
    }
}

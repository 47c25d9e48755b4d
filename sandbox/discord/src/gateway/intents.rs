//! Gateway intents the sandbox checks on identify and filters dispatches by.

pub const GUILDS: u64 = 1 << 0;
pub const GUILD_MEMBERS: u64 = 1 << 1;
pub const GUILD_PRESENCES: u64 = 1 << 8;
pub const GUILD_MESSAGES: u64 = 1 << 9;
pub const MESSAGE_CONTENT: u64 = 1 << 15;

/// Privileged intents: need approval in the developer portal.
pub const PRIVILEGED: u64 = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT;

/// Every intent bit Discord defines (0-21, 24, 25); others close the connection with 4013.
pub const ALL: u64 = ((1 << 22) - 1) | (1 << 24) | (1 << 25);

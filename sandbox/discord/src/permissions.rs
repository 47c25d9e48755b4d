//! Discord's guild-level permission algorithm: `@everyone` plus every role of the member,
//! with the guild owner and `ADMINISTRATOR` holding everything.

pub const CREATE_INSTANT_INVITE: u64 = 1 << 0;
pub const ADMINISTRATOR: u64 = 1 << 3;
pub const ADD_REACTIONS: u64 = 1 << 6;
pub const VIEW_CHANNEL: u64 = 1 << 10;
pub const SEND_MESSAGES: u64 = 1 << 11;
pub const EMBED_LINKS: u64 = 1 << 14;
pub const ATTACH_FILES: u64 = 1 << 15;
pub const READ_MESSAGE_HISTORY: u64 = 1 << 16;
pub const CONNECT: u64 = 1 << 20;
pub const SPEAK: u64 = 1 << 21;
pub const CHANGE_NICKNAME: u64 = 1 << 26;
pub const MANAGE_ROLES: u64 = 1 << 28;
pub const USE_APPLICATION_COMMANDS: u64 = 1 << 31;
pub const USE_EMBEDDED_ACTIVITIES: u64 = 1 << 39;

/// Every permission bit Discord defines today (bits 0..=52, up to BYPASS_SLOWMODE).
pub const ALL: u64 = (1 << 53) - 1;

/// What a new guild's `@everyone` role holds, close to Discord's default.
pub const EVERYONE_DEFAULT: u64 = CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | CONNECT
    | SPEAK
    | CHANGE_NICKNAME
    | USE_APPLICATION_COMMANDS
    | USE_EMBEDDED_ACTIVITIES;

/// Base permissions of a member: `everyone | roles...`, everything for the owner or an administrator.
pub fn compute(is_owner: bool, everyone: u64, member_roles: impl IntoIterator<Item = u64>) -> u64 {
    if is_owner {
        return ALL;
    }
    let perms = member_roles
        .into_iter()
        .fold(everyone, |acc, role| acc | role);
    if perms & ADMINISTRATOR != 0 {
        ALL
    } else {
        perms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_add_to_everyone() {
        assert_eq!(
            compute(false, VIEW_CHANNEL, [SEND_MESSAGES, MANAGE_ROLES]),
            VIEW_CHANNEL | SEND_MESSAGES | MANAGE_ROLES
        );
    }

    #[test]
    fn administrator_and_owner_grant_all() {
        assert_eq!(compute(false, 0, [ADMINISTRATOR]), ALL);
        assert_eq!(compute(false, ADMINISTRATOR, []), ALL);
        assert_eq!(compute(true, 0, []), ALL);
    }

    #[test]
    fn no_roles_means_everyone_only() {
        assert_eq!(compute(false, EVERYONE_DEFAULT, []), EVERYONE_DEFAULT);
    }
}

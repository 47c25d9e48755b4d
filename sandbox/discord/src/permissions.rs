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

/// One channel's permission overwrite: for a role (`kind` 0) or a member (`kind` 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overwrite {
    pub id: u64,
    pub kind: u8,
    pub allow: u64,
    pub deny: u64,
}

/// Discord's channel step: `@everyone` overwrite, then all of the member's role overwrites
/// together, then the member's own; administrators keep everything. Without VIEW_CHANNEL
/// nothing else applies.
pub fn in_channel(
    base: u64,
    guild_id: u64,
    member_id: u64,
    member_roles: &[u64],
    overwrites: &[Overwrite],
) -> u64 {
    if base & ADMINISTRATOR != 0 {
        return ALL;
    }
    let apply = |perms: u64, allow: u64, deny: u64| (perms & !deny) | allow;
    let mut perms = base;
    if let Some(everyone) = overwrites.iter().find(|o| o.kind == 0 && o.id == guild_id) {
        perms = apply(perms, everyone.allow, everyone.deny);
    }
    let roles = overwrites
        .iter()
        .filter(|o| o.kind == 0 && member_roles.contains(&o.id));
    let (allow, deny) = roles.fold((0, 0), |(allow, deny), o| (allow | o.allow, deny | o.deny));
    perms = apply(perms, allow, deny);
    if let Some(own) = overwrites.iter().find(|o| o.kind == 1 && o.id == member_id) {
        perms = apply(perms, own.allow, own.deny);
    }
    if perms & VIEW_CHANNEL == 0 { 0 } else { perms }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_overwrites_apply_everyone_then_roles_then_member() {
        let base = VIEW_CHANNEL | SEND_MESSAGES;
        let guild = 1;
        let deny_send_everyone = Overwrite {
            id: guild,
            kind: 0,
            allow: 0,
            deny: SEND_MESSAGES,
        };
        let allow_send_role = Overwrite {
            id: 7,
            kind: 0,
            allow: SEND_MESSAGES,
            deny: 0,
        };
        let deny_send_member = Overwrite {
            id: 42,
            kind: 1,
            allow: 0,
            deny: SEND_MESSAGES,
        };
        assert_eq!(
            in_channel(base, guild, 42, &[], &[deny_send_everyone]),
            VIEW_CHANNEL
        );
        assert_eq!(
            in_channel(
                base,
                guild,
                42,
                &[7],
                &[deny_send_everyone, allow_send_role]
            ),
            base
        );
        assert_eq!(
            in_channel(
                base,
                guild,
                42,
                &[7],
                &[deny_send_everyone, allow_send_role, deny_send_member]
            ),
            VIEW_CHANNEL
        );
        let hide = Overwrite {
            id: guild,
            kind: 0,
            allow: 0,
            deny: VIEW_CHANNEL,
        };
        assert_eq!(
            in_channel(base, guild, 42, &[], &[hide]),
            0,
            "no view, nothing"
        );
        assert_eq!(
            in_channel(ALL, guild, 42, &[], &[hide]),
            ALL,
            "administrators are not bound by overwrites"
        );
    }

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

    proptest::proptest! {
        /// Roles only ever add permissions; an administrator or the owner holds all of them;
        /// overwrites never touch an administrator.
        #[test]
        fn roles_add_and_administrators_hold_all(everyone in 0..ALL, roles in proptest::collection::vec(0..ALL, 0..5), extra in 0..ALL) {
            let base = compute(false, everyone, roles.clone());
            let more = compute(false, everyone, roles.iter().copied().chain([extra]));
            proptest::prop_assert_eq!(base & more, base);
            if (everyone | extra) & ADMINISTRATOR != 0 {
                proptest::prop_assert_eq!(more, ALL);
            }
            proptest::prop_assert_eq!(compute(true, everyone, roles), ALL);
            let overwrite = Overwrite { id: 1, kind: 0, allow: 0, deny: ALL };
            proptest::prop_assert_eq!(in_channel(ALL, 1, 2, &[], &[overwrite]), ALL);
        }
    }
}

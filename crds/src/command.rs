//! The bot's slash commands: the one place their names, options and features are spelled.
//! The GuildConfig schema (its `commands.permissions` keys), the command registration, the
//! gate, the bot's buttons and the HTTP API all name commands through [`Command`].

use crate::guild::Features;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    Start,
    Join,
    List,
    End,
    VideoSearch,
    Watch,
    Config,
    Notify,
}

/// The feature a command belongs to; commands of a feature that is off are not registered and
/// refused by the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    Meetings,
    VideoSearch,
    WatchTogether,
    Notifications,
}

/// The options of the commands, by the name Discord shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opt {
    /// Kind of meeting: meeting, webinar or classroom.
    Type,
    Title,
    Description,
    MeetingId,
    Query,
    Limit,
    Entry,
    /// A setting key of `/kaltura-config`.
    Key,
    Value,
    /// A NotificationRule of `/kaltura-notify test`.
    Rule,
}

/// The subcommands of the settings command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigAction {
    View,
    Set,
    Reset,
}

/// The subcommands of the notifications command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotifyAction {
    /// Post a sample of a rule's message in its channel.
    Test,
}

impl Command {
    /// Every command, in the order they are registered.
    pub const ALL: [Command; 8] = [
        Command::Start,
        Command::Join,
        Command::List,
        Command::End,
        Command::VideoSearch,
        Command::Watch,
        Command::Config,
        Command::Notify,
    ];

    /// The slash command's name, as members type it.
    pub const fn name(self) -> &'static str {
        match self {
            Command::Start => "kaltura-start",
            Command::Join => "kaltura-join",
            Command::List => "kaltura-list",
            Command::End => "kaltura-end",
            Command::VideoSearch => "kaltura-video-search",
            Command::Watch => "kaltura-watch",
            Command::Config => "kaltura-config",
            Command::Notify => "kaltura-notify",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Its key in a GuildConfig's `commands.permissions` (and `permissions.<key>` overrides).
    pub fn permission_key(self) -> &'static str {
        self.name()
    }

    /// The feature it belongs to; None for the settings command, which every guild has.
    pub fn feature(self) -> Option<Feature> {
        match self {
            Command::Start | Command::Join | Command::List | Command::End => {
                Some(Feature::Meetings)
            }
            Command::VideoSearch => Some(Feature::VideoSearch),
            Command::Watch => Some(Feature::WatchTogether),
            Command::Notify => Some(Feature::Notifications),
            Command::Config => None,
        }
    }

    /// Whether only members with Manage Server may run it (it changes or tests the server's
    /// setup); Discord hides it from others by default too.
    pub fn needs_manage_server(self) -> bool {
        matches!(self, Command::Config | Command::Notify)
    }

    /// The options it takes (over all its subcommands), in the order they are registered.
    pub fn options(self) -> &'static [Opt] {
        match self {
            Command::Start => &[Opt::Type, Opt::Title, Opt::Description],
            Command::Join | Command::End => &[Opt::MeetingId],
            Command::List => &[],
            Command::VideoSearch => &[Opt::Query, Opt::Limit],
            Command::Watch => &[Opt::Entry],
            Command::Config => &[Opt::Key, Opt::Value],
            Command::Notify => &[Opt::Rule],
        }
    }

    /// Whether it is on under these features.
    pub fn enabled(self, features: &Features) -> bool {
        match self.feature() {
            None => true,
            Some(Feature::Meetings) => features.meetings,
            Some(Feature::VideoSearch) => features.video_search,
            Some(Feature::WatchTogether) => features.watch_together,
            Some(Feature::Notifications) => features.notifications,
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Opt {
    pub fn name(self) -> &'static str {
        match self {
            Opt::Type => "type",
            Opt::Title => "title",
            Opt::Description => "description",
            Opt::MeetingId => "meeting-id",
            Opt::Query => "query",
            Opt::Limit => "limit",
            Opt::Entry => "entry",
            Opt::Key => "key",
            Opt::Value => "value",
            Opt::Rule => "rule",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        const ALL: [Opt; 10] = [
            Opt::Type,
            Opt::Title,
            Opt::Description,
            Opt::MeetingId,
            Opt::Query,
            Opt::Limit,
            Opt::Entry,
            Opt::Key,
            Opt::Value,
            Opt::Rule,
        ];
        ALL.into_iter().find(|o| o.name() == name)
    }
}

impl ConfigAction {
    pub const ALL: [ConfigAction; 3] = [ConfigAction::View, ConfigAction::Set, ConfigAction::Reset];

    pub fn name(self) -> &'static str {
        match self {
            ConfigAction::View => "view",
            ConfigAction::Set => "set",
            ConfigAction::Reset => "reset",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    pub fn options(self) -> &'static [Opt] {
        match self {
            ConfigAction::View => &[],
            ConfigAction::Set => &[Opt::Key, Opt::Value],
            ConfigAction::Reset => &[Opt::Key],
        }
    }
}

impl NotifyAction {
    pub const ALL: [NotifyAction; 1] = [NotifyAction::Test];

    pub fn name(self) -> &'static str {
        match self {
            NotifyAction::Test => "test",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_are_unique() {
        for command in Command::ALL {
            assert_eq!(Command::parse(command.name()), Some(command));
            assert_eq!(command.permission_key(), command.name());
        }
        let mut names: Vec<&str> = Command::ALL.iter().map(|c| c.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Command::ALL.len());
        assert_eq!(Command::parse("kaltura-nope"), None);
        for action in ConfigAction::ALL {
            assert_eq!(ConfigAction::parse(action.name()), Some(action));
        }
        for action in NotifyAction::ALL {
            assert_eq!(NotifyAction::parse(action.name()), Some(action));
        }
        for command in Command::ALL {
            for opt in command.options() {
                assert_eq!(Opt::parse(opt.name()), Some(*opt));
            }
        }
    }

    #[test]
    fn commands_follow_their_features() {
        let none = Features {
            meetings: false,
            video_search: false,
            watch_together: false,
            notifications: false,
            user_sync: false,
        };
        let on: Vec<Command> = Command::ALL
            .into_iter()
            .filter(|c| c.enabled(&none))
            .collect();
        assert_eq!(on, [Command::Config]);
        let watch = Features {
            watch_together: true,
            ..none
        };
        assert!(Command::Watch.enabled(&watch));
        assert!(!Command::Start.enabled(&watch));
        let notify = Features {
            notifications: true,
            ..none
        };
        assert!(Command::Notify.enabled(&notify));
        assert!(!Command::Notify.enabled(&watch));
    }
}

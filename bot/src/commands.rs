//! The slash commands: a guild's own set (only those its features enable) or the application's
//! global set (every command), each registered by bulk overwrite and only when it differs from
//! what was registered last (see `registration`).

use kd_core::command::{Command as Kd, ConfigAction, NotifyAction, Opt};
use kd_core::meetings::{MAX_DESCRIPTION, MAX_TITLE, MeetingKind};
use kd_core::videos::{MAX_PAGE_SIZE, MAX_QUERY};
use kd_crds::guild::Features;
use sha2::{Digest, Sha256};
use twilight_model::application::command::{Command, CommandType};
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::guild::Permissions;
use twilight_util::builder::command::{
    CommandBuilder, IntegerBuilder, StringBuilder, SubCommandBuilder,
};

fn command(name: Kd, description: &str) -> CommandBuilder {
    let built = CommandBuilder::new(name.name(), description, CommandType::ChatInput)
        .contexts([InteractionContextType::Guild]);
    // Discord hides it from other members; the gate checks it too.
    if name.needs_manage_server() {
        built.default_member_permissions(Permissions::MANAGE_GUILD)
    } else {
        built
    }
}

fn string(option: Opt, description: &str) -> StringBuilder {
    StringBuilder::new(option.name(), description)
}

fn meeting_id(description: &str) -> StringBuilder {
    string(Opt::MeetingId, description)
        .required(true)
        .autocomplete(true)
}

fn setting_key() -> StringBuilder {
    string(Opt::Key, "Setting, e.g. channels.meetings")
        .required(true)
        .autocomplete(true)
}

fn subcommand(action: ConfigAction, description: &str) -> SubCommandBuilder {
    SubCommandBuilder::new(action.name(), description)
}

/// `Meeting` for `meeting`: the label Discord shows for a choice.
fn label(kind: MeetingKind) -> String {
    let name = kind.as_str();
    name[..1].to_uppercase() + &name[1..]
}

/// The slash command as Discord registers it.
fn build(name: Kd) -> Command {
    match name {
        Kd::Start => command(name, "Start a Kaltura meeting")
            .option(
                string(Opt::Type, "Kind of meeting")
                    .required(true)
                    .choices(MeetingKind::ALL.map(|k| (label(k), k.as_str()))),
            )
            .option(
                string(Opt::Title, "Title shown to participants")
                    .required(true)
                    .max_length(MAX_TITLE as u16),
            )
            .option(
                string(Opt::Description, "What it is about").max_length(MAX_DESCRIPTION as u16),
            ),
        Kd::Join => command(name, "Get your personal link to a meeting")
            .option(meeting_id("Meeting to join")),
        Kd::List => command(name, "List this server's active meetings"),
        Kd::End => command(name, "End a meeting").option(meeting_id("Meeting to end")),
        Kd::VideoSearch => command(name, "Search the Kaltura video library")
            .option(
                string(Opt::Query, "Words to look for")
                    .required(true)
                    .autocomplete(true)
                    .max_length(MAX_QUERY as u16),
            )
            .option(
                IntegerBuilder::new(
                    Opt::Limit.name(),
                    format!("Results per page (1-{MAX_PAGE_SIZE})"),
                )
                .min_value(1)
                .max_value(MAX_PAGE_SIZE.into()),
            ),
        Kd::Watch => command(name, "Watch a video together in this voice channel").option(
            string(Opt::Entry, "Video to watch")
                .required(true)
                .autocomplete(true),
        ),
        Kd::Config => command(name, "View or change this server's Kaltura settings")
            .option(subcommand(
                ConfigAction::View,
                "Show the effective settings and where each comes from",
            ))
            .option(
                subcommand(
                    ConfigAction::Set,
                    "Override a setting this server may change",
                )
                .option(setting_key())
                .option(
                    string(Opt::Value, "New value")
                        .required(true)
                        .max_length(2000),
                ),
            )
            .option(subcommand(ConfigAction::Reset, "Drop an override").option(setting_key())),
        Kd::Notify => command(name, "Test this server's Kaltura notifications").option(
            SubCommandBuilder::new(
                NotifyAction::Test.name(),
                "Post a sample of a notification rule's message in its channel",
            )
            .option(
                string(Opt::Rule, "Notification rule")
                    .required(true)
                    .autocomplete(true)
                    .max_length(253),
            ),
        ),
    }
    .build()
}

/// The commands of a guild with these features, in a stable order.
pub fn command_set(features: &Features) -> Vec<Command> {
    Kd::ALL
        .into_iter()
        .filter(|c| c.enabled(features))
        .map(build)
        .collect()
}

/// Every command, for the application's global set: whether a feature is on in a guild is
/// the gate's to say there.
pub fn global_command_set() -> Vec<Command> {
    Kd::ALL.into_iter().map(build).collect()
}

/// Content hash of a command set: registration is skipped when it equals the last one.
pub fn fingerprint(commands: &[Command]) -> String {
    let bytes = serde_json::to_vec(commands).expect("commands serialize");
    hex::encode(&Sha256::digest(&bytes)[..6])
}

#[cfg(test)]
mod tests {
    use super::*;
    use twilight_model::application::command::CommandOptionType;

    fn names(features: &Features) -> Vec<String> {
        command_set(features).into_iter().map(|c| c.name).collect()
    }

    #[test]
    fn disabled_features_have_no_commands() {
        let all = Features {
            meetings: true,
            video_search: true,
            watch_together: true,
            notifications: true,
            user_sync: true,
        };
        assert_eq!(names(&all), Kd::ALL.map(|c| c.name()));
        let none = Features {
            meetings: false,
            video_search: false,
            watch_together: false,
            notifications: false,
            ..all
        };
        assert_eq!(names(&none), [Kd::Config.name()]);
    }

    #[test]
    fn every_command_of_the_api_is_built_and_valid() {
        let all = Features {
            meetings: true,
            video_search: true,
            watch_together: true,
            notifications: true,
            user_sync: false,
        };
        let set = command_set(&all);
        assert_eq!(set.len(), Kd::ALL.len());
        for (command, name) in set.iter().zip(Kd::ALL) {
            assert_eq!(command.name, name.name());
            let options: Vec<String> = command
                .options
                .iter()
                .flat_map(|o| match o.kind {
                    CommandOptionType::SubCommand => {
                        o.options.iter().flatten().map(|i| i.name.clone()).collect()
                    }
                    _ => vec![o.name.clone()],
                })
                .collect();
            let mut declared: Vec<&str> = name.options().iter().map(|o| o.name()).collect();
            let mut built: Vec<&str> = options.iter().map(String::as_str).collect();
            declared.sort();
            built.sort();
            built.dedup();
            assert_eq!(built, declared, "options of {}", command.name);
        }
        for command in &set {
            twilight_validate::command::command(command)
                .unwrap_or_else(|e| panic!("{}: {e}", command.name));
        }
    }

    #[test]
    fn only_config_and_notify_need_manage_guild() {
        let set = command_set(&Features {
            notifications: true,
            ..Features::default()
        });
        assert!(set.iter().any(|c| c.name == Kd::Notify.name()));
        for c in &set {
            let expected = [Kd::Config.name(), Kd::Notify.name()]
                .contains(&c.name.as_str())
                .then_some(Permissions::MANAGE_GUILD);
            assert_eq!(c.default_member_permissions, expected, "{}", c.name);
        }
    }

    #[test]
    fn fingerprint_changes_only_with_the_set() {
        let base = Features::default();
        let same = fingerprint(&command_set(&base));
        assert_eq!(same, fingerprint(&command_set(&base.clone())));
        let more = Features {
            watch_together: true,
            ..base
        };
        assert_ne!(same, fingerprint(&command_set(&more)));
    }
}

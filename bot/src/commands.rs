//! The slash commands a guild gets: only those its features enable, registered by bulk
//! overwrite and only when this set differs from what was registered last.

use kd_crds::guild::Features;
use sha2::{Digest, Sha256};
use twilight_model::application::command::{Command, CommandType};
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::guild::Permissions;
use twilight_util::builder::command::{
    CommandBuilder, IntegerBuilder, StringBuilder, SubCommandBuilder,
};

fn command(name: &str, description: &str) -> CommandBuilder {
    CommandBuilder::new(name, description, CommandType::ChatInput)
        .contexts([InteractionContextType::Guild])
}

fn meeting_id(description: &str) -> StringBuilder {
    StringBuilder::new("meeting-id", description)
        .required(true)
        .autocomplete(true)
}

fn setting_key() -> StringBuilder {
    StringBuilder::new("key", "Setting, e.g. channels.meetings")
        .required(true)
        .autocomplete(true)
}

/// The commands of a guild with these features, in a stable order.
pub fn command_set(features: &Features) -> Vec<Command> {
    let mut commands = Vec::new();
    if features.meetings {
        commands.push(
            command("kaltura-start", "Start a Kaltura meeting")
                .option(
                    StringBuilder::new("type", "Kind of meeting")
                        .required(true)
                        .choices([
                            ("Meeting", "meeting"),
                            ("Webinar", "webinar"),
                            ("Classroom", "classroom"),
                        ]),
                )
                .option(
                    StringBuilder::new("title", "Title shown to participants")
                        .required(true)
                        .max_length(100),
                )
                .option(StringBuilder::new("description", "What it is about").max_length(500))
                .build(),
        );
        commands.push(
            command("kaltura-join", "Get your personal link to a meeting")
                .option(meeting_id("Meeting to join"))
                .build(),
        );
        commands.push(command("kaltura-list", "List this server's active meetings").build());
        commands.push(
            command("kaltura-end", "End a meeting")
                .option(meeting_id("Meeting to end"))
                .build(),
        );
    }
    if features.video_search {
        commands.push(
            command("kaltura-video-search", "Search the Kaltura video library")
                .option(
                    StringBuilder::new("query", "Words to look for")
                        .required(true)
                        .autocomplete(true)
                        .max_length(60),
                )
                .option(
                    IntegerBuilder::new("limit", "Results per page (1-8)")
                        .min_value(1)
                        .max_value(crate::logic::MAX_PAGE_SIZE.into()),
                )
                .build(),
        );
    }
    if features.watch_together {
        commands.push(
            command(
                "kaltura-watch",
                "Watch a video together in this voice channel",
            )
            .option(
                StringBuilder::new("entry", "Video to watch")
                    .required(true)
                    .autocomplete(true),
            )
            .build(),
        );
    }
    commands.push(
        command(
            "kaltura-config",
            "View or change this server's Kaltura settings",
        )
        .default_member_permissions(Permissions::MANAGE_GUILD)
        .option(SubCommandBuilder::new(
            "view",
            "Show the effective settings and where each comes from",
        ))
        .option(
            SubCommandBuilder::new("set", "Override a setting this server may change")
                .option(setting_key())
                .option(
                    StringBuilder::new("value", "New value")
                        .required(true)
                        .max_length(2000),
                ),
        )
        .option(SubCommandBuilder::new("reset", "Drop an override").option(setting_key()))
        .build(),
    );
    commands
}

/// Content hash of a command set: registration is skipped when it equals the last one.
pub fn fingerprint(commands: &[Command]) -> String {
    let bytes = serde_json::to_vec(commands).expect("commands serialize");
    hex::encode(&Sha256::digest(&bytes)[..6])
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(
            names(&all),
            [
                "kaltura-start",
                "kaltura-join",
                "kaltura-list",
                "kaltura-end",
                "kaltura-video-search",
                "kaltura-watch",
                "kaltura-config"
            ]
        );
        let none = Features {
            meetings: false,
            video_search: false,
            watch_together: false,
            ..all
        };
        assert_eq!(names(&none), ["kaltura-config"]);
    }

    #[test]
    fn every_command_of_the_api_is_built_and_valid() {
        let all = Features {
            meetings: true,
            video_search: true,
            watch_together: true,
            notifications: false,
            user_sync: false,
        };
        let set = command_set(&all);
        let built: Vec<&str> = set.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            built,
            kd_crds::guild::COMMANDS,
            "GuildConfig permission keys and the command set must agree"
        );
        for command in &set {
            twilight_validate::command::command(command)
                .unwrap_or_else(|e| panic!("{}: {e}", command.name));
        }
    }

    #[test]
    fn only_config_needs_manage_guild() {
        let set = command_set(&Features::default());
        for c in &set {
            let expected = (c.name == "kaltura-config").then_some(Permissions::MANAGE_GUILD);
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

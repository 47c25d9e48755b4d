//! What each registration should leave in Discord, as data: a guild's own command set and the
//! application's global set under the config's command scope, and whether Discord needs to be
//! asked at all given what the store recorded last. The runtime sends; this decides.
//!
//! `Guild` scope: each guild holds the commands of its features, the global set is empty.
//! `Global` scope: the global set holds every command, guilds hold none of their own (a guild
//! that still has a set from the `Guild` scope is overwritten with the empty one). A guild
//! being let go, and the global set of an application being deleted, get the empty set.

use crate::commands;
use kd_core::config::RuntimeConfig;
use kd_core::report::Registration;
use kd_crds::application::CommandScope;
use kd_crds::guild::Features;
use twilight_model::application::command::Command;

/// One set to bring Discord to.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub commands: Vec<Command>,
    pub fingerprint: String,
    /// What a missing record in the store stands for: the empty set where the bot has always
    /// recorded what it sent (so an unrecorded guild costs no request in `Global` scope); None
    /// where not knowing means sending.
    unrecorded: Option<String>,
    /// The report once Discord holds `commands`.
    pub done: Registration,
    /// The revision it is registered under, for a failure's report.
    revision: String,
}

impl Target {
    /// Whether `commands` must be sent, given the store's record of what was sent last. An
    /// unreadable store means sending: Discord's answer is the truth either way.
    pub fn needs_sending<E>(&self, stored: &Result<Option<String>, E>) -> bool {
        match stored {
            Ok(stored) => {
                stored.as_deref().or(self.unrecorded.as_deref()) != Some(self.fingerprint.as_str())
            }
            Err(_) => true,
        }
    }

    /// The report when Discord refused it.
    pub fn failed(&self, error: String) -> Registration {
        Registration::Failed {
            error,
            revision: self.revision.clone(),
        }
    }
}

/// What a guild's own command set should be.
#[derive(Clone, Debug, PartialEq)]
pub enum GuildPlan {
    /// Neither configured nor being let go: nothing to do.
    Unknown,
    /// `Guild` scope: the commands of its effective features (overrides applied), which the
    /// caller loads and hands to [`guild_commands`].
    Features,
    /// No commands of its own: it is being let go, or the global set serves it.
    Empty(Target),
}

fn empty_fingerprint() -> String {
    commands::fingerprint(&[])
}

pub fn guild_plan(config: &RuntimeConfig, guild_id: &str) -> GuildPlan {
    let scope = config.application.command_scope;
    let revision = config.guild_revision(guild_id);
    // In `Global` scope every set of ours a guild has was recorded when it was sent.
    let unrecorded = (scope == CommandScope::Global).then(empty_fingerprint);
    let done = if config.guild(guild_id).is_some() {
        if scope.is_guild() {
            return GuildPlan::Features;
        }
        Registration::Registered {
            commands: 0,
            fingerprint: empty_fingerprint(),
            revision: revision.clone(),
            scope,
        }
    } else if config.clearing.contains(guild_id) {
        Registration::Cleared {
            revision: revision.clone(),
        }
    } else {
        return GuildPlan::Unknown;
    };
    GuildPlan::Empty(Target {
        commands: Vec::new(),
        fingerprint: empty_fingerprint(),
        unrecorded,
        done,
        revision,
    })
}

/// `Guild` scope: the set of a configured guild with these (effective) features.
pub fn guild_commands(config: &RuntimeConfig, guild_id: &str, features: &Features) -> Target {
    let set = commands::command_set(features);
    let fingerprint = commands::fingerprint(&set);
    let revision = config.guild_revision(guild_id);
    Target {
        done: Registration::Registered {
            commands: set.len(),
            fingerprint: fingerprint.clone(),
            revision: revision.clone(),
            scope: CommandScope::Guild,
        },
        commands: set,
        fingerprint,
        unrecorded: None,
        revision,
    }
}

/// The application's global set: every command in `Global` scope, none otherwise.
pub fn global_target(config: &RuntimeConfig) -> Target {
    let revision = config.global_revision();
    let set = if config.global_commands_wanted() {
        commands::global_command_set()
    } else {
        Vec::new()
    };
    let fingerprint = commands::fingerprint(&set);
    let done = if set.is_empty() {
        Registration::Cleared {
            revision: revision.clone(),
        }
    } else {
        Registration::Registered {
            commands: set.len(),
            fingerprint: fingerprint.clone(),
            revision: revision.clone(),
            scope: CommandScope::Global,
        }
    };
    Target {
        commands: set,
        fingerprint,
        // Global commands were never registered before they were recorded.
        unrecorded: Some(empty_fingerprint()),
        done,
        revision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kd_core::command::Command as Kd;
    use serde_json::json;

    const GUILD: &str = "1283874310720716890";

    /// One guild with meetings on and video search off.
    fn scoped(scope: CommandScope) -> RuntimeConfig {
        let application = serde_json::from_value(json!({
            "name": "campus-bot", "namespace": "kaltura", "applicationId": "1",
            "botTokenRef": {"name": "discord", "key": "botToken"},
            "activityEnabled": false, "intents": [], "commandScope": scope,
        }))
        .unwrap();
        let guild = serde_json::from_value(json!({
            "configName": "physics-101", "partner": "campus",
            "features": {"meetings": true, "videoSearch": false}, "permissions": {},
            "channels": {}, "templates": {}, "overridable": [],
            "roles": {"rules": [], "default": "viewer"}
        }))
        .unwrap();
        RuntimeConfig::new(
            application,
            Default::default(),
            [(GUILD.into(), guild)].into(),
        )
    }

    fn stored(fingerprint: Option<&str>) -> Result<Option<String>, ()> {
        Ok(fingerprint.map(String::from))
    }

    fn empty(plan: GuildPlan) -> Target {
        match plan {
            GuildPlan::Empty(target) => target,
            other => panic!("not the empty set: {other:?}"),
        }
    }

    #[test]
    fn in_guild_scope_a_guild_gets_its_features_and_the_global_set_is_emptied() {
        let config = scoped(CommandScope::Guild);
        assert_eq!(guild_plan(&config, GUILD), GuildPlan::Features);
        let features = &config.guild(GUILD).unwrap().features;
        let target = guild_commands(&config, GUILD, features);
        assert_eq!(target.commands, commands::command_set(features));
        assert!(target.needs_sending(&stored(None)), "never sent");
        assert!(!target.needs_sending(&stored(Some(&target.fingerprint))));
        assert!(target.needs_sending(&Err(())), "an unreadable store sends");

        let global = global_target(&config);
        assert!(global.commands.is_empty());
        assert!(matches!(global.done, Registration::Cleared { .. }));
        assert!(
            !global.needs_sending(&stored(None)),
            "no global set was ever registered: no request"
        );
        assert!(
            global.needs_sending(&stored(Some("from-the-global-scope"))),
            "switched back from Global: the global set is emptied"
        );
    }

    #[test]
    fn in_global_scope_every_command_is_global_and_guilds_hold_none_of_their_own() {
        let config = scoped(CommandScope::Global);
        let global = global_target(&config);
        let names: Vec<&str> = global.commands.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, Kd::ALL.map(Kd::name), "whatever a guild's features");
        assert!(global.needs_sending(&stored(None)));
        assert!(!global.needs_sending(&stored(Some(&global.fingerprint))));
        assert_eq!(
            global.done,
            Registration::Registered {
                commands: Kd::ALL.len(),
                fingerprint: global.fingerprint.clone(),
                revision: config.global_revision(),
                scope: CommandScope::Global,
            }
        );

        let guild = empty(guild_plan(&config, GUILD));
        assert!(guild.commands.is_empty());
        assert!(
            !guild.needs_sending(&stored(None)),
            "a guild with nothing recorded costs no request"
        );
        assert!(!guild.needs_sending(&stored(Some(&commands::fingerprint(&[])))));
        let features = &config.guild(GUILD).unwrap().features;
        let from_guild_scope = commands::fingerprint(&commands::command_set(features));
        assert!(
            guild.needs_sending(&stored(Some(&from_guild_scope))),
            "a set left from the Guild scope is overwritten with none"
        );
        assert!(matches!(
            guild.done,
            Registration::Registered { commands: 0, scope: CommandScope::Global, ref revision, .. }
                if *revision == config.guild_revision(GUILD)
        ));
    }

    #[test]
    fn a_guild_let_go_is_cleared_and_only_a_recorded_set_costs_a_request_in_global_scope() {
        for scope in [CommandScope::Guild, CommandScope::Global] {
            let config = scoped(scope).with_clearing(["5".to_string()].into());
            let target = empty(guild_plan(&config, "5"));
            assert_eq!(
                target.done,
                Registration::Cleared {
                    revision: config.guild_revision("5")
                }
            );
            assert!(target.needs_sending(&stored(Some("abc"))), "{scope:?}");
            assert_eq!(
                target.needs_sending(&stored(None)),
                scope.is_guild(),
                "unrecorded in {scope:?}"
            );
        }
        assert_eq!(
            guild_plan(&scoped(CommandScope::Global), "6"),
            GuildPlan::Unknown
        );
    }

    #[test]
    fn an_application_being_deleted_empties_its_global_set_and_says_so_on_failure() {
        let mut config = scoped(CommandScope::Global);
        config.application.deleting = true;
        let global = global_target(&config);
        assert!(global.commands.is_empty());
        assert_eq!(
            global.done,
            Registration::Cleared {
                revision: config.global_revision()
            }
        );
        assert!(global.needs_sending(&stored(Some("all"))));
        assert_eq!(
            global.failed("Missing Access".into()),
            Registration::Failed {
                error: "Missing Access".into(),
                revision: config.global_revision()
            }
        );
    }
}

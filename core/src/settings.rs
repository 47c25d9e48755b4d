//! `/kaltura-config`: the effective settings of a guild and where each comes from (built-in
//! default, the GuildConfig in Git, or an override set from Discord), and the rules for
//! overriding. Overrides only apply to groups the GuildConfig delegates.

use crate::command::Command;
use crate::config::GuildRuntime;
use kd_crds::guild::{Channels, Features, Overridable, Templates};
use kd_crds::template;
use std::collections::BTreeMap;
use std::fmt;

/// Overrides of one guild: setting key -> value, as stored.
pub type Overrides = BTreeMap<String, String>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Default,
    GuildConfig,
    Discord,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Default => "default",
            Source::GuildConfig => "GuildConfig",
            Source::Discord => "Discord override",
        })
    }
}

/// One line of `/kaltura-config view`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Setting {
    pub key: String,
    /// Empty when unset.
    pub value: String,
    pub source: Source,
    /// Whether admins may override it from Discord.
    pub overridable: bool,
}

/// Why an override is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingError {
    UnknownKey(String),
    NotDelegated { key: String, group: Overridable },
    InvalidValue { key: String, reason: String },
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingError::UnknownKey(key) => {
                write!(f, "`{key}` is not a setting; see `/kaltura-config view`")
            }
            SettingError::NotDelegated { key, group } => write!(
                f,
                "`{key}` is managed in Git: this server's GuildConfig does not delegate {} settings",
                group_name(*group)
            ),
            SettingError::InvalidValue { key, reason } => write!(f, "`{key}`: {reason}"),
        }
    }
}

fn group_name(group: Overridable) -> &'static str {
    match group {
        Overridable::Features => "features",
        Overridable::Channels => "channels",
        Overridable::Templates => "templates",
        Overridable::Permissions => "permissions",
    }
}

const FEATURES: [&str; 5] = [
    "meetings",
    "videoSearch",
    "watchTogether",
    "notifications",
    "userSync",
];
const CHANNELS: [&str; 3] = ["default", "meetings", "recordings"];
const TEMPLATES: [&str; 2] = ["meetingStarted", "videoShared"];

/// Every setting key, in display order.
pub fn keys() -> Vec<String> {
    let features = FEATURES.iter().map(|k| format!("features.{k}"));
    let channels = CHANNELS.iter().map(|k| format!("channels.{k}"));
    let templates = TEMPLATES.iter().map(|k| format!("templates.{k}"));
    let permissions = Command::ALL
        .iter()
        .map(|c| format!("permissions.{}", c.permission_key()));
    features
        .chain(channels)
        .chain(templates)
        .chain(permissions)
        .collect()
}

fn group_of(key: &str) -> Option<(Overridable, &str)> {
    let (group, name) = key.split_once('.')?;
    let (group, known) = match group {
        "features" => (Overridable::Features, FEATURES.contains(&name)),
        "channels" => (Overridable::Channels, CHANNELS.contains(&name)),
        "templates" => (Overridable::Templates, TEMPLATES.contains(&name)),
        "permissions" => (
            Overridable::Permissions,
            Command::ALL.iter().any(|c| c.permission_key() == name),
        ),
        _ => return None,
    };
    known.then_some((group, name))
}

fn feature<'a>(features: &'a mut Features, name: &str) -> Option<&'a mut bool> {
    Some(match name {
        "meetings" => &mut features.meetings,
        "videoSearch" => &mut features.video_search,
        "watchTogether" => &mut features.watch_together,
        "notifications" => &mut features.notifications,
        "userSync" => &mut features.user_sync,
        _ => return None,
    })
}

fn channel<'a>(channels: &'a mut Channels, name: &str) -> Option<&'a mut Option<String>> {
    Some(match name {
        "default" => &mut channels.default,
        "meetings" => &mut channels.meetings,
        "recordings" => &mut channels.recordings,
        _ => return None,
    })
}

fn template_slot<'a>(
    templates: &'a mut Templates,
    name: &str,
) -> Option<(&'a mut Option<String>, &'static [&'static str])> {
    Some(match name {
        "meetingStarted" => (&mut templates.meeting_started, template::MEETING),
        "videoShared" => (&mut templates.video_shared, template::VIDEO_SHARED),
        _ => return None,
    })
}

/// Reads a setting of `guild` as text (empty when unset).
fn read(guild: &GuildRuntime, key: &str) -> String {
    let mut copy = guild.clone();
    let Some((group, name)) = group_of(key) else {
        return String::new();
    };
    match group {
        Overridable::Features => feature(&mut copy.features, name)
            .map(|b| b.to_string())
            .unwrap_or_default(),
        Overridable::Channels => channel(&mut copy.channels, name)
            .and_then(|c| c.clone())
            .unwrap_or_default(),
        Overridable::Templates => template_slot(&mut copy.templates, name)
            .and_then(|(t, _)| t.clone())
            .unwrap_or_default(),
        Overridable::Permissions => guild
            .permissions
            .get(name)
            .map(|roles| roles.join(", "))
            .unwrap_or_default(),
    }
}

/// Writes `value` into `guild`, checking it as the API's schema would.
fn write(guild: &mut GuildRuntime, key: &str, value: &str) -> Result<(), SettingError> {
    let invalid = |reason: String| SettingError::InvalidValue {
        key: key.to_string(),
        reason,
    };
    let (group, name) = group_of(key).ok_or_else(|| SettingError::UnknownKey(key.to_string()))?;
    match group {
        Overridable::Features => {
            let parsed = match value.trim().to_ascii_lowercase().as_str() {
                "true" | "on" | "yes" => true,
                "false" | "off" | "no" => false,
                _ => return Err(invalid("use true or false".into())),
            };
            *feature(&mut guild.features, name).expect("known feature") = parsed;
        }
        Overridable::Channels => {
            let value = value.trim().trim_start_matches('#');
            if value.is_empty() || value.len() > 100 {
                return Err(invalid(
                    "give a channel name or id (1-100 characters)".into(),
                ));
            }
            *channel(&mut guild.channels, name).expect("known channel") = Some(value.to_string());
        }
        Overridable::Templates => {
            let (slot, allowed) =
                template_slot(&mut guild.templates, name).expect("known template");
            if value.is_empty() || value.len() > 2000 {
                return Err(invalid("a template has 1-2000 characters".into()));
            }
            template::check(value, allowed).map_err(invalid)?;
            *slot = Some(value.to_string());
        }
        Overridable::Permissions => {
            let roles: Vec<String> = value
                .split(',')
                .map(|r| r.trim().trim_start_matches('@').to_string())
                .filter(|r| !r.is_empty())
                .collect();
            if roles.is_empty() || roles.len() > 50 {
                return Err(invalid(
                    "list 1-50 role names or ids, separated by commas".into(),
                ));
            }
            guild.permissions.insert(name.to_string(), roles);
        }
    }
    Ok(())
}

/// Whether `key` names a setting the guild's admins may override.
pub fn is_overridable(guild: &GuildRuntime, key: &str) -> bool {
    group_of(key).is_some_and(|(group, _)| guild.overridable.contains(&group))
}

/// Checks that `key` may be overridden in `guild` with `value`.
pub fn check_override(guild: &GuildRuntime, key: &str, value: &str) -> Result<(), SettingError> {
    let (group, _) = group_of(key).ok_or_else(|| SettingError::UnknownKey(key.to_string()))?;
    if !guild.overridable.contains(&group) {
        return Err(SettingError::NotDelegated {
            key: key.to_string(),
            group,
        });
    }
    write(&mut guild.clone(), key, value)
}

/// The guild as it runs: the GuildConfig with its delegated overrides applied. Overrides of a
/// group no longer delegated, or no longer valid, are ignored.
pub fn apply(guild: &GuildRuntime, overrides: &Overrides) -> GuildRuntime {
    let mut effective = guild.clone();
    for (key, value) in overrides {
        if check_override(guild, key, value).is_ok() {
            write(&mut effective, key, value).expect("checked");
        }
    }
    effective
}

/// Every setting with its effective value and where it comes from.
pub fn view(guild: &GuildRuntime, overrides: &Overrides) -> Vec<Setting> {
    let defaults = GuildRuntime {
        features: Features::default(),
        permissions: BTreeMap::new(),
        channels: Channels::default(),
        templates: Templates::default(),
        ..guild.clone()
    };
    let effective = apply(guild, overrides);
    keys()
        .into_iter()
        .map(|key| {
            let value = read(&effective, &key);
            let applied = overrides
                .get(&key)
                .is_some_and(|v| check_override(guild, &key, v).is_ok());
            let source = if applied {
                Source::Discord
            } else if read(guild, &key) != read(&defaults, &key) {
                Source::GuildConfig
            } else {
                Source::Default
            };
            let overridable = is_overridable(guild, &key);
            Setting {
                key,
                value,
                source,
                overridable,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RoleTable;

    fn guild(overridable: Vec<Overridable>) -> GuildRuntime {
        GuildRuntime {
            config_name: "physics-101".into(),
            partner: "campus".into(),
            features: Features {
                watch_together: true,
                ..Features::default()
            },
            permissions: BTreeMap::from([(
                Command::Start.permission_key().to_string(),
                vec!["Teacher".to_string()],
            )]),
            channels: Channels {
                default: Some("general".into()),
                ..Channels::default()
            },
            templates: Templates::default(),
            overridable,
            roles: RoleTable::default(),
            notification_rules: Vec::new(),
        }
    }

    fn setting<'a>(view: &'a [Setting], key: &str) -> &'a Setting {
        view.iter().find(|s| s.key == key).unwrap()
    }

    #[test]
    fn view_tells_where_each_value_comes_from() {
        let g = guild(vec![Overridable::Channels]);
        let overrides =
            Overrides::from([("channels.meetings".to_string(), "lectures".to_string())]);
        let v = view(&g, &overrides);
        assert_eq!(v.len(), keys().len());
        let s = setting(&v, "features.meetings");
        assert_eq!(
            (s.value.as_str(), s.source, s.overridable),
            ("true", Source::Default, false)
        );
        let s = setting(&v, "features.watchTogether");
        assert_eq!((s.value.as_str(), s.source), ("true", Source::GuildConfig));
        let s = setting(&v, "channels.default");
        assert_eq!(
            (s.value.as_str(), s.source, s.overridable),
            ("general", Source::GuildConfig, true)
        );
        let s = setting(&v, "channels.meetings");
        assert_eq!((s.value.as_str(), s.source), ("lectures", Source::Discord));
        let s = setting(&v, "permissions.kaltura-start");
        assert_eq!(
            (s.value.as_str(), s.source),
            ("Teacher", Source::GuildConfig)
        );
        assert_eq!(setting(&v, "templates.meetingStarted").value, "");
    }

    #[test]
    fn only_delegated_groups_may_be_overridden() {
        let g = guild(vec![Overridable::Templates]);
        assert_eq!(
            check_override(&g, "channels.default", "x"),
            Err(SettingError::NotDelegated {
                key: "channels.default".into(),
                group: Overridable::Channels
            })
        );
        assert!(check_override(&g, "templates.meetingStarted", "{{ title }} is live").is_ok());
        assert!(matches!(
            check_override(&g, "templates.nope", "x"),
            Err(SettingError::UnknownKey(_))
        ));
        assert!(matches!(
            check_override(&g, "nonsense", "x"),
            Err(SettingError::UnknownKey(_))
        ));
    }

    #[test]
    fn override_values_are_checked_like_the_schema() {
        let g = guild(vec![
            Overridable::Templates,
            Overridable::Features,
            Overridable::Permissions,
        ]);
        let err = check_override(&g, "templates.meetingStarted", "{{ entryId }}").unwrap_err();
        assert!(err.to_string().contains("not available here"), "{err}");
        assert!(check_override(&g, "features.meetings", "maybe").is_err());
        assert!(check_override(&g, "features.meetings", "off").is_ok());
        assert!(check_override(&g, "permissions.kaltura-end", " , ").is_err());
        let effective = apply(
            &g,
            &Overrides::from([(
                "permissions.kaltura-end".to_string(),
                "@Teacher, 1283874310720716999".to_string(),
            )]),
        );
        assert_eq!(
            effective.permissions[Command::End.permission_key()],
            ["Teacher", "1283874310720716999"]
        );
    }

    #[test]
    fn overrides_of_a_group_no_longer_delegated_are_ignored() {
        let overrides =
            Overrides::from([("features.videoSearch".to_string(), "false".to_string())]);
        let delegated = guild(vec![Overridable::Features]);
        assert!(!apply(&delegated, &overrides).features.video_search);
        let revoked = guild(vec![]);
        assert!(apply(&revoked, &overrides).features.video_search);
        let s = view(&revoked, &overrides)
            .into_iter()
            .find(|s| s.key == "features.videoSearch")
            .unwrap();
        assert_eq!((s.value.as_str(), s.source), ("true", Source::Default));
    }
}

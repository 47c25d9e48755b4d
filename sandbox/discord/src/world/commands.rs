//! Application commands: bulk overwrite and listing, global and per guild.

use super::World;
use crate::error::{ApiError, ApiResult};
use crate::model::id_str;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CommandScope {
    Global,
    Guild(u64),
}

/// Fields an app sets; the rest (id, application_id, version, guild_id) are Discord's.
const APP_FIELDS: &[&str] = &[
    "type",
    "name",
    "name_localizations",
    "description",
    "description_localizations",
    "options",
    "default_member_permissions",
    "dm_permission",
    "contexts",
    "integration_types",
    "nsfw",
    "handler",
];

impl World {
    /// `PUT .../commands`: the given set replaces the scope's commands. A command keeps its id when
    /// one of the same type and name existed; its version changes only when its definition did.
    pub fn overwrite_commands(
        &mut self,
        scope: CommandScope,
        given: Vec<Value>,
    ) -> ApiResult<Vec<Value>> {
        if let CommandScope::Guild(guild_id) = scope {
            self.bot_guild(guild_id)?;
        }
        for (index, command) in given.iter().enumerate() {
            validate_command(command).map_err(|(field, code, message)| {
                ApiError::invalid_form(&format!("{index}.{field}"), code, message)
            })?;
        }
        for (index, command) in given.iter().enumerate() {
            let duplicate = given[..index]
                .iter()
                .any(|other| kind(other) == kind(command) && other["name"] == command["name"]);
            if duplicate {
                return Err(ApiError::invalid_form(
                    &index.to_string(),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                ));
            }
        }
        let old = self.commands.remove(&scope).unwrap_or_default();
        let mut stored = Vec::with_capacity(given.len());
        for command in given {
            let definition = definition(&command);
            let previous = old
                .iter()
                .find(|o| kind(o) == kind(&command) && o["name"] == command["name"]);
            let (id, version) = match previous {
                Some(prev) if definition == self::definition(prev) => {
                    (prev["id"].clone(), prev["version"].clone())
                }
                Some(prev) => (prev["id"].clone(), json!(id_str(self.ids.next()))),
                None => {
                    let id = id_str(self.ids.next());
                    (json!(id.clone()), json!(id))
                }
            };
            let mut full = definition;
            full["id"] = id;
            full["version"] = version;
            full["application_id"] = json!(id_str(self.app.id));
            if let CommandScope::Guild(guild_id) = scope {
                full["guild_id"] = json!(id_str(guild_id));
            }
            stored.push(full);
        }
        self.commands.insert(scope, stored.clone());
        Ok(stored)
    }

    pub fn commands(&self, scope: CommandScope) -> ApiResult<Vec<Value>> {
        if let CommandScope::Guild(guild_id) = scope {
            self.bot_guild(guild_id)?;
        }
        Ok(self.commands.get(&scope).cloned().unwrap_or_default())
    }

    pub fn command(&self, scope: CommandScope, id: u64) -> ApiResult<Value> {
        self.commands(scope)?
            .into_iter()
            .find(|c| crate::ids::parse_id(&c["id"]) == Some(id))
            .ok_or_else(ApiError::unknown_command)
    }

    /// The command a member would see under `name` in a guild: guild commands shadow global ones.
    pub(crate) fn resolve_command(
        &self,
        guild_id: u64,
        name: &str,
        command_type: u64,
    ) -> Option<&Value> {
        [CommandScope::Guild(guild_id), CommandScope::Global]
            .iter()
            .filter_map(|scope| self.commands.get(scope))
            .flatten()
            .find(|c| c["name"] == name && kind(c) == command_type)
    }
}

fn kind(command: &Value) -> u64 {
    command["type"].as_u64().unwrap_or(1)
}

/// The app-controlled part of a command, with Discord's defaults filled in.
fn definition(command: &Value) -> Value {
    let mut out = json!({
        "type": kind(command),
        "name_localizations": null,
        "description": "",
        "description_localizations": null,
        "default_member_permissions": null,
        "dm_permission": true,
        "contexts": null,
        "integration_types": [0],
        "nsfw": false,
    });
    for field in APP_FIELDS {
        if let Some(value) = command.get(*field).filter(|v| !v.is_null()) {
            out[*field] = value.clone();
        }
    }
    out
}

type FieldError = (String, &'static str, &'static str);

fn validate_command(command: &Value) -> Result<(), FieldError> {
    let command_type = kind(command);
    if !(1..=4).contains(&command_type) {
        return Err((
            "type".into(),
            "BASE_TYPE_CHOICES",
            "Value must be one of {1, 2, 3, 4}.",
        ));
    }
    let name = command["name"].as_str().unwrap_or("");
    let description = command["description"].as_str().unwrap_or("");
    if name.is_empty() || name.chars().count() > 32 {
        return Err((
            "name".into(),
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 32 in length.",
        ));
    }
    match command_type {
        1 => {
            validate_chat_name(name).map_err(|_| {
                (
                    "name".to_string(),
                    "APPLICATION_COMMAND_INVALID_NAME",
                    "Command name is invalid",
                )
            })?;
            if description.is_empty() || description.chars().count() > 100 {
                return Err((
                    "description".into(),
                    "BASE_TYPE_BAD_LENGTH",
                    "Must be between 1 and 100 in length.",
                ));
            }
            validate_options(command.get("options"), "options")
        }
        4 if !matches!(command["handler"].as_u64(), Some(1 | 2)) => Err((
            "handler".into(),
            "BASE_TYPE_CHOICES",
            "Value must be one of {1, 2}.",
        )),
        2 | 3 if !description.is_empty() => Err((
            "description".into(),
            "APPLICATION_COMMAND_INVALID_DESCRIPTION",
            "Context menu commands cannot have description",
        )),
        _ => Ok(()),
    }
}

fn validate_chat_name(name: &str) -> Result<(), ()> {
    let valid = name
        .chars()
        .all(|c| c == '-' || c == '_' || c == '\'' || (c.is_alphanumeric() && !c.is_uppercase()));
    if valid { Ok(()) } else { Err(()) }
}

fn validate_options(options: Option<&Value>, path: &str) -> Result<(), FieldError> {
    let Some(options) = options.filter(|o| !o.is_null()) else {
        return Ok(());
    };
    let Some(list) = options.as_array() else {
        return Err((path.into(), "BASE_TYPE_ARRAY", "Must be an array."));
    };
    if list.len() > 25 {
        return Err((
            path.into(),
            "BASE_TYPE_MAX_LENGTH",
            "Must be 25 or fewer in length.",
        ));
    }
    for (index, option) in list.iter().enumerate() {
        let at = format!("{path}.{index}");
        if !option["type"]
            .as_u64()
            .is_some_and(|t| (1..=11).contains(&t))
        {
            return Err((
                format!("{at}.type"),
                "BASE_TYPE_CHOICES",
                "Value must be one of {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}.",
            ));
        }
        let name = option["name"].as_str().unwrap_or("");
        if name.is_empty() || name.chars().count() > 32 || validate_chat_name(name).is_err() {
            return Err((
                format!("{at}.name"),
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            ));
        }
        let description = option["description"].as_str().unwrap_or("");
        if description.is_empty() || description.chars().count() > 100 {
            return Err((
                format!("{at}.description"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
        validate_options(option.get("options"), &format!("{at}.options"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::test_world;

    fn chat(name: &str, description: &str) -> Value {
        json!({"type": 1, "name": name, "description": description})
    }

    #[test]
    fn overwrite_keeps_ids_and_bumps_versions_only_on_change() {
        let mut world = test_world();
        let first = world
            .overwrite_commands(
                CommandScope::Global,
                vec![chat("a", "one"), chat("b", "two")],
            )
            .unwrap();
        let second = world
            .overwrite_commands(
                CommandScope::Global,
                vec![chat("a", "one"), chat("b", "changed")],
            )
            .unwrap();
        assert_eq!(first[0]["id"], second[0]["id"]);
        assert_eq!(first[0]["version"], second[0]["version"]);
        assert_eq!(first[1]["id"], second[1]["id"]);
        assert_ne!(first[1]["version"], second[1]["version"]);
        let third = world
            .overwrite_commands(CommandScope::Global, vec![chat("c", "three")])
            .unwrap();
        assert_eq!(world.commands(CommandScope::Global).unwrap(), third);
    }

    #[test]
    fn invalid_commands_get_invalid_form_body() {
        let mut world = test_world();
        let err = world
            .overwrite_commands(CommandScope::Global, vec![chat("Upper", "x")])
            .unwrap_err();
        assert_eq!(err.code, 50035);
        assert!(err.body()["errors"]["0"]["name"]["_errors"].is_array());
        let err = world
            .overwrite_commands(CommandScope::Global, vec![chat("a", "x"), chat("a", "y")])
            .unwrap_err();
        assert_eq!(err.code, 50035);
        let err = world
            .overwrite_commands(CommandScope::Global, vec![chat("a", "")])
            .unwrap_err();
        assert!(err.body()["errors"]["0"]["description"].is_object());
        assert_eq!(
            world
                .overwrite_commands(CommandScope::Guild(1), vec![])
                .unwrap_err()
                .code,
            10004
        );
    }
}

//! What a member asked for, lifted out of twilight's interaction model into plain data the
//! command logic can match on.

use kd_core::scope::Member;
use std::collections::BTreeMap;
use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue,
};
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::guild::Permissions;

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Text(String),
    Integer(i64),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Command {
        name: String,
        subcommand: Option<String>,
        options: BTreeMap<String, Value>,
    },
    /// Typing into an option with autocomplete: `focused` names it, `value` is what is typed.
    Autocomplete {
        name: String,
        subcommand: Option<String>,
        focused: String,
        value: String,
    },
    Button {
        custom_id: String,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    pub id: String,
    pub token: String,
    pub guild_id: String,
    pub channel_id: String,
    pub member: Member,
    pub action: Action,
}

/// Why an interaction is not for the command logic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotHandled {
    /// Sent outside a guild (DM): the commands are guild-only.
    NotInGuild,
    /// An interaction type the bot does not use (ping, modal, ...).
    Unsupported,
}

impl Invocation {
    /// A text option, if given.
    pub fn text(&self, option: &str) -> Option<&str> {
        match &self.action {
            Action::Command { options, .. } => match options.get(option) {
                Some(Value::Text(t)) => Some(t.as_str()),
                _ => None,
            },
            _ => None,
        }
    }

    /// An integer option, if given.
    pub fn integer(&self, option: &str) -> Option<i64> {
        match &self.action {
            Action::Command { options, .. } => match options.get(option) {
                Some(Value::Integer(i)) => Some(*i),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Flattens one level of subcommand: `/kaltura-config set key value` -> (Some("set"), options).
fn options_of(data: &CommandData) -> (Option<String>, &[CommandDataOption]) {
    match data.options.first().map(|o| (&o.name, &o.value)) {
        Some((name, CommandOptionValue::SubCommand(inner))) => {
            (Some(name.clone()), inner.as_slice())
        }
        _ => (None, data.options.as_slice()),
    }
}

pub fn from_interaction(interaction: &Interaction) -> Result<Invocation, NotHandled> {
    let guild_id = interaction
        .guild_id
        .ok_or(NotHandled::NotInGuild)?
        .to_string();
    let member = interaction.member.as_ref().ok_or(NotHandled::NotInGuild)?;
    let user = member
        .user
        .as_ref()
        .or(interaction.user.as_ref())
        .ok_or(NotHandled::NotInGuild)?;
    let display_name = crate::user_sync::member_name(member.nick.as_deref(), user);
    let action = match (&interaction.kind, &interaction.data) {
        (InteractionType::ApplicationCommand, Some(InteractionData::ApplicationCommand(data))) => {
            let (subcommand, options) = options_of(data);
            let options = options
                .iter()
                .filter_map(|o| match &o.value {
                    CommandOptionValue::String(s) => Some((o.name.clone(), Value::Text(s.clone()))),
                    CommandOptionValue::Integer(i) => Some((o.name.clone(), Value::Integer(*i))),
                    _ => None,
                })
                .collect();
            Action::Command {
                name: data.name.clone(),
                subcommand,
                options,
            }
        }
        (
            InteractionType::ApplicationCommandAutocomplete,
            Some(InteractionData::ApplicationCommand(data)),
        ) => {
            let (subcommand, options) = options_of(data);
            let (focused, value) = options
                .iter()
                .find_map(|o| match &o.value {
                    CommandOptionValue::Focused(value, _) => Some((o.name.clone(), value.clone())),
                    _ => None,
                })
                .unwrap_or_default();
            Action::Autocomplete {
                name: data.name.clone(),
                subcommand,
                focused,
                value,
            }
        }
        (InteractionType::MessageComponent, Some(InteractionData::MessageComponent(data))) => {
            Action::Button {
                custom_id: data.custom_id.clone(),
            }
        }
        _ => return Err(NotHandled::Unsupported),
    };
    #[allow(deprecated)] // older payloads only carry channel_id
    let channel_id = interaction
        .channel
        .as_ref()
        .map(|c| c.id)
        .or(interaction.channel_id)
        .map(|id| id.to_string())
        .unwrap_or_default();
    Ok(Invocation {
        id: interaction.id.to_string(),
        token: interaction.token.clone(),
        guild_id,
        channel_id,
        member: Member {
            id: user.id.to_string(),
            display_name,
            roles: member.roles.iter().map(|r| r.to_string()).collect(),
            // In the channel, as Discord computed them.
            manages_guild: member.permissions.is_some_and(|p| {
                p.intersects(Permissions::MANAGE_GUILD | Permissions::ADMINISTRATOR)
            }),
        },
        action,
    })
}

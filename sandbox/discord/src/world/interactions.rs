//! Members acting (slash commands, buttons, autocomplete, modals), the app's callbacks, and
//! the interaction webhook (original response edits, follow-ups) with Discord's deadlines.

use super::messages::{MessageSpec, Origin};
use super::{Changes, World};
use crate::error::{ApiError, ApiResult};
use crate::gateway::Event;
use crate::ids::parse_id;
use crate::model::{self, EPHEMERAL, Interaction, LOADING, Stored, id_str};
use crate::permissions::{USE_APPLICATION_COMMANDS, VIEW_CHANNEL};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Instant;

/// A member runs a command (or types into one of its autocomplete options).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct NewCommandInteraction {
    #[serde(with = "crate::ids::snowflake")]
    pub guild_id: u64,
    #[serde(with = "crate::ids::snowflake")]
    pub channel_id: u64,
    #[serde(with = "crate::ids::snowflake")]
    pub user_id: u64,
    pub name: String,
    /// `[{name, value}]`, or `[{name, options: [...]}]` for subcommands; types come from the
    /// registered command.
    #[serde(default)]
    pub options: Vec<Value>,
    /// 1 chat input (default), 2 user, 3 message, 4 primary entry point.
    #[serde(default)]
    pub command_type: Option<u64>,
    /// For user and message commands: the target.
    #[serde(default, with = "crate::ids::snowflake::option")]
    pub target_id: Option<u64>,
    /// Autocomplete only: the option being typed into.
    #[serde(default)]
    pub focused: Option<String>,
}

/// A member presses a button or picks from a select menu on a message.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct NewComponentInteraction {
    #[serde(with = "crate::ids::snowflake")]
    pub message_id: u64,
    #[serde(with = "crate::ids::snowflake")]
    pub user_id: u64,
    pub custom_id: String,
    #[serde(default)]
    pub values: Vec<String>,
}

/// A member submits the modal an app answered an interaction with.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct NewModalSubmit {
    /// The interaction whose response was the modal.
    #[serde(with = "crate::ids::snowflake")]
    pub interaction_id: u64,
    /// Text input `custom_id` -> what the member typed.
    pub values: BTreeMap<String, String>,
}

#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct InteractionRef {
    #[serde(with = "crate::ids::snowflake")]
    pub id: u64,
    pub token: String,
}

impl std::fmt::Debug for InteractionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteractionRef")
            .field("id", &self.id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// What became of an interaction, for tests and the console. No `Debug`: the payload holds
/// the interaction token.
#[derive(Clone, Deserialize, Serialize)]
pub struct InteractionView {
    #[serde(with = "crate::ids::snowflake")]
    pub id: u64,
    #[serde(rename = "type")]
    pub kind: u8,
    /// The INTERACTION_CREATE payload as dispatched.
    pub payload: Value,
    /// The initial response body, as the app sent it.
    pub callback: Option<Value>,
    pub original: Option<Value>,
    pub followups: Vec<Value>,
    pub activity_instance_id: Option<String>,
}

/// Interaction response types.
const CHANNEL_MESSAGE: u64 = 4;
const DEFERRED_CHANNEL_MESSAGE: u64 = 5;
const DEFERRED_UPDATE_MESSAGE: u64 = 6;
const UPDATE_MESSAGE: u64 = 7;
const AUTOCOMPLETE_RESULT: u64 = 8;
const MODAL: u64 = 9;
const LAUNCH_ACTIVITY: u64 = 12;

/// `@original` or a follow-up's id in webhook message routes.
#[derive(Debug, Clone, Copy)]
pub enum WebhookMessage {
    Original,
    Id(u64),
}

impl WebhookMessage {
    pub fn parse(segment: &str) -> ApiResult<Self> {
        match segment {
            "@original" => Ok(Self::Original),
            id => id
                .parse()
                .map(Self::Id)
                .map_err(|_| ApiError::unknown_message()),
        }
    }
}

impl World {
    pub fn invoke_command(&mut self, spec: NewCommandInteraction) -> Changes<InteractionRef> {
        self.command_interaction(spec, model::APPLICATION_COMMAND)
    }

    pub fn autocomplete(&mut self, spec: NewCommandInteraction) -> Changes<InteractionRef> {
        if spec.focused.is_none() {
            return Err(ApiError::bad_request(
                "autocomplete needs `focused`: the option being typed into",
            ));
        }
        self.command_interaction(spec, model::AUTOCOMPLETE)
    }

    fn command_interaction(
        &mut self,
        spec: NewCommandInteraction,
        kind: u8,
    ) -> Changes<InteractionRef> {
        let command_type = spec.command_type.unwrap_or(1);
        let command = self
            .resolve_command(spec.guild_id, &spec.name, command_type)
            .cloned()
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "no command `{}` of type {command_type} is registered for this guild",
                    spec.name
                ))
            })?;
        let guild = self.guild(spec.guild_id)?;
        let member = guild
            .members
            .get(&spec.user_id)
            .ok_or_else(ApiError::unknown_member)?;
        let perms = guild.channel_permissions_of(member, self.channel(spec.channel_id)?);
        // Discord hides a command from members lacking its default_member_permissions.
        let required = command["default_member_permissions"]
            .as_str()
            .and_then(|p| p.parse::<u64>().ok())
            .unwrap_or(0);
        if perms & (VIEW_CHANNEL | USE_APPLICATION_COMMANDS)
            != VIEW_CHANNEL | USE_APPLICATION_COMMANDS
            || perms & required != required
        {
            return Err(ApiError::missing_permissions());
        }
        let focused = if kind == model::AUTOCOMPLETE {
            spec.focused.as_deref()
        } else {
            None
        };
        let mut resolved = Resolved::default();
        let options = self.typed_options(
            &command["options"],
            &spec.options,
            focused,
            &mut resolved,
            spec.guild_id,
        )?;
        if let Some(focused) = focused
            && !contains_focused(&options)
        {
            return Err(ApiError::bad_request(format!(
                "option `{focused}` is not among the given options"
            )));
        }
        let mut data = json!({"id": command["id"], "name": command["name"], "type": command_type});
        if !options.is_empty() {
            data["options"] = Value::from(options);
        }
        if let Some(guild_id) = command.get("guild_id") {
            data["guild_id"] = guild_id.clone();
        }
        if let Some(target) = spec.target_id {
            data["target_id"] = json!(id_str(target));
            if command_type == 2 {
                self.resolve_user(target, spec.guild_id, &mut resolved);
            }
        }
        if !resolved.is_empty() {
            data["resolved"] = resolved.into_json();
        }
        self.create_interaction(
            kind,
            spec.guild_id,
            spec.channel_id,
            spec.user_id,
            data,
            None,
        )
    }

    pub fn press_component(&mut self, spec: NewComponentInteraction) -> Changes<InteractionRef> {
        let message = self.message(spec.message_id)?.clone();
        let components = message.components.get();
        let component = find_component(&components, &spec.custom_id).ok_or_else(|| {
            ApiError::bad_request(format!(
                "message has no component with custom_id `{}`",
                spec.custom_id
            ))
        })?;
        let component_type = component["type"].as_u64().unwrap_or(2);
        if component["disabled"].as_bool() == Some(true) {
            return Err(ApiError::bad_request("that component is disabled"));
        }
        let mut data = json!({"custom_id": spec.custom_id, "component_type": component_type});
        if component_type != 2 {
            data["values"] = json!(spec.values);
        }
        let guild_id = message.guild_id.unwrap_or(0);
        let message_json = self.message_json(message.id)?;
        self.create_interaction(
            model::MESSAGE_COMPONENT,
            guild_id,
            message.channel_id,
            spec.user_id,
            data,
            Some((message.id, message_json)),
        )
    }

    pub fn submit_modal(&mut self, spec: NewModalSubmit) -> Changes<InteractionRef> {
        let opener = self
            .interactions
            .get(&spec.interaction_id)
            .ok_or_else(ApiError::unknown_interaction)?
            .clone();
        let modal = opener
            .callback
            .as_ref()
            .map(Stored::get)
            .filter(|c| c["type"].as_u64() == Some(MODAL))
            .map(|c| c["data"].clone())
            .ok_or_else(|| {
                ApiError::bad_request("that interaction was not answered with a modal")
            })?;
        let mut next_id = 0;
        let components = modal["components"].as_array().cloned().unwrap_or_default();
        let submitted = components
            .iter()
            .map(|c| submitted_component(c, &spec.values, &mut next_id))
            .collect::<Vec<_>>();
        let data = json!({"custom_id": modal["custom_id"], "components": submitted});
        let source = match opener.source_message_id {
            Some(id) => Some((id, self.message_json(id)?)),
            None => None,
        };
        self.create_interaction(
            model::MODAL_SUBMIT,
            opener.guild_id,
            opener.channel_id,
            opener.user_id,
            data,
            source,
        )
    }

    fn create_interaction(
        &mut self,
        kind: u8,
        guild_id: u64,
        channel_id: u64,
        user_id: u64,
        data: Value,
        message: Option<(u64, Value)>,
    ) -> Changes<InteractionRef> {
        let id = self.ids.next();
        let channel = self.channel(channel_id)?;
        if channel.guild_id != guild_id {
            return Err(ApiError::unknown_channel());
        }
        let guild = self.guild(guild_id)?;
        let member = guild
            .members
            .get(&user_id)
            .ok_or_else(ApiError::unknown_member)?;
        let user = self.user(user_id)?;
        let token = format!("aW50ZXJhY3Rpb246{id}:{}", crate::ids::token(64));
        let mut payload = json!({
            "id": id_str(id),
            "application_id": id_str(self.app.id),
            "type": kind,
            "data": data,
            "guild_id": id_str(guild_id),
            "guild": {"id": id_str(guild_id), "locale": "en-US", "features": []},
            "channel": channel.to_json(),
            "channel_id": id_str(channel_id),
            "member": member.to_json(user, Some(guild.channel_permissions_of(member, channel))),
            "token": token,
            "version": 1,
            "app_permissions": self.bot_channel_permissions(channel).to_string(),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": id_str(guild_id)},
            "context": 0,
            "attachment_size_limit": 26_214_400,
        });
        let source_message_id = message.as_ref().map(|(id, _)| *id);
        if let Some((_, message)) = message {
            payload["message"] = message;
        }
        let event = Event::new("INTERACTION_CREATE", Some(guild_id), 0, payload.clone());
        self.forget_expired_interactions();
        self.interactions.insert(
            id,
            Interaction {
                id,
                token: token.clone(),
                kind,
                guild_id,
                channel_id,
                user_id,
                created: Instant::now(),
                payload: Stored::new(&payload),
                source_message_id,
                callback: None,
                original_message_id: None,
                followups: vec![],
                activity_instance_id: None,
            },
        );
        self.interaction_tokens.insert(token.clone(), id);
        Ok((InteractionRef { id, token }, vec![event]))
    }

    /// Discord forgets an interaction when its token expires (15 minutes), and its ephemeral
    /// messages with it: they are reachable only through that token. Ids grow with time, so
    /// the expired ones are the first.
    fn forget_expired_interactions(&mut self) {
        let lifetime = self.limits.interaction_token_lifetime;
        while let Some(oldest) = self.interactions.first_entry() {
            if oldest.get().created.elapsed() <= lifetime {
                break;
            }
            let interaction = oldest.remove();
            self.interaction_tokens.remove(&interaction.token);
            let responses = interaction.original_message_id.into_iter();
            for id in responses.chain(interaction.followups) {
                if self
                    .messages
                    .get(&id)
                    .is_some_and(|m| m.flags & EPHEMERAL != 0)
                {
                    self.messages.remove(&id);
                }
            }
        }
    }

    /// Every interaction, newest first.
    pub fn interaction_views(&self) -> Vec<InteractionView> {
        self.interactions
            .keys()
            .rev()
            .filter_map(|id| self.interaction_view(*id).ok())
            .collect()
    }

    /// Whether the app has answered interaction `id` (a look that builds no view).
    pub fn answered(&self, id: u64) -> bool {
        self.interactions
            .get(&id)
            .is_some_and(|i| i.callback.is_some())
    }

    pub fn interaction_view(&self, id: u64) -> ApiResult<InteractionView> {
        let interaction = self
            .interactions
            .get(&id)
            .ok_or_else(ApiError::unknown_interaction)?;
        let original = match interaction.original_message_id {
            Some(id) => self.message_json(id).ok(),
            None => None,
        };
        Ok(InteractionView {
            id,
            kind: interaction.kind,
            payload: interaction.payload.get(),
            callback: interaction.callback.as_ref().map(Stored::get),
            original,
            followups: interaction
                .followups
                .iter()
                .filter_map(|id| self.message_json(*id).ok())
                .collect(),
            activity_instance_id: interaction.activity_instance_id.clone(),
        })
    }

    /// `POST /interactions/{id}/{token}/callback`. Returns the callback response Discord sends
    /// for `?with_response=true`.
    pub fn interaction_callback(&mut self, id: u64, token: &str, body: Value) -> Changes<Value> {
        let interaction = self
            .interactions
            .get(&id)
            .filter(|i| i.token == token)
            .ok_or_else(ApiError::unknown_interaction)?
            .clone();
        if interaction.callback.is_some() {
            return Err(ApiError::already_acknowledged());
        }
        if interaction.created.elapsed() > self.limits.interaction_deadline {
            return Err(ApiError::unknown_interaction());
        }
        let response_type = body["type"].as_u64().ok_or_else(|| {
            ApiError::invalid_form("type", "BASE_TYPE_REQUIRED", "This field is required")
        })?;
        let allowed: &[u64] = match interaction.kind {
            model::AUTOCOMPLETE => &[AUTOCOMPLETE_RESULT],
            model::MESSAGE_COMPONENT => &[
                CHANNEL_MESSAGE,
                DEFERRED_CHANNEL_MESSAGE,
                DEFERRED_UPDATE_MESSAGE,
                UPDATE_MESSAGE,
                MODAL,
                LAUNCH_ACTIVITY,
            ],
            model::MODAL_SUBMIT if interaction.source_message_id.is_some() => &[
                CHANNEL_MESSAGE,
                DEFERRED_CHANNEL_MESSAGE,
                DEFERRED_UPDATE_MESSAGE,
                UPDATE_MESSAGE,
            ],
            model::MODAL_SUBMIT => &[CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE],
            _ => &[
                CHANNEL_MESSAGE,
                DEFERRED_CHANNEL_MESSAGE,
                MODAL,
                LAUNCH_ACTIVITY,
            ],
        };
        if !allowed.contains(&response_type) {
            return Err(ApiError::invalid_form(
                "type",
                "INTERACTION_RESPONSE_TYPE_INVALID",
                "Interaction response type is invalid for this interaction",
            ));
        }
        let data = body.get("data").cloned().unwrap_or(Value::Null);
        let mut events = vec![];
        let mut resource = json!({"type": response_type});
        let mut original = None;
        match response_type {
            CHANNEL_MESSAGE | DEFERRED_CHANNEL_MESSAGE => {
                let mut spec: MessageSpec = spec_from(&data)?;
                if response_type == DEFERRED_CHANNEL_MESSAGE {
                    spec = MessageSpec {
                        flags: Some(LOADING | (spec.flags.unwrap_or(0) & EPHEMERAL)),
                        ..MessageSpec::default()
                    };
                }
                let origin = self.response_origin(&interaction);
                let (message, mut created) =
                    self.create_message(interaction.channel_id, spec, origin)?;
                original = parse_id(&message["id"]);
                resource["message"] = message;
                events.append(&mut created);
            }
            UPDATE_MESSAGE => {
                let source = interaction
                    .source_message_id
                    .ok_or_else(ApiError::unknown_message)?;
                let (message, mut updated) = self.edit_message(source, spec_from(&data)?)?;
                original = Some(source);
                resource["message"] = message;
                events.append(&mut updated);
            }
            DEFERRED_UPDATE_MESSAGE => original = interaction.source_message_id,
            AUTOCOMPLETE_RESULT => {
                let choices = data["choices"].as_array().ok_or_else(|| {
                    ApiError::invalid_form(
                        "data.choices",
                        "BASE_TYPE_REQUIRED",
                        "This field is required",
                    )
                })?;
                if choices.len() > 25 {
                    return Err(ApiError::invalid_form(
                        "data.choices",
                        "BASE_TYPE_MAX_LENGTH",
                        "Must be 25 or fewer in length.",
                    ));
                }
            }
            MODAL => {
                let valid = data["custom_id"].is_string()
                    && data["title"].is_string()
                    && data["components"]
                        .as_array()
                        .is_some_and(|c| (1..=5).contains(&c.len()));
                if !valid {
                    return Err(ApiError::invalid_form(
                        "data",
                        "MODAL_INVALID",
                        "A modal needs custom_id, title and 1 to 5 components",
                    ));
                }
            }
            LAUNCH_ACTIVITY => {
                let instance = self.launch_activity(
                    interaction.guild_id,
                    interaction.channel_id,
                    interaction.user_id,
                );
                resource["activity_instance"] = json!({"id": instance});
                self.interactions
                    .get_mut(&id)
                    .ok_or_else(ApiError::unknown_interaction)?
                    .activity_instance_id = Some(instance);
            }
            _ => unreachable!("response types are checked above"),
        }
        let record = self
            .interactions
            .get_mut(&id)
            .ok_or_else(ApiError::unknown_interaction)?;
        record.callback = Some(Stored::new(&json!({"type": response_type, "data": data})));
        record.original_message_id = original;
        let loading = response_type == DEFERRED_CHANNEL_MESSAGE;
        let response = json!({
            "interaction": {
                "id": id_str(id),
                "type": interaction.kind,
                "activity_instance_id": record.activity_instance_id,
                "response_message_id": original.map(id_str),
                "response_message_loading": loading,
                "response_message_ephemeral": data["flags"].as_u64().is_some_and(|f| f & EPHEMERAL != 0),
            },
            "resource": resource,
        });
        Ok((response, events))
    }

    fn response_origin(&self, interaction: &Interaction) -> Origin {
        let user = self
            .users
            .get(&interaction.user_id)
            .map(model::User::to_json);
        let mut metadata = json!({
            "id": id_str(interaction.id),
            "type": interaction.kind,
            "user": user,
            "authorizing_integration_owners": {"0": id_str(interaction.guild_id)},
        });
        if interaction.kind == model::APPLICATION_COMMAND {
            let payload = interaction.payload.get();
            metadata["name"] = payload["data"]["name"].clone();
            metadata["command_type"] = payload["data"]["type"].clone();
        }
        if let Some(source) = interaction.source_message_id {
            metadata["interacted_message_id"] = json!(id_str(source));
        }
        Origin {
            author_id: self.app.bot_user_id,
            kind: if interaction.kind == model::APPLICATION_COMMAND {
                20
            } else {
                0
            },
            webhook_id: Some(self.app.id),
            application_id: Some(self.app.id),
            interaction_metadata: Some(metadata),
        }
    }

    /// The interaction behind a webhook token, if the token is still valid.
    fn webhook_interaction(&self, app_id: u64, token: &str) -> ApiResult<&Interaction> {
        if app_id != self.app.id {
            return Err(ApiError::unknown_webhook());
        }
        let interaction = self
            .interaction_tokens
            .get(token)
            .and_then(|id| self.interactions.get(id))
            .ok_or_else(ApiError::invalid_webhook_token)?;
        if interaction.created.elapsed() > self.limits.interaction_token_lifetime {
            return Err(ApiError::invalid_webhook_token());
        }
        Ok(interaction)
    }

    fn webhook_message_id(
        &self,
        app_id: u64,
        token: &str,
        which: WebhookMessage,
    ) -> ApiResult<u64> {
        let interaction = self.webhook_interaction(app_id, token)?;
        match which {
            WebhookMessage::Original => interaction
                .original_message_id
                .filter(|id| self.messages.contains_key(id)),
            WebhookMessage::Id(id) => Some(id).filter(|id| {
                interaction.original_message_id == Some(*id) || interaction.followups.contains(id)
            }),
        }
        .ok_or_else(ApiError::unknown_message)
    }

    pub fn webhook_get_message(
        &self,
        app_id: u64,
        token: &str,
        which: WebhookMessage,
    ) -> ApiResult<Value> {
        let id = self.webhook_message_id(app_id, token, which)?;
        self.message_json(id)
    }

    pub fn webhook_edit_message(
        &mut self,
        app_id: u64,
        token: &str,
        which: WebhookMessage,
        spec: MessageSpec,
    ) -> Changes<Value> {
        let id = self.webhook_message_id(app_id, token, which)?;
        self.edit_message(id, spec)
    }

    pub fn webhook_delete_message(
        &mut self,
        app_id: u64,
        token: &str,
        which: WebhookMessage,
    ) -> Changes<()> {
        let id = self.webhook_message_id(app_id, token, which)?;
        self.delete_message(id)
    }

    /// `POST /webhooks/{app}/{token}`: a follow-up. The first one after a deferred response
    /// replaces the "thinking" message, as Discord does.
    pub fn webhook_followup(
        &mut self,
        app_id: u64,
        token: &str,
        spec: MessageSpec,
    ) -> Changes<Value> {
        let interaction = self.webhook_interaction(app_id, token)?.clone();
        if interaction.callback.is_none() {
            return Err(ApiError::unknown_webhook());
        }
        if let Some(original) = interaction.original_message_id
            && self
                .messages
                .get(&original)
                .is_some_and(|m| m.flags & LOADING != 0)
        {
            return self.edit_message(original, spec);
        }
        let origin = self.response_origin(&interaction);
        let (message, events) = self.create_message(interaction.channel_id, spec, origin)?;
        if let (Some(record), Some(id)) = (
            self.interactions.get_mut(&interaction.id),
            parse_id(&message["id"]),
        ) {
            record.followups.push(id);
        }
        Ok((message, events))
    }

    /// Fills in each option's type from the command definition and checks required ones.
    fn typed_options(
        &self,
        defs: &Value,
        given: &[Value],
        focused: Option<&str>,
        resolved: &mut Resolved,
        guild_id: u64,
    ) -> ApiResult<Vec<Value>> {
        let defs = defs.as_array().cloned().unwrap_or_default();
        let mut out = vec![];
        for option in given {
            let name = option["name"].as_str().unwrap_or("");
            let def = defs.iter().find(|d| d["name"] == name).ok_or_else(|| {
                ApiError::bad_request(format!("the command has no option `{name}`"))
            })?;
            let kind = def["type"].as_u64().unwrap_or(3);
            let mut typed = json!({"name": name, "type": kind});
            if kind == 1 || kind == 2 {
                let nested = option["options"].as_array().cloned().unwrap_or_default();
                typed["options"] = Value::from(self.typed_options(
                    &def["options"],
                    &nested,
                    focused,
                    resolved,
                    guild_id,
                )?);
            } else {
                let value = option.get("value").cloned().ok_or_else(|| {
                    ApiError::bad_request(format!("option `{name}` needs a value"))
                })?;
                match kind {
                    6 => self.resolve_user(parse_id(&value).unwrap_or(0), guild_id, resolved),
                    7 => self.resolve_channel(parse_id(&value).unwrap_or(0), resolved),
                    8 => self.resolve_role(parse_id(&value).unwrap_or(0), guild_id, resolved),
                    _ => {}
                }
                typed["value"] = match kind {
                    6..=9 | 11 => json!(parse_id(&value).map(id_str)),
                    _ => value,
                };
                if focused == Some(name) {
                    typed["focused"] = json!(true);
                }
            }
            out.push(typed);
        }
        if focused.is_none() {
            let given_names: Vec<&str> = given.iter().filter_map(|o| o["name"].as_str()).collect();
            if let Some(missing) = defs
                .iter()
                .filter(|d| d["type"].as_u64().is_some_and(|t| t > 2) && d["required"] == true)
                .find(|d| !given_names.iter().any(|n| d["name"] == *n))
            {
                return Err(ApiError::bad_request(format!(
                    "required option `{}` is missing",
                    missing["name"].as_str().unwrap_or("")
                )));
            }
        }
        Ok(out)
    }

    fn resolve_user(&self, user_id: u64, guild_id: u64, resolved: &mut Resolved) {
        if let Some(user) = self.users.get(&user_id) {
            resolved.users.insert(id_str(user_id), user.to_json());
            if let Some(member) = self
                .guilds
                .get(&guild_id)
                .and_then(|g| g.members.get(&user_id))
            {
                let mut partial = member.to_json(
                    user,
                    self.guilds.get(&guild_id).map(|g| g.permissions_of(member)),
                );
                if let Some(fields) = partial.as_object_mut() {
                    fields.remove("user");
                }
                resolved.members.insert(id_str(user_id), partial);
            }
        }
    }

    fn resolve_channel(&self, channel_id: u64, resolved: &mut Resolved) {
        if let Some(channel) = self.channels.get(&channel_id) {
            let mut partial = channel.to_json();
            partial["permissions"] = json!(crate::permissions::ALL.to_string());
            resolved.channels.insert(id_str(channel_id), partial);
        }
    }

    fn resolve_role(&self, role_id: u64, guild_id: u64, resolved: &mut Resolved) {
        if let Some(role) = self.guilds.get(&guild_id).and_then(|g| g.role(role_id)) {
            resolved.roles.insert(id_str(role_id), role.to_json());
        }
    }
}

/// The `resolved` map of an interaction's data.
#[derive(Default)]
struct Resolved {
    users: Map<String, Value>,
    members: Map<String, Value>,
    roles: Map<String, Value>,
    channels: Map<String, Value>,
}

impl Resolved {
    fn is_empty(&self) -> bool {
        self.users.is_empty() && self.roles.is_empty() && self.channels.is_empty()
    }

    fn into_json(self) -> Value {
        let mut out = Map::new();
        for (key, map) in [
            ("users", self.users),
            ("members", self.members),
            ("roles", self.roles),
            ("channels", self.channels),
        ] {
            if !map.is_empty() {
                out.insert(key.into(), Value::Object(map));
            }
        }
        Value::Object(out)
    }
}

fn spec_from(data: &Value) -> ApiResult<MessageSpec> {
    if data.is_null() {
        return Ok(MessageSpec::default());
    }
    serde_json::from_value(data.clone())
        .map_err(|e| ApiError::invalid_form("data", "BASE_TYPE_INVALID", &e.to_string()))
}

fn contains_focused(options: &[Value]) -> bool {
    options.iter().any(|o| {
        o["focused"] == true
            || o["options"]
                .as_array()
                .is_some_and(|nested| contains_focused(nested))
    })
}

/// Finds a component by custom_id in action rows, containers and sections.
fn find_component<'a>(components: &'a [Value], custom_id: &str) -> Option<&'a Value> {
    components.iter().find_map(|component| {
        if component["custom_id"] == custom_id {
            return Some(component);
        }
        ["components", "accessory", "component"]
            .iter()
            .find_map(|key| match &component[*key] {
                Value::Array(children) => find_component(children, custom_id),
                child @ Value::Object(_) => find_component(std::slice::from_ref(child), custom_id),
                _ => None,
            })
    })
}

/// One modal component as it comes back on submit: layout kept, text inputs carrying the value.
fn submitted_component(
    component: &Value,
    values: &BTreeMap<String, String>,
    next_id: &mut i64,
) -> Value {
    *next_id += 1;
    let id = component["id"].as_i64().unwrap_or(*next_id);
    let kind = component["type"].as_u64().unwrap_or(0);
    let mut out = json!({"type": kind, "id": id});
    if let Some(children) = component["components"].as_array() {
        out["components"] = children
            .iter()
            .map(|c| submitted_component(c, values, next_id))
            .collect();
    }
    if component["component"].is_object() {
        out["component"] = submitted_component(&component["component"], values, next_id);
    }
    if let Some(custom_id) = component["custom_id"].as_str() {
        out["custom_id"] = json!(custom_id);
        let value = values.get(custom_id).cloned().unwrap_or_default();
        if kind == 4 {
            out["value"] = json!(value);
        } else {
            out["values"] = json!(if value.is_empty() {
                vec![]
            } else {
                vec![value]
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{CommandScope, MemberSpec, NewGuild, NewUser, test_world};
    use std::time::Duration;

    fn world_with_command() -> (World, crate::world::GuildCreated, u64) {
        let mut world = test_world();
        let (guild, _) = world
            .create_guild(NewGuild {
                name: "g".into(),
                ..NewGuild::default()
            })
            .unwrap();
        let ann = world
            .create_user(NewUser {
                username: "ann".into(),
                ..NewUser::default()
            })
            .unwrap()
            .id;
        world
            .put_member(guild.id, ann, MemberSpec::default())
            .unwrap();
        let command = json!({"type": 1, "name": "meeting", "description": "Meetings", "options": [
            {"type": 1, "name": "invite", "description": "Invite someone", "options": [
                {"type": 6, "name": "who", "description": "Who", "required": true},
                {"type": 4, "name": "minutes", "description": "How long"}
            ]}
        ]});
        world
            .overwrite_commands(CommandScope::Guild(guild.id), vec![command])
            .unwrap();
        (world, guild, ann)
    }

    fn invite(
        guild: &crate::world::GuildCreated,
        ann: u64,
        options: Value,
    ) -> NewCommandInteraction {
        NewCommandInteraction {
            guild_id: guild.id,
            channel_id: guild.general_channel_id,
            user_id: ann,
            name: "meeting".into(),
            options: serde_json::from_value(options).unwrap(),
            ..NewCommandInteraction::default()
        }
    }

    #[test]
    fn subcommand_options_get_types_and_resolved_users() {
        let (mut world, guild, ann) = world_with_command();
        let spec = invite(
            &guild,
            ann,
            json!([{"name": "invite", "options": [{"name": "who", "value": ann.to_string()}, {"name": "minutes", "value": 30}]}]),
        );
        let (invoked, events) = world.invoke_command(spec).unwrap();
        let data = &events[0].data["data"];
        assert_eq!(
            data["options"],
            json!([{"name": "invite", "type": 1, "options": [
                {"name": "who", "type": 6, "value": ann.to_string()},
                {"name": "minutes", "type": 4, "value": 30}
            ]}])
        );
        assert_eq!(
            data["resolved"]["users"][ann.to_string()]["username"],
            "ann"
        );
        assert!(data["resolved"]["members"][ann.to_string()]["permissions"].is_string());
        assert_eq!(
            world.interaction_view(invoked.id).unwrap().payload["token"],
            invoked.token
        );
    }

    #[test]
    fn expired_interactions_are_forgotten_with_their_ephemeral_messages() {
        let (mut world, guild, ann) = world_with_command();
        let spec = || {
            invite(
                &guild,
                ann,
                json!([{"name": "invite", "options": [{"name": "who", "value": ann.to_string()}]}]),
            )
        };
        let answer = |world: &mut World, flags: u64| {
            let (invoked, _) = world.invoke_command(spec()).unwrap();
            let body = json!({"type": CHANNEL_MESSAGE, "data": {"content": "hi", "flags": flags}});
            let (response, _) = world
                .interaction_callback(invoked.id, &invoked.token, body)
                .unwrap();
            let message = parse_id(&response["resource"]["message"]["id"]).unwrap();
            (invoked, message)
        };
        let (private, private_message) = answer(&mut world, EPHEMERAL);
        let (public, public_message) = answer(&mut world, 0);

        world.limits.interaction_token_lifetime = Duration::ZERO;
        std::thread::sleep(Duration::from_millis(2));
        let (_, newest) = answer(&mut world, 0);

        for gone in [&private, &public] {
            assert!(world.interaction_view(gone.id).is_err());
            assert!(!world.interaction_tokens.contains_key(&gone.token));
        }
        assert!(world.message(private_message).is_err(), "ephemeral kept");
        assert!(
            world.message(public_message).is_ok(),
            "channel history lost"
        );
        assert!(world.message(newest).is_ok());
    }

    #[test]
    fn missing_required_or_unknown_options_are_refused() {
        let (mut world, guild, ann) = world_with_command();
        let missing = invite(
            &guild,
            ann,
            json!([{"name": "invite", "options": [{"name": "minutes", "value": 5}]}]),
        );
        assert!(
            world
                .invoke_command(missing)
                .unwrap_err()
                .message
                .contains("who")
        );
        let unknown = invite(
            &guild,
            ann,
            json!([{"name": "invite", "options": [{"name": "nope", "value": 1}]}]),
        );
        assert!(
            world
                .invoke_command(unknown)
                .unwrap_err()
                .message
                .contains("nope")
        );
    }

    #[test]
    fn components_are_found_inside_rows_and_modal_values_come_back() {
        let components = vec![
            json!({"type": 1, "components": [{"type": 2, "custom_id": "a"}, {"type": 3, "custom_id": "pick"}]}),
        ];
        assert_eq!(find_component(&components, "pick").unwrap()["type"], 3);
        assert!(find_component(&components, "zzz").is_none());
        let values = BTreeMap::from([("topic".to_owned(), "Optics".to_owned())]);
        let row = json!({"type": 1, "components": [{"type": 4, "custom_id": "topic", "label": "Topic", "style": 1}]});
        let mut next_id = 0;
        assert_eq!(
            submitted_component(&row, &values, &mut next_id),
            json!({"type": 1, "id": 1, "components": [{"type": 4, "id": 2, "custom_id": "topic", "value": "Optics"}]})
        );
    }
}

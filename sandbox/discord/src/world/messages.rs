//! Channel messages: create, edit, delete, list, with Discord's validation and mention rules.

use super::{Changes, World};
use crate::error::{ApiError, ApiResult};
use crate::gateway::{Event, intents};
use crate::ids::timestamp_now;
use crate::model::{EPHEMERAL, LOADING, Message, Stored, User, id_str};
use crate::permissions::{SEND_MESSAGES, VIEW_CHANNEL};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The message fields of a create or edit body (channel messages, interaction responses, webhooks).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct MessageSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeds: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_mentions: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<u64>,
    /// An integer or a string of up to 25 characters, echoed on the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<Value>,
    /// With a nonce: a repeat by the same author in the same channel within the window
    /// returns the earlier message instead of creating one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforce_nonce: Option<bool>,
}

impl MessageSpec {
    pub fn content(text: impl Into<String>) -> Self {
        Self {
            content: Some(text.into()),
            ..Self::default()
        }
    }

    /// Discord's limits: 2000 characters, 10 embeds, 5 component rows.
    pub fn validate(&self) -> ApiResult<()> {
        if self
            .content
            .as_ref()
            .is_some_and(|c| c.chars().count() > 2000)
        {
            return Err(ApiError::invalid_form(
                "content",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 2000 or fewer in length.",
            ));
        }
        if self.embeds.as_ref().is_some_and(|e| e.len() > 10) {
            return Err(ApiError::invalid_form(
                "embeds",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 10 or fewer in length.",
            ));
        }
        if self.components.as_ref().is_some_and(|c| c.len() > 5) {
            return Err(ApiError::invalid_form(
                "components",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 5 or fewer in length.",
            ));
        }
        self.nonce_key().map(drop)
    }

    /// The nonce as the text it is compared by; integers and strings only, strings up to 25.
    fn nonce_key(&self) -> ApiResult<Option<String>> {
        match &self.nonce {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.chars().count() > 25 => Err(ApiError::invalid_form(
                "nonce",
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            )),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(n.to_string())),
            Some(other) => Err(ApiError::invalid_form(
                "nonce",
                "BASE_TYPE_STRING",
                &format!("Could not interpret \"{other}\" as string."),
            )),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.content.as_deref().unwrap_or("").is_empty()
            && self.embeds.as_ref().is_none_or(Vec::is_empty)
            && self.components.as_ref().is_none_or(Vec::is_empty)
    }
}

/// A page of channel history.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: usize,
    pub before: Option<u64>,
    pub after: Option<u64>,
    pub around: Option<u64>,
}

impl Page {
    pub fn all() -> Self {
        Self {
            limit: usize::MAX,
            before: None,
            after: None,
            around: None,
        }
    }
}

/// How a message comes to be: by whom, as what.
pub(crate) struct Origin {
    pub author_id: u64,
    pub kind: u8,
    pub webhook_id: Option<u64>,
    pub application_id: Option<u64>,
    pub interaction_metadata: Option<Value>,
}

impl World {
    /// REST `POST /channels/{id}/messages` by the bot.
    pub fn bot_create_message(&mut self, channel_id: u64, spec: MessageSpec) -> Changes<Value> {
        let channel = self.channel(channel_id)?;
        self.bot_guild(channel.guild_id)?;
        let perms = self.bot_channel_permissions(channel);
        if perms & VIEW_CHANNEL == 0 {
            return Err(ApiError::missing_access());
        }
        if perms & SEND_MESSAGES == 0 {
            return Err(ApiError::missing_permissions());
        }
        let origin = Origin {
            author_id: self.app.bot_user_id,
            kind: 0,
            webhook_id: None,
            application_id: None,
            interaction_metadata: None,
        };
        // Only interaction responses can be ephemeral or loading.
        let spec = MessageSpec {
            flags: spec.flags.map(|f| f & SUPPRESS_EMBEDS),
            ..spec
        };
        self.create_message(channel_id, spec, origin)
    }

    /// A member writes in a channel (control API).
    pub fn member_create_message(
        &mut self,
        channel_id: u64,
        user_id: u64,
        content: String,
    ) -> Changes<Value> {
        let channel = self.channel(channel_id)?;
        let guild = self.guild(channel.guild_id)?;
        let member = guild
            .members
            .get(&user_id)
            .ok_or_else(ApiError::unknown_member)?;
        if guild.channel_permissions_of(member, channel) & (VIEW_CHANNEL | SEND_MESSAGES)
            != VIEW_CHANNEL | SEND_MESSAGES
        {
            return Err(ApiError::missing_permissions());
        }
        let origin = Origin {
            author_id: user_id,
            kind: 0,
            webhook_id: None,
            application_id: None,
            interaction_metadata: None,
        };
        self.create_message(channel_id, MessageSpec::content(content), origin)
    }

    pub(crate) fn create_message(
        &mut self,
        channel_id: u64,
        spec: MessageSpec,
        origin: Origin,
    ) -> Changes<Value> {
        spec.validate()?;
        if spec.is_empty() && spec.flags.unwrap_or(0) & LOADING == 0 {
            return Err(ApiError::empty_message());
        }
        let nonce_key = spec
            .nonce_key()?
            .filter(|_| spec.enforce_nonce == Some(true))
            .map(|nonce| (channel_id, origin.author_id, nonce));
        if let Some(earlier) = nonce_key.as_ref().and_then(|key| self.nonces.get(key))
            && let Some(message) = self.messages.get(earlier)
            && message.created.elapsed() <= self.limits.nonce_window
        {
            // Discord answers the repeat with the earlier message and dispatches nothing.
            return Ok((self.message_json(message.id)?, vec![]));
        }
        let channel = self.channel(channel_id)?.clone();
        let content = spec.content.unwrap_or_default();
        let (mentions, mention_roles, mention_everyone) =
            self.resolve_mentions(channel.guild_id, &content, spec.allowed_mentions.as_ref());
        let message = Message {
            id: self.ids.next(),
            channel_id,
            guild_id: Some(channel.guild_id),
            author_id: origin.author_id,
            kind: origin.kind,
            content,
            embeds: Stored::new(&spec.embeds.unwrap_or_default()),
            components: Stored::new(&spec.components.unwrap_or_default()),
            flags: spec.flags.unwrap_or(0) & (EPHEMERAL | LOADING | SUPPRESS_EMBEDS),
            timestamp: timestamp_now(),
            edited_timestamp: None,
            webhook_id: origin.webhook_id,
            application_id: origin.application_id,
            interaction_metadata: origin.interaction_metadata.as_ref().map(Stored::new),
            mentions,
            mention_roles,
            mention_everyone,
            nonce: spec.nonce.filter(|n| !n.is_null()),
            created: std::time::Instant::now(),
        };
        let id = message.id;
        self.messages.insert(id, message);
        if let Some(key) = nonce_key {
            let window = self.limits.nonce_window;
            let messages = &self.messages;
            // Forget nonces past the window so the map stays bounded by the recent rate.
            self.nonces.retain(|_, earlier| {
                messages
                    .get(earlier)
                    .is_some_and(|m| m.created.elapsed() <= window)
            });
            self.nonces.insert(key, id);
        }
        let json = self.message_json(id)?;
        let events = self.message_event("MESSAGE_CREATE", id, &json);
        Ok((json, events))
    }

    /// Applies an edit; `None` fields stay, the loading flag clears.
    pub(crate) fn edit_message(&mut self, id: u64, spec: MessageSpec) -> Changes<Value> {
        spec.validate()?;
        let allowed = spec.allowed_mentions.clone();
        let message = self
            .messages
            .get_mut(&id)
            .ok_or_else(ApiError::unknown_message)?;
        let was_loading = message.flags & LOADING != 0;
        if let Some(content) = spec.content {
            message.content = content;
        }
        if let Some(embeds) = spec.embeds {
            message.embeds = Stored::new(&embeds);
        }
        if let Some(components) = spec.components {
            message.components = Stored::new(&components);
        }
        if let Some(flags) = spec.flags {
            message.flags = (message.flags & EPHEMERAL) | (flags & SUPPRESS_EMBEDS);
        }
        message.flags &= !LOADING;
        if !was_loading {
            message.edited_timestamp = Some(timestamp_now());
        }
        if message.content.is_empty() && message.embeds.is_empty() && message.components.is_empty()
        {
            return Err(ApiError::empty_message());
        }
        let (guild_id, content) = (message.guild_id.unwrap_or(0), message.content.clone());
        let (mentions, roles, everyone) =
            self.resolve_mentions(guild_id, &content, allowed.as_ref());
        let message = self
            .messages
            .get_mut(&id)
            .ok_or_else(ApiError::unknown_message)?;
        (
            message.mentions,
            message.mention_roles,
            message.mention_everyone,
        ) = (mentions, roles, everyone);
        let json = self.message_json(id)?;
        let events = self.message_event("MESSAGE_UPDATE", id, &json);
        Ok((json, events))
    }

    pub(crate) fn delete_message(&mut self, id: u64) -> Changes<()> {
        let message = self
            .messages
            .remove(&id)
            .ok_or_else(ApiError::unknown_message)?;
        let mut data = json!({"id": id_str(id), "channel_id": id_str(message.channel_id)});
        if let Some(guild_id) = message.guild_id {
            data["guild_id"] = json!(id_str(guild_id));
        }
        let events = if message.flags & EPHEMERAL == 0 {
            vec![Event::new(
                "MESSAGE_DELETE",
                message.guild_id,
                intents::GUILD_MESSAGES,
                data,
            )]
        } else {
            vec![]
        };
        Ok(((), events))
    }

    /// REST edit of a channel message: only the bot's own.
    pub fn bot_edit_message(
        &mut self,
        channel_id: u64,
        id: u64,
        spec: MessageSpec,
    ) -> Changes<Value> {
        self.bot_visible_message(channel_id, id)?;
        if self.messages[&id].author_id != self.app.bot_user_id {
            return Err(ApiError::cannot_edit_others());
        }
        self.edit_message(id, spec)
    }

    pub fn bot_delete_message(&mut self, channel_id: u64, id: u64) -> Changes<()> {
        self.bot_visible_message(channel_id, id)?;
        self.delete_message(id)
    }

    fn bot_visible_message(&self, channel_id: u64, id: u64) -> ApiResult<&Message> {
        let channel = self.channel(channel_id)?;
        self.bot_guild(channel.guild_id)?;
        self.messages
            .get(&id)
            .filter(|m| m.channel_id == channel_id && m.flags & EPHEMERAL == 0)
            .ok_or_else(ApiError::unknown_message)
    }

    pub fn bot_message_json(&self, channel_id: u64, id: u64) -> ApiResult<Value> {
        self.bot_visible_message(channel_id, id)?;
        self.message_json(id)
    }

    /// Newest first, like `GET /channels/{id}/messages`, paged by `before` or `after`;
    /// ephemeral messages only when asked (the control API).
    pub fn channel_messages(
        &self,
        channel_id: u64,
        page: Page,
        with_ephemeral: bool,
    ) -> ApiResult<Vec<Value>> {
        self.channel(channel_id)?;
        let visible = |m: &&Message| {
            m.channel_id == channel_id && (with_ephemeral || m.flags & EPHEMERAL == 0)
        };
        let newer = |from: u64, limit: usize| -> Vec<u64> {
            self.messages
                .range(from..)
                .map(|(_, m)| m)
                .filter(visible)
                .take(limit)
                .map(|m| m.id)
                .collect()
        };
        let older = |until: u64, limit: usize| -> Vec<u64> {
            self.messages
                .range(..until)
                .rev()
                .map(|(_, m)| m)
                .filter(visible)
                .take(limit)
                .map(|m| m.id)
                .collect()
        };
        let mut ids = match (page.around, page.after) {
            // Half the page from `around` on, the rest before it.
            (Some(around), _) => {
                let mut ids = newer(around, page.limit.div_ceil(2));
                ids.extend(older(around, page.limit / 2));
                ids
            }
            // The `limit` messages right after `after`, still returned newest first.
            (None, Some(after)) => newer(after + 1, page.limit),
            (None, None) => older(page.before.unwrap_or(u64::MAX), page.limit),
        };
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.into_iter().map(|id| self.message_json(id)).collect()
    }

    pub(crate) fn message(&self, id: u64) -> ApiResult<&Message> {
        self.messages.get(&id).ok_or_else(ApiError::unknown_message)
    }

    pub fn message_json(&self, id: u64) -> ApiResult<Value> {
        let message = self.message(id)?;
        let mentioned: Vec<&User> = message
            .mentions
            .iter()
            .filter_map(|id| self.users.get(id))
            .collect();
        Ok(message.to_json(self.user(message.author_id)?, &mentioned))
    }

    /// Gateway event for a message; ephemeral messages are never dispatched.
    fn message_event(&self, name: &'static str, id: u64, json: &Value) -> Vec<Event> {
        let Ok(message) = self.message(id) else {
            return vec![];
        };
        if message.flags & EPHEMERAL != 0 {
            return vec![];
        }
        let mut data = json.clone();
        let member = message
            .guild_id
            .and_then(|g| self.guilds.get(&g))
            .and_then(|g| g.members.get(&message.author_id));
        if let (Some(member), Ok(user)) = (member, self.user(message.author_id)) {
            let mut partial = member.to_json(user, None);
            if let Some(fields) = partial.as_object_mut() {
                fields.remove("user");
            }
            data["member"] = partial;
        }
        let bot = self.app.bot_user_id;
        let event = Event::new(name, message.guild_id, intents::GUILD_MESSAGES, data);
        if message.author_id == bot || message.mentions.contains(&bot) {
            vec![event]
        } else {
            vec![event.with_gated_content()]
        }
    }

    /// Mentions in `content` as `allowed_mentions` lets them ping (all when absent).
    fn resolve_mentions(
        &self,
        guild_id: u64,
        content: &str,
        allowed: Option<&Value>,
    ) -> (Vec<u64>, Vec<u64>, bool) {
        let parse: Option<Vec<&str>> = allowed.map(|a| {
            a["parse"]
                .as_array()
                .map_or(vec![], |p| p.iter().filter_map(Value::as_str).collect())
        });
        let listed = |key: &str, id: u64| {
            allowed.is_some_and(|a| {
                a[key]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|v| crate::ids::parse_id(v) == Some(id)))
            })
        };
        let may = |kind: &str, key: &str, id: u64| {
            parse.as_ref().is_none_or(|p| p.contains(&kind)) || listed(key, id)
        };
        let mut users = vec![];
        let mut roles = vec![];
        for token in content.split('<').skip(1) {
            let Some((inner, _)) = token.split_once('>') else {
                continue;
            };
            if let Some(role) = inner.strip_prefix("@&").and_then(|r| r.parse::<u64>().ok()) {
                let in_guild = self
                    .guilds
                    .get(&guild_id)
                    .is_some_and(|g| g.role(role).is_some());
                if in_guild && may("roles", "roles", role) && !roles.contains(&role) {
                    roles.push(role);
                }
            } else if let Some(user) = inner
                .strip_prefix('@')
                .map(|u| u.trim_start_matches('!'))
                .and_then(|u| u.parse::<u64>().ok())
                && self.users.contains_key(&user)
                && may("users", "users", user)
                && !users.contains(&user)
            {
                users.push(user);
            }
        }
        let everyone = (content.contains("@everyone") || content.contains("@here"))
            && parse.as_ref().is_none_or(|p| p.contains(&"everyone"));
        (users, roles, everyone)
    }
}

/// SUPPRESS_EMBEDS, the one flag an app may set on create and edit besides EPHEMERAL.
const SUPPRESS_EMBEDS: u64 = 1 << 2;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions;
    use crate::world::{NewGuild, NewUser, test_world};
    use std::time::Duration;

    #[test]
    fn allowed_mentions_filter_pings() {
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
            .unwrap();
        let content = format!("hi <@{}> <@&{}> @everyone", ann.id, guild.bot_role_id);
        let (all, _) = world
            .bot_create_message(
                guild.general_channel_id,
                MessageSpec::content(content.clone()),
            )
            .unwrap();
        assert_eq!(all["mentions"][0]["id"], ann.id.to_string());
        assert_eq!(all["mention_roles"][0], guild.bot_role_id.to_string());
        assert_eq!(all["mention_everyone"], true);
        let spec = MessageSpec {
            allowed_mentions: Some(json!({"parse": [], "users": [ann.id.to_string()]})),
            ..MessageSpec::content(content)
        };
        let (some, events) = world
            .bot_create_message(guild.general_channel_id, spec)
            .unwrap();
        assert_eq!(some["mentions"].as_array().unwrap().len(), 1);
        assert_eq!(some["mention_roles"], json!([]));
        assert_eq!(some["mention_everyone"], false);
        assert_eq!(events[0].name, "MESSAGE_CREATE");
    }

    #[test]
    fn history_pages_by_before_and_after() {
        let mut world = test_world();
        let (guild, _) = world
            .create_guild(NewGuild {
                name: "g".into(),
                ..NewGuild::default()
            })
            .unwrap();
        let channel = guild.general_channel_id;
        let ids: Vec<u64> = (0..5)
            .map(|i| {
                world
                    .bot_create_message(channel, MessageSpec::content(format!("m{i}")))
                    .unwrap()
                    .0["id"]
                    .as_str()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        let contents = |page: Page| -> Vec<String> {
            world
                .channel_messages(channel, page, false)
                .unwrap()
                .iter()
                .map(|m| m["content"].as_str().unwrap().to_owned())
                .collect()
        };
        let page = Page {
            limit: 2,
            ..Page::all()
        };
        assert_eq!(contents(page), ["m4", "m3"]);
        assert_eq!(
            contents(Page {
                before: Some(ids[3]),
                ..page
            }),
            ["m2", "m1"]
        );
        assert_eq!(
            contents(Page {
                after: Some(ids[1]),
                ..page
            }),
            ["m3", "m2"]
        );
        assert_eq!(
            contents(Page {
                limit: 3,
                around: Some(ids[2]),
                ..page
            }),
            ["m3", "m2", "m1"]
        );
    }

    #[test]
    fn empty_and_oversized_messages_are_rejected() {
        let mut world = test_world();
        let (guild, _) = world
            .create_guild(NewGuild {
                name: "g".into(),
                ..NewGuild::default()
            })
            .unwrap();
        let err = world
            .bot_create_message(guild.general_channel_id, MessageSpec::default())
            .unwrap_err();
        assert_eq!(err.code, 50006);
        let err = world
            .bot_create_message(
                guild.general_channel_id,
                MessageSpec::content("x".repeat(2001)),
            )
            .unwrap_err();
        assert_eq!(err.code, 50035);
        assert_eq!(
            world
                .bot_create_message(12345, MessageSpec::content("x"))
                .unwrap_err()
                .code,
            10003
        );
    }

    fn with_nonce(content: &str, nonce: Value, enforce: bool) -> MessageSpec {
        MessageSpec {
            nonce: Some(nonce),
            enforce_nonce: Some(enforce),
            ..MessageSpec::content(content)
        }
    }

    #[test]
    fn enforced_nonce_returns_the_earlier_message_within_the_window() {
        let mut world = test_world();
        let (guild, _) = world
            .create_guild(NewGuild {
                name: "g".into(),
                ..NewGuild::default()
            })
            .unwrap();
        let channel = guild.general_channel_id;
        let (first, events) = world
            .bot_create_message(channel, with_nonce("a", json!("n-1"), true))
            .unwrap();
        assert_eq!(first["nonce"], "n-1");
        assert_eq!(events.len(), 1);
        let (again, events) = world
            .bot_create_message(channel, with_nonce("b", json!("n-1"), true))
            .unwrap();
        assert_eq!(again["id"], first["id"]);
        assert_eq!(again["content"], "a");
        assert!(events.is_empty(), "a repeat dispatches nothing");
        // Without enforce_nonce, or with another nonce, messages are created.
        let (loose, _) = world
            .bot_create_message(channel, with_nonce("c", json!("n-1"), false))
            .unwrap();
        assert_ne!(loose["id"], first["id"]);
        let (number, _) = world
            .bot_create_message(channel, with_nonce("d", json!(42), true))
            .unwrap();
        assert_eq!(number["nonce"], 42);
        assert_ne!(number["id"], first["id"]);
        assert_eq!(
            world
                .channel_messages(channel, Page::all(), false)
                .unwrap()
                .len(),
            3
        );

        // Another author's identical nonce is its own message.
        let ann = world
            .create_user(NewUser {
                username: "ann".into(),
                ..NewUser::default()
            })
            .unwrap();
        let origin = |author_id| Origin {
            author_id,
            kind: 0,
            webhook_id: None,
            application_id: None,
            interaction_metadata: None,
        };
        let (theirs, _) = world
            .create_message(channel, with_nonce("e", json!("n-1"), true), origin(ann.id))
            .unwrap();
        assert_ne!(theirs["id"], first["id"]);

        // Past the window the nonce is forgotten.
        world.limits.nonce_window = Duration::ZERO;
        std::thread::sleep(Duration::from_millis(2));
        let (late, _) = world
            .bot_create_message(channel, with_nonce("f", json!("n-1"), true))
            .unwrap();
        assert_ne!(late["id"], first["id"]);
    }

    #[test]
    fn nonces_are_integers_or_strings_of_up_to_25_characters() {
        let mut world = test_world();
        let (guild, _) = world
            .create_guild(NewGuild {
                name: "g".into(),
                ..NewGuild::default()
            })
            .unwrap();
        let channel = guild.general_channel_id;
        world
            .bot_create_message(channel, with_nonce("ok", json!("x".repeat(25)), true))
            .unwrap();
        for bad in [json!("x".repeat(26)), json!(1.5), json!(true), json!({})] {
            let err = world
                .bot_create_message(channel, with_nonce("no", bad.clone(), true))
                .unwrap_err();
            assert_eq!(err.code, 50035, "{bad}");
            assert!(err.body()["errors"]["nonce"]["_errors"][0]["code"].is_string());
        }
        assert_eq!(
            world
                .channel_messages(channel, Page::all(), false)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn bot_without_send_permission_gets_missing_permissions() {
        let mut world = test_world();
        let spec = NewGuild {
            name: "g".into(),
            bot_permissions: Some(0),
            ..NewGuild::default()
        };
        let (guild, _) = world.create_guild(spec).unwrap();
        world.guild_mut(guild.id).unwrap().roles[0].permissions = permissions::VIEW_CHANNEL;
        let err = world
            .bot_create_message(guild.general_channel_id, MessageSpec::content("x"))
            .unwrap_err();
        assert_eq!(err.code, 50013);
    }
}

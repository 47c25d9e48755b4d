//! The sandbox's stored objects and their JSON as Discord sends it.
//!
//! Written against Discord's documentation, not against any client library's types, so that a
//! mistake shared with a client cannot hide.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::time::Instant;

/// JSON kept as its compact text and parsed when read: a message's embeds or an interaction's
/// payload are a few KB of text, but ten times that as a tree of `Value` maps, and `up` keeps
/// every message and 15 minutes of interactions.
#[derive(Clone)]
pub struct Stored<T> {
    text: Box<str>,
    of: PhantomData<T>,
}

impl<T: Serialize + DeserializeOwned> Stored<T> {
    pub fn new(value: &T) -> Self {
        Self {
            text: serde_json::to_string(value)
                .expect("a JSON value serializes")
                .into(),
            of: PhantomData,
        }
    }

    pub fn get(&self) -> T {
        serde_json::from_str(&self.text).expect("stored JSON reads back as what was stored")
    }
}

impl<T> Stored<T> {
    /// Whether this is an empty list (or nothing).
    pub fn is_empty(&self) -> bool {
        matches!(&*self.text, "[]" | "null" | "")
    }
}

impl<T> std::fmt::Debug for Stored<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

pub fn id_str(id: u64) -> String {
    id.to_string()
}

fn ids_json(ids: &[u64]) -> Value {
    Value::from(ids.iter().map(|id| id.to_string()).collect::<Vec<_>>())
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: u64,
    pub username: String,
    pub global_name: Option<String>,
    pub bot: bool,
    pub email: Option<String>,
}

impl User {
    pub fn to_json(&self) -> Value {
        json!({
            "id": id_str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": null,
            "bot": self.bot,
            "system": false,
            "public_flags": 0,
        })
    }

    /// `/users/@me` and READY's user: the public user plus account fields.
    pub fn to_current_json(&self, with_email: bool) -> Value {
        let mut user = self.to_json();
        user["mfa_enabled"] = json!(false);
        user["verified"] = json!(true);
        user["flags"] = json!(0);
        user["locale"] = json!("en-US");
        user["premium_type"] = json!(0);
        if with_email {
            user["email"] = json!(self.email);
        }
        user
    }
}

#[derive(Debug, Clone)]
pub struct Role {
    pub id: u64,
    pub name: String,
    pub permissions: u64,
    pub position: i64,
    pub color: u32,
    pub hoist: bool,
    pub mentionable: bool,
    pub managed: bool,
}

impl Role {
    pub fn to_json(&self) -> Value {
        json!({
            "id": id_str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": null, "tertiary_color": null},
            "hoist": self.hoist,
            "icon": null,
            "unicode_emoji": null,
            "position": self.position,
            "permissions": self.permissions.to_string(),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: u64,
    pub roles: Vec<u64>,
    pub nick: Option<String>,
    pub joined_at: String,
}

impl Member {
    /// The guild member object; `permissions` only inside interactions.
    pub fn to_json(&self, user: &User, permissions: Option<u64>) -> Value {
        let mut member = json!({
            "user": user.to_json(),
            "nick": self.nick,
            "avatar": null,
            "banner": null,
            "roles": ids_json(&self.roles),
            "joined_at": self.joined_at,
            "premium_since": null,
            "deaf": false,
            "mute": false,
            "flags": 0,
            "pending": false,
            "communication_disabled_until": null,
        });
        if let Some(perms) = permissions {
            member["permissions"] = json!(perms.to_string());
        }
        member
    }
}

/// Channel types the sandbox creates.
pub const GUILD_TEXT: u8 = 0;
pub const GUILD_VOICE: u8 = 2;

#[derive(Debug, Clone)]
pub struct Channel {
    pub id: u64,
    pub guild_id: u64,
    pub name: String,
    pub kind: u8,
    pub position: i64,
    pub overwrites: Vec<crate::permissions::Overwrite>,
}

impl Channel {
    pub fn to_json(&self) -> Value {
        let mut channel = json!({
            "id": id_str(self.id),
            "type": self.kind,
            "guild_id": id_str(self.guild_id),
            "name": self.name,
            "position": self.position,
            "permission_overwrites": self.overwrites.iter().map(|o| json!({
                "id": id_str(o.id),
                "type": o.kind,
                "allow": o.allow.to_string(),
                "deny": o.deny.to_string(),
            })).collect::<Vec<_>>(),
            "nsfw": false,
            "parent_id": null,
            "flags": 0,
        });
        if self.kind == GUILD_VOICE {
            channel["bitrate"] = json!(64000);
            channel["user_limit"] = json!(0);
            channel["rtc_region"] = json!(null);
        } else {
            channel["topic"] = json!(null);
            channel["last_message_id"] = json!(null);
            channel["rate_limit_per_user"] = json!(0);
        }
        channel
    }
}

#[derive(Debug, Clone)]
pub struct Guild {
    pub id: u64,
    pub name: String,
    pub owner_id: u64,
    /// `@everyone` first; its id is the guild id.
    pub roles: Vec<Role>,
    pub members: BTreeMap<u64, Member>,
    pub channels: Vec<u64>,
    pub system_channel_id: Option<u64>,
}

impl Guild {
    pub fn role(&self, id: u64) -> Option<&Role> {
        self.roles.iter().find(|role| role.id == id)
    }

    /// The member's base permissions in this guild.
    pub fn permissions_of(&self, member: &Member) -> u64 {
        let everyone = self.role(self.id).map_or(0, |role| role.permissions);
        let roles = member
            .roles
            .iter()
            .filter_map(|id| self.role(*id))
            .map(|role| role.permissions);
        crate::permissions::compute(member.user_id == self.owner_id, everyone, roles)
    }

    /// The member's permissions in a channel of this guild, overwrites applied.
    pub fn channel_permissions_of(&self, member: &Member, channel: &Channel) -> u64 {
        crate::permissions::in_channel(
            self.permissions_of(member),
            self.id,
            member.user_id,
            &member.roles,
            &channel.overwrites,
        )
    }

    /// The guild object of REST `GET /guilds/{id}`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": id_str(self.id),
            "name": self.name,
            "icon": null,
            "splash": null,
            "discovery_splash": null,
            "owner_id": id_str(self.owner_id),
            "afk_channel_id": null,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": self.roles.iter().map(Role::to_json).collect::<Vec<_>>(),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": null,
            "system_channel_id": self.system_channel_id.map(id_str),
            "system_channel_flags": 0,
            "rules_channel_id": null,
            "public_updates_channel_id": null,
            "safety_alerts_channel_id": null,
            "vanity_url_code": null,
            "description": null,
            "banner": null,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": false,
            "max_members": 500000,
            "max_video_channel_users": 25,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Message {
    pub id: u64,
    pub channel_id: u64,
    pub guild_id: Option<u64>,
    pub author_id: u64,
    /// 0 default, 20 reply to a slash command.
    pub kind: u8,
    pub content: String,
    pub embeds: Stored<Vec<Value>>,
    pub components: Stored<Vec<Value>>,
    pub flags: u64,
    pub timestamp: String,
    pub edited_timestamp: Option<String>,
    pub webhook_id: Option<u64>,
    pub application_id: Option<u64>,
    pub interaction_metadata: Option<Stored<Value>>,
    pub mentions: Vec<u64>,
    pub mention_roles: Vec<u64>,
    pub mention_everyone: bool,
    /// Echoed as sent (integer or string).
    pub nonce: Option<Value>,
    pub created: Instant,
}

/// Message flags the sandbox acts on.
pub const EPHEMERAL: u64 = 1 << 6;
pub const LOADING: u64 = 1 << 7;

/// Discord stores an embed sent without a `type` as `"rich"` and always returns the type.
fn rich_embed(embed: &Value) -> Value {
    let mut embed = embed.clone();
    if let Some(fields) = embed.as_object_mut() {
        fields.entry("type").or_insert_with(|| json!("rich"));
    }
    embed
}

impl Message {
    pub fn to_json(&self, author: &User, mentioned: &[&User]) -> Value {
        let mut message = json!({
            "id": id_str(self.id),
            "channel_id": id_str(self.channel_id),
            "author": author.to_json(),
            "content": self.content,
            "timestamp": self.timestamp,
            "edited_timestamp": self.edited_timestamp,
            "tts": false,
            "mention_everyone": self.mention_everyone,
            "mentions": mentioned.iter().map(|user| user.to_json()).collect::<Vec<_>>(),
            "mention_roles": ids_json(&self.mention_roles),
            "mention_channels": [],
            "attachments": [],
            "embeds": self.embeds.get().iter().map(rich_embed).collect::<Vec<_>>(),
            "components": self.components.get(),
            "reactions": [],
            "pinned": false,
            "type": self.kind,
            "flags": self.flags,
            "sticker_items": [],
            "message_snapshots": [],
            "call": null,
        });
        if let Some(guild_id) = self.guild_id {
            message["guild_id"] = json!(id_str(guild_id));
        }
        if let Some(webhook_id) = self.webhook_id {
            message["webhook_id"] = json!(id_str(webhook_id));
        }
        if let Some(application_id) = self.application_id {
            message["application_id"] = json!(id_str(application_id));
        }
        if let Some(metadata) = &self.interaction_metadata {
            message["interaction_metadata"] = metadata.get();
        }
        if let Some(nonce) = &self.nonce {
            message["nonce"] = nonce.clone();
        }
        message
    }
}

/// Interaction types.
pub const APPLICATION_COMMAND: u8 = 2;
pub const MESSAGE_COMPONENT: u8 = 3;
pub const AUTOCOMPLETE: u8 = 4;
pub const MODAL_SUBMIT: u8 = 5;

/// No `Debug`: the token is a credential for the interaction webhook.
#[derive(Clone)]
pub struct Interaction {
    pub id: u64,
    pub token: String,
    pub kind: u8,
    pub guild_id: u64,
    pub channel_id: u64,
    pub user_id: u64,
    pub created: Instant,
    /// The payload dispatched in INTERACTION_CREATE.
    pub payload: Stored<Value>,
    /// For components (and modals opened from one): the message the component is on.
    pub source_message_id: Option<u64>,
    /// The initial response as the app sent it.
    pub callback: Option<Stored<Value>>,
    pub original_message_id: Option<u64>,
    pub followups: Vec<u64>,
    /// Set when the response was a launch-activity (type 12).
    pub activity_instance_id: Option<String>,
}

/// What one OAuth2 code or token grants.
#[derive(Debug, Clone)]
pub struct Grant {
    pub user_id: u64,
    pub scopes: Vec<String>,
    pub redirect_uri: Option<String>,
    pub expires: Instant,
}

#[derive(Debug, Clone)]
pub struct ActivityInstance {
    pub instance_id: String,
    pub launch_id: u64,
    pub guild_id: u64,
    pub channel_id: u64,
    pub users: Vec<u64>,
}

impl ActivityInstance {
    /// `gc-{guild}-{channel}`: a guild channel, the only kind of location the sandbox models.
    pub fn location_id(&self) -> String {
        format!("gc-{}-{}", self.guild_id, self.channel_id)
    }

    pub fn to_json(&self, application_id: u64) -> Value {
        json!({
            "application_id": id_str(application_id),
            "instance_id": self.instance_id,
            "launch_id": id_str(self.launch_id),
            "location": {
                "id": self.location_id(),
                "kind": "gc",
                "channel_id": id_str(self.channel_id),
                "guild_id": id_str(self.guild_id),
            },
            "users": ids_json(&self.users),
        })
    }
}

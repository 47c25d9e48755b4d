//! Users, guilds, channels, roles and members.

use super::{Changes, World};
use crate::error::{ApiError, ApiResult};
use crate::gateway::{Event, intents};
use crate::ids::timestamp_now;
use crate::model::{Channel, GUILD_TEXT, GUILD_VOICE, Guild, Member, Role, User, id_str};
use crate::permissions::{self, Overwrite};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct NewUser {
    pub username: String,
    #[serde(default)]
    pub global_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct NewGuild {
    pub name: String,
    /// The owner; a new user named `<name>-owner` when absent.
    #[serde(default, with = "crate::ids::snowflake::option")]
    pub owner_id: Option<u64>,
    /// Permissions of the bot's own managed role (ADMINISTRATOR-free defaults when absent).
    #[serde(default)]
    pub bot_permissions: Option<u64>,
    /// The guild's id, for a world seeded from manifests that name their guilds (`kaltura-discord
    /// up`); a new snowflake when absent. An id in use is refused.
    #[serde(default, with = "crate::ids::snowflake::option")]
    pub id: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub struct GuildCreated {
    #[serde(with = "crate::ids::snowflake")]
    pub id: u64,
    #[serde(with = "crate::ids::snowflake")]
    pub owner_id: u64,
    /// The `@everyone` role; its id equals the guild id.
    #[serde(with = "crate::ids::snowflake")]
    pub everyone_role_id: u64,
    #[serde(with = "crate::ids::snowflake")]
    pub bot_role_id: u64,
    /// The `general` text channel every new guild gets.
    #[serde(with = "crate::ids::snowflake")]
    pub general_channel_id: u64,
    /// The `General` voice channel every new guild gets.
    #[serde(with = "crate::ids::snowflake")]
    pub voice_channel_id: u64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct NewChannel {
    pub name: String,
    /// 0 text (default) or 2 voice.
    #[serde(default, rename = "type")]
    pub kind: u8,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct NewRole {
    pub name: String,
    #[serde(default)]
    pub permissions: u64,
    #[serde(default)]
    pub color: u32,
    #[serde(default)]
    pub mentionable: bool,
}

/// A channel permission overwrite as the control API takes it.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
pub struct OverwriteSpec {
    /// 0 role, 1 member.
    #[serde(rename = "type")]
    pub kind: u8,
    #[serde(default)]
    pub allow: u64,
    #[serde(default)]
    pub deny: u64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct MemberSpec {
    #[serde(default, with = "crate::ids::snowflake::vec")]
    pub roles: Vec<u64>,
    #[serde(default)]
    pub nick: Option<String>,
}

impl World {
    pub fn create_user(&mut self, spec: NewUser) -> ApiResult<User> {
        if spec.username.is_empty() || spec.username.len() > 32 {
            return Err(ApiError::invalid_form(
                "username",
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 32 in length.",
            ));
        }
        let user = User {
            id: self.ids.next(),
            username: spec.username,
            global_name: spec.global_name,
            bot: false,
            email: spec.email,
        };
        self.users.insert(user.id, user.clone());
        Ok(user)
    }

    pub fn users(&self) -> impl Iterator<Item = &User> {
        self.users.values()
    }

    /// A new guild with `@everyone`, a managed bot role, `general` and `General` channels, the owner
    /// and the bot as members; the bot "joins", so its sessions get GUILD_CREATE.
    pub fn create_guild(&mut self, spec: NewGuild) -> Changes<GuildCreated> {
        if spec.id.is_some_and(|id| self.guilds.contains_key(&id)) {
            return Err(ApiError::invalid_form(
                "id",
                "GUILD_ID_TAKEN",
                "A guild with this id exists.",
            ));
        }
        let owner_id = match spec.owner_id {
            Some(id) => self.user(id)?.id,
            None => {
                self.create_user(NewUser {
                    username: format!("{}-owner", slug(&spec.name)),
                    ..NewUser::default()
                })?
                .id
            }
        };
        let id = spec.id.unwrap_or_else(|| self.ids.next());
        let bot_role_id = self.ids.next();
        let everyone = Role {
            id,
            name: "@everyone".into(),
            permissions: permissions::EVERYONE_DEFAULT,
            position: 0,
            color: 0,
            hoist: false,
            mentionable: false,
            managed: false,
        };
        let bot_role = Role {
            id: bot_role_id,
            name: self.app.name.clone(),
            permissions: spec
                .bot_permissions
                .unwrap_or(permissions::EVERYONE_DEFAULT | permissions::MANAGE_ROLES),
            position: 1,
            managed: true,
            ..everyone.clone()
        };
        let joined_at = timestamp_now();
        let mut members = BTreeMap::new();
        members.insert(
            owner_id,
            Member {
                user_id: owner_id,
                roles: vec![],
                nick: None,
                joined_at: joined_at.clone(),
            },
        );
        let bot_id = self.app.bot_user_id;
        members.insert(
            bot_id,
            Member {
                user_id: bot_id,
                roles: vec![bot_role_id],
                nick: None,
                joined_at,
            },
        );
        let guild = Guild {
            id,
            name: spec.name,
            owner_id,
            roles: vec![everyone, bot_role],
            members,
            channels: vec![],
            system_channel_id: None,
        };
        self.guilds.insert(id, guild);
        let general_channel_id = self
            .add_channel(
                id,
                NewChannel {
                    name: "general".into(),
                    kind: GUILD_TEXT,
                },
            )?
            .id;
        let voice_channel_id = self
            .add_channel(
                id,
                NewChannel {
                    name: "General".into(),
                    kind: GUILD_VOICE,
                },
            )?
            .id;
        self.guild_mut(id)?.system_channel_id = Some(general_channel_id);
        let event = Event::new(
            "GUILD_CREATE",
            Some(id),
            intents::GUILDS,
            self.guild_create_payload(self.guild(id)?),
        );
        let created = GuildCreated {
            id,
            owner_id,
            everyone_role_id: id,
            bot_role_id,
            general_channel_id,
            voice_channel_id,
        };
        Ok((created, vec![event]))
    }

    /// The guild is deleted: GUILD_DELETE (without `unavailable`) if the bot was in it.
    pub fn remove_guild(&mut self, id: u64) -> Changes<()> {
        let guild = self
            .guilds
            .remove(&id)
            .ok_or_else(ApiError::unknown_guild)?;
        for channel in &guild.channels {
            self.channels.remove(channel);
        }
        self.messages.retain(|_, m| m.guild_id != Some(id));
        let was_member = guild.members.contains_key(&self.app.bot_user_id);
        let events = if was_member {
            vec![Event::new(
                "GUILD_DELETE",
                Some(id),
                intents::GUILDS,
                json!({"id": id_str(id)}),
            )]
        } else {
            vec![]
        };
        Ok(((), events))
    }

    fn add_channel(&mut self, guild_id: u64, spec: NewChannel) -> ApiResult<Channel> {
        if spec.kind != GUILD_TEXT && spec.kind != GUILD_VOICE {
            return Err(ApiError::invalid_form(
                "type",
                "BASE_TYPE_CHOICES",
                "Value must be one of {0, 2}.",
            ));
        }
        let id = self.ids.next();
        let guild = self.guild_mut(guild_id)?;
        let channel = Channel {
            id,
            guild_id,
            name: spec.name,
            kind: spec.kind,
            position: guild.channels.len() as i64,
            overwrites: vec![],
        };
        guild.channels.push(id);
        self.channels.insert(id, channel.clone());
        Ok(channel)
    }

    pub fn create_channel(&mut self, guild_id: u64, spec: NewChannel) -> Changes<Channel> {
        let channel = self.add_channel(guild_id, spec)?;
        let event = Event::new(
            "CHANNEL_CREATE",
            Some(guild_id),
            intents::GUILDS,
            channel.to_json(),
        );
        Ok((channel, vec![event]))
    }

    /// Sets (`Some`) or removes (`None`) a channel's overwrite for a role or member: CHANNEL_UPDATE.
    pub fn set_channel_overwrite(
        &mut self,
        channel_id: u64,
        target_id: u64,
        spec: Option<OverwriteSpec>,
    ) -> Changes<Channel> {
        let guild_id = self.channel(channel_id)?.guild_id;
        if let Some(spec) = &spec {
            let guild = self.guild(guild_id)?;
            let known = match spec.kind {
                0 => guild.role(target_id).is_some(),
                1 => guild.members.contains_key(&target_id),
                _ => {
                    return Err(ApiError::invalid_form(
                        "type",
                        "BASE_TYPE_CHOICES",
                        "Value must be one of {0, 1}.",
                    ));
                }
            };
            if !known {
                return Err(if spec.kind == 0 {
                    ApiError::unknown_role()
                } else {
                    ApiError::unknown_member()
                });
            }
        }
        let channel = self
            .channels
            .get_mut(&channel_id)
            .ok_or_else(ApiError::unknown_channel)?;
        channel.overwrites.retain(|o| o.id != target_id);
        if let Some(spec) = spec {
            channel.overwrites.push(Overwrite {
                id: target_id,
                kind: spec.kind,
                allow: spec.allow & permissions::ALL,
                deny: spec.deny & permissions::ALL,
            });
        }
        let channel = channel.clone();
        let event = Event::new(
            "CHANNEL_UPDATE",
            Some(guild_id),
            intents::GUILDS,
            channel.to_json(),
        );
        Ok((channel, vec![event]))
    }

    pub fn create_role(&mut self, guild_id: u64, spec: NewRole) -> Changes<Role> {
        let id = self.ids.next();
        let guild = self.guild_mut(guild_id)?;
        // Like Discord, a new role starts at the bottom, just above @everyone.
        for role in guild.roles.iter_mut().filter(|role| role.position >= 1) {
            role.position += 1;
        }
        let role = Role {
            id,
            name: spec.name,
            permissions: spec.permissions & permissions::ALL,
            position: 1,
            color: spec.color,
            hoist: false,
            mentionable: spec.mentionable,
            managed: false,
        };
        guild.roles.push(role.clone());
        let event = Event::new(
            "GUILD_ROLE_CREATE",
            Some(guild_id),
            intents::GUILDS,
            json!({"guild_id": id_str(guild_id), "role": role.to_json()}),
        );
        Ok((role, vec![event]))
    }

    /// Adds the user to the guild or replaces roles and nick: GUILD_MEMBER_ADD or GUILD_MEMBER_UPDATE.
    pub fn put_member(&mut self, guild_id: u64, user_id: u64, spec: MemberSpec) -> Changes<Value> {
        let user = self.user(user_id)?.clone();
        let is_bot = user_id == self.app.bot_user_id;
        let guild = self.guild_mut(guild_id)?;
        if let Some(role) = spec
            .roles
            .iter()
            .find(|role| guild.role(**role).is_none() || **role == guild_id)
        {
            return Err(ApiError::invalid_form(
                "roles",
                "UNKNOWN_ROLE",
                &format!("Unknown role {role}"),
            ));
        }
        let existed = guild.members.contains_key(&user_id);
        let bot_joins = !existed && is_bot;
        let member = guild.members.entry(user_id).or_insert_with(|| Member {
            user_id,
            roles: vec![],
            nick: None,
            joined_at: timestamp_now(),
        });
        member.roles = spec.roles;
        member.nick = spec.nick;
        let mut data = member.to_json(&user, None);
        data["guild_id"] = json!(id_str(guild_id));
        if bot_joins {
            // The bot (re)joining is the guild becoming available to it.
            let payload = self.guild_create_payload(self.guild(guild_id)?);
            return Ok((
                data,
                vec![Event::new(
                    "GUILD_CREATE",
                    Some(guild_id),
                    intents::GUILDS,
                    payload,
                )],
            ));
        }
        let name = if existed {
            "GUILD_MEMBER_UPDATE"
        } else {
            "GUILD_MEMBER_ADD"
        };
        let event = Event::new(name, Some(guild_id), intents::GUILD_MEMBERS, data.clone());
        Ok((data, vec![event]))
    }

    /// A member leaves; when it is the bot, the guild goes away for it (GUILD_DELETE).
    pub fn remove_member(&mut self, guild_id: u64, user_id: u64) -> Changes<()> {
        let user = self.user(user_id)?.to_json();
        let guild = self.guild_mut(guild_id)?;
        guild
            .members
            .remove(&user_id)
            .ok_or_else(ApiError::unknown_member)?;
        if user_id == self.app.bot_user_id {
            let event = Event::new(
                "GUILD_DELETE",
                Some(guild_id),
                intents::GUILDS,
                json!({"id": id_str(guild_id)}),
            );
            return Ok(((), vec![event]));
        }
        let event = Event::new(
            "GUILD_MEMBER_REMOVE",
            Some(guild_id),
            intents::GUILD_MEMBERS,
            json!({"guild_id": id_str(guild_id), "user": user}),
        );
        Ok(((), vec![event]))
    }

    /// REST: the bot adds or removes one role of a member; needs MANAGE_ROLES and a role below its own.
    pub fn bot_set_member_role(
        &mut self,
        guild_id: u64,
        user_id: u64,
        role_id: u64,
        add: bool,
    ) -> Changes<()> {
        let guild = self.bot_guild(guild_id)?;
        let role = guild.role(role_id).ok_or_else(ApiError::unknown_role)?;
        let member = guild
            .members
            .get(&user_id)
            .ok_or_else(ApiError::unknown_member)?;
        let bot_member = &guild.members[&self.app.bot_user_id];
        let bot_top = bot_member
            .roles
            .iter()
            .filter_map(|id| guild.role(*id))
            .map(|r| r.position)
            .max()
            .unwrap_or(0);
        let perms = guild.permissions_of(bot_member);
        let may = perms & permissions::ADMINISTRATOR != 0
            || (perms & permissions::MANAGE_ROLES != 0 && role.position < bot_top);
        if !may || role.managed || role_id == guild_id {
            return Err(ApiError::missing_permissions());
        }
        let mut roles = member.roles.clone();
        roles.retain(|id| *id != role_id);
        if add {
            roles.push(role_id);
        }
        let nick = member.nick.clone();
        let (_, events) = self.put_member(guild_id, user_id, MemberSpec { roles, nick })?;
        Ok(((), events))
    }

    /// The member object of REST `GET /guilds/{g}/members/{u}`.
    pub fn member_json(&self, guild_id: u64, user_id: u64) -> ApiResult<Value> {
        let guild = self.bot_guild(guild_id)?;
        let member = guild
            .members
            .get(&user_id)
            .ok_or_else(ApiError::unknown_member)?;
        Ok(member.to_json(self.user(user_id)?, None))
    }

    pub fn members_json(&self, guild_id: u64, limit: usize, after: u64) -> ApiResult<Vec<Value>> {
        let guild = self.bot_guild(guild_id)?;
        guild
            .members
            .range(after + 1..)
            .take(limit)
            .map(|(id, member)| Ok(member.to_json(self.user(*id)?, None)))
            .collect()
    }

    /// The full GUILD_CREATE payload for a guild the bot is in.
    pub fn guild_create_payload(&self, guild: &Guild) -> Value {
        let mut data = guild.to_json();
        let bot_joined = guild
            .members
            .get(&self.app.bot_user_id)
            .map(|m| m.joined_at.clone());
        data["joined_at"] = json!(bot_joined);
        data["large"] = json!(false);
        data["unavailable"] = json!(false);
        data["member_count"] = json!(guild.members.len());
        data["members"] = Value::from(
            guild
                .members
                .values()
                .filter_map(|member| {
                    self.users
                        .get(&member.user_id)
                        .map(|user| member.to_json(user, None))
                })
                .collect::<Vec<_>>(),
        );
        data["channels"] = Value::from(
            self.guild_channels(guild)
                .iter()
                .map(|c| c.to_json())
                .collect::<Vec<_>>(),
        );
        for empty in [
            "threads",
            "presences",
            "voice_states",
            "stage_instances",
            "guild_scheduled_events",
            "soundboard_sounds",
        ] {
            data[empty] = json!([]);
        }
        data
    }
}

fn slug(name: &str) -> String {
    let slug: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect::<String>()
        .to_lowercase();
    if slug.is_empty() {
        "guild".into()
    } else {
        slug
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::test_world;

    #[test]
    fn new_guild_has_everyone_bot_and_channels() {
        let mut world = test_world();
        let (created, events) = world
            .create_guild(NewGuild {
                name: "Physics 101".into(),
                ..NewGuild::default()
            })
            .unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].name, "GUILD_CREATE");
        let guild = world.bot_guild(created.id).unwrap();
        assert_eq!(guild.roles[0].id, created.id);
        assert!(guild.members.contains_key(&world.app.bot_user_id));
        assert_eq!(
            world.user(created.owner_id).unwrap().username,
            "physics101-owner"
        );
        let payload = &events[0].data;
        assert_eq!(payload["channels"].as_array().unwrap().len(), 2);
        assert_eq!(payload["members"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_guild_may_be_created_with_its_id_once() {
        let mut world = test_world();
        let spec = NewGuild {
            name: "Physics 101".into(),
            id: Some(1_283_874_310_720_716_890),
            ..NewGuild::default()
        };
        let (created, _) = world.create_guild(spec.clone()).unwrap();
        assert_eq!(created.id, 1_283_874_310_720_716_890);
        assert_eq!(created.everyone_role_id, created.id);
        let users = world.users.len();
        let err = world.create_guild(spec).unwrap_err();
        assert_eq!(err.code, 50035, "{:?}", err.body());
        assert_eq!(world.users.len(), users, "nothing made for a refused guild");
    }

    #[test]
    fn member_permissions_follow_roles() {
        let mut world = test_world();
        let (guild, _) = world
            .create_guild(NewGuild {
                name: "g".into(),
                ..NewGuild::default()
            })
            .unwrap();
        let user = world
            .create_user(NewUser {
                username: "ann".into(),
                ..NewUser::default()
            })
            .unwrap();
        let (teacher, _) = world
            .create_role(
                guild.id,
                NewRole {
                    name: "Teacher".into(),
                    permissions: permissions::ADMINISTRATOR,
                    ..NewRole::default()
                },
            )
            .unwrap();
        let (_, events) = world
            .put_member(guild.id, user.id, MemberSpec::default())
            .unwrap();
        assert_eq!(events[0].name, "GUILD_MEMBER_ADD");
        let g = world.guild(guild.id).unwrap();
        assert_eq!(
            g.permissions_of(&g.members[&user.id]),
            permissions::EVERYONE_DEFAULT
        );
        let (_, events) = world
            .put_member(
                guild.id,
                user.id,
                MemberSpec {
                    roles: vec![teacher.id],
                    nick: None,
                },
            )
            .unwrap();
        assert_eq!(events[0].name, "GUILD_MEMBER_UPDATE");
        let g = world.guild(guild.id).unwrap();
        assert_eq!(g.permissions_of(&g.members[&user.id]), permissions::ALL);
    }

    #[test]
    fn bot_leaves_and_rejoins() {
        let mut world = test_world();
        let (guild, _) = world
            .create_guild(NewGuild {
                name: "g".into(),
                ..NewGuild::default()
            })
            .unwrap();
        let bot = world.app.bot_user_id;
        let (_, events) = world.remove_member(guild.id, bot).unwrap();
        assert_eq!(events[0].name, "GUILD_DELETE");
        assert_eq!(world.bot_guild(guild.id).unwrap_err().code, 50001);
        let (_, events) = world
            .put_member(
                guild.id,
                bot,
                MemberSpec {
                    roles: vec![guild.bot_role_id],
                    nick: None,
                },
            )
            .unwrap();
        assert_eq!(events[0].name, "GUILD_CREATE");
        assert!(world.bot_guild(guild.id).is_ok());
    }

    #[test]
    fn bot_assigns_roles_below_its_own_only() {
        let mut world = test_world();
        let (guild, _) = world
            .create_guild(NewGuild {
                name: "g".into(),
                ..NewGuild::default()
            })
            .unwrap();
        let user = world
            .create_user(NewUser {
                username: "ann".into(),
                ..NewUser::default()
            })
            .unwrap();
        world
            .put_member(guild.id, user.id, MemberSpec::default())
            .unwrap();
        let (below, _) = world
            .create_role(
                guild.id,
                NewRole {
                    name: "Below".into(),
                    ..NewRole::default()
                },
            )
            .unwrap();
        let (_, events) = world
            .bot_set_member_role(guild.id, user.id, below.id, true)
            .unwrap();
        assert_eq!(events[0].name, "GUILD_MEMBER_UPDATE");
        assert_eq!(
            world.guild(guild.id).unwrap().members[&user.id].roles,
            vec![below.id]
        );
        let err = world
            .bot_set_member_role(guild.id, user.id, guild.bot_role_id, true)
            .unwrap_err();
        assert_eq!(err.code, 50013);
    }
}

//! Activities: one instance per channel while anyone is in it, and the Embedded App SDK's RPC
//! commands as the Discord client answers them (the host page relays them here).

use super::World;
use crate::error::{ApiError, ApiResult};
use crate::model::{ActivityInstance, GUILD_VOICE, id_str};
use crate::permissions::{CONNECT, USE_EMBEDDED_ACTIVITIES, VIEW_CHANNEL};
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Instant;

/// The SDK's `RPCErrorCodes` the sandbox answers with.
pub mod rpc_code {
    pub const INVALID_PAYLOAD: u32 = 4000;
    pub const INVALID_COMMAND: u32 = 4002;
    pub const INVALID_EVENT: u32 = 4004;
    pub const INVALID_CHANNEL: u32 = 4005;
    pub const INVALID_CLIENTID: u32 = 4007;
    pub const INVALID_TOKEN: u32 = 4009;
}

/// A command's error frame data: `{code, message}`.
#[derive(Debug, Clone, PartialEq, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RpcError {
    pub code: u32,
    pub message: String,
}

impl RpcError {
    fn new(code: u32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// The events the sandbox's client dispatches (others Discord has are refused as unmodelled).
pub const EVENTS: &[&str] = &[
    "ACTIVITY_INSTANCE_PARTICIPANTS_UPDATE",
    "ACTIVITY_LAYOUT_MODE_UPDATE",
    "ORIENTATION_UPDATE",
];

/// One Discord client running the Activity: the signed-in user and the instance it shows.
#[derive(Debug, Clone, Copy)]
pub struct RpcClient<'a> {
    pub user_id: u64,
    pub instance_id: &'a str,
}

/// A command as the SDK sends it in a FRAME: `{cmd, args, evt?, nonce}`.
#[derive(Debug, Clone, Copy)]
pub struct RpcCommand<'a> {
    pub cmd: &'a str,
    pub args: &'a Value,
    pub evt: Option<&'a str>,
}

impl World {
    /// The running instance in a channel, if anyone is in one.
    fn channel_instance(&self, channel_id: u64) -> Option<&ActivityInstance> {
        self.activity_instances
            .values()
            .find(|instance| instance.channel_id == channel_id)
    }

    /// A member launches the app in a channel, or joins the instance already running there:
    /// Discord runs one instance of an app per channel, and a new one (new id) after all left.
    pub fn launch_activity(&mut self, guild_id: u64, channel_id: u64, user_id: u64) -> String {
        if let Some(running) = self.channel_instance(channel_id) {
            let instance_id = running.instance_id.clone();
            let instance = self
                .activity_instances
                .get_mut(&instance_id)
                .expect("found above");
            if !instance.users.contains(&user_id) {
                instance.users.push(user_id);
            }
            return instance_id;
        }
        let launch_id = self.ids.next();
        let instance_id = format!("i-{launch_id}-gc-{guild_id}-{channel_id}");
        let instance = ActivityInstance {
            instance_id: instance_id.clone(),
            launch_id,
            guild_id,
            channel_id,
            users: vec![user_id],
        };
        self.activity_instances
            .insert(instance_id.clone(), instance);
        instance_id
    }

    /// A member starts (or joins) the app from a voice channel's Activity shelf, or joins
    /// the one an app launched in a text channel (an interaction answered with
    /// LAUNCH_ACTIVITY): only those start there. The member must be able to see the channel
    /// (and connect, for voice) and use Activities.
    pub fn join_activity(&mut self, channel_id: u64, user_id: u64) -> ApiResult<Value> {
        let channel = self.channel(channel_id)?;
        let voice = channel.kind == GUILD_VOICE;
        if !voice && self.channel_instance(channel_id).is_none() {
            return Err(ApiError::invalid_form(
                "channel_id",
                "CHANNEL_TYPE_INVALID",
                "Activities start in voice channels, or where an app launched one.",
            ));
        }
        let guild = self.guild(channel.guild_id)?;
        let member = guild
            .members
            .get(&user_id)
            .ok_or_else(ApiError::unknown_member)?;
        let needed = VIEW_CHANNEL | USE_EMBEDDED_ACTIVITIES | if voice { CONNECT } else { 0 };
        if guild.channel_permissions_of(member, channel) & needed != needed {
            return Err(ApiError::missing_permissions());
        }
        let guild_id = guild.id;
        let instance_id = self.launch_activity(guild_id, channel_id, user_id);
        Ok(self.activity_instances[&instance_id].to_json(self.app.id))
    }

    /// `GET /applications/{app}/activity-instances/{id}`.
    pub fn activity_instance(&self, app_id: u64, instance_id: &str) -> ApiResult<Value> {
        if app_id != self.app.id {
            return Err(ApiError::missing_access());
        }
        let instance = self
            .activity_instances
            .get(instance_id)
            .ok_or_else(ApiError::unknown_activity_instance)?;
        Ok(instance.to_json(self.app.id))
    }

    /// A member joins (or leaves) a running Activity; the instance ends when the last one leaves.
    pub fn set_activity_participant(
        &mut self,
        instance_id: &str,
        user_id: u64,
        present: bool,
    ) -> ApiResult<Option<Value>> {
        self.user(user_id)?;
        let instance = self
            .activity_instances
            .get(instance_id)
            .ok_or_else(ApiError::unknown_activity_instance)?;
        if present
            && !self
                .guild(instance.guild_id)?
                .members
                .contains_key(&user_id)
        {
            return Err(ApiError::unknown_member());
        }
        let instance = self
            .activity_instances
            .get_mut(instance_id)
            .ok_or_else(ApiError::unknown_activity_instance)?;
        instance.users.retain(|u| *u != user_id);
        if present {
            instance.users.push(user_id);
        }
        if instance.users.is_empty() {
            self.activity_instances.remove(instance_id);
            return Ok(None);
        }
        Ok(Some(instance.to_json(self.app.id)))
    }

    /// The instance's participants as the SDK's participant objects, in join order.
    pub fn activity_participants(&self, instance_id: &str) -> ApiResult<Vec<Value>> {
        let instance = self
            .activity_instances
            .get(instance_id)
            .ok_or_else(ApiError::unknown_activity_instance)?;
        let guild = self.guild(instance.guild_id)?;
        instance
            .users
            .iter()
            .map(|id| {
                let user = self.user(*id)?;
                let mut participant = json!({
                    "id": id_str(user.id),
                    "username": user.username,
                    "global_name": user.global_name,
                    "discriminator": "0",
                    "avatar": null,
                    "flags": 0,
                    "bot": user.bot,
                    "avatar_decoration_data": null,
                    "premium_type": 0,
                });
                // The SDK's schema has `nickname` optional but not nullable.
                if let Some(nick) = guild.members.get(id).and_then(|m| m.nick.as_ref()) {
                    participant["nickname"] = json!(nick);
                }
                Ok(participant)
            })
            .collect()
    }

    /// Answers one SDK command for a client: the `data` of the reply frame, or its error.
    pub fn rpc_command(
        &mut self,
        client: RpcClient<'_>,
        command: RpcCommand<'_>,
    ) -> Result<Value, RpcError> {
        let instance = self
            .activity_instances
            .get(client.instance_id)
            .filter(|i| i.users.contains(&client.user_id))
            .ok_or_else(|| {
                RpcError::new(
                    rpc_code::INVALID_CHANNEL,
                    "The user is not in this Activity instance",
                )
            })?;
        let (guild_id, channel_id) = (instance.guild_id, instance.channel_id);
        let args = command.args;
        match command.cmd {
            "AUTHORIZE" => self.rpc_authorize(client.user_id, args),
            "AUTHENTICATE" => self.rpc_authenticate(client.user_id, args),
            "GET_ACTIVITY_INSTANCE_CONNECTED_PARTICIPANTS" => {
                let participants = self
                    .activity_participants(client.instance_id)
                    .map_err(|e| RpcError::new(rpc_code::INVALID_CHANNEL, e.message))?;
                Ok(json!({ "participants": participants }))
            }
            "SUBSCRIBE" | "UNSUBSCRIBE" => {
                let evt = command.evt.unwrap_or_default();
                if EVENTS.contains(&evt) {
                    Ok(json!({ "evt": evt }))
                } else {
                    Err(RpcError::new(
                        rpc_code::INVALID_EVENT,
                        format!("Invalid event: {evt}"),
                    ))
                }
            }
            "GET_CHANNEL_PERMISSIONS" => {
                let guild = self.guild(guild_id).map_err(channel_error)?;
                let channel = self.channel(channel_id).map_err(channel_error)?;
                let permissions = guild
                    .members
                    .get(&client.user_id)
                    .map_or(0, |m| guild.channel_permissions_of(m, channel));
                Ok(json!({ "permissions": permissions.to_string() }))
            }
            "SET_CONFIG" => Ok(json!({
                "use_interactive_pip": args["use_interactive_pip"].as_bool().unwrap_or(false)
            })),
            "USER_SETTINGS_GET_LOCALE" => Ok(json!({ "locale": "en-US" })),
            "GET_PLATFORM_BEHAVIORS" => Ok(json!({})),
            "ENCOURAGE_HW_ACCELERATION" => Ok(json!({ "enabled": true })),
            "SET_ORIENTATION_LOCK_STATE" => Ok(Value::Null),
            other => Err(RpcError::new(
                rpc_code::INVALID_COMMAND,
                format!("Unknown command: {other}"),
            )),
        }
    }

    /// `authorize`: the user consents (the sandbox's users always do) and gets a code for the
    /// app's backend to exchange at `/oauth2/token`.
    fn rpc_authorize(&mut self, user_id: u64, args: &Value) -> Result<Value, RpcError> {
        if args["client_id"].as_str() != Some(&id_str(self.app.id)) {
            return Err(RpcError::new(
                rpc_code::INVALID_CLIENTID,
                "Invalid client id",
            ));
        }
        if args["response_type"].as_str() != Some("code") {
            return Err(RpcError::new(
                rpc_code::INVALID_PAYLOAD,
                "response_type must be \"code\"",
            ));
        }
        let scopes: Option<Vec<String>> = args["scope"].as_array().and_then(|scopes| {
            scopes
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect()
        });
        let scopes = scopes
            .filter(|s| !s.is_empty())
            .ok_or_else(|| RpcError::new(rpc_code::INVALID_PAYLOAD, "scope must list scopes"))?;
        let code = self
            .mint_oauth_code(user_id, scopes, None)
            .map_err(|e| RpcError::new(rpc_code::INVALID_PAYLOAD, e.message))?;
        Ok(json!({ "code": code }))
    }

    /// `authenticate`: the access token must be a live one of this user.
    fn rpc_authenticate(&self, user_id: u64, args: &Value) -> Result<Value, RpcError> {
        let token = args["access_token"].as_str().unwrap_or_default();
        let grant = self
            .bearer_grant(token)
            .filter(|g| g.user_id == user_id)
            .ok_or_else(|| RpcError::new(rpc_code::INVALID_TOKEN, "Invalid access token"))?;
        let user = self
            .user(user_id)
            .map_err(|e| RpcError::new(rpc_code::INVALID_TOKEN, e.message))?;
        let remaining = grant.expires.saturating_duration_since(Instant::now());
        Ok(json!({
            "access_token": token,
            "user": {
                "id": id_str(user.id),
                "username": user.username,
                "discriminator": "0",
                "global_name": user.global_name,
                "avatar": null,
                "public_flags": 0,
            },
            "scopes": grant.scopes,
            "expires": crate::ids::timestamp_in(remaining),
            "application": {
                "id": id_str(self.app.id),
                "name": self.app.name,
                "description": "",
                "icon": null,
                "rpc_origins": [],
            },
        }))
    }
}

fn channel_error(err: ApiError) -> RpcError {
    RpcError::new(rpc_code::INVALID_CHANNEL, err.message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{NewGuild, NewUser, test_world};

    fn member(world: &mut World, guild_id: u64, name: &str) -> u64 {
        let user = world
            .create_user(NewUser {
                username: name.into(),
                ..NewUser::default()
            })
            .unwrap();
        world
            .put_member(guild_id, user.id, Default::default())
            .unwrap();
        user.id
    }

    fn command<'a>(cmd: &'a str, args: &'a Value) -> RpcCommand<'a> {
        RpcCommand {
            cmd,
            args,
            evt: None,
        }
    }

    #[test]
    fn one_instance_per_voice_channel_and_a_new_id_after_everyone_left() {
        let mut world = test_world();
        let (guild, _) = world
            .create_guild(NewGuild {
                name: "g".into(),
                ..NewGuild::default()
            })
            .unwrap();
        let ann = member(&mut world, guild.id, "ann");
        let bob = member(&mut world, guild.id, "bob");
        let first = world.join_activity(guild.voice_channel_id, ann).unwrap();
        let joined = world.join_activity(guild.voice_channel_id, bob).unwrap();
        assert_eq!(first["instance_id"], joined["instance_id"]);
        assert_eq!(joined["users"], json!([ann.to_string(), bob.to_string()]));
        let id = first["instance_id"].as_str().unwrap().to_owned();
        world.set_activity_participant(&id, ann, false).unwrap();
        assert!(
            world
                .set_activity_participant(&id, bob, false)
                .unwrap()
                .is_none()
        );
        let again = world.join_activity(guild.voice_channel_id, ann).unwrap();
        assert_ne!(again["instance_id"], json!(id));
        assert!(
            world.join_activity(guild.general_channel_id, ann).is_err(),
            "a text channel has no Activity shelf"
        );
        // What an app launched there (LAUNCH_ACTIVITY from a command in the text channel) can
        // be joined from it.
        let launched = world.launch_activity(guild.id, guild.general_channel_id, bob);
        let joined = world.join_activity(guild.general_channel_id, ann).unwrap();
        assert_eq!(joined["instance_id"], json!(launched));
        assert_eq!(joined["users"], json!([bob.to_string(), ann.to_string()]));
    }

    #[test]
    fn authorize_gives_a_code_and_authenticate_accepts_only_the_users_own_token() {
        let mut world = test_world();
        let (guild, _) = world
            .create_guild(NewGuild {
                name: "g".into(),
                ..NewGuild::default()
            })
            .unwrap();
        let ann = member(&mut world, guild.id, "ann");
        let bob = member(&mut world, guild.id, "bob");
        let instance = world.join_activity(guild.voice_channel_id, ann).unwrap();
        let instance_id = instance["instance_id"].as_str().unwrap().to_owned();
        world.join_activity(guild.voice_channel_id, bob).unwrap();
        let client = |user_id| RpcClient {
            user_id,
            instance_id: &instance_id,
        };
        let app = world.app.id.to_string();
        let args = json!({"client_id": app, "response_type": "code", "scope": ["identify"]});
        let code = world
            .rpc_command(client(ann), command("AUTHORIZE", &args))
            .unwrap();
        let wrong_client =
            json!({"client_id": "1", "response_type": "code", "scope": ["identify"]});
        assert_eq!(
            world
                .rpc_command(client(ann), command("AUTHORIZE", &wrong_client))
                .unwrap_err()
                .code,
            rpc_code::INVALID_CLIENTID
        );
        let secret = world.app.client_secret.clone();
        let token = world
            .oauth_token(crate::world::oauth::TokenRequest {
                grant_type: "authorization_code".into(),
                code: code["code"].as_str().map(str::to_owned),
                client_id: Some(app),
                client_secret: Some(secret),
                ..Default::default()
            })
            .unwrap();
        let auth = json!({"access_token": token["access_token"]});
        let me = world
            .rpc_command(client(ann), command("AUTHENTICATE", &auth))
            .unwrap();
        assert_eq!(me["user"]["id"], ann.to_string());
        assert_eq!(me["scopes"], json!(["identify"]));
        let stolen = world
            .rpc_command(client(bob), command("AUTHENTICATE", &auth))
            .unwrap_err();
        assert_eq!(stolen.code, rpc_code::INVALID_TOKEN);
    }

    #[test]
    fn participants_and_subscriptions() {
        let mut world = test_world();
        let (guild, _) = world
            .create_guild(NewGuild {
                name: "g".into(),
                ..NewGuild::default()
            })
            .unwrap();
        let ann = member(&mut world, guild.id, "ann");
        let outsider = world
            .create_user(NewUser {
                username: "eve".into(),
                ..NewUser::default()
            })
            .unwrap()
            .id;
        let instance = world.join_activity(guild.voice_channel_id, ann).unwrap();
        let instance_id = instance["instance_id"].as_str().unwrap();
        let ann_client = RpcClient {
            user_id: ann,
            instance_id,
        };
        let none = Value::Null;
        let listed = world
            .rpc_command(
                ann_client,
                command("GET_ACTIVITY_INSTANCE_CONNECTED_PARTICIPANTS", &none),
            )
            .unwrap();
        assert_eq!(listed["participants"][0]["username"], "ann");
        assert!(listed["participants"][0].get("nickname").is_none());
        let subscribe = |evt| RpcCommand {
            cmd: "SUBSCRIBE",
            args: &none,
            evt: Some(evt),
        };
        assert_eq!(
            world
                .rpc_command(ann_client, subscribe("ACTIVITY_LAYOUT_MODE_UPDATE"))
                .unwrap(),
            json!({"evt": "ACTIVITY_LAYOUT_MODE_UPDATE"})
        );
        assert_eq!(
            world
                .rpc_command(ann_client, subscribe("NO_SUCH_EVENT"))
                .unwrap_err()
                .code,
            rpc_code::INVALID_EVENT
        );
        let eve = RpcClient {
            user_id: outsider,
            instance_id,
        };
        assert_eq!(
            world
                .rpc_command(
                    eve,
                    command("GET_ACTIVITY_INSTANCE_CONNECTED_PARTICIPANTS", &none)
                )
                .unwrap_err()
                .code,
            rpc_code::INVALID_CHANNEL,
            "only participants talk to the instance"
        );
        assert_eq!(
            world
                .rpc_command(ann_client, command("NOPE", &none))
                .unwrap_err()
                .code,
            rpc_code::INVALID_COMMAND
        );
    }
}

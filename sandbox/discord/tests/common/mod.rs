//! Shared setup: a sandbox, unmodified twilight clients pointed at it, raw dispatch reading.
#![allow(dead_code)] // each test binary uses a different subset

use kd_sandbox_discord::{Config, DiscordSandbox, GuildCreated, MemberSpec, NewGuild, NewUser};
use serde_json::Value;
use std::time::Duration;
use twilight_gateway::{Intents, Shard, ShardId};

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A plain HTTP client for the control API and raw REST calls. The workspace builds reqwest
/// without a default TLS provider, so one is installed first.
pub fn web() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub async fn start(config: Config) -> DiscordSandbox {
    DiscordSandbox::start(config).await.expect("sandbox starts")
}

pub async fn sandbox() -> DiscordSandbox {
    start(Config::default()).await
}

/// twilight-http with only the base URL changed.
pub fn http(sandbox: &DiscordSandbox) -> twilight_http::Client {
    twilight_http::Client::builder()
        .token(sandbox.bot_token())
        .proxy(sandbox.http_authority().to_owned(), true)
        .build()
}

/// A twilight-gateway shard with only the gateway URL changed.
pub fn shard(sandbox: &DiscordSandbox, intents: Intents) -> Shard {
    let config = twilight_gateway::ConfigBuilder::new(sandbox.bot_token(), intents)
        .proxy_url(sandbox.gateway_url().to_owned())
        .build();
    Shard::with_config(ShardId::ONE, config)
}

/// One dispatch as the wire carried it.
#[derive(Debug, Clone)]
pub struct Dispatch {
    pub t: String,
    pub s: u64,
    pub d: Value,
    pub raw: String,
}

/// The next dispatch the shard hands out, skipping other opcodes and reconnect errors.
pub async fn next_dispatch(shard: &mut Shard) -> Dispatch {
    use futures_util::StreamExt;
    tokio::time::timeout(TIMEOUT, async {
        loop {
            match shard.next().await {
                Some(Ok(twilight_gateway::Message::Text(raw))) => {
                    let value: Value = serde_json::from_str(&raw).expect("gateway sends JSON");
                    if value["op"] == 0 {
                        let t = value["t"].as_str().expect("dispatch has t").to_owned();
                        let s = value["s"].as_u64().expect("dispatch has s");
                        return Dispatch {
                            t,
                            s,
                            d: value["d"].clone(),
                            raw,
                        };
                    }
                }
                Some(Ok(twilight_gateway::Message::Close(_)) | Err(_)) => {}
                None => panic!("shard stream ended"),
            }
        }
    })
    .await
    .expect("a dispatch within the timeout")
}

/// Reads dispatches until one named `name`.
pub async fn wait_dispatch(shard: &mut Shard, name: &str) -> Dispatch {
    loop {
        let dispatch = next_dispatch(shard).await;
        if dispatch.t == name {
            return dispatch;
        }
    }
}

/// Parses a dispatch with twilight-model, proving the payload satisfies the real client.
pub fn parse(dispatch: &Dispatch) -> twilight_model::gateway::event::DispatchEvent {
    match twilight_gateway::parse(
        dispatch.raw.clone(),
        twilight_gateway::EventTypeFlags::all(),
    ) {
        Ok(Some(twilight_model::gateway::event::GatewayEvent::Dispatch(_, event))) => event,
        other => panic!("twilight could not parse {}: {other:?}", dispatch.raw),
    }
}

/// A guild with one extra member, `ann`.
pub fn guild_with_member(sandbox: &DiscordSandbox) -> (GuildCreated, u64) {
    let guild = sandbox
        .create_guild(NewGuild {
            name: "Physics 101".into(),
            ..NewGuild::default()
        })
        .expect("guild");
    let ann = sandbox
        .create_user(NewUser {
            username: "ann".into(),
            ..NewUser::default()
        })
        .expect("user");
    sandbox
        .put_member(guild.id, ann.id, MemberSpec::default())
        .expect("member");
    (guild, ann.id)
}

/// Another member of a guild.
pub fn add_member(sandbox: &DiscordSandbox, guild_id: u64, username: &str) -> u64 {
    let user = sandbox
        .create_user(NewUser {
            username: username.into(),
            ..NewUser::default()
        })
        .expect("user");
    sandbox
        .put_member(guild_id, user.id, MemberSpec::default())
        .expect("member");
    user.id
}

/// The Discord error code of a twilight-http error.
pub fn api_code(error: &twilight_http::Error) -> u64 {
    match error.kind() {
        twilight_http::error::ErrorType::Response {
            error: twilight_http::api_error::ApiError::General(general),
            ..
        } => general.code,
        other => panic!("not a Discord API error: {other:?}"),
    }
}

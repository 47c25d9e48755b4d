//! `/guilds/{guild_id}/...`: the guild, its roles, channels and members.

use super::{Bot, id, json_body};
use crate::error::{ApiError, ApiResult};
use crate::model::Role;
use crate::sandbox::Sandbox;
use crate::world::MemberSpec;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

type Params = Path<HashMap<String, String>>;

pub fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/guilds/{guild_id}", get(guild))
        .route("/guilds/{guild_id}/roles", get(roles))
        .route("/guilds/{guild_id}/channels", get(channels))
        .route("/guilds/{guild_id}/members", get(members))
        .route(
            "/guilds/{guild_id}/members/{user_id}",
            get(member).patch(modify_member),
        )
        .route(
            "/guilds/{guild_id}/members/{user_id}/roles/{role_id}",
            put(add_role).delete(remove_role),
        )
}

async fn guild(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
) -> ApiResult<Json<Value>> {
    let guild_id = id(&params, "guild_id")?;
    sandbox.world(|w| Ok(Json(w.bot_guild(guild_id)?.to_json())))
}

async fn roles(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
) -> ApiResult<Json<Value>> {
    let guild_id = id(&params, "guild_id")?;
    sandbox.world(|w| {
        Ok(Json(
            w.bot_guild(guild_id)?
                .roles
                .iter()
                .map(Role::to_json)
                .collect(),
        ))
    })
}

async fn channels(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
) -> ApiResult<Json<Value>> {
    let guild_id = id(&params, "guild_id")?;
    sandbox.world(|w| {
        let guild = w.bot_guild(guild_id)?;
        Ok(Json(
            w.guild_channels(guild)
                .iter()
                .map(|c| c.to_json())
                .collect(),
        ))
    })
}

#[derive(Deserialize)]
struct ListMembers {
    limit: Option<usize>,
    after: Option<u64>,
}

async fn members(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
    Query(query): Query<ListMembers>,
) -> ApiResult<Json<Value>> {
    let guild_id = id(&params, "guild_id")?;
    // List Guild Members needs the GUILD_MEMBERS privileged intent approved for the app.
    if sandbox.config().privileged_intents & crate::gateway::intents::GUILD_MEMBERS == 0 {
        return Err(ApiError::missing_access());
    }
    let limit = query.limit.unwrap_or(1);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid_form(
            "limit",
            "NUMBER_TYPE_MAX",
            "int value should be between 1 and 1000.",
        ));
    }
    sandbox.world(|w| {
        Ok(Json(Value::from(w.members_json(
            guild_id,
            limit,
            query.after.unwrap_or(0),
        )?)))
    })
}

async fn member(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
) -> ApiResult<Json<Value>> {
    let (guild_id, user_id) = (id(&params, "guild_id")?, id(&params, "user_id")?);
    sandbox.world(|w| Ok(Json(w.member_json(guild_id, user_id)?)))
}

#[derive(Deserialize)]
struct ModifyMember {
    roles: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    nick: Option<Option<String>>,
}

/// Tells a missing field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(de).map(Some)
}

/// `PATCH /guilds/{g}/members/{u}`: roles and nick. Setting roles needs MANAGE_ROLES.
async fn modify_member(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (guild_id, user_id) = (id(&params, "guild_id")?, id(&params, "user_id")?);
    let body: ModifyMember = json_body(&body)?;
    let roles = body.roles.map(|r| {
        r.iter()
            .map(|id| id.parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
    });
    let roles = roles.transpose().map_err(|_| {
        ApiError::invalid_form("roles", "NUMBER_TYPE_COERCE", "Value is not snowflake.")
    })?;
    sandbox
        .apply(|w| {
            let guild = w.bot_guild(guild_id)?;
            let member = guild
                .members
                .get(&user_id)
                .ok_or_else(ApiError::unknown_member)?;
            if roles.is_some() && w.bot_permissions(guild) & crate::permissions::MANAGE_ROLES == 0 {
                return Err(ApiError::missing_permissions());
            }
            let spec = MemberSpec {
                roles: roles.unwrap_or_else(|| member.roles.clone()),
                nick: body.nick.unwrap_or_else(|| member.nick.clone()),
            };
            w.put_member(guild_id, user_id, spec)
        })
        .map(Json)
}

async fn add_role(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
) -> ApiResult<StatusCode> {
    set_role(sandbox, params, true)
}

async fn remove_role(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
) -> ApiResult<StatusCode> {
    set_role(sandbox, params, false)
}

fn set_role(sandbox: Sandbox, params: HashMap<String, String>, add: bool) -> ApiResult<StatusCode> {
    let (guild_id, user_id, role_id) = (
        id(&params, "guild_id")?,
        id(&params, "user_id")?,
        id(&params, "role_id")?,
    );
    sandbox.apply(|w| w.bot_set_member_role(guild_id, user_id, role_id, add))?;
    Ok(StatusCode::NO_CONTENT)
}

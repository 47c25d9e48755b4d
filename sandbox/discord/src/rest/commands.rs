//! Application commands (global and per guild) and Activity instances.

use super::{Bot, id, json_body};
use crate::error::{ApiError, ApiResult};
use crate::sandbox::Sandbox;
use crate::world::CommandScope;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;
use std::collections::HashMap;

type Params = Path<HashMap<String, String>>;

pub fn routes() -> Router<Sandbox> {
    Router::new()
        .route(
            "/applications/{application_id}/commands",
            get(list).put(overwrite),
        )
        .route(
            "/applications/{application_id}/commands/{command_id}",
            get(command),
        )
        .route(
            "/applications/{application_id}/guilds/{guild_id}/commands",
            get(list).put(overwrite),
        )
        .route(
            "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
            get(command),
        )
        .route(
            "/applications/{application_id}/activity-instances/{instance_id}",
            get(activity_instance),
        )
}

/// The scope named by the path, after checking the application is ours.
fn scope(sandbox: &Sandbox, params: &HashMap<String, String>) -> ApiResult<CommandScope> {
    if id(params, "application_id")? != sandbox.application_id() {
        return Err(ApiError::missing_access());
    }
    Ok(match params.get("guild_id") {
        Some(_) => CommandScope::Guild(id(params, "guild_id")?),
        None => CommandScope::Global,
    })
}

async fn list(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
) -> ApiResult<Json<Value>> {
    let scope = scope(&sandbox, &params)?;
    sandbox
        .world(|w| w.commands(scope))
        .map(|c| Json(Value::from(c)))
}

async fn overwrite(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let scope = scope(&sandbox, &params)?;
    let commands: Vec<Value> = json_body(&body)?;
    sandbox
        .apply(|w| w.overwrite_commands(scope, commands).map(|c| (c, vec![])))
        .map(|c| Json(Value::from(c)))
}

async fn command(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
) -> ApiResult<Json<Value>> {
    let scope = scope(&sandbox, &params)?;
    let command_id = id(&params, "command_id")?;
    sandbox.world(|w| w.command(scope, command_id)).map(Json)
}

async fn activity_instance(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
) -> ApiResult<Json<Value>> {
    let app_id = id(&params, "application_id")?;
    let instance_id = params.get("instance_id").cloned().unwrap_or_default();
    sandbox
        .world(|w| w.activity_instance(app_id, &instance_id))
        .map(Json)
}

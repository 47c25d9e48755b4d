//! `/channels/{channel_id}` and its messages.

use super::{Bot, id, json_body};
use crate::error::{ApiError, ApiResult};
use crate::sandbox::Sandbox;
use crate::world::{MessageSpec, Page};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

type Params = Path<HashMap<String, String>>;

pub fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/channels/{channel_id}", get(channel))
        .route(
            "/channels/{channel_id}/messages",
            get(list_messages).post(create_message),
        )
        .route(
            "/channels/{channel_id}/messages/{message_id}",
            get(message).patch(edit_message).delete(delete_message),
        )
}

async fn channel(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
) -> ApiResult<Json<Value>> {
    let channel_id = id(&params, "channel_id")?;
    sandbox.world(|w| {
        let channel = w.channel(channel_id)?;
        w.bot_guild(channel.guild_id)?;
        Ok(Json(channel.to_json()))
    })
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<usize>,
    before: Option<u64>,
    after: Option<u64>,
    around: Option<u64>,
}

async fn list_messages(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
    Query(query): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let channel_id = id(&params, "channel_id")?;
    let limit = query.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_form(
            "limit",
            "NUMBER_TYPE_MAX",
            "int value should be between 1 and 100.",
        ));
    }
    sandbox.world(|w| {
        w.bot_guild(w.channel(channel_id)?.guild_id)?;
        Ok(Json(Value::from(w.channel_messages(
            channel_id,
            Page {
                limit,
                before: query.before,
                after: query.after,
                around: query.around,
            },
            false,
        )?)))
    })
}

async fn create_message(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let channel_id = id(&params, "channel_id")?;
    let spec: MessageSpec = json_body(&body)?;
    sandbox
        .apply(|w| w.bot_create_message(channel_id, spec))
        .map(Json)
}

async fn message(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
) -> ApiResult<Json<Value>> {
    let (channel_id, message_id) = (id(&params, "channel_id")?, id(&params, "message_id")?);
    sandbox
        .world(|w| w.bot_message_json(channel_id, message_id))
        .map(Json)
}

async fn edit_message(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (channel_id, message_id) = (id(&params, "channel_id")?, id(&params, "message_id")?);
    let spec: MessageSpec = json_body(&body)?;
    sandbox
        .apply(|w| w.bot_edit_message(channel_id, message_id, spec))
        .map(Json)
}

async fn delete_message(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Params,
) -> ApiResult<StatusCode> {
    let (channel_id, message_id) = (id(&params, "channel_id")?, id(&params, "message_id")?);
    sandbox.apply(|w| w.bot_delete_message(channel_id, message_id))?;
    Ok(StatusCode::NO_CONTENT)
}

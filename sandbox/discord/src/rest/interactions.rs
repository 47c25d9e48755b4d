//! Interaction callbacks and the interaction webhook (`@original` edits and follow-ups).
//! No `Authorization` header: the interaction token is the credential.

use super::{id, json_body};
use crate::error::ApiResult;
use crate::sandbox::Sandbox;
use crate::world::{MessageSpec, WebhookMessage};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

type Params = Path<HashMap<String, String>>;

pub fn routes() -> Router<Sandbox> {
    Router::new()
        .route(
            "/interactions/{interaction_id}/{token}/callback",
            post(callback),
        )
        .route("/webhooks/{webhook_id}/{token}", post(followup))
        .route(
            "/webhooks/{webhook_id}/{token}/messages/{message}",
            get(get_message).patch(edit_message).delete(delete_message),
        )
}

#[derive(Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    with_response: bool,
}

/// 204, or 200 with the callback response when `?with_response=true`.
async fn callback(
    State(sandbox): State<Sandbox>,
    Path(params): Params,
    Query(query): Query<CallbackQuery>,
    body: Bytes,
) -> ApiResult<Response> {
    let interaction_id = id(&params, "interaction_id")?;
    let token = params.get("token").cloned().unwrap_or_default();
    let body: Value = json_body(&body)?;
    let response = sandbox.apply(|w| w.interaction_callback(interaction_id, &token, body))?;
    Ok(if query.with_response {
        Json(response).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    })
}

fn webhook(params: &HashMap<String, String>) -> ApiResult<(u64, String)> {
    Ok((
        id(params, "webhook_id")?,
        params.get("token").cloned().unwrap_or_default(),
    ))
}

fn which(params: &HashMap<String, String>) -> ApiResult<WebhookMessage> {
    WebhookMessage::parse(params.get("message").map(String::as_str).unwrap_or(""))
}

/// Follow-ups always return the message (`wait` is implied for interaction webhooks).
async fn followup(
    State(sandbox): State<Sandbox>,
    Path(params): Params,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (app_id, token) = webhook(&params)?;
    let spec: MessageSpec = json_body(&body)?;
    sandbox
        .apply(|w| w.webhook_followup(app_id, &token, spec))
        .map(Json)
}

async fn get_message(
    State(sandbox): State<Sandbox>,
    Path(params): Params,
) -> ApiResult<Json<Value>> {
    let (app_id, token) = webhook(&params)?;
    let which = which(&params)?;
    sandbox
        .world(|w| w.webhook_get_message(app_id, &token, which))
        .map(Json)
}

async fn edit_message(
    State(sandbox): State<Sandbox>,
    Path(params): Params,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let (app_id, token) = webhook(&params)?;
    let which = which(&params)?;
    let spec: MessageSpec = json_body(&body)?;
    sandbox
        .apply(|w| w.webhook_edit_message(app_id, &token, which, spec))
        .map(Json)
}

async fn delete_message(
    State(sandbox): State<Sandbox>,
    Path(params): Params,
) -> ApiResult<StatusCode> {
    let (app_id, token) = webhook(&params)?;
    let which = which(&params)?;
    sandbox.apply(|w| w.webhook_delete_message(app_id, &token, which))?;
    Ok(StatusCode::NO_CONTENT)
}

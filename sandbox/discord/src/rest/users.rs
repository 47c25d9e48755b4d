//! `/gateway`, `/gateway/bot`, `/users/...`, `/applications/@me`.

use super::{Bot, Caller, id};
use crate::error::{ApiError, ApiResult};
use crate::model::id_str;
use crate::sandbox::Sandbox;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;

pub fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/gateway", get(gateway))
        .route("/gateway/bot", get(gateway_bot))
        .route("/users/@me", get(current_user))
        .route("/users/@me/guilds", get(current_user_guilds))
        .route("/users/{user_id}", get(user))
        .route("/applications/@me", get(current_application))
        .route("/oauth2/applications/@me", get(current_application))
}

async fn gateway(State(sandbox): State<Sandbox>) -> Json<Value> {
    Json(json!({"url": sandbox.gateway_url()}))
}

/// One shard per 2,500 guilds, like Discord recommends.
async fn gateway_bot(State(sandbox): State<Sandbox>, _: Bot) -> Json<Value> {
    let guilds = sandbox.world(|w| w.bot_guilds().count());
    Json(json!({
        "url": sandbox.gateway_url(),
        "shards": guilds.div_ceil(2500).max(1),
        "session_start_limit": sandbox.session_start_limit(),
    }))
}

async fn current_user(State(sandbox): State<Sandbox>, caller: Caller) -> ApiResult<Json<Value>> {
    sandbox.world(|w| match caller {
        Caller::Bot => Ok(Json(w.bot_user().to_current_json(false))),
        Caller::Bearer(grant) => {
            if !grant.scopes.iter().any(|s| s == "identify") {
                return Err(ApiError::unauthorized());
            }
            let email = grant.scopes.iter().any(|s| s == "email");
            Ok(Json(w.user(grant.user_id)?.to_current_json(email)))
        }
    })
}

async fn current_user_guilds(
    State(sandbox): State<Sandbox>,
    caller: Caller,
) -> ApiResult<Json<Value>> {
    sandbox.world(|w| {
        let user_id = match caller {
            Caller::Bot => w.app.bot_user_id,
            Caller::Bearer(grant) if grant.scopes.iter().any(|s| s == "guilds") => grant.user_id,
            Caller::Bearer(_) => return Err(ApiError::unauthorized()),
        };
        let guilds: Vec<Value> = w
            .guilds()
            .filter_map(|g| g.members.get(&user_id).map(|m| (g, m)))
            .map(|(g, m)| {
                json!({
                    "id": id_str(g.id),
                    "name": g.name,
                    "icon": null,
                    "banner": null,
                    "owner": g.owner_id == user_id,
                    "permissions": g.permissions_of(m).to_string(),
                    "features": [],
                })
            })
            .collect();
        Ok(Json(Value::from(guilds)))
    })
}

async fn user(
    State(sandbox): State<Sandbox>,
    _: Bot,
    Path(params): Path<HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let user_id = id(&params, "user_id")?;
    sandbox.world(|w| Ok(Json(w.user(user_id)?.to_json())))
}

async fn current_application(State(sandbox): State<Sandbox>, _: Bot) -> Json<Value> {
    sandbox.world(|w| {
        Json(json!({
            "id": id_str(w.app.id),
            "name": w.app.name,
            "icon": null,
            "description": "",
            "bot_public": true,
            "bot_require_code_grant": false,
            "verify_key": "0".repeat(64),
            "flags": 0,
            "bot": w.bot_user().to_json(),
            "team": null,
        }))
    })
}

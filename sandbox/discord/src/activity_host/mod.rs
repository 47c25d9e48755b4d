//! The Activity's origin, as `{app}.discordsays.com` is for a real Activity: the host page that
//! plays the Discord client for the Embedded App SDK, the endpoints the page relays the SDK's
//! commands to, and the URL-mapping proxy in front of the app's own servers.
//!
//! The SDK only accepts postMessage from its own origin or Discord's, so the page that plays
//! the client must share the Activity's origin: it lives under `/.discord/`, a path the proxy
//! keeps for itself (as Discord keeps `/.proxy/`).

mod proxy;

pub use proxy::{Latency, UrlMapping};

use crate::error::ApiResult;
use crate::rest::json_body;
use crate::sandbox::Sandbox;
use crate::world::activities::{RpcClient, RpcCommand};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::time::Duration;

const HOST_HTML: &str = include_str!("host.html");
const HOST_JS: &str = include_str!("host.js");

/// The Activity origin's routes; everything outside `/.discord/` goes through the proxy.
pub fn router(sandbox: Sandbox) -> Router {
    Router::new()
        .route("/.discord/host", get(host_page))
        .route("/.discord/host.js", get(host_script))
        .route("/.discord/config", get(config))
        .route("/.discord/rpc/launch", post(launch))
        .route("/.discord/rpc/leave", post(leave))
        .route("/.discord/rpc/command", post(command))
        .route("/.discord/rpc/participants", get(participant_events))
        .fallback(proxy::forward)
        .with_state(proxy::Proxy::new(sandbox))
}

async fn host_page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        HOST_HTML,
    )
        .into_response()
}

async fn host_script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        HOST_JS,
    )
        .into_response()
}

#[derive(Deserialize)]
struct UserQuery {
    #[serde(with = "crate::ids::snowflake")]
    user_id: u64,
}

/// What the client knows before the app starts: READY's config and user.
async fn config(
    State(proxy): State<proxy::Proxy>,
    Query(q): Query<UserQuery>,
) -> ApiResult<Json<Value>> {
    let sandbox = proxy.sandbox();
    let user = sandbox.world(|w| w.user(q.user_id).map(|u| u.to_json()))?;
    Ok(Json(json!({
        "application_id": sandbox.application_id().to_string(),
        "ready": {
            "v": 1,
            "config": {
                "cdn_host": "cdn.discordapp.com",
                "api_endpoint": format!("{}/api", sandbox.base_url()),
                "environment": "production",
            },
            "user": {
                "id": user["id"],
                "username": user["username"],
                "discriminator": "0",
            },
        },
    })))
}

#[derive(Deserialize)]
struct Launch {
    #[serde(with = "crate::ids::snowflake")]
    user_id: u64,
    #[serde(with = "crate::ids::snowflake")]
    channel_id: u64,
}

async fn launch(State(proxy): State<proxy::Proxy>, body: Bytes) -> ApiResult<Json<Value>> {
    let launch: Launch = json_body(&body)?;
    proxy
        .sandbox()
        .join_activity(launch.channel_id, launch.user_id)
        .map(Json)
}

#[derive(Deserialize)]
struct Leave {
    #[serde(with = "crate::ids::snowflake")]
    user_id: u64,
    instance_id: String,
}

/// The page closes (or the user leaves the Activity). Sent with `sendBeacon`, so any content type.
async fn leave(State(proxy): State<proxy::Proxy>, body: Bytes) -> ApiResult<StatusCode> {
    let leave: Leave = json_body(&body)?;
    proxy
        .sandbox()
        .set_activity_participant(&leave.instance_id, leave.user_id, false)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Command {
    #[serde(with = "crate::ids::snowflake")]
    user_id: u64,
    instance_id: String,
    cmd: String,
    #[serde(default)]
    args: Value,
    #[serde(default)]
    evt: Option<String>,
}

/// One SDK command: `{data}` for the reply frame or `{error: {code, message}}` for an ERROR frame.
async fn command(State(proxy): State<proxy::Proxy>, body: Bytes) -> ApiResult<Json<Value>> {
    let command: Command = json_body(&body)?;
    let client = RpcClient {
        user_id: command.user_id,
        instance_id: &command.instance_id,
    };
    let rpc = RpcCommand {
        cmd: &command.cmd,
        args: &command.args,
        evt: command.evt.as_deref(),
    };
    let answer = proxy
        .sandbox()
        .apply(|w| Ok((w.rpc_command(client, rpc), vec![])))?;
    Ok(Json(match answer {
        Ok(data) => json!({ "data": data }),
        Err(error) => json!({ "error": error }),
    }))
}

#[derive(Deserialize)]
struct InstanceQuery {
    instance_id: String,
}

/// Server-sent events: the instance's participants now, then each time they change.
async fn participant_events(
    State(proxy): State<proxy::Proxy>,
    Query(q): Query<InstanceQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let state = (proxy.sandbox().clone(), q.instance_id, None::<Value>);
    let stream = futures_util::stream::unfold(state, |(sandbox, instance_id, last)| async move {
        loop {
            let changed = sandbox
                .wait_for(Duration::from_secs(30), |w| {
                    let now =
                        Value::from(w.activity_participants(&instance_id).unwrap_or_default());
                    (last.as_ref() != Some(&now)).then_some(now)
                })
                .await;
            if let Some(participants) = changed {
                let event =
                    Event::default().data(json!({ "participants": participants }).to_string());
                return Some((Ok(event), (sandbox, instance_id, Some(participants))));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

//! The control API under `/_sandbox`: set up the world, act as members, read back what the
//! app did, inject faults. Thin HTTP over the typed methods of [`Sandbox`].

use crate::activity_host::UrlMapping;
use crate::config::SessionStartLimit;
use crate::error::{ApiError, ApiResult};
use crate::rest::{id, json_body};
use crate::sandbox::Sandbox;
use crate::world::{
    MemberSpec, NewChannel, NewCommandInteraction, NewComponentInteraction, NewGuild,
    NewModalSubmit, NewRole, NewUser, OverwriteSpec,
};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// Every control route: method, path, what it does. Shown by `GET /_sandbox` and the CLI's `--help`.
pub const ROUTES: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/_sandbox",
        "application id, bot user id, URLs and this route list",
    ),
    (
        "GET|POST",
        "/_sandbox/users",
        "list users | create one {username, global_name?, email?}",
    ),
    (
        "GET|POST",
        "/_sandbox/guilds",
        "list guilds | create one {name, owner_id?, bot_permissions?}; the bot joins (GUILD_CREATE)",
    ),
    (
        "DELETE",
        "/_sandbox/guilds/{guild_id}",
        "delete the guild (GUILD_DELETE to the bot)",
    ),
    (
        "POST",
        "/_sandbox/guilds/{guild_id}/channels",
        "create a channel {name, type: 0 text | 2 voice}",
    ),
    (
        "POST",
        "/_sandbox/guilds/{guild_id}/roles",
        "create a role {name, permissions, color?, mentionable?}",
    ),
    (
        "PUT|DELETE",
        "/_sandbox/guilds/{guild_id}/members/{user_id}",
        "add a member or set {roles, nick} (GUILD_MEMBER_ADD/UPDATE; the bot user: joins, GUILD_CREATE) | remove (the bot: leaves, GUILD_DELETE)",
    ),
    (
        "GET",
        "/_sandbox/guilds/{guild_id}/members/{user_id}/permissions",
        "the member's computed permissions",
    ),
    (
        "GET|POST",
        "/_sandbox/channels/{channel_id}/messages",
        "messages newest first, ephemeral included | post as a member {user_id, content}",
    ),
    (
        "PUT|DELETE",
        "/_sandbox/channels/{channel_id}/overwrites/{target_id}",
        "set a permission overwrite {type: 0 role | 1 member, allow, deny} | remove it (CHANNEL_UPDATE)",
    ),
    (
        "GET",
        "/_sandbox/commands?guild_id=",
        "registered commands, global or a guild's",
    ),
    (
        "POST",
        "/_sandbox/interactions/command",
        "run a slash command {guild_id, channel_id, user_id, name, options: [{name, value}]}",
    ),
    (
        "POST",
        "/_sandbox/interactions/autocomplete",
        "type into an option {..command fields, focused: option name}",
    ),
    (
        "POST",
        "/_sandbox/interactions/component",
        "press a button / pick {message_id, user_id, custom_id, values?}",
    ),
    (
        "POST",
        "/_sandbox/interactions/modal",
        "submit a modal {interaction_id, values: {custom_id: text}}",
    ),
    (
        "GET",
        "/_sandbox/interactions",
        "every interaction with its responses, newest first",
    ),
    (
        "GET",
        "/_sandbox/interactions/{id}?wait_ms=",
        "callback, original response and follow-ups (waits for the callback up to wait_ms)",
    ),
    (
        "POST",
        "/_sandbox/oauth2/code",
        "mint an authorization code {user_id, scopes, redirect_uri?} as if the user consented",
    ),
    (
        "GET",
        "/_sandbox/activity-instances/{instance_id}",
        "an Activity instance",
    ),
    (
        "PUT|DELETE",
        "/_sandbox/activity-instances/{instance_id}/users/{user_id}",
        "a user joins | leaves the Activity",
    ),
    (
        "POST",
        "/_sandbox/activity/voice-channels/{channel_id}/users/{user_id}",
        "a member starts or joins the app in a voice channel (the instance; one per channel)",
    ),
    (
        "GET|PUT",
        "/_sandbox/activity/url-mappings",
        "the Activity's URL mappings [{prefix, target}] ('/' is the app itself)",
    ),
    (
        "POST",
        "/_sandbox/faults/activity-latency",
        "delay every message and response through the Activity proxy {base_ms, jitter_ms}, each way",
    ),
    (
        "GET",
        "/_sandbox/gateway/sessions",
        "gateway sessions with seq and connection state",
    ),
    (
        "GET|PUT",
        "/_sandbox/gateway/session-start-limit",
        "the identify budget {total, remaining, reset_after, max_concurrency}; PUT {total, max_concurrency, reset_after_ms, identify_interval_ms} starts a fresh period",
    ),
    (
        "GET",
        "/_sandbox/requests",
        "every REST request with status and time",
    ),
    (
        "POST",
        "/_sandbox/faults/gateway/drop",
        "cut every gateway connection without a close frame",
    ),
    (
        "POST",
        "/_sandbox/faults/gateway/reconnect",
        "send op 7 Reconnect",
    ),
    (
        "POST",
        "/_sandbox/faults/gateway/invalidate",
        "send op 9 Invalid Session {resumable}",
    ),
    (
        "POST",
        "/_sandbox/faults/rate-limit-storm",
        "the next {count} REST requests get 429 with {retry_after_ms}",
    ),
    (
        "POST",
        "/_sandbox/faults/latency",
        "add {ms} (+/- {jitter_ms}, optional) before every REST response",
    ),
];

/// The control routes; any origin may call them, so a console served elsewhere can drive the sandbox.
pub fn router() -> Router<Sandbox> {
    routes().layer(tower_http::cors::CorsLayer::permissive())
}

fn routes() -> Router<Sandbox> {
    Router::new()
        .route("/_sandbox", get(info))
        .route("/_sandbox/users", get(users).post(create_user))
        .route("/_sandbox/guilds", get(guilds).post(create_guild))
        .route(
            "/_sandbox/guilds/{guild_id}",
            axum::routing::delete(remove_guild),
        )
        .route("/_sandbox/guilds/{guild_id}/channels", post(create_channel))
        .route("/_sandbox/guilds/{guild_id}/roles", post(create_role))
        .route(
            "/_sandbox/guilds/{guild_id}/members/{user_id}",
            put(put_member).delete(remove_member),
        )
        .route(
            "/_sandbox/guilds/{guild_id}/members/{user_id}/permissions",
            get(permissions),
        )
        .route(
            "/_sandbox/channels/{channel_id}/messages",
            get(messages).post(post_message),
        )
        .route(
            "/_sandbox/channels/{channel_id}/overwrites/{target_id}",
            put(put_overwrite).delete(remove_overwrite),
        )
        .route("/_sandbox/commands", get(commands))
        .route("/_sandbox/interactions", get(interactions))
        .route("/_sandbox/interactions/command", post(command))
        .route("/_sandbox/interactions/autocomplete", post(autocomplete))
        .route("/_sandbox/interactions/component", post(component))
        .route("/_sandbox/interactions/modal", post(modal))
        .route("/_sandbox/interactions/{interaction_id}", get(interaction))
        .route("/_sandbox/oauth2/code", post(oauth_code))
        .route(
            "/_sandbox/activity-instances/{instance_id}",
            get(activity_instance),
        )
        .route(
            "/_sandbox/activity-instances/{instance_id}/users/{user_id}",
            put(join_activity).delete(leave_activity),
        )
        .route(
            "/_sandbox/activity/voice-channels/{channel_id}/users/{user_id}",
            post(join_channel_activity),
        )
        .route(
            "/_sandbox/activity/url-mappings",
            get(url_mappings).put(set_url_mappings),
        )
        .route("/_sandbox/faults/activity-latency", post(activity_latency))
        .route("/_sandbox/gateway/sessions", get(sessions))
        .route(
            "/_sandbox/gateway/session-start-limit",
            get(session_start_limit).put(set_session_start_limit),
        )
        .route("/_sandbox/requests", get(requests))
        .route("/_sandbox/faults/gateway/drop", post(drop_connections))
        .route("/_sandbox/faults/gateway/reconnect", post(reconnect))
        .route("/_sandbox/faults/gateway/invalidate", post(invalidate))
        .route("/_sandbox/faults/rate-limit-storm", post(storm))
        .route("/_sandbox/faults/latency", post(latency))
}

type Params = Path<HashMap<String, String>>;
type JsonResult = ApiResult<Json<Value>>;

fn to_json(value: impl serde::Serialize) -> JsonResult {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

async fn info(State(sandbox): State<Sandbox>) -> Json<Value> {
    let routes: Vec<Value> = ROUTES
        .iter()
        .map(|(method, path, about)| json!({"method": method, "path": path, "about": about}))
        .collect();
    Json(json!({
        "application_id": sandbox.application_id().to_string(),
        "bot_user_id": sandbox.bot_user_id().to_string(),
        "base_url": sandbox.base_url(),
        "api_url": format!("{}/api/v10", sandbox.base_url()),
        "gateway_url": sandbox.gateway_url(),
        "activity_origin": sandbox.activity_origin(),
        "activity_host": format!("{}/.discord/host?user_id=&channel_id=&platform=desktop", sandbox.activity_origin()),
        "routes": routes,
    }))
}

async fn users(State(sandbox): State<Sandbox>) -> Json<Value> {
    Json(Value::from(sandbox.users()))
}

async fn create_user(State(sandbox): State<Sandbox>, body: Bytes) -> JsonResult {
    let spec: NewUser = json_body(&body)?;
    Ok(Json(sandbox.create_user(spec)?.to_json()))
}

async fn guilds(State(sandbox): State<Sandbox>) -> Json<Value> {
    Json(Value::from(sandbox.guilds()))
}

async fn create_guild(State(sandbox): State<Sandbox>, body: Bytes) -> JsonResult {
    let spec: NewGuild = json_body(&body)?;
    to_json(sandbox.create_guild(spec)?)
}

async fn remove_guild(
    State(sandbox): State<Sandbox>,
    Path(params): Params,
) -> ApiResult<StatusCode> {
    sandbox.remove_guild(id(&params, "guild_id")?)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_channel(
    State(sandbox): State<Sandbox>,
    Path(params): Params,
    body: Bytes,
) -> JsonResult {
    let spec: NewChannel = json_body(&body)?;
    Ok(Json(
        sandbox
            .create_channel(id(&params, "guild_id")?, spec)?
            .to_json(),
    ))
}

async fn create_role(
    State(sandbox): State<Sandbox>,
    Path(params): Params,
    body: Bytes,
) -> JsonResult {
    let spec: NewRole = json_body(&body)?;
    Ok(Json(
        sandbox
            .create_role(id(&params, "guild_id")?, spec)?
            .to_json(),
    ))
}

async fn put_member(
    State(sandbox): State<Sandbox>,
    Path(params): Params,
    body: Bytes,
) -> JsonResult {
    let spec: MemberSpec = if body.is_empty() {
        MemberSpec::default()
    } else {
        json_body(&body)?
    };
    Ok(Json(sandbox.put_member(
        id(&params, "guild_id")?,
        id(&params, "user_id")?,
        spec,
    )?))
}

async fn remove_member(
    State(sandbox): State<Sandbox>,
    Path(params): Params,
) -> ApiResult<StatusCode> {
    sandbox.remove_member(id(&params, "guild_id")?, id(&params, "user_id")?)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn permissions(State(sandbox): State<Sandbox>, Path(params): Params) -> JsonResult {
    let perms = sandbox.member_permissions(id(&params, "guild_id")?, id(&params, "user_id")?)?;
    Ok(Json(json!({"permissions": perms.to_string()})))
}

async fn messages(State(sandbox): State<Sandbox>, Path(params): Params) -> JsonResult {
    Ok(Json(Value::from(
        sandbox.messages(id(&params, "channel_id")?)?,
    )))
}

#[derive(Deserialize)]
struct PostMessage {
    #[serde(with = "crate::ids::snowflake")]
    user_id: u64,
    content: String,
}

async fn post_message(
    State(sandbox): State<Sandbox>,
    Path(params): Params,
    body: Bytes,
) -> JsonResult {
    let body: PostMessage = json_body(&body)?;
    Ok(Json(sandbox.send_message_as(
        id(&params, "channel_id")?,
        body.user_id,
        body.content,
    )?))
}

async fn put_overwrite(
    State(sandbox): State<Sandbox>,
    Path(params): Params,
    body: Bytes,
) -> JsonResult {
    let spec: OverwriteSpec = json_body(&body)?;
    Ok(Json(
        sandbox
            .set_channel_overwrite(id(&params, "channel_id")?, id(&params, "target_id")?, spec)?
            .to_json(),
    ))
}

async fn remove_overwrite(State(sandbox): State<Sandbox>, Path(params): Params) -> JsonResult {
    Ok(Json(
        sandbox
            .remove_channel_overwrite(id(&params, "channel_id")?, id(&params, "target_id")?)?
            .to_json(),
    ))
}

#[derive(Deserialize)]
struct CommandsQuery {
    #[serde(default, with = "crate::ids::snowflake::option")]
    guild_id: Option<u64>,
}

async fn commands(
    State(sandbox): State<Sandbox>,
    Query(query): Query<CommandsQuery>,
) -> JsonResult {
    Ok(Json(Value::from(sandbox.commands(query.guild_id)?)))
}

async fn command(State(sandbox): State<Sandbox>, body: Bytes) -> JsonResult {
    let spec: NewCommandInteraction = json_body(&body)?;
    to_json(sandbox.invoke_command(spec)?)
}

async fn autocomplete(State(sandbox): State<Sandbox>, body: Bytes) -> JsonResult {
    let spec: NewCommandInteraction = json_body(&body)?;
    to_json(sandbox.autocomplete(spec)?)
}

async fn component(State(sandbox): State<Sandbox>, body: Bytes) -> JsonResult {
    let spec: NewComponentInteraction = json_body(&body)?;
    to_json(sandbox.press_component(spec)?)
}

async fn modal(State(sandbox): State<Sandbox>, body: Bytes) -> JsonResult {
    let spec: NewModalSubmit = json_body(&body)?;
    to_json(sandbox.submit_modal(spec)?)
}

async fn interactions(State(sandbox): State<Sandbox>) -> JsonResult {
    to_json(sandbox.interactions())
}

#[derive(Deserialize)]
struct WaitQuery {
    wait_ms: Option<u64>,
}

async fn interaction(
    State(sandbox): State<Sandbox>,
    Path(params): Params,
    Query(query): Query<WaitQuery>,
) -> JsonResult {
    let interaction_id = id(&params, "interaction_id")?;
    if let Some(ms) = query.wait_ms {
        sandbox
            .wait_interaction_response(interaction_id, Duration::from_millis(ms))
            .await;
    }
    to_json(sandbox.interaction(interaction_id)?)
}

#[derive(Deserialize)]
struct CodeRequest {
    #[serde(with = "crate::ids::snowflake")]
    user_id: u64,
    scopes: Vec<String>,
    redirect_uri: Option<String>,
}

async fn oauth_code(State(sandbox): State<Sandbox>, body: Bytes) -> JsonResult {
    let body: CodeRequest = json_body(&body)?;
    Ok(Json(
        json!({"code": sandbox.mint_oauth_code(body.user_id, body.scopes, body.redirect_uri)?}),
    ))
}

async fn activity_instance(State(sandbox): State<Sandbox>, Path(params): Params) -> JsonResult {
    Ok(Json(sandbox.activity_instance(
        params.get("instance_id").map_or("", String::as_str),
    )?))
}

async fn join_activity(State(sandbox): State<Sandbox>, Path(params): Params) -> JsonResult {
    set_participant(sandbox, params, true)
}

async fn leave_activity(State(sandbox): State<Sandbox>, Path(params): Params) -> JsonResult {
    set_participant(sandbox, params, false)
}

fn set_participant(sandbox: Sandbox, params: HashMap<String, String>, present: bool) -> JsonResult {
    let instance_id = params.get("instance_id").cloned().unwrap_or_default();
    Ok(Json(
        sandbox
            .set_activity_participant(&instance_id, id(&params, "user_id")?, present)?
            .unwrap_or(Value::Null),
    ))
}

async fn sessions(State(sandbox): State<Sandbox>) -> JsonResult {
    to_json(sandbox.gateway_sessions())
}

async fn session_start_limit(State(sandbox): State<Sandbox>) -> JsonResult {
    to_json(sandbox.session_start_limit())
}

/// Omitted fields keep Discord's defaults (1000, 1, a day, 5 s).
#[derive(Deserialize)]
struct StartLimit {
    total: Option<u32>,
    max_concurrency: Option<u32>,
    reset_after_ms: Option<u64>,
    identify_interval_ms: Option<u64>,
}

async fn set_session_start_limit(State(sandbox): State<Sandbox>, body: Bytes) -> JsonResult {
    let body: StartLimit = json_body(&body)?;
    if body.max_concurrency == Some(0) {
        return Err(ApiError::invalid_form(
            "max_concurrency",
            "NUMBER_TYPE_MIN",
            "max_concurrency must be at least 1",
        ));
    }
    let default = SessionStartLimit::default();
    sandbox.set_session_start_limit(SessionStartLimit {
        total: body.total.unwrap_or(default.total),
        max_concurrency: body.max_concurrency.unwrap_or(default.max_concurrency),
        reset_after: body
            .reset_after_ms
            .map_or(default.reset_after, Duration::from_millis),
        identify_interval: body
            .identify_interval_ms
            .map_or(default.identify_interval, Duration::from_millis),
    });
    to_json(sandbox.session_start_limit())
}

async fn requests(State(sandbox): State<Sandbox>) -> JsonResult {
    to_json(sandbox.requests())
}

async fn drop_connections(State(sandbox): State<Sandbox>) -> Json<Value> {
    Json(json!({"connections": sandbox.drop_gateway_connections()}))
}

async fn reconnect(State(sandbox): State<Sandbox>) -> Json<Value> {
    Json(json!({"connections": sandbox.send_reconnect()}))
}

#[derive(Deserialize)]
struct Invalidate {
    #[serde(default)]
    resumable: bool,
}

async fn invalidate(State(sandbox): State<Sandbox>, body: Bytes) -> JsonResult {
    let body: Invalidate = if body.is_empty() {
        Invalidate { resumable: false }
    } else {
        json_body(&body)?
    };
    Ok(Json(
        json!({"connections": sandbox.invalidate_sessions(body.resumable)}),
    ))
}

#[derive(Deserialize)]
struct Storm {
    count: u32,
    retry_after_ms: u64,
}

async fn storm(State(sandbox): State<Sandbox>, body: Bytes) -> ApiResult<StatusCode> {
    let body: Storm = json_body(&body)?;
    sandbox.rate_limit_storm(body.count, Duration::from_millis(body.retry_after_ms));
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct Latency {
    ms: u64,
    #[serde(default)]
    jitter_ms: u64,
}

async fn latency(State(sandbox): State<Sandbox>, body: Bytes) -> ApiResult<StatusCode> {
    let body: Latency = json_body(&body)?;
    sandbox.set_latency_jitter(
        Duration::from_millis(body.ms),
        Duration::from_millis(body.jitter_ms),
    );
    Ok(StatusCode::NO_CONTENT)
}

async fn join_channel_activity(State(sandbox): State<Sandbox>, Path(params): Params) -> JsonResult {
    Ok(Json(sandbox.join_activity(
        id(&params, "channel_id")?,
        id(&params, "user_id")?,
    )?))
}

async fn url_mappings(State(sandbox): State<Sandbox>) -> JsonResult {
    to_json(sandbox.url_mappings())
}

async fn set_url_mappings(State(sandbox): State<Sandbox>, body: Bytes) -> JsonResult {
    let mappings: Vec<UrlMapping> = json_body(&body)?;
    if let Some(bad) = mappings
        .iter()
        .find(|m| !m.prefix.starts_with('/') || m.target.is_empty())
    {
        return Err(ApiError::invalid_form(
            "prefix",
            "URL_MAPPING_INVALID",
            &format!("A mapping needs a prefix starting with / and a target: {bad:?}"),
        ));
    }
    sandbox.set_url_mappings(mappings.clone());
    to_json(mappings)
}

#[derive(Deserialize)]
struct ActivityLatency {
    base_ms: u64,
    #[serde(default)]
    jitter_ms: u64,
}

async fn activity_latency(State(sandbox): State<Sandbox>, body: Bytes) -> ApiResult<StatusCode> {
    let body: ActivityLatency = json_body(&body)?;
    if body.jitter_ms > body.base_ms {
        return Err(ApiError::invalid_form(
            "jitter_ms",
            "NUMBER_TYPE_MAX",
            "jitter_ms must not exceed base_ms",
        ));
    }
    sandbox.set_activity_latency(crate::activity_host::Latency {
        base: Duration::from_millis(body.base_ms),
        jitter: Duration::from_millis(body.jitter_ms),
    });
    Ok(StatusCode::NO_CONTENT)
}

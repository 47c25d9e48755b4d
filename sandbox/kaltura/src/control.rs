//! The control API under `/_sandbox`: see and set the fault knobs, rotate a partner's admin
//! secret, publish an entry as an upload would. Thin HTTP over [`Knobs`](crate::Knobs) and the
//! services; bad input is a 400 that changes nothing.

use crate::faults::{BadKnob, Errors, RefuseKs, Slow};
use crate::params::Params;
use crate::services::media;
use crate::state::Sandbox;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;

type Shared = Arc<Sandbox>;

/// Every control route: method, path, what it does. Shown by `GET /_sandbox` and the CLI's `--help`.
pub const ROUTES: &[(&str, &str, &str)] = &[
    (
        "GET",
        "/_sandbox",
        "partner id, service url, the faults in force and this route list",
    ),
    (
        "GET|DELETE",
        "/_sandbox/faults",
        "the faults in force and the api_v3 request count | clear every fault",
    ),
    (
        "PUT|DELETE",
        "/_sandbox/faults/slow",
        "answer late {delay_ms, jitter_ms?, service?} (delay +/- jitter, uniform) | prompt again",
    ),
    (
        "PUT|DELETE",
        "/_sandbox/faults/errors",
        "HTML 5xx pages {status?: 500, share?: 1.0, seconds?, count?, service?} | stop",
    ),
    (
        "PUT|DELETE",
        "/_sandbox/faults/refuse-ks",
        "refuse valid KS with INVALID_KS {reason?: EXPIRED | INVALID_STR | LOGOUT | ..., count?, service?} | accept again",
    ),
    (
        "PUT",
        "/_sandbox/faults/esearch",
        "{enabled: false}: eSearch answers SERVICE_FORBIDDEN, as without the plugin",
    ),
    (
        "POST",
        "/_sandbox/partners/{partner_id}/rotate-secret",
        "new admin secret {secret?} (random when absent): sessions signed with the old one are refused (-1,INVALID_STR)",
    ),
    (
        "POST",
        "/_sandbox/partners/{partner_id}/entries",
        "an upload that finishes {name, description?, tags?, categories?, userId?, duration? (s), recording?: false}: the entry is added, then READY, each change sent to the notification templates; answers the entry",
    ),
    (
        "POST",
        "/_sandbox/events/{event_id}/recording",
        "the meeting is recorded: an entry from the event's templateEntryId is added, then READY (both notified); answers the entry",
    ),
    (
        "PUT",
        "/_sandbox/partners/{partner_id}/status",
        "{status: active | blocked | fullyBlocked}: a blocked partner's calls, session.start included, answer SERVICE_FORBIDDEN_CONTENT_BLOCKED (or _FULLY_BLOCKED)",
    ),
];

pub fn router() -> Router<Shared> {
    Router::new()
        .route("/_sandbox", get(info))
        .route("/_sandbox/faults", get(faults).delete(clear))
        .route("/_sandbox/faults/slow", put(set_slow).delete(end_slow))
        .route(
            "/_sandbox/faults/errors",
            put(set_errors).delete(end_errors),
        )
        .route(
            "/_sandbox/faults/refuse-ks",
            put(set_refuse_ks).delete(end_refuse_ks),
        )
        .route("/_sandbox/faults/esearch", put(set_esearch))
        .route(
            "/_sandbox/partners/{partner_id}/rotate-secret",
            post(rotate_secret),
        )
        .route("/_sandbox/partners/{partner_id}/entries", post(publish))
        .route("/_sandbox/partners/{partner_id}/status", put(set_status))
        .route("/_sandbox/events/{event_id}/recording", post(record))
        .layer(tower_http::cors::CorsLayer::permissive())
}

/// A refused control request: its status and why.
pub(crate) struct Refused(pub StatusCode, pub String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

impl From<BadKnob> for Refused {
    fn from(bad: BadKnob) -> Self {
        Refused(StatusCode::BAD_REQUEST, bad.0)
    }
}

fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, Refused> {
    serde_json::from_slice(bytes)
        .map_err(|e| Refused(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

async fn info(State(sandbox): State<Shared>) -> Json<Value> {
    let routes: Vec<Value> = ROUTES
        .iter()
        .map(|(method, path, about)| json!({"method": method, "path": path, "about": about}))
        .collect();
    Json(json!({
        "partner_id": sandbox.primary().id,
        "service_url": sandbox.base_url,
        "api_url": format!("{}/api_v3", sandbox.base_url),
        "faults": sandbox.knobs.to_json(),
        "routes": routes,
    }))
}

async fn faults(State(sandbox): State<Shared>) -> Json<Value> {
    Json(sandbox.knobs.to_json())
}

async fn clear(State(sandbox): State<Shared>) -> Json<Value> {
    sandbox.knobs.clear();
    Json(sandbox.knobs.to_json())
}

async fn set_slow(State(sandbox): State<Shared>, bytes: Bytes) -> Result<Json<Value>, Refused> {
    sandbox.knobs.set_slow(Some(body::<Slow>(&bytes)?))?;
    Ok(Json(sandbox.knobs.to_json()))
}

async fn end_slow(State(sandbox): State<Shared>) -> Json<Value> {
    sandbox.knobs.set_slow(None).expect("clearing is valid");
    Json(sandbox.knobs.to_json())
}

async fn set_errors(State(sandbox): State<Shared>, bytes: Bytes) -> Result<Json<Value>, Refused> {
    sandbox.knobs.set_errors(Some(body::<Errors>(&bytes)?))?;
    Ok(Json(sandbox.knobs.to_json()))
}

async fn end_errors(State(sandbox): State<Shared>) -> Json<Value> {
    sandbox.knobs.set_errors(None).expect("clearing is valid");
    Json(sandbox.knobs.to_json())
}

async fn set_refuse_ks(
    State(sandbox): State<Shared>,
    bytes: Bytes,
) -> Result<Json<Value>, Refused> {
    // An empty body takes the defaults (every KS refused as EXPIRED).
    let refuse: RefuseKs = if bytes.is_empty() {
        body(&Bytes::from_static(b"{}"))?
    } else {
        body(&bytes)?
    };
    sandbox.knobs.set_refuse_ks(Some(refuse))?;
    Ok(Json(sandbox.knobs.to_json()))
}

async fn end_refuse_ks(State(sandbox): State<Shared>) -> Json<Value> {
    sandbox
        .knobs
        .set_refuse_ks(None)
        .expect("clearing is valid");
    Json(sandbox.knobs.to_json())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Esearch {
    enabled: bool,
}

async fn set_esearch(State(sandbox): State<Shared>, bytes: Bytes) -> Result<Json<Value>, Refused> {
    let Esearch { enabled } = body(&bytes)?;
    sandbox.knobs.set_esearch_enabled(enabled);
    Ok(Json(sandbox.knobs.to_json()))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotate {
    secret: Option<String>,
}

/// An entry arriving as an upload does: media added, then transcoded.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Publish {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: String,
    /// Full category names, comma-separated, as `entry.categories` holds them.
    #[serde(default)]
    categories: String,
    #[serde(default)]
    user_id: String,
    /// Seconds.
    #[serde(default)]
    duration: u32,
    /// A meeting's or live stream's recording (`sourceType` 36, RECORDED_LIVE) rather than a
    /// file upload (1).
    #[serde(default)]
    recording: bool,
}

async fn publish(
    State(sandbox): State<Shared>,
    Path(partner_id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, Refused> {
    let partner_id = known_partner(&sandbox, &partner_id)?;
    let publish: Publish = body(&bytes)?;
    if publish.name.trim().is_empty() {
        return Err(Refused(StatusCode::BAD_REQUEST, "name is required".into()));
    }
    let source = if publish.recording { "36" } else { "1" };
    let added = json!({
        "name": publish.name, "description": publish.description, "tags": publish.tags,
        "categories": publish.categories, "userId": publish.user_id,
        "creatorId": publish.user_id, "sourceType": source,
    });
    let entry = media::create(&sandbox, partner_id, &publish.user_id, Params(&added));
    let id = entry["id"].as_str().unwrap_or_default().to_string();
    let ready = json!({
        "status": "2", "duration": publish.duration,
        "msDuration": u64::from(publish.duration) * 1000,
    });
    let entry = media::change(&sandbox, &id, Some(Params(&ready)))
        .map_err(|e| Refused(StatusCode::CONFLICT, e.message))?;
    Ok(Json(entry))
}

fn known_partner(sandbox: &Sandbox, partner_id: &str) -> Result<i64, Refused> {
    let id: i64 = partner_id.parse().map_err(|_| {
        Refused(
            StatusCode::BAD_REQUEST,
            format!("partner id must be a number, not {partner_id:?}"),
        )
    })?;
    sandbox
        .partner(id)
        .map(|_| id)
        .ok_or_else(|| Refused(StatusCode::NOT_FOUND, format!("no partner {id}")))
}

async fn rotate_secret(
    State(sandbox): State<Shared>,
    Path(partner_id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, Refused> {
    let partner_id = known_partner(&sandbox, &partner_id)?;
    let Rotate { secret } = if bytes.is_empty() {
        Rotate::default()
    } else {
        body(&bytes)?
    };
    let secret = rotate(&sandbox, partner_id, secret)?;
    // The sandbox's own throw-away secret: handing it back is the point.
    Ok(Json(
        json!({"partner_id": partner_id, "admin_secret": secret}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Status {
    status: crate::faults::PartnerStatus,
}

async fn set_status(
    State(sandbox): State<Shared>,
    Path(partner_id): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, Refused> {
    let id = partner_id
        .parse()
        .ok()
        .filter(|id| sandbox.partner(*id).is_some())
        .ok_or_else(|| {
            Refused(
                StatusCode::NOT_FOUND,
                format!("no partner {partner_id:?} in this sandbox"),
            )
        })?;
    let Status { status } = body(&bytes)?;
    sandbox.knobs.set_partner_status(id, status);
    Ok(Json(sandbox.knobs.to_json()))
}

async fn record(
    State(sandbox): State<Shared>,
    Path(event_id): Path<String>,
) -> Result<Json<Value>, Refused> {
    let id: i64 = event_id.parse().map_err(|_| {
        Refused(
            StatusCode::BAD_REQUEST,
            format!("event id must be a number, not {event_id:?}"),
        )
    })?;
    crate::services::record(&sandbox, id)
        .map(Json)
        .map_err(|e| Refused(StatusCode::NOT_FOUND, e))
}

/// Give the partner a new admin secret (`secret`, or a random one) and return it.
pub(crate) fn rotate(
    sandbox: &Sandbox,
    partner_id: i64,
    secret: Option<String>,
) -> Result<String, Refused> {
    let Some(partner) = sandbox.partner(partner_id) else {
        return Err(Refused(
            StatusCode::NOT_FOUND,
            format!("no partner {partner_id} in this sandbox"),
        ));
    };
    let secret = secret.unwrap_or_else(crate::random_secret);
    if secret.is_empty() || secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "secret must be non-empty, without spaces or control characters".into(),
        ));
    }
    if secret == partner.user_secret {
        return Err(Refused(
            StatusCode::BAD_REQUEST,
            "secret must differ from the partner's user secret".into(),
        ));
    }
    sandbox.knobs.rotate_secret(partner_id, secret.clone());
    Ok(secret)
}

//! `/api/v1/meetings`: the guild's Kaltura meetings, with the rules of `/kaltura-list`,
//! `/kaltura-start`, `/kaltura-end` and `/kaltura-join`: HTTP request -> the core's operation
//! -> JSON.

use crate::AppState;
use crate::access::allow;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, RouteErrors};
use crate::extract::{ApiJson, ApiPath};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kd_core::command::Command;
use kd_core::meetings::{self, Meeting, MeetingId, MeetingKind, NewMeeting};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MeetingType {
    Meeting,
    Webinar,
    Classroom,
}

impl From<MeetingType> for MeetingKind {
    fn from(t: MeetingType) -> Self {
        match t {
            MeetingType::Meeting => MeetingKind::Meeting,
            MeetingType::Webinar => MeetingKind::Webinar,
            MeetingType::Classroom => MeetingKind::Classroom,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeetingOut {
    /// Kaltura schedule event id.
    #[schema(example = "100001")]
    pub id: String,
    pub title: String,
    /// meeting, webinar or classroom (meeting when started outside this bot).
    #[serde(rename = "type")]
    pub kind: String,
    pub description: Option<String>,
    /// Unix seconds.
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    /// Discord user id of who started it, when started through this bot.
    pub created_by: Option<String>,
}

impl From<Meeting> for MeetingOut {
    fn from(m: Meeting) -> Self {
        Self {
            id: m.id,
            title: m.title,
            kind: m.kind,
            description: m.description,
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            created_by: m.created_by,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeetingList {
    pub meetings: Vec<MeetingOut>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMeetingIn {
    #[serde(rename = "type")]
    pub kind: MeetingType,
    /// Shown to participants.
    #[schema(min_length = 1, max_length = 100)]
    pub title: String,
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JoinLinkOut {
    /// The personal link; the Kaltura session is minted when it is opened.
    pub url: String,
    /// Unix seconds after which the link no longer works.
    pub expires_at: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MeetingPath {
    /// Kaltura schedule event id.
    #[param(pattern = r"^[0-9]{1,19}$", example = "100001")]
    pub meeting_id: String,
}

/// The guild's active meetings.
#[utoipa::path(
    get,
    path = "/meetings",
    operation_id = "listMeetings",
    tag = "meetings",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Active meetings", body = MeetingList),
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        RouteErrors,
    )
)]
pub async fn list(
    State(api): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<MeetingList>, ApiError> {
    let who = allow(&api, &caller, Command::List).await?;
    let meetings = meetings::list(&api.services(), &who).await?;
    Ok(Json(MeetingList {
        meetings: meetings.into_iter().map(MeetingOut::from).collect(),
    }))
}

/// Start a meeting (the rules of `/kaltura-start`).
#[utoipa::path(
    post,
    path = "/meetings",
    operation_id = "startMeeting",
    tag = "meetings",
    security(("bearer" = [])),
    request_body = NewMeetingIn,
    responses(
        (status = 201, description = "Started", body = MeetingOut),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        RouteErrors,
    )
)]
pub async fn create(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<NewMeetingIn>,
) -> Result<(StatusCode, Json<MeetingOut>), ApiError> {
    let who = allow(&api, &caller, Command::Start).await?;
    let new = NewMeeting::new(body.kind.into(), &body.title, body.description.as_deref())?;
    let meeting = meetings::start(&api.services(), &who, &new, None).await?;
    Ok((StatusCode::CREATED, Json(meeting.into())))
}

/// One active meeting.
#[utoipa::path(
    get,
    path = "/meetings/{meeting_id}",
    operation_id = "getMeeting",
    tag = "meetings",
    security(("bearer" = [])),
    params(MeetingPath),
    responses(
        (status = 200, description = "The meeting", body = MeetingOut),
        (status = 400, description = "Not a meeting id", body = ErrorBody),
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 404, description = "No such active meeting in the guild", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        RouteErrors,
    )
)]
pub async fn get(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiPath(path): ApiPath<MeetingPath>,
) -> Result<Json<MeetingOut>, ApiError> {
    let who = allow(&api, &caller, Command::List).await?;
    let id = MeetingId::parse(&path.meeting_id)?;
    Ok(Json(
        meetings::get(&api.services(), &who, &id).await?.into(),
    ))
}

/// End a meeting: its starter, or a moderator or admin by the role mapping (`/kaltura-end`).
#[utoipa::path(
    post,
    path = "/meetings/{meeting_id}/end",
    operation_id = "endMeeting",
    tag = "meetings",
    security(("bearer" = [])),
    params(MeetingPath),
    responses(
        (status = 200, description = "Ended; the meeting as it was", body = MeetingOut),
        (status = 400, description = "Not a meeting id", body = ErrorBody),
        (status = 403, description = "Not allowed, or not the starter and not a moderator", body = ErrorBody),
        (status = 404, description = "No such active meeting in the guild", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        RouteErrors,
    )
)]
pub async fn end(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiPath(path): ApiPath<MeetingPath>,
) -> Result<Json<MeetingOut>, ApiError> {
    let who = allow(&api, &caller, Command::End).await?;
    let id = MeetingId::parse(&path.meeting_id)?;
    Ok(Json(
        meetings::end(&api.services(), &who, &id).await?.into(),
    ))
}

/// The caller's personal join link (`/kaltura-join`): signed, short-lived, with the Kaltura
/// role their Discord roles map to; the Kaltura session is minted when it is opened.
#[utoipa::path(
    post,
    path = "/meetings/{meeting_id}/join-link",
    operation_id = "createJoinLink",
    tag = "meetings",
    security(("bearer" = [])),
    params(MeetingPath),
    responses(
        (status = 200, description = "The link", body = JoinLinkOut),
        (status = 400, description = "Not a meeting id", body = ErrorBody),
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 404, description = "No such active meeting in the guild", body = ErrorBody),
        (status = 503, description = "Kaltura or the public URL not configured", body = ErrorBody),
        RouteErrors,
    )
)]
pub async fn join_link(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiPath(path): ApiPath<MeetingPath>,
) -> Result<Json<JoinLinkOut>, ApiError> {
    let who = allow(&api, &caller, Command::Join).await?;
    let id = MeetingId::parse(&path.meeting_id)?;
    let link = meetings::join_link(&api.services(), &who, &id).await?;
    Ok(Json(JoinLinkOut {
        url: link.url,
        expires_at: link.expires_at,
    }))
}

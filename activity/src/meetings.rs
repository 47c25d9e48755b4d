//! `/api/v1/meetings`: the guild's Kaltura meetings, with the rules of `/kaltura-list`,
//! `/kaltura-start`, `/kaltura-end` and `/kaltura-join`.

use crate::access::{Access, allow};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::{Api, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kd_bot::execute::{self, GuildMeeting};
use kd_bot::invocation::Value;
use kd_bot::logic::{MeetingKind, Plan};
use kd_kaltura::Client;
use kd_kaltura::types::ScheduleEvent;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The longest title and description, as the slash command's options allow.
const MAX_TITLE: usize = 100;
const MAX_DESCRIPTION: usize = 500;

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

impl MeetingPath {
    /// Kaltura event ids are numbers; anything else is not one.
    fn checked(self) -> Result<String, ApiError> {
        let ok = (1..=19).contains(&self.meeting_id.len())
            && self.meeting_id.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(self.meeting_id)
        } else {
            Err(ApiError::bad_request("That is not a Kaltura meeting id."))
        }
    }
}

async fn out(api: &Api, guild_id: &str, event: &ScheduleEvent) -> MeetingOut {
    let record = api
        .store
        .meeting(guild_id, &event.id.to_string())
        .await
        .ok()
        .flatten();
    MeetingOut {
        id: event.id.to_string(),
        title: event
            .summary
            .clone()
            .unwrap_or_else(|| format!("Meeting {}", event.id)),
        kind: record
            .as_ref()
            .map_or_else(|| "meeting".to_string(), |r| r.kind.clone()),
        description: event.description.clone(),
        starts_at: event.start_date,
        ends_at: event.end_date,
        created_by: record.map(|r| r.created_by),
    }
}

/// The guild's active meeting with this id, from Kaltura (the source of truth).
async fn active(client: &Client, access: &Access, id: &str) -> Result<ScheduleEvent, ApiError> {
    client
        .meeting_list_active(&access.inv.guild_id)
        .await
        .map_err(|e| ApiError::kaltura(&e))?
        .into_iter()
        .find(|m| m.id.to_string() == id)
        .ok_or_else(|| {
            ApiError::not_found(
                "meeting_not_found",
                format!("No active meeting with id {id} on this server."),
            )
        })
}

pub(crate) fn unexpected(plan: &Plan) -> ApiError {
    tracing::error!(
        ?plan,
        "the command logic planned something this route does not run"
    );
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Something went wrong on our side.",
    )
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
        (status = 401, description = "Missing, invalid or expired API token", body = ErrorBody),
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 502, description = "Kaltura unreachable", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        (status = 504, description = "Kaltura timed out", body = ErrorBody),
    )
)]
pub async fn list(
    State(api): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<MeetingList>, ApiError> {
    let access = allow(&api, &caller, "kaltura-list").await?;
    let client = access.client(&api)?;
    let events = client
        .meeting_list_active(&caller.guild)
        .await
        .map_err(|e| ApiError::kaltura(&e))?;
    let mut meetings = Vec::with_capacity(events.len());
    for event in &events {
        meetings.push(out(&api, &caller.guild, event).await);
    }
    Ok(Json(MeetingList { meetings }))
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
        (status = 401, description = "Missing, invalid or expired API token", body = ErrorBody),
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 502, description = "Kaltura unreachable", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        (status = 504, description = "Kaltura timed out", body = ErrorBody),
    )
)]
pub async fn create(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiJson(body): ApiJson<NewMeetingIn>,
) -> Result<(StatusCode, Json<MeetingOut>), ApiError> {
    let mut access = allow(&api, &caller, "kaltura-start").await?;
    if body.title.chars().count() > MAX_TITLE {
        return Err(ApiError::bad_request(format!(
            "title is longer than {MAX_TITLE} characters."
        )));
    }
    if body.description.as_ref().map_or(0, |d| d.chars().count()) > MAX_DESCRIPTION {
        return Err(ApiError::bad_request(format!(
            "description is longer than {MAX_DESCRIPTION} characters."
        )));
    }
    let kind = MeetingKind::from(body.kind);
    let mut options = vec![
        ("type", Value::Text(kind.as_str().into())),
        ("title", Value::Text(body.title)),
    ];
    if let Some(description) = body.description {
        options.push(("description", Value::Text(description)));
    }
    let plan = access.plan(&options)?;
    let Plan::StartMeeting {
        kind,
        title,
        description,
    } = plan
    else {
        return Err(unexpected(&plan));
    };
    let client = access.client(&api)?;
    let (_, event) = execute::start_meeting(
        &client,
        &api.store,
        access.partner()?,
        &GuildMeeting {
            guild_id: &caller.guild,
            member_id: &caller.sub,
            kind,
            title: &title,
            description: description.as_deref(),
        },
    )
    .await
    .map_err(|e| ApiError::kaltura(&e))?;
    Ok((
        StatusCode::CREATED,
        Json(out(&api, &caller.guild, &event).await),
    ))
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
        (status = 401, description = "Missing, invalid or expired API token", body = ErrorBody),
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 404, description = "No such active meeting in the guild", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 502, description = "Kaltura unreachable", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        (status = 504, description = "Kaltura timed out", body = ErrorBody),
    )
)]
pub async fn get(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiPath(path): ApiPath<MeetingPath>,
) -> Result<Json<MeetingOut>, ApiError> {
    let access = allow(&api, &caller, "kaltura-list").await?;
    let meeting_id = path.checked()?;
    let client = access.client(&api)?;
    let event = active(&client, &access, &meeting_id).await?;
    Ok(Json(out(&api, &caller.guild, &event).await))
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
        (status = 401, description = "Missing, invalid or expired API token", body = ErrorBody),
        (status = 403, description = "Not allowed, or not the starter and not a moderator", body = ErrorBody),
        (status = 404, description = "No such active meeting in the guild", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 502, description = "Kaltura unreachable", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        (status = 504, description = "Kaltura timed out", body = ErrorBody),
    )
)]
pub async fn end(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiPath(path): ApiPath<MeetingPath>,
) -> Result<Json<MeetingOut>, ApiError> {
    let mut access = allow(&api, &caller, "kaltura-end").await?;
    let meeting_id = path.checked()?;
    let plan = access.plan(&[("meeting-id", Value::Text(meeting_id.clone()))])?;
    let Plan::EndMeeting { moderator, .. } = plan else {
        return Err(unexpected(&plan));
    };
    let client = access.client(&api)?;
    let event = active(&client, &access, &meeting_id).await?;
    let record = api
        .store
        .meeting(&caller.guild, &meeting_id)
        .await
        .ok()
        .flatten();
    if !execute::may_end(record.as_ref(), &event, &caller.sub, moderator) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_meeting_owner",
            "Only the member who started this meeting, or a moderator, can end it.",
        ));
    }
    let shown = out(&api, &caller.guild, &event).await;
    execute::end_meeting(&client, &api.store, &caller.guild, &event, &caller.sub)
        .await
        .map_err(|e| ApiError::kaltura(&e))?;
    Ok(Json(shown))
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
        (status = 401, description = "Missing, invalid or expired API token", body = ErrorBody),
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 404, description = "No such active meeting in the guild", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 502, description = "Kaltura unreachable", body = ErrorBody),
        (status = 503, description = "Kaltura or the public URL not configured", body = ErrorBody),
        (status = 504, description = "Kaltura timed out", body = ErrorBody),
    )
)]
pub async fn join_link(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiPath(path): ApiPath<MeetingPath>,
) -> Result<Json<JoinLinkOut>, ApiError> {
    let mut access = allow(&api, &caller, "kaltura-join").await?;
    let meeting_id = path.checked()?;
    let plan = access.plan(&[("meeting-id", Value::Text(meeting_id.clone()))])?;
    let Plan::JoinLink { role, .. } = plan else {
        return Err(unexpected(&plan));
    };
    let Some(public_url) = access.config.application.public_url.clone() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "join_links_unavailable",
            "Join links need the application's public URL (spec.activity.publicUrl).",
        ));
    };
    let client = access.client(&api)?;
    let event = active(&client, &access, &meeting_id).await?;
    let claims = execute::join_claims(
        &access.inv.member,
        &caller.guild,
        &event.id.to_string(),
        &access.declared.partner,
        &role,
    );
    Ok(Json(JoinLinkOut {
        url: execute::join_url(&public_url, &api.join_key, &claims),
        expires_at: claims.exp,
    }))
}

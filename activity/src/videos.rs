//! `/api/v1/videos`: search the partner's videos and link to them, with the rules of
//! `/kaltura-video-search` (and its Share button for playback links).

use crate::AppState;
use crate::access::allow;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};
use axum::Json;
use axum::extract::State;
use kd_bot::invocation::Value;
use kd_bot::logic::{self, Plan};
use kd_kaltura::types::{MediaEntry, Pager};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The longest query (what a search button of the bot can carry).
const MAX_QUERY: usize = 60;
/// Kaltura pages through the first 10,000 results.
const MAX_PAGE: u32 = 1000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Words to look for.
    #[param(min_length = 1, max_length = 60)]
    pub q: String,
    /// 1-based page.
    #[param(minimum = 1, maximum = 1000)]
    pub page: Option<u32>,
    /// Results per page (1 to 8, 5 when absent).
    #[param(minimum = 1, maximum = 8)]
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VideoOut {
    #[schema(example = "0_abc123")]
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// Seconds.
    pub duration: Option<i64>,
    pub thumbnail_url: Option<String>,
    /// Kaltura user id of the owner.
    pub owner: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SearchOut {
    pub videos: Vec<VideoOut>,
    pub page: u32,
    pub limit: u32,
    /// Matches in all.
    pub total: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlaybackOut {
    pub entry_id: String,
    /// Kaltura's player page of the video (what the bot's Share button posts).
    pub player_url: String,
}

impl From<MediaEntry> for VideoOut {
    fn from(entry: MediaEntry) -> Self {
        Self {
            id: entry.id,
            name: entry.name,
            description: entry.description,
            duration: entry.duration,
            thumbnail_url: entry.thumbnail_url,
            owner: entry.user_id,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EntryPath {
    /// Kaltura entry id.
    #[param(pattern = r"^[0-9A-Za-z_]{1,64}$", example = "0_abc123")]
    pub entry_id: String,
}

/// Kaltura entry ids are short and of letters, digits and underscores; anything else is not one.
fn check_entry_id(id: &str) -> Result<(), ApiError> {
    let ok =
        (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request("That is not a Kaltura entry id."))
    }
}

/// Search the partner's videos.
#[utoipa::path(
    get,
    path = "/videos",
    operation_id = "searchVideos",
    tag = "videos",
    security(("bearer" = [])),
    params(SearchParams),
    responses(
        (status = 200, description = "One page of results", body = SearchOut),
        (status = 400, description = "Invalid parameters", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API token", body = ErrorBody),
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 502, description = "Kaltura unreachable", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        (status = 504, description = "Kaltura timed out", body = ErrorBody),
    )
)]
pub async fn search(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchOut>, ApiError> {
    let mut access = allow(&api, &caller, "kaltura-video-search").await?;
    if params.q.chars().count() > MAX_QUERY {
        return Err(ApiError::bad_request(format!(
            "q is longer than {MAX_QUERY} characters."
        )));
    }
    let page = params.page.unwrap_or(1);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(ApiError::bad_request(format!(
            "page must be between 1 and {MAX_PAGE}."
        )));
    }
    if params
        .limit
        .is_some_and(|l| !(1..=logic::MAX_PAGE_SIZE).contains(&l))
    {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {}.",
            logic::MAX_PAGE_SIZE
        )));
    }
    let mut options = vec![("query", Value::Text(params.q))];
    if let Some(limit) = params.limit {
        options.push(("limit", Value::Integer(limit.into())));
    }
    let plan = access.plan(&options)?;
    let Plan::Search { query, limit, .. } = plan else {
        return Err(crate::meetings::unexpected(&plan));
    };
    let client = access.client(&api)?;
    let results = client
        .search_entries(&query, Pager::new(limit, page))
        .await
        .map_err(|e| ApiError::kaltura(&e))?;
    Ok(Json(SearchOut {
        videos: results.entries.into_iter().map(VideoOut::from).collect(),
        page,
        limit,
        total: results.total_count,
    }))
}

/// One video.
#[utoipa::path(
    get,
    path = "/videos/{entry_id}",
    operation_id = "getVideo",
    tag = "videos",
    security(("bearer" = [])),
    params(EntryPath),
    responses(
        (status = 200, description = "The video", body = VideoOut),
        (status = 400, description = "Not an entry id", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API token", body = ErrorBody),
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 502, description = "Kaltura unreachable", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        (status = 504, description = "Kaltura timed out", body = ErrorBody),
    )
)]
pub async fn get(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiPath(EntryPath { entry_id }): ApiPath<EntryPath>,
) -> Result<Json<VideoOut>, ApiError> {
    let access = allow(&api, &caller, "kaltura-video-search").await?;
    check_entry_id(&entry_id)?;
    let entry = access
        .client(&api)?
        .media_get(&entry_id)
        .await
        .map_err(|e| ApiError::kaltura(&e))?;
    Ok(Json(entry.into()))
}

/// A link to play the video (the player page the bot's Share button posts).
#[utoipa::path(
    get,
    path = "/videos/{entry_id}/playback",
    operation_id = "getPlaybackLink",
    tag = "videos",
    security(("bearer" = [])),
    params(EntryPath),
    responses(
        (status = 200, description = "The playback link", body = PlaybackOut),
        (status = 400, description = "Not an entry id", body = ErrorBody),
        (status = 401, description = "Missing, invalid or expired API token", body = ErrorBody),
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 502, description = "Kaltura unreachable", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        (status = 504, description = "Kaltura timed out", body = ErrorBody),
    )
)]
pub async fn playback(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiPath(EntryPath { entry_id }): ApiPath<EntryPath>,
) -> Result<Json<PlaybackOut>, ApiError> {
    let access = allow(&api, &caller, "kaltura-video-search").await?;
    check_entry_id(&entry_id)?;
    let partner = access.partner()?;
    let entry = access
        .client(&api)?
        .media_get(&entry_id)
        .await
        .map_err(|e| ApiError::kaltura(&e))?;
    Ok(Json(PlaybackOut {
        player_url: logic::player_url(
            &partner.service_url,
            partner.partner_id,
            partner.player_ui_conf_id,
            &entry.id,
        ),
        entry_id: entry.id,
    }))
}

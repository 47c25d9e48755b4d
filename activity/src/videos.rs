//! `/api/v1/videos`: search the partner's videos and link to them, with the rules of
//! `/kaltura-video-search` (and its Share button for playback links).

use crate::AppState;
use crate::access::allow;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody, RouteErrors};
use crate::extract::{ApiPath, ApiQuery};
use axum::Json;
use axum::extract::State;
use kd_core::command::Command;
use kd_core::videos::{self, EntryId, Search, Video};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

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

impl From<Video> for VideoOut {
    fn from(v: Video) -> Self {
        Self {
            id: v.id,
            name: v.name,
            description: v.description,
            duration: v.duration_secs,
            thumbnail_url: v.thumbnail_url,
            owner: v.owner,
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
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        RouteErrors,
    )
)]
pub async fn search(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> Result<Json<SearchOut>, ApiError> {
    let who = allow(&api, &caller, Command::VideoSearch).await?;
    let search = Search::new(&params.q, params.page, params.limit)?;
    let found = videos::search(&api.services(), &who, &search).await?;
    Ok(Json(SearchOut {
        videos: found.videos.into_iter().map(VideoOut::from).collect(),
        page: found.page,
        limit: found.limit,
        total: found.total,
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
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        RouteErrors,
    )
)]
pub async fn get(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiPath(path): ApiPath<EntryPath>,
) -> Result<Json<VideoOut>, ApiError> {
    let who = allow(&api, &caller, Command::VideoSearch).await?;
    let id = EntryId::parse(&path.entry_id)?;
    Ok(Json(videos::get(&api.services(), &who, &id).await?.into()))
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
        (status = 403, description = "Not allowed by the guild's configuration", body = ErrorBody),
        (status = 404, description = "No such video", body = ErrorBody),
        (status = 503, description = "Kaltura not configured", body = ErrorBody),
        RouteErrors,
    )
)]
pub async fn playback(
    State(api): State<AppState>,
    Caller(caller): Caller,
    ApiPath(path): ApiPath<EntryPath>,
) -> Result<Json<PlaybackOut>, ApiError> {
    let who = allow(&api, &caller, Command::VideoSearch).await?;
    let id = EntryId::parse(&path.entry_id)?;
    let playback = videos::playback(&api.services(), &who, &id).await?;
    Ok(Json(PlaybackOut {
        entry_id: playback.video.id,
        player_url: playback.player_url,
    }))
}

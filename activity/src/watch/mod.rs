//! Watch Together, the server side of the Discord Activity: sign-in (`POST /api/token`),
//! playback sessions (`POST /api/watch/playback`) and the rooms' websocket
//! (`/api/watch/ws`), in the protocol of `activity/PROTOCOL.md`.

mod conn;
pub mod hub;
pub mod metrics;
pub mod playback;
pub mod protocol;
pub mod room;
pub mod session;

use crate::AppState;
use axum::Router;
use axum::routing::{get, post};
use kd_core::join_token::TokenKey;
use kd_core::secrets::SecretSource;
use room::Entry;
use std::sync::Arc;

/// What Watch Together keeps in the server's state.
pub struct Watch {
    pub hub: hub::Hub,
    key: TokenKey,
    secrets: Arc<dyn SecretSource>,
}

impl Watch {
    pub fn new(hub: hub::Hub, bot_token: &str, secrets: Arc<dyn SecretSource>) -> Self {
        Self {
            hub,
            key: session::session_key(bot_token),
            secrets,
        }
    }
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/token", post(session::token))
        .route("/api/watch/playback", post(playback::playback))
        .route(session::WS_PATH, get(conn::upgrade))
}

/// The room tasks for the life of the server: store signals and the heartbeat.
pub fn spawn(api: &AppState) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(hub::Hub::follow(api.clone())),
        tokio::spawn(hub::Hub::heartbeat(api.clone())),
    ]
}

/// What Kaltura says of an entry, or why it cannot be queued.
pub async fn lookup(
    api: &AppState,
    guild_id: &str,
    entry_id: &str,
) -> Result<Entry, (&'static str, String)> {
    let unavailable = |message: String| ("unavailable", message);
    let config = api.config.borrow().clone();
    let partner = config
        .guild(guild_id)
        .and_then(|g| config.partner_of(g))
        .ok_or_else(|| unavailable("this server has no Kaltura partner".into()))?;
    let client = api
        .kaltura
        .client(partner)
        .map_err(|f| unavailable(f.to_string()))?;
    match client.media_get(entry_id).await {
        Ok(entry) => Ok(Entry {
            entry_id: entry.id,
            title: Some(entry.name),
            duration: entry.duration.map(|d| d as f64),
        }),
        Err(kd_kaltura::Error::Api(e)) if e.is("ENTRY_ID_NOT_FOUND") => {
            Err(("video_not_found", "Kaltura has no such video".into()))
        }
        Err(err) => Err(unavailable(
            kd_core::kaltura::KalturaFailure::from_error(&err).to_string(),
        )),
    }
}

/// An entry for the timeline: Kaltura's title and duration when it answers, the id alone
/// (it still plays; only the automatic advance at its end needs the duration) when not.
pub async fn entry(api: &AppState, guild_id: &str, entry_id: &str, title: Option<String>) -> Entry {
    lookup(api, guild_id, entry_id).await.unwrap_or(Entry {
        entry_id: entry_id.to_string(),
        title,
        duration: None,
    })
}

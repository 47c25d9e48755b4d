//! `POST /api/watch/playback`: a Kaltura session for one viewer and one entry of their room,
//! minted here with the partner's secret (`sview:<entryId>`, user `discord_<id>`, minutes of
//! life). The KS goes to the viewer only: never into a log, an event or a metric.

use super::session;
use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use kd_kaltura::ks::{self, KsRequest, Privileges, SessionType};
use serde::{Deserialize, Serialize};

/// A playback KS lives at most this long (less when the partner's playback policy says so).
pub const PLAYBACK_KS_SECONDS: i64 = 600;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlaybackRequest {
    pub entry_id: String,
}

#[derive(Serialize)]
pub struct PlaybackResponse {
    entry_id: String,
    ks: String,
    expires_at: i64,
    partner_id: i64,
    service_url: String,
    ui_conf_id: Option<i64>,
}

/// Kaltura entry ids: `0_abcd1234` (partition, underscore, lowercase alphanumerics).
pub fn is_entry_id(id: &str) -> bool {
    let mut parts = id.splitn(2, '_');
    let (Some(partition), Some(rest)) = (parts.next(), parts.next()) else {
        return false;
    };
    (1..=3).contains(&partition.len())
        && partition.bytes().all(|b| b.is_ascii_digit())
        && (1..=32).contains(&rest.len())
        && rest.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// The privileges of a viewer's KS: this entry only, plus the partner's extra ones.
pub fn privileges(entry_id: &str, extra: &[String]) -> Privileges {
    let mut privileges = Privileges::default().with("sview", entry_id);
    for extra in extra {
        let (name, value) = extra.split_once(':').unwrap_or((extra, ""));
        if name != "sview" {
            privileges = privileges.with(name, value);
        }
    }
    privileges
}

pub async fn playback(
    State(api): State<AppState>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<PlaybackRequest>,
) -> Result<Json<PlaybackResponse>, ApiError> {
    let claims = session::from_headers(&api.watch.key, &headers)?;
    api.limits.check(&format!("watch:{}", claims.sub))?;
    if !is_entry_id(&request.entry_id) {
        return Err(ApiError::bad_request("entry_id is not a Kaltura entry id."));
    }
    let in_room = api
        .watch
        .hub
        .room_has_entry(&claims, &request.entry_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "reading the room failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "The room cannot be read right now; try again.",
            )
        })?;
    if !in_room {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "entry_not_in_room",
            "That video is neither playing nor queued in your room.",
        ));
    }
    let config = api.config.borrow().clone();
    let guild = config.guild(&claims.guild).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "watch_disabled",
            "This server is not set up for Kaltura.",
        )
    })?;
    let partner = config.partner_of(guild).ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "kaltura_not_configured",
            "This server has no Kaltura partner configured.",
        )
    })?;
    let secret = api
        .kaltura
        .secret(partner)
        .map_err(|f| ApiError::from(kd_core::error::Failure::Setup(f)))?;
    let policy = &partner.sessions.playback;
    let lifetime = policy.expiry_seconds.clamp(60, PLAYBACK_KS_SECONDS);
    let request_ks = KsRequest::new(partner.partner_id, SessionType::User)
        .user(format!("discord_{}", claims.sub))
        .expiry_secs(lifetime)
        .privileges(privileges(&request.entry_id, &policy.privileges));
    let minted = ks::generate_v2(&secret, &request_ks);
    Ok(Json(PlaybackResponse {
        entry_id: request.entry_id,
        ks: minted.expose().to_string(),
        expires_at: (ks::unix_now() + lifetime) * 1000,
        partner_id: partner.partner_id,
        service_url: partner.service_url.clone(),
        ui_conf_id: partner.player_ui_conf_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_look_like_kaltura_ones() {
        assert!(is_entry_id("0_abcd1234"));
        assert!(is_entry_id("1_x"));
        for bad in [
            "", "0abc", "_abc", "a_abc", "0_", "0_ab/cd", "0_ab,cd", "0_ab:cd",
        ] {
            assert!(!is_entry_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_viewer_ks_views_its_entry_only() {
        let p = privileges("0_abc", &["privacycontext:campus".into(), "sview:*".into()]);
        assert_eq!(p.to_string(), "sview:0_abc,privacycontext:campus");
    }
}

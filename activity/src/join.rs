//! `GET /join/<token>`: a member opens their personal meeting link. The signed token is checked
//! (signature, expiry, audience), then the meeting (not ended in the registry, still active in
//! Kaltura) and the member (still in the guild); only then is the Kaltura session minted for
//! that member and role, and the browser redirected to Kaltura. Every refusal is a plain page.

use crate::AppState;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use jsonwebtoken::errors::ErrorKind;
use kd_core::meetings::kaltura_user;
use kd_core::roles::KalturaRole;
use kd_kaltura::{Attendee, MeetingRole};
use kd_store::MeetingState;

/// Why a link does not open, as the page says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Expired,
    Invalid,
    Ended,
    NotMember,
    NotConfigured,
    RateLimited,
    KalturaDown,
    DiscordDown,
}

impl Refused {
    fn status(self) -> StatusCode {
        match self {
            Refused::Expired | Refused::Ended => StatusCode::GONE,
            Refused::Invalid => StatusCode::BAD_REQUEST,
            Refused::NotMember => StatusCode::FORBIDDEN,
            Refused::NotConfigured => StatusCode::NOT_FOUND,
            Refused::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Refused::KalturaDown | Refused::DiscordDown => StatusCode::BAD_GATEWAY,
        }
    }

    fn text(self) -> (&'static str, &'static str) {
        match self {
            Refused::Expired => (
                "This link has expired",
                "Join links work for a few minutes. Ask the bot for a new one with /kaltura-join.",
            ),
            Refused::Invalid => (
                "This link is not valid",
                "The link is damaged or was not made by this bot. Ask the bot for a new one with /kaltura-join.",
            ),
            Refused::Ended => (
                "This meeting has ended",
                "The meeting this link was for is over. /kaltura-list shows the meetings running now.",
            ),
            Refused::NotMember => (
                "You are not in this server any more",
                "Join links work only for members of the Discord server they were made in.",
            ),
            Refused::NotConfigured => (
                "Meetings are not set up here",
                "This Discord server is no longer set up for Kaltura meetings.",
            ),
            Refused::RateLimited => ("Too many tries", "Wait a minute, then open the link again."),
            Refused::KalturaDown => (
                "Kaltura cannot be reached",
                "Please try the link again in a moment.",
            ),
            Refused::DiscordDown => (
                "Discord cannot be reached",
                "Please try the link again in a moment.",
            ),
        }
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (title, body) = self.text();
        // Static text only: nothing from the request is echoed into the page.
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head><body><main><h1>{title}</h1><p>{body}</p></main></body></html>"
        );
        (self.status(), Html(page)).into_response()
    }
}

pub async fn join(State(api): State<AppState>, Path(token): Path<String>) -> Response {
    match open(&api, &token).await {
        Ok(location) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            match HeaderValue::from_str(&location) {
                Ok(value) => {
                    response.headers_mut().insert(header::LOCATION, value);
                    response
                }
                Err(_) => Refused::Invalid.into_response(),
            }
        }
        Err(refused) => refused.into_response(),
    }
}

/// The Kaltura launch URL (with a fresh user KS) the token entitles its holder to.
async fn open(api: &crate::Api, token: &str) -> Result<String, Refused> {
    let claims = api.join_key.verify(token).map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => Refused::Expired,
        _ => Refused::Invalid,
    })?;
    api.limits
        .check(&format!("join:{}", claims.sub))
        .map_err(|_| Refused::RateLimited)?;
    let config = api.config.borrow().clone();
    let guild = config.guild(&claims.guild).ok_or(Refused::NotConfigured)?;
    // The partner named in the token, and only if the guild still uses it.
    if guild.partner != claims.partner {
        return Err(Refused::NotConfigured);
    }
    let partner = config.partner_of(guild).ok_or(Refused::NotConfigured)?;
    let event_id: i64 = claims.meeting.parse().map_err(|_| Refused::Invalid)?;

    // Ended through the bot or the API: known without asking Kaltura.
    if let Ok(Some(record)) = api.store.meeting(&claims.guild, &claims.meeting).await
        && matches!(record.state, MeetingState::Ended { .. })
    {
        return Err(Refused::Ended);
    }
    let client = api.kaltura.client(partner).map_err(|failure| {
        tracing::error!(error = %failure, "no Kaltura client for a join link");
        Refused::NotConfigured
    })?;
    let active = client
        .meeting_list_active(&claims.guild)
        .await
        .map_err(|err| {
            tracing::warn!(error = %err, "Kaltura call failed for a join link");
            Refused::KalturaDown
        })?;
    if !active.iter().any(|m| m.id == event_id) {
        return Err(Refused::Ended);
    }
    match api.discord.member(&claims.guild, &claims.sub).await {
        Ok(Some(_)) => {}
        Ok(None) => return Err(Refused::NotMember),
        Err(err) => {
            tracing::warn!(error = %err, "Discord call failed for a join link");
            return Err(Refused::DiscordDown);
        }
    }
    let secret = api.kaltura.secret(partner).map_err(|failure| {
        tracing::error!(error = %failure, "no Kaltura secret for a join link");
        Refused::NotConfigured
    })?;
    let role = if KalturaRole::parse(&claims.role).is_moderator_or_above() {
        MeetingRole::Moderator
    } else {
        MeetingRole::Viewer
    };
    let user_id = kaltura_user(&claims.sub);
    let url = kd_kaltura::join_link(
        &secret,
        partner.partner_id,
        event_id,
        &Attendee {
            user_id: &user_id,
            first_name: &claims.name,
            role,
        },
        partner.sessions.meetings.expiry_seconds,
    );
    // The URL carries the KS: it is logged only as the fact of the redirect.
    tracing::info!(guild = %claims.guild, meeting = %claims.meeting, user = %claims.sub, role = %claims.role, "join link opened");
    Ok(url)
}

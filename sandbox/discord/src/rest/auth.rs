//! `Authorization: Bot <token>` and `Authorization: Bearer <oauth token>`.

use crate::error::ApiError;
use crate::model::Grant;
use crate::sandbox::Sandbox;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;

/// Who is rate limited: the raw credential (never logged).
pub fn identity(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A request made with the bot token.
pub struct Bot;

impl FromRequestParts<Sandbox> for Bot {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        sandbox: &Sandbox,
    ) -> Result<Self, Self::Rejection> {
        match Caller::from_request_parts(parts, sandbox).await? {
            Caller::Bot => Ok(Bot),
            Caller::Bearer(_) => Err(ApiError::unauthorized()),
        }
    }
}

/// The bot, or a user through an OAuth2 bearer token.
pub enum Caller {
    Bot,
    Bearer(Grant),
}

impl FromRequestParts<Sandbox> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        sandbox: &Sandbox,
    ) -> Result<Self, Self::Rejection> {
        let header = identity(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        if let Some(token) = header.strip_prefix("Bot ") {
            let valid = sandbox.world(|w| w.app.bot_token == token);
            return if valid {
                Ok(Caller::Bot)
            } else {
                Err(ApiError::unauthorized())
            };
        }
        if let Some(token) = header.strip_prefix("Bearer ") {
            return sandbox
                .world(|w| w.bearer_grant(token).cloned())
                .map(Caller::Bearer)
                .ok_or_else(ApiError::unauthorized);
        }
        Err(ApiError::unauthorized())
    }
}

//! `POST /api/token`: the Activity's sign-in. The Discord OAuth code is exchanged for the
//! user's access token, the user must be a participant of the Activity instance in the guild
//! and channel they claim, and the answer carries a session token bound to all of that.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use jsonwebtoken::errors::ErrorKind;
use kd_core::join_token::{ISSUER, TokenKey};
use kd_core::roles::{GuildRole, map_member};
use kd_core::settings;
use serde::{Deserialize, Serialize};

pub const SESSION_AUDIENCE: &str = "kaltura-discord/watch";
pub const SESSION_SECONDS: i64 = 3600;
pub const WS_PATH: &str = "/api/watch/ws";

/// The key of watch sessions: derived from the bot token (every replica has it) for this one
/// purpose, so no other token of ours verifies as a session.
pub fn session_key(bot_token: &str) -> TokenKey {
    TokenKey::derive(
        bot_token,
        "kaltura-discord/watch-session/v1",
        SESSION_AUDIENCE,
    )
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionClaims {
    /// Discord user id.
    pub sub: String,
    pub name: String,
    pub avatar: Option<String>,
    pub instance: String,
    pub guild: String,
    pub channel: String,
    /// The Kaltura role the member's Discord roles mapped to.
    pub role: String,
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

impl SessionClaims {
    pub fn can_control(&self) -> bool {
        role_controls(&self.role)
    }
}

pub fn role_controls(role: &str) -> bool {
    matches!(role, "moderator" | "admin")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub code: String,
    pub instance_id: String,
    pub guild_id: String,
    pub channel_id: String,
}

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    session: String,
    session_expires_at: i64,
    user: UserOut,
    kaltura_role: String,
    can_control: bool,
    ws_path: &'static str,
    protocols: &'static [u32],
}

#[derive(Debug, Serialize)]
struct UserOut {
    id: String,
    username: String,
    global_name: Option<String>,
    avatar: Option<String>,
}

/// Instance ids go into a Discord URL path and into room keys.
pub fn is_instance_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn refused(status: StatusCode, code: &'static str, message: &str) -> ApiError {
    ApiError::new(status, code, message)
}

fn discord_failed(err: crate::discord::DiscordError) -> ApiError {
    tracing::warn!(error = %err, "Discord call failed");
    refused(
        StatusCode::BAD_GATEWAY,
        "discord_unavailable",
        "Discord cannot be reached right now. Please try again in a moment.",
    )
}

pub async fn token(
    State(api): State<AppState>,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    let fields = [&request.code, &request.instance_id];
    if fields.iter().any(|f| f.is_empty() || f.len() > 128)
        || !crate::auth::is_snowflake(&request.guild_id)
        || !crate::auth::is_snowflake(&request.channel_id)
        || !is_instance_id(&request.instance_id)
    {
        return Err(ApiError::bad_request(
            "Send code, instance_id, guild_id and channel_id as the Discord SDK gives them.",
        ));
    }
    // Before any Discord call: a flood of bad codes must not hammer Discord.
    api.limits
        .check(&format!("watch-token:{}", request.guild_id))?;
    let config = api.config.borrow().clone();
    let disabled = || {
        refused(
            StatusCode::FORBIDDEN,
            "watch_disabled",
            "Watch Together is not enabled on this server.",
        )
    };
    let declared = config.guild(&request.guild_id).ok_or_else(disabled)?;
    let overrides = api
        .store
        .overrides(&request.guild_id)
        .await
        .unwrap_or_default();
    let guild = settings::apply(declared, &overrides);
    if !guild.features.watch_together || !config.application.activity_enabled {
        return Err(disabled());
    }
    let secret = config
        .application
        .client_secret_ref
        .as_ref()
        .and_then(|r| api.watch.secrets.get(r))
        .ok_or_else(|| {
            tracing::error!("the DiscordApplication has no OAuth client secret");
            refused(
                StatusCode::SERVICE_UNAVAILABLE,
                "oauth_not_configured",
                "The Activity's Discord OAuth client secret is not configured.",
            )
        })?;
    let grant = api
        .discord
        .exchange_code(
            &config.application.application_id,
            secret.expose(),
            &request.code,
        )
        .await
        .map_err(|e| match e {
            crate::discord::DiscordError::Unauthorized => refused(
                StatusCode::UNAUTHORIZED,
                "invalid_code",
                "Discord refused the authorization code.",
            ),
            other => discord_failed(other),
        })?;
    let user = api
        .discord
        .current_user(&grant.access_token)
        .await
        .map_err(discord_failed)?;
    let instance = api
        .discord
        .activity_instance(&config.application.application_id, &request.instance_id)
        .await
        .map_err(discord_failed)?
        .ok_or_else(|| {
            refused(
                StatusCode::NOT_FOUND,
                "instance_not_found",
                "This Activity is not running (any more).",
            )
        })?;
    let here = instance.location.guild_id.as_deref() == Some(request.guild_id.as_str())
        && instance.location.channel_id.as_deref() == Some(request.channel_id.as_str());
    if !here || !instance.users.contains(&user.id) {
        return Err(refused(
            StatusCode::FORBIDDEN,
            "not_a_participant",
            "You are not in this Activity.",
        ));
    }
    let member = api
        .discord
        .member(&request.guild_id, &user.id)
        .await
        .map_err(discord_failed)?
        .ok_or_else(|| {
            refused(
                StatusCode::FORBIDDEN,
                "not_a_participant",
                "You are not a member of this server.",
            )
        })?;
    let guild_roles: Vec<GuildRole> = api
        .discord
        .roles(&request.guild_id)
        .await
        .map_err(discord_failed)?;
    let role = map_member(&guild.roles, &guild_roles, &member.roles)
        .role
        .api_name();
    let now = kd_kaltura::ks::unix_now();
    let claims = SessionClaims {
        sub: user.id.clone(),
        name: member
            .nick
            .or_else(|| user.global_name.clone())
            .unwrap_or_else(|| user.username.clone()),
        avatar: user.avatar.clone(),
        instance: request.instance_id,
        guild: request.guild_id,
        channel: request.channel_id,
        role,
        aud: SESSION_AUDIENCE.into(),
        iss: ISSUER.into(),
        iat: now,
        exp: now + SESSION_SECONDS,
    };
    tracing::info!(user = %claims.sub, guild = %claims.guild, instance = %claims.instance, "watch session issued");
    Ok(Json(TokenResponse {
        session: api.watch.key.sign(&claims),
        session_expires_at: claims.exp * 1000,
        access_token: grant.access_token,
        token_type: "Bearer",
        expires_in: grant.expires_in,
        can_control: claims.can_control(),
        kaltura_role: claims.role,
        user: UserOut {
            id: user.id,
            username: user.username,
            global_name: user.global_name,
            avatar: user.avatar,
        },
        ws_path: WS_PATH,
        protocols: super::protocol::VERSIONS,
    }))
}

#[derive(Debug, PartialEq, Eq)]
pub enum SessionError {
    Expired,
    Invalid,
}

/// Verifies a session token (the websocket's `hello`, the playback endpoint).
pub fn verify(key: &TokenKey, token: &str) -> Result<SessionClaims, SessionError> {
    key.verify(token.trim()).map_err(|e| match e.kind() {
        ErrorKind::ExpiredSignature => SessionError::Expired,
        _ => SessionError::Invalid,
    })
}

/// The session of an HTTP request (`Authorization: Bearer <session>`).
pub fn from_headers(key: &TokenKey, headers: &HeaderMap) -> Result<SessionClaims, ApiError> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    verify(key, token).map_err(|_| {
        refused(
            StatusCode::UNAUTHORIZED,
            "invalid_session",
            "The watch session is missing, not valid, or expired; sign in again.",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_in: i64) -> SessionClaims {
        let now = kd_kaltura::ks::unix_now();
        SessionClaims {
            sub: "1".into(),
            name: "Ada".into(),
            avatar: None,
            instance: "i-1".into(),
            guild: "2".into(),
            channel: "3".into(),
            role: "viewer".into(),
            aud: SESSION_AUDIENCE.into(),
            iss: ISSUER.into(),
            iat: now - 100,
            exp: now + exp_in,
        }
    }

    #[test]
    fn sessions_verify_only_with_their_key_and_until_they_expire() {
        let key = session_key("bot");
        let token = key.sign(&claims(60));
        assert_eq!(verify(&key, &token).unwrap(), claims(60));
        assert_eq!(
            verify(&session_key("other"), &token),
            Err(SessionError::Invalid)
        );
        assert_eq!(
            verify(&crate::auth::api_key("bot"), &token),
            Err(SessionError::Invalid),
            "an API-token key does not accept a session"
        );
        let expired = key.sign(&claims(-120));
        assert_eq!(verify(&key, &expired), Err(SessionError::Expired));
        assert_eq!(verify(&key, "garbage"), Err(SessionError::Invalid));
    }

    #[test]
    fn only_moderators_and_admins_control() {
        assert!(role_controls("moderator") && role_controls("admin"));
        assert!(!role_controls("viewer") && !role_controls("12345"));
    }

    #[test]
    fn instance_ids_are_safe_for_urls_and_room_keys() {
        assert!(is_instance_id("i-1234567890-gc-1-2"));
        for bad in ["", "a b", "../x", "i/1", &"a".repeat(129)] {
            assert!(!is_instance_id(bad), "{bad}");
        }
    }
}

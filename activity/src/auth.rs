//! API tokens: a Discord OAuth access token is exchanged for a short-lived HS256 JWT naming the
//! user, the guild, the member's roles there and the Kaltura role they map to. Every other route
//! takes it as `Authorization: Bearer <jwt>` and is rate limited per user. The exchange itself is
//! limited per client address until Discord has verified the token, then per user.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::limits::client_address;
use axum::Json;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use jsonwebtoken::errors::ErrorKind;
use kd_core::join_token::{ISSUER, TokenKey};
use kd_core::roles::{GuildRole, map_member};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use utoipa::ToSchema;

pub const API_AUDIENCE: &str = "kaltura-discord/api";
/// API tokens live this long; clients exchange a fresh Discord token for a new one.
pub const API_TOKEN_SECONDS: i64 = 15 * 60;

/// The key of API tokens, derived from the bot token like join links' but for another purpose,
/// so neither kind of token verifies as the other.
pub fn api_key(bot_token: &str) -> TokenKey {
    TokenKey::derive(bot_token, "kaltura-discord/api-token/v1", API_AUDIENCE)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiClaims {
    /// Discord user id.
    pub sub: String,
    pub guild: String,
    /// Shown to Kaltura (meeting participant name).
    pub name: String,
    /// The member's roles in the guild, with names (permissions and mappings name roles).
    pub roles: Vec<GuildRole>,
    /// The Kaltura role the roles mapped to when the token was issued.
    pub kaltura_role: String,
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
}

/// The address a request comes from, through the trusted proxies (`trusted_proxy_hops`).
/// Outside [`crate::serve`] (no peer address) every request shares the unspecified address.
pub struct ClientAddress(pub IpAddr);

impl<S> FromRequestParts<S> for ClientAddress
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let api = AppState::from_ref(state);
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
        let hops = api.options.trusted_proxy_hops;
        Ok(Self(client_address(peer, &parts.headers, hops)))
    }
}

/// The verified caller of a route.
#[derive(Clone, Debug)]
pub struct Caller(pub ApiClaims);

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let api = AppState::from_ref(state);
        let unauthorized =
            |code, message: &str| ApiError::new(StatusCode::UNAUTHORIZED, code, message);
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| {
                unauthorized(
                    "missing_token",
                    "Send an API token as `Authorization: Bearer <token>` (POST /api/v1/auth/token).",
                )
            })?;
        let claims: ApiClaims = api
            .api_key
            .verify(token.trim())
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => unauthorized(
                    "token_expired",
                    "The API token has expired; exchange a Discord token for a new one.",
                ),
                _ => unauthorized("invalid_token", "The API token is not valid."),
            })?;
        api.limits.check(&claims.sub)?;
        Ok(Caller(claims))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    /// A Discord OAuth2 access token of the user (scope `identify`).
    #[schema(min_length = 1, max_length = 200)]
    pub access_token: String,
    /// The guild (Discord server) the API token is for.
    #[schema(pattern = r"^[0-9]{1,20}$", example = "1283874310720716890")]
    pub guild_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenResponse {
    /// The API token: send it as `Authorization: Bearer <token>`.
    pub token: String,
    #[schema(example = "Bearer")]
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    pub user_id: String,
    pub guild_id: String,
    /// `viewer`, `moderator`, `admin` or a custom Kaltura userRole id.
    pub kaltura_role: String,
}

fn discord_failed(err: crate::discord::DiscordError) -> ApiError {
    tracing::warn!(error = %err, "Discord call failed");
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "discord_unavailable",
        "Discord cannot be reached right now. Please try again in a moment.",
    )
}

/// A Discord snowflake: what may go into a Discord URL path.
pub fn is_snowflake(id: &str) -> bool {
    (1..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit())
}

/// Exchange a Discord OAuth access token for an API token.
#[utoipa::path(
    post,
    path = "/auth/token",
    operation_id = "createApiToken",
    tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "An API token for the user in the guild", body = TokenResponse),
        (status = 400, description = "Malformed request", body = crate::error::ErrorBody),
        (status = 401, description = "Discord refused the access token", body = crate::error::ErrorBody),
        (status = 403, description = "Not a member, or the guild is not configured", body = crate::error::ErrorBody),
        (status = 413, description = "Body too large", body = crate::error::ErrorBody),
        (status = 415, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 429, description = "Rate limited", body = crate::error::ErrorBody),
        (status = 502, description = "Discord unreachable", body = crate::error::ErrorBody),
    )
)]
pub async fn token(
    State(api): State<AppState>,
    ClientAddress(client): ClientAddress,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    if !is_snowflake(&request.guild_id) {
        return Err(ApiError::bad_request(
            "guildId must be a Discord id (digits).",
        ));
    }
    if request.access_token.is_empty() || request.access_token.len() > 200 {
        return Err(ApiError::bad_request("accessToken is missing or too long."));
    }
    // Before any Discord call: a flood of bad tokens must not hammer Discord, and it spends
    // only its own address's share.
    api.limits.check_exchange(client)?;
    let config = api.config.borrow().clone();
    let Some(guild) = config.guild(&request.guild_id) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "guild_not_configured",
            "This server is not set up for Kaltura.",
        ));
    };
    let user = api
        .discord
        .current_user(&request.access_token)
        .await
        .map_err(|e| match e {
            crate::discord::DiscordError::Unauthorized => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_discord_token",
                "Discord refused the access token.",
            ),
            other => discord_failed(other),
        })?;
    api.limits.check(&format!("token:{}", user.id))?;
    let Some(member) = api
        .discord
        .member(&request.guild_id, &user.id)
        .await
        .map_err(discord_failed)?
    else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_a_member",
            "You are not a member of this server.",
        ));
    };
    let guild_roles = api
        .discord
        .roles(&request.guild_id)
        .await
        .map_err(discord_failed)?;
    let roles: Vec<GuildRole> = guild_roles
        .into_iter()
        .filter(|r| member.roles.contains(&r.id))
        .collect();
    let role = map_member(&guild.roles, &roles, &member.roles).role;
    let now = kd_kaltura::ks::unix_now();
    let claims = ApiClaims {
        sub: user.id.clone(),
        guild: request.guild_id.clone(),
        name: member.nick.or(user.global_name).unwrap_or(user.username),
        roles,
        kaltura_role: role.api_name(),
        aud: API_AUDIENCE.into(),
        iss: ISSUER.into(),
        iat: now,
        exp: now + API_TOKEN_SECONDS,
    };
    tracing::info!(user = %claims.sub, guild = %claims.guild, "API token issued");
    Ok(Json(TokenResponse {
        token: api.api_key.sign(&claims),
        token_type: "Bearer".into(),
        expires_in: API_TOKEN_SECONDS,
        user_id: claims.sub,
        guild_id: claims.guild,
        kaltura_role: claims.kaltura_role,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_discord_ids_go_into_discord_paths() {
        assert!(is_snowflake("1283874310720716890"));
        for bad in ["", "12a", "../users/@me", "1/2", &"9".repeat(21)] {
            assert!(!is_snowflake(bad), "{bad}");
        }
    }

    #[test]
    fn api_and_join_tokens_do_not_verify_as_each_other() {
        let now = kd_kaltura::ks::unix_now();
        let claims = ApiClaims {
            sub: "1".into(),
            guild: "2".into(),
            name: "Ada".into(),
            roles: vec![],
            kaltura_role: "viewer".into(),
            aud: API_AUDIENCE.into(),
            iss: ISSUER.into(),
            iat: now,
            exp: now + 60,
        };
        let token = api_key("bot").sign(&claims);
        assert_eq!(api_key("bot").verify::<ApiClaims>(&token).unwrap(), claims);
        assert!(
            kd_core::join_token::JoinKey::derive("bot")
                .verify(&token)
                .is_err()
        );
        assert!(api_key("other-bot").verify::<ApiClaims>(&token).is_err());
    }
}

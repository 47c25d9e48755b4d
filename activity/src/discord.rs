//! The few Discord REST calls the API makes: who holds an OAuth access token
//! (`GET /users/@me`), and a guild's member and roles with the bot token. The base URL is
//! configurable so tests point it at the Discord sandbox.

use kd_core::roles::GuildRole;
use reqwest::StatusCode;
use serde::Deserialize;
use std::time::Duration;

/// Discord's REST API, version 10.
pub const DISCORD_API: &str = "https://discord.com/api/v10";

#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    #[error("Discord refused the access token")]
    Unauthorized,
    #[error("Discord answered {0}")]
    Status(StatusCode),
    #[error("Discord cannot be reached: {0}")]
    Transport(String),
}

#[derive(Debug, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    #[serde(default)]
    pub global_name: Option<String>,
    #[serde(default)]
    pub avatar: Option<String>,
}

/// What `POST /oauth2/token` grants for an authorization code. No `Debug`: it is a credential.
#[derive(Deserialize)]
pub struct Grant {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: i64,
}

/// A running Activity (`GET /applications/{app}/activity-instances/{instance}`).
#[derive(Debug, Deserialize)]
pub struct ActivityInstance {
    pub instance_id: String,
    pub location: ActivityLocation,
    /// Ids of the users in the Activity now.
    #[serde(default)]
    pub users: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct ActivityLocation {
    #[serde(default)]
    pub guild_id: Option<String>,
    #[serde(default)]
    pub channel_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct GuildMember {
    #[serde(default)]
    pub nick: Option<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

#[derive(Deserialize)]
struct Role {
    id: String,
    name: String,
}

/// A Discord REST client for one application. The bot token never leaves this struct.
pub struct DiscordRest {
    http: reqwest::Client,
    base: String,
    bot_token: String,
}

impl std::fmt::Debug for DiscordRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordRest")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl DiscordRest {
    pub fn new(base: &str, bot_token: String) -> Result<Self, DiscordError> {
        kd_kaltura::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .user_agent("kaltura-discord-api (https://github.com/kaltura-discord, 0.1)")
            .build()
            .map_err(|e| DiscordError::Transport(e.to_string()))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            bot_token,
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        authorization: String,
    ) -> Result<Option<T>, DiscordError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header(reqwest::header::AUTHORIZATION, authorization)
            .send()
            .await
            // Without the URL: it is ours and adds nothing, and errors are logged.
            .map_err(|e| DiscordError::Transport(e.without_url().to_string()))?;
        match response.status() {
            StatusCode::UNAUTHORIZED => Err(DiscordError::Unauthorized),
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => response
                .json()
                .await
                .map(Some)
                .map_err(|e| DiscordError::Transport(e.without_url().to_string())),
            status => Err(DiscordError::Status(status)),
        }
    }

    /// The user an OAuth access token belongs to.
    pub async fn current_user(&self, access_token: &str) -> Result<User, DiscordError> {
        self.get("/users/@me", format!("Bearer {access_token}"))
            .await?
            .ok_or(DiscordError::Status(StatusCode::NOT_FOUND))
    }

    /// The member of a guild, or None when the user is not in it (or the bot is not).
    pub async fn member(
        &self,
        guild_id: &str,
        user_id: &str,
    ) -> Result<Option<GuildMember>, DiscordError> {
        self.get(
            &format!("/guilds/{guild_id}/members/{user_id}"),
            format!("Bot {}", self.bot_token),
        )
        .await
    }

    /// Exchanges an OAuth authorization code (from the Activity's `authorize`) for the user's
    /// access token. Discord answers a bad or used code with 400 `invalid_grant`.
    pub async fn exchange_code(
        &self,
        client_id: &str,
        client_secret: &str,
        code: &str,
    ) -> Result<Grant, DiscordError> {
        let response = self
            .http
            .post(format!("{}/oauth2/token", self.base))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("client_id", client_id),
                ("client_secret", client_secret),
            ])
            .send()
            .await
            .map_err(|e| DiscordError::Transport(e.without_url().to_string()))?;
        match response.status() {
            StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED => Err(DiscordError::Unauthorized),
            status if status.is_success() => response
                .json()
                .await
                .map_err(|e| DiscordError::Transport(e.without_url().to_string())),
            status => Err(DiscordError::Status(status)),
        }
    }

    /// A running Activity instance of the application, or None when Discord has none by that id.
    pub async fn activity_instance(
        &self,
        application_id: &str,
        instance_id: &str,
    ) -> Result<Option<ActivityInstance>, DiscordError> {
        self.get(
            &format!("/applications/{application_id}/activity-instances/{instance_id}"),
            format!("Bot {}", self.bot_token),
        )
        .await
    }

    /// The guild's roles with their names (role mappings and permissions name roles).
    pub async fn roles(&self, guild_id: &str) -> Result<Vec<GuildRole>, DiscordError> {
        let roles: Vec<Role> = self
            .get(
                &format!("/guilds/{guild_id}/roles"),
                format!("Bot {}", self.bot_token),
            )
            .await?
            .unwrap_or_default();
        Ok(roles
            .into_iter()
            .map(|r| GuildRole {
                id: r.id,
                name: r.name,
            })
            .collect())
    }
}

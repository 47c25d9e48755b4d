//! How a sandbox is set up: listen address, identities, protocol timings.

use crate::activity_host::UrlMapping;
use crate::tls::Tls;
use std::net::SocketAddr;
use std::time::Duration;

/// Settings for [`crate::DiscordSandbox::start`]. `Default` listens on an ephemeral local port
/// with Discord's real timings.
#[derive(Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Serve `listen` as HTTPS and WSS with this identity, as Discord does; plain when `None`.
    pub tls: Option<Tls>,
    /// The Activity's origin (the host page and the URL-mapping proxy).
    pub activity_listen: SocketAddr,
    /// The Activity's URL mappings; `/` is where the app itself is served from.
    pub url_mappings: Vec<UrlMapping>,
    /// The application (and OAuth2 client) id; random when `None`.
    pub application_id: Option<u64>,
    /// The bot token; random when `None`.
    pub bot_token: Option<String>,
    /// The OAuth2 client secret; random when `None`.
    pub client_secret: Option<String>,
    /// Privileged intents the application is approved for (GUILD_MEMBERS and MESSAGE_CONTENT by default).
    pub privileged_intents: u64,
    pub heartbeat_interval: Duration,
    /// How long a disconnected gateway session stays resumable (Discord does not document
    /// it; 2 minutes by default).
    pub resume_window: Duration,
    /// The identify budget `/gateway/bot` reports and the gateway enforces.
    pub session_start_limit: SessionStartLimit,
    /// Deadline for the initial interaction response (3 s at Discord).
    pub interaction_deadline: Duration,
    /// Lifetime of an interaction token for webhook edits and follow-ups (15 min at Discord).
    pub interaction_token_lifetime: Duration,
    /// How long `enforce_nonce` remembers a nonce. Discord documents "the past few minutes"
    /// without a number; 5 minutes by default.
    pub nonce_window: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: None,
            activity_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            url_mappings: Vec::new(),
            application_id: None,
            bot_token: None,
            client_secret: None,
            privileged_intents: crate::gateway::intents::GUILD_MEMBERS
                | crate::gateway::intents::MESSAGE_CONTENT,
            heartbeat_interval: Duration::from_millis(41_250),
            resume_window: Duration::from_secs(120),
            session_start_limit: SessionStartLimit::default(),
            interaction_deadline: Duration::from_secs(3),
            interaction_token_lifetime: Duration::from_secs(15 * 60),
            nonce_window: Duration::from_secs(5 * 60),
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("tls", &self.tls.is_some())
            .field("activity_listen", &self.activity_listen)
            .field("url_mappings", &self.url_mappings)
            .field("application_id", &self.application_id)
            .field("bot_token", &self.bot_token.as_ref().map(|_| "<redacted>"))
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("privileged_intents", &self.privileged_intents)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("resume_window", &self.resume_window)
            .field("session_start_limit", &self.session_start_limit)
            .field("interaction_deadline", &self.interaction_deadline)
            .field(
                "interaction_token_lifetime",
                &self.interaction_token_lifetime,
            )
            .field("nonce_window", &self.nonce_window)
            .finish()
    }
}

/// Discord's `session_start_limit`: `total` IDENTIFYs per `reset_after` (RESUMEs are free),
/// and at most one IDENTIFY per `identify_interval` in each of `max_concurrency` buckets
/// (`shard_id % max_concurrency`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionStartLimit {
    /// 1000 for most bots.
    pub total: u32,
    /// 1 for most bots; large bots get 16 and more.
    pub max_concurrency: u32,
    /// The period after which `remaining` is `total` again, counted from the first IDENTIFY
    /// of the period (a day).
    pub reset_after: Duration,
    /// How often each bucket may IDENTIFY (5 seconds).
    pub identify_interval: Duration,
}

impl Default for SessionStartLimit {
    fn default() -> Self {
        Self {
            total: 1000,
            max_concurrency: 1,
            reset_after: Duration::from_secs(24 * 60 * 60),
            identify_interval: Duration::from_secs(5),
        }
    }
}

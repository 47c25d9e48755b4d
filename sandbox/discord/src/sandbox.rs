//! The shared state of a running sandbox and the typed operations the control API and
//! in-process tests use.

use crate::activity_host::{Latency, UrlMapping};
use crate::config::{Config, SessionStartLimit};
use crate::error::ApiResult;
use crate::gateway::{Gateway, Outbound, SessionInfo, SessionStartStatus, frame, op};
use crate::model::{Channel, Role, User};
use crate::ratelimit::RateLimiter;
use crate::world::{
    Changes, CommandScope, GuildCreated, InteractionRef, InteractionView, Limits, MemberSpec,
    NewChannel, NewCommandInteraction, NewComponentInteraction, NewGuild, NewModalSubmit, NewRole,
    NewUser, OverwriteSpec, World,
};
use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// One REST request as the sandbox saw it, for tests that check client behaviour (backoff).
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Milliseconds since the sandbox started.
    pub at_ms: u64,
}

#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    base_url: String,
    gateway_url: String,
    activity_origin: String,
    started: Instant,
    world: Mutex<World>,
    gateway: Mutex<Gateway>,
    limiter: Mutex<RateLimiter>,
    /// Added before every REST response: a base and a uniform jitter either side of it.
    latency: Mutex<(Duration, Duration)>,
    requests: Mutex<Vec<RequestRecord>>,
    url_mappings: Mutex<Vec<UrlMapping>>,
    activity_latency: Mutex<Latency>,
    changed: Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves plain data behind; keep serving it.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Sandbox {
    pub(crate) fn new(
        config: Config,
        base_url: String,
        gateway_url: String,
        activity_origin: String,
    ) -> Self {
        let limits = Limits {
            interaction_deadline: config.interaction_deadline,
            interaction_token_lifetime: config.interaction_token_lifetime,
            nonce_window: config.nonce_window,
        };
        let world = World::new(
            config.application_id,
            config.bot_token.clone(),
            config.client_secret.clone(),
            limits,
        );
        let url_mappings = config.url_mappings.clone();
        let gateway = Gateway::new(config.session_start_limit);
        Self {
            inner: Arc::new(Inner {
                config,
                base_url,
                gateway_url,
                activity_origin,
                started: Instant::now(),
                world: Mutex::new(world),
                gateway: Mutex::new(gateway),
                limiter: Mutex::new(RateLimiter::default()),
                latency: Mutex::new((Duration::ZERO, Duration::ZERO)),
                requests: Mutex::new(Vec::new()),
                url_mappings: Mutex::new(url_mappings),
                activity_latency: Mutex::new(Latency::default()),
                changed: Notify::new(),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// `http://127.0.0.1:PORT`; REST is under `/api/v10` (and `/api`).
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// `ws://127.0.0.1:PORT/gateway`, also what `/gateway/bot` and READY's resume URL say.
    pub fn gateway_url(&self) -> &str {
        &self.inner.gateway_url
    }

    /// `http://127.0.0.1:PORT2`: the Activity's own origin (what `{app}.discordsays.com` is at
    /// Discord), serving the host page at `/.discord/host` and proxying the rest by URL mapping.
    pub fn activity_origin(&self) -> &str {
        &self.inner.activity_origin
    }

    /// The host page for a user in a voice channel: `platform` is `desktop` or `mobile`.
    pub fn activity_host_url(&self, user_id: u64, channel_id: u64, platform: &str) -> String {
        format!(
            "{}/.discord/host?user_id={user_id}&channel_id={channel_id}&platform={platform}",
            self.inner.activity_origin
        )
    }

    /// `127.0.0.1:PORT`, the form twilight-http's `proxy(.., true)` takes.
    pub fn http_authority(&self) -> &str {
        let url = &self.inner.base_url;
        url.split_once("://")
            .map_or(url.as_str(), |(_, authority)| authority)
    }

    pub fn application_id(&self) -> u64 {
        self.world(|w| w.app.id)
    }

    pub fn bot_user_id(&self) -> u64 {
        self.world(|w| w.app.bot_user_id)
    }

    pub fn bot_token(&self) -> String {
        self.world(|w| w.app.bot_token.clone())
    }

    pub fn client_secret(&self) -> String {
        self.world(|w| w.app.client_secret.clone())
    }

    pub(crate) fn world<T>(&self, f: impl FnOnce(&World) -> T) -> T {
        f(&lock(&self.inner.world))
    }

    /// Runs a change on the world and dispatches the gateway events it caused. The world stays
    /// locked until they are queued, so dispatches keep the order of the changes (lock order:
    /// world, then gateway).
    pub(crate) fn apply<T>(&self, f: impl FnOnce(&mut World) -> Changes<T>) -> ApiResult<T> {
        let mut world = lock(&self.inner.world);
        let (value, events) = f(&mut world)?;
        if !events.is_empty() {
            let mut gateway = lock(&self.inner.gateway);
            for event in &events {
                gateway.dispatch(event, self.inner.config.resume_window);
            }
        }
        drop(world);
        self.inner.changed.notify_waiters();
        Ok(value)
    }

    pub(crate) fn gateway(&self) -> MutexGuard<'_, Gateway> {
        lock(&self.inner.gateway)
    }

    pub(crate) fn limiter(&self) -> MutexGuard<'_, RateLimiter> {
        lock(&self.inner.limiter)
    }

    /// One request's latency: the base, moved by up to the jitter either way.
    pub(crate) fn latency(&self) -> Duration {
        let (base, jitter) = *lock(&self.inner.latency);
        if jitter.is_zero() {
            return base;
        }
        let jitter = jitter.as_micros() as i64;
        let offset = rand::Rng::random_range(&mut rand::rng(), -jitter..=jitter);
        Duration::from_micros((base.as_micros() as i64 + offset).max(0) as u64)
    }

    pub(crate) fn record_request(&self, method: &str, path: &str, status: u16) {
        let at_ms = self.inner.started.elapsed().as_millis() as u64;
        lock(&self.inner.requests).push(RequestRecord {
            method: method.into(),
            path: path.into(),
            status,
            at_ms,
        });
    }

    /// Every REST request so far, oldest first.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.inner.requests).clone()
    }

    /// Waits until `check` finds what it looks for in the world, or the timeout passes.
    pub async fn wait_for<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&World) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = self.world(&mut check) {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    // --- world setup -------------------------------------------------------------------------

    pub fn create_user(&self, spec: NewUser) -> ApiResult<User> {
        self.apply(|w| w.create_user(spec).map(|u| (u, vec![])))
    }

    pub fn users(&self) -> Vec<Value> {
        self.world(|w| w.users().map(User::to_json).collect())
    }

    pub fn create_guild(&self, spec: NewGuild) -> ApiResult<GuildCreated> {
        self.apply(|w| w.create_guild(spec))
    }

    /// The guild is deleted (GUILD_DELETE). For the bot leaving, remove its member instead.
    pub fn remove_guild(&self, guild_id: u64) -> ApiResult<()> {
        self.apply(|w| w.remove_guild(guild_id))
    }

    /// Every guild as the GUILD_CREATE payload shows it.
    pub fn guilds(&self) -> Vec<Value> {
        self.world(|w| w.guilds().map(|g| w.guild_create_payload(g)).collect())
    }

    pub fn create_channel(&self, guild_id: u64, spec: NewChannel) -> ApiResult<Channel> {
        self.apply(|w| w.create_channel(guild_id, spec))
    }

    /// Sets a channel's permission overwrite for a role or member (CHANNEL_UPDATE).
    pub fn set_channel_overwrite(
        &self,
        channel_id: u64,
        target_id: u64,
        spec: OverwriteSpec,
    ) -> ApiResult<Channel> {
        self.apply(|w| w.set_channel_overwrite(channel_id, target_id, Some(spec)))
    }

    pub fn remove_channel_overwrite(&self, channel_id: u64, target_id: u64) -> ApiResult<Channel> {
        self.apply(|w| w.set_channel_overwrite(channel_id, target_id, None))
    }

    pub fn create_role(&self, guild_id: u64, spec: NewRole) -> ApiResult<Role> {
        self.apply(|w| w.create_role(guild_id, spec))
    }

    /// Adds a member or sets its roles and nick (GUILD_MEMBER_ADD / GUILD_MEMBER_UPDATE).
    pub fn put_member(&self, guild_id: u64, user_id: u64, spec: MemberSpec) -> ApiResult<Value> {
        self.apply(|w| w.put_member(guild_id, user_id, spec))
    }

    pub fn remove_member(&self, guild_id: u64, user_id: u64) -> ApiResult<()> {
        self.apply(|w| w.remove_member(guild_id, user_id))
    }

    /// The member's computed base permissions in the guild.
    pub fn member_permissions(&self, guild_id: u64, user_id: u64) -> ApiResult<u64> {
        self.world(|w| {
            let guild = w.guild(guild_id)?;
            let member = guild
                .members
                .get(&user_id)
                .ok_or_else(crate::error::ApiError::unknown_member)?;
            Ok(guild.permissions_of(member))
        })
    }

    // --- messages and commands ---------------------------------------------------------------

    /// A member writes in a channel: MESSAGE_CREATE.
    pub fn send_message_as(
        &self,
        channel_id: u64,
        user_id: u64,
        content: impl Into<String>,
    ) -> ApiResult<Value> {
        let content = content.into();
        self.apply(|w| w.member_create_message(channel_id, user_id, content))
    }

    /// A channel's messages, newest first, ephemeral ones included.
    pub fn messages(&self, channel_id: u64) -> ApiResult<Vec<Value>> {
        self.world(|w| w.channel_messages(channel_id, crate::world::Page::all(), true))
    }

    /// Registered commands: global with `None`, else the guild's.
    pub fn commands(&self, guild_id: Option<u64>) -> ApiResult<Vec<Value>> {
        let scope = guild_id.map_or(CommandScope::Global, CommandScope::Guild);
        self.world(|w| w.commands(scope))
    }

    // --- acting as a member ------------------------------------------------------------------

    pub fn invoke_command(&self, spec: NewCommandInteraction) -> ApiResult<InteractionRef> {
        self.apply(|w| w.invoke_command(spec))
    }

    pub fn autocomplete(&self, spec: NewCommandInteraction) -> ApiResult<InteractionRef> {
        self.apply(|w| w.autocomplete(spec))
    }

    pub fn press_component(&self, spec: NewComponentInteraction) -> ApiResult<InteractionRef> {
        self.apply(|w| w.press_component(spec))
    }

    pub fn submit_modal(&self, spec: NewModalSubmit) -> ApiResult<InteractionRef> {
        self.apply(|w| w.submit_modal(spec))
    }

    /// Every interaction so far, newest first.
    pub fn interactions(&self) -> Vec<InteractionView> {
        self.world(|w| w.interaction_views())
    }

    pub fn interaction(&self, id: u64) -> ApiResult<InteractionView> {
        self.world(|w| w.interaction_view(id))
    }

    /// Waits for the app's initial response to an interaction.
    pub async fn wait_interaction_response(
        &self,
        id: u64,
        timeout: Duration,
    ) -> Option<InteractionView> {
        // Every change wakes every waiter: each looks cheaply before building its view.
        self.wait_for(timeout, |w| {
            w.answered(id)
                .then(|| w.interaction_view(id).ok())
                .flatten()
        })
        .await
    }

    // --- OAuth2 and Activities ---------------------------------------------------------------

    /// What a user's consent yields: a code the app exchanges at `/oauth2/token`.
    pub fn mint_oauth_code(
        &self,
        user_id: u64,
        scopes: Vec<String>,
        redirect_uri: Option<String>,
    ) -> ApiResult<String> {
        self.apply(|w| {
            w.mint_oauth_code(user_id, scopes, redirect_uri)
                .map(|c| (c, vec![]))
        })
    }

    /// A member starts or joins the app in a voice channel (the instance JSON).
    pub fn join_activity(&self, channel_id: u64, user_id: u64) -> ApiResult<Value> {
        self.apply(|w| w.join_activity(channel_id, user_id).map(|v| (v, vec![])))
    }

    /// The Activity's URL mappings (prefix -> target), as set in the Developer Portal.
    pub fn set_url_mappings(&self, mappings: Vec<UrlMapping>) {
        *lock(&self.inner.url_mappings) = mappings;
    }

    pub fn url_mappings(&self) -> Vec<UrlMapping> {
        lock(&self.inner.url_mappings).clone()
    }

    /// Delay added to every message and response through the Activity proxy, each way.
    pub fn set_activity_latency(&self, latency: Latency) {
        *lock(&self.inner.activity_latency) = latency;
    }

    pub(crate) fn activity_latency(&self) -> Latency {
        *lock(&self.inner.activity_latency)
    }

    pub fn activity_instance(&self, instance_id: &str) -> ApiResult<Value> {
        self.world(|w| w.activity_instance(w.app.id, instance_id))
    }

    /// A user joins or leaves an Activity; `None` once the last one left.
    pub fn set_activity_participant(
        &self,
        instance_id: &str,
        user_id: u64,
        present: bool,
    ) -> ApiResult<Option<Value>> {
        self.apply(|w| {
            w.set_activity_participant(instance_id, user_id, present)
                .map(|v| (v, vec![]))
        })
    }

    // --- faults --------------------------------------------------------------------------------

    /// Cuts every gateway connection without a close frame; sessions stay resumable.
    pub fn drop_gateway_connections(&self) -> usize {
        self.gateway().broadcast(|| Outbound::Drop)
    }

    /// Sends op 7 Reconnect to every connection.
    pub fn send_reconnect(&self) -> usize {
        let text = frame(op::RECONNECT, &Value::Null);
        self.gateway().broadcast(|| Outbound::Text(text.clone()))
    }

    /// Sends op 9 Invalid Session to every connection.
    pub fn invalidate_sessions(&self, resumable: bool) -> usize {
        self.gateway().invalidate_all(resumable)
    }

    /// The next `count` rate-limited REST requests get a 429 with `retry_after`.
    pub fn rate_limit_storm(&self, count: u32, retry_after: Duration) {
        self.limiter().storm(count, retry_after);
    }

    /// Delay added before every REST response.
    pub fn set_latency(&self, latency: Duration) {
        self.set_latency_jitter(latency, Duration::ZERO);
    }

    /// Delay added before every REST response, drawn per request uniformly from
    /// `latency - jitter ..= latency + jitter` (as a real network varies).
    pub fn set_latency_jitter(&self, latency: Duration, jitter: Duration) {
        *lock(&self.inner.latency) = (latency, jitter);
    }

    pub fn gateway_sessions(&self) -> Vec<SessionInfo> {
        self.gateway().sessions()
    }

    /// `session_start_limit` as `GET /gateway/bot` reports it now.
    pub fn session_start_limit(&self) -> SessionStartStatus {
        self.gateway().session_start_status()
    }

    /// Replaces the session start limit and starts a fresh period (`remaining` = `total`).
    pub fn set_session_start_limit(&self, limit: SessionStartLimit) {
        self.gateway().set_session_start_limit(limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_jitter_stays_in_its_range_and_varies() {
        let sandbox = Sandbox::new(
            Config::default(),
            String::new(),
            String::new(),
            String::new(),
        );
        sandbox.set_latency(Duration::from_millis(100));
        assert_eq!(sandbox.latency(), Duration::from_millis(100));
        sandbox.set_latency_jitter(Duration::from_millis(100), Duration::from_millis(30));
        let samples: Vec<Duration> = (0..500).map(|_| sandbox.latency()).collect();
        let (low, high) = (Duration::from_millis(70), Duration::from_millis(130));
        assert!(samples.iter().all(|s| (low..=high).contains(s)));
        assert!(samples.iter().any(|s| *s < Duration::from_millis(85)));
        assert!(samples.iter().any(|s| *s > Duration::from_millis(115)));
    }
}

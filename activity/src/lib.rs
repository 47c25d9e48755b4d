//! The public HTTP surface of kaltura-discord: personal meeting links (`/join/<token>`), the
//! URL-versioned REST API (`/api/v1/...`, JWT auth, OpenAPI document generated from this code
//! at `/api/v1/openapi.json`), and `/healthz`, `/readyz`, `/metrics`.
//!
//! The API is an adapter over the domain core (`kd-core`): each route lets its caller through
//! the core's gate as the slash command it stands for (`access.rs`), runs the core's typed
//! operation and answers its result as JSON.

mod access;
pub mod auth;
pub mod discord;
pub mod error;
mod extract;
pub mod join;
mod limits;
mod meetings;
mod ops;
mod videos;
pub mod watch;
pub mod web_app;
pub mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::response::Response;
use axum::routing::{get, post};
use kd_core::config::RuntimeConfig;
use kd_core::join_token::{JoinKey, TokenKey};
use kd_core::kaltura::{KalturaClients, KalturaSettings};
use kd_core::secrets::SecretSource;
use kd_store::Store;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use discord::DISCORD_API;
pub use error::{ApiError, ErrorBody};
pub use limits::Rate;

/// The API's major version, in its URLs. See docs/api.md for the version policy.
pub const API_VERSION: &str = "v1";

/// How the server is set up; the defaults suit production.
#[derive(Clone, Debug)]
pub struct ApiOptions {
    /// Discord REST base URL (the sandbox's `http://HOST:PORT/api/v10` in tests).
    pub discord_api: String,
    /// Browser origins allowed to call the API (CORS); none means same-origin only.
    pub cors_origins: Vec<String>,
    /// Who may frame the pages (CSP `frame-ancestors`): the Discord Activity hosts.
    pub frame_ancestors: String,
    /// Largest request body accepted.
    pub body_limit: usize,
    /// Largest Kaltura notification accepted (an entry with long metadata, as XML).
    pub webhook_body_limit: usize,
    /// Per-user rate: steady requests per minute and the burst allowed on top.
    pub rate_per_minute: NonZeroU32,
    pub rate_burst: NonZeroU32,
    /// Token exchanges per client address, before Discord has verified anyone.
    pub exchange_rate_per_address: Rate,
    /// Unverified token exchanges from all addresses together: Discord bans a server's address
    /// after 10,000 refused requests in 10 minutes.
    pub exchange_rate: Rate,
    /// Proxies in front that append the peer to `X-Forwarded-For`; 0 ignores the header.
    pub trusted_proxy_hops: usize,
    pub kaltura: KalturaSettings,
    /// Timeouts and the connection limit of the HTTP server.
    pub server: kd_server::Limits,
    /// Watch Together's timings (tests shorten them).
    pub watch_timings: watch::room::Timings,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            discord_api: DISCORD_API.into(),
            cors_origins: Vec::new(),
            frame_ancestors: "https://discord.com https://*.discord.com https://*.discordsays.com"
                .into(),
            body_limit: 16 * 1024,
            webhook_body_limit: 256 * 1024,
            rate_per_minute: NonZeroU32::new(120).expect("non-zero"),
            rate_burst: NonZeroU32::new(30).expect("non-zero"),
            exchange_rate_per_address: Rate::new(
                NonZeroU32::new(60).expect("non-zero"),
                NonZeroU32::new(60).expect("non-zero"),
            ),
            exchange_rate: Rate::new(
                NonZeroU32::new(600).expect("non-zero"),
                NonZeroU32::new(100).expect("non-zero"),
            ),
            trusted_proxy_hops: 0,
            kaltura: KalturaSettings::default(),
            server: kd_server::Limits::default(),
            watch_timings: watch::room::Timings::default(),
        }
    }
}

/// Everything the handlers share.
pub struct Api {
    config: tokio::sync::watch::Receiver<Arc<RuntimeConfig>>,
    store: Store,
    secrets: Arc<dyn SecretSource>,
    kaltura: KalturaClients,
    discord: discord::DiscordRest,
    join_key: JoinKey,
    api_key: TokenKey,
    limits: limits::Limits,
    metrics: ops::Metrics,
    watch: watch::Watch,
    options: ApiOptions,
}

pub type AppState = Arc<Api>;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the bot token Secret {0} is missing")]
    NoToken(String),
    #[error("{0}")]
    Discord(#[from] discord::DiscordError),
    #[error("CORS origin {0:?} is not a valid origin")]
    Origin(String),
}

impl Api {
    pub fn new(
        options: ApiOptions,
        config: tokio::sync::watch::Receiver<Arc<RuntimeConfig>>,
        store: Store,
        secrets: Arc<dyn SecretSource>,
    ) -> Result<AppState, StartError> {
        let reference = config.borrow().application.bot_token_ref.clone();
        let token = secrets
            .get(&reference)
            .ok_or_else(|| StartError::NoToken(format!("{}/{}", reference.name, reference.key)))?;
        let token = token.expose();
        if let Some(bad) = options
            .cors_origins
            .iter()
            .find(|o| HeaderValue::from_str(o).is_err() || !o.contains("://"))
        {
            return Err(StartError::Origin(bad.clone()));
        }
        let mut metrics = ops::Metrics::default();
        let watch_metrics = watch::metrics::WatchMetrics::default();
        watch_metrics.register(metrics.registry_mut());
        let hub = watch::hub::Hub::new(store.clone(), options.watch_timings, watch_metrics);
        Ok(Arc::new(Self {
            watch: watch::Watch::new(hub, token, secrets.clone()),
            discord: discord::DiscordRest::new(&options.discord_api, token.to_string())?,
            join_key: JoinKey::derive(token),
            api_key: auth::api_key(token),
            kaltura: KalturaClients::new(secrets.clone(), options.kaltura.clone()),
            secrets,
            limits: limits::Limits::new(
                Rate::new(options.rate_per_minute, options.rate_burst),
                options.exchange_rate_per_address,
                options.exchange_rate,
            ),
            metrics,
            config,
            store,
            options,
        }))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kaltura-discord API",
        description = "Meetings and videos of a Discord server's Kaltura account, with the permission rules of the slash commands. Errors are always `{\"error\": {\"code\", \"message\"}}`. Version policy: docs/api.md.",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Exchange a Discord OAuth token for an API token"),
        (name = "meetings", description = "Kaltura meetings of the guild"),
        (name = "videos", description = "Videos of the guild's Kaltura partner"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("An API token from POST /api/v1/auth/token"))
                    .build(),
            ),
        );
    }
}

/// The versioned API routes and the OpenAPI document describing exactly them.
fn v1() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let routes = OpenApiRouter::new()
        .routes(routes!(auth::token))
        .routes(routes!(meetings::list, meetings::create))
        .routes(routes!(meetings::get))
        .routes(routes!(meetings::end))
        .routes(routes!(meetings::join_link))
        .routes(routes!(videos::search))
        .routes(routes!(videos::get))
        .routes(routes!(videos::playback));
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(&format!("/api/{API_VERSION}"), routes)
        .split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    (router, doc)
}

/// The OpenAPI 3 document of `/api/v1`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    v1().1
}

/// Sets the security headers every response carries (HTML pages and JSON alike).
async fn security_headers(
    axum::extract::State(api): axum::extract::State<AppState>,
    mut response: Response,
) -> Response {
    let headers = response.headers_mut();
    let csp = format!(
        "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors {}",
        api.options.frame_ancestors
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Join tokens live in URLs: they must not leak to Kaltura or anyone else as a Referer.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    headers.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    // Tokens, links and personal data: nothing here may be cached.
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(Duration::from_secs(600))
}

/// The whole HTTP surface.
pub fn router(api: AppState) -> Router {
    let (v1, doc) = v1();
    let doc = Arc::new(doc);
    let v1 = v1.route(
        "/api/v1/openapi.json",
        get(move || std::future::ready(axum::Json(doc.as_ref().clone()))),
    );
    let webhooks = Router::new()
        .route("/webhooks/kaltura", post(webhooks::kaltura))
        .layer(DefaultBodyLimit::max(api.options.webhook_body_limit));
    Router::new()
        .route("/join/{token}", get(join::join))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .merge(v1)
        .merge(watch::routes())
        .merge(webhooks)
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::no_method)
        .layer(DefaultBodyLimit::max(api.options.body_limit))
        // Outside the routes, so preflights are answered before method routing.
        .layer(cors(&api.options.cors_origins))
        .layer(axum::middleware::map_response_with_state(
            api.clone(),
            security_headers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            ops::record,
        ))
        .with_state(api)
}

/// Serves until the listener fails; forgets idle rate-limit state now and then.
pub async fn serve(api: AppState, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let sweeper = api.clone();
    let sweep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            sweeper.limits.forget_idle();
        }
    });
    let rooms = watch::spawn(&api);
    let limits = api.options.server.clone();
    let result = kd_server::serve(listener, router(api), limits).await;
    sweep.abort();
    rooms.iter().for_each(|t| t.abort());
    result
}

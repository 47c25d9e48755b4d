//! A Kaltura emulator: api_v3 (JSON and XML, form and JSON bodies, multirequest, in-band errors,
//! KS v1/v2 checks), seeded data, the calls the OVP player makes, a webhook sender, and knobs.
//!
//! It depends on no product crate on purpose: it stands for the outside world, so a mistake shared
//! with the product's client would otherwise go unnoticed.

pub mod control;
mod faults;
mod http;
mod ks;
mod multirequest;
mod params;
mod playback;
mod seed;
mod services;
mod state;
pub mod webhook;
mod wire;

pub use faults::{BadKnob, Errors, KS_REASONS, Knobs, RefuseKs, Slow};

use anyhow::Context;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// reqwest is built without a default TLS provider; install *ring* once per process (tests that
/// build their own reqwest client call this first).
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means a provider is already installed, which serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

pub(crate) fn random_secret() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// How to start a sandbox.
#[derive(Clone)]
pub struct SandboxConfig {
    pub partner_id: i64,
    pub partner_name: String,
    pub admin_secret: String,
    pub user_secret: String,
    /// Further partners `(id, admin secret)`, e.g. to test KS of another partner.
    pub other_partners: Vec<(i64, String)>,
    /// The MP4 every entry plays when `clips_dir` is not set; without either, media URLs answer 404.
    pub media_clip: Option<PathBuf>,
    /// Where each entry's own clip is generated (ffmpeg, on first play) and cached.
    pub clips_dir: Option<PathBuf>,
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Base URL to advertise in media/thumbnail URLs; defaults to `http://{bound address}`.
    pub public_url: Option<String>,
    /// Pause between tries of a template notification (Kaltura tries up to 10 times).
    pub webhook_retry_delay: Duration,
}

impl std::fmt::Debug for SandboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxConfig")
            .field("partner_id", &self.partner_id)
            .field("listen", &self.listen)
            .field("media_clip", &self.media_clip)
            .finish_non_exhaustive()
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            partner_id: 4_300_101,
            partner_name: "Campus Video (sandbox)".into(),
            admin_secret: random_secret(),
            user_secret: random_secret(),
            other_partners: Vec::new(),
            media_clip: None,
            clips_dir: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            webhook_retry_delay: Duration::from_secs(1),
        }
    }
}

/// A running sandbox; stops when dropped.
pub struct KalturaSandbox {
    sandbox: Arc<state::Sandbox>,
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for KalturaSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KalturaSandbox")
            .field("base_url", &self.sandbox.base_url)
            .field("partner_id", &self.partner_id())
            .finish_non_exhaustive()
    }
}

impl KalturaSandbox {
    pub async fn start(config: SandboxConfig) -> anyhow::Result<KalturaSandbox> {
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("binding {}", config.listen))?;
        let local_addr = listener.local_addr()?;
        let base_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local_addr}"))
            .trim_end_matches('/')
            .to_string();
        let mut partners = vec![state::Partner {
            id: config.partner_id,
            name: config.partner_name.clone(),
            admin_secret: config.admin_secret.clone(),
            user_secret: config.user_secret.clone(),
        }];
        partners.extend(
            config
                .other_partners
                .iter()
                .map(|(id, secret)| state::Partner {
                    id: *id,
                    name: format!("Partner {id}"),
                    admin_secret: secret.clone(),
                    user_secret: random_secret(),
                }),
        );
        let sandbox = Arc::new(state::Sandbox {
            partners,
            store: std::sync::Mutex::new(state::Store::seeded(config.partner_id, &base_url)),
            knobs: Knobs::default(),
            base_url,
            media_clip: config.media_clip.clone(),
            clips: config.clips_dir.clone().map(playback::clips::Clips::new),
            notifier: webhook::Notifier::new(webhook::WebhookSender::new(
                10,
                config.webhook_retry_delay,
                Duration::from_secs(10),
            )?),
        });
        let app = http::router(sandbox.clone());
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // Answers go out at once instead of waiting for the client's delayed ACK (Nagle).
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(err) = served {
                tracing::error!(error = %err, "Kaltura sandbox stopped");
            }
        });
        Ok(KalturaSandbox {
            sandbox,
            local_addr,
            shutdown: Some(shutdown),
            task,
        })
    }

    /// e.g. `http://127.0.0.1:43117`; the api_v3 root is `{base_url}/api_v3`.
    pub fn base_url(&self) -> &str {
        &self.sandbox.base_url
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn partner_id(&self) -> i64 {
        self.sandbox.primary().id
    }

    /// The admin secret the sandbox started with (see [`KalturaSandbox::rotate_admin_secret`]).
    pub fn admin_secret(&self) -> &str {
        &self.sandbox.primary().admin_secret
    }

    /// Give the partner a new admin secret (`secret`, or a random one) and return it; sessions
    /// signed with the old one are refused from now on, as Kaltura does.
    pub fn rotate_admin_secret(&self, secret: Option<String>) -> anyhow::Result<String> {
        control::rotate(&self.sandbox, self.partner_id(), secret).map_err(|r| anyhow::anyhow!(r.1))
    }

    pub fn user_secret(&self) -> &str {
        &self.sandbox.primary().user_secret
    }

    pub fn knobs(&self) -> &Knobs {
        &self.sandbox.knobs
    }

    /// A snapshot of the entries, as `media.get` returns them.
    pub fn entries(&self) -> Vec<Value> {
        self.sandbox.store().entries.clone()
    }

    /// A snapshot of the users of every partner, deleted ones included, as `user.get` returns them.
    pub fn users(&self) -> Vec<Value> {
        self.sandbox.store().users.clone()
    }

    /// A snapshot of the schedule events.
    pub fn schedule_events(&self) -> Vec<Value> {
        self.sandbox.store().events.clone()
    }

    /// The meeting (schedule event) `event_id` is recorded, as its room uploads a recording: an
    /// entry made from the event's template entry is added and becomes READY, each change
    /// notified to the active templates. Returns the ready entry.
    pub fn record_meeting(&self, event_id: i64) -> anyhow::Result<Value> {
        services::record(&self.sandbox, event_id).map_err(|e| anyhow::anyhow!(e))
    }

    /// Notifications sent from notification templates so far, in completion order.
    pub fn notifications(&self) -> Vec<webhook::NotificationRecord> {
        self.sandbox.notifier.records()
    }

    /// Stop serving and wait for the server task.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for KalturaSandbox {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        self.task.abort();
    }
}

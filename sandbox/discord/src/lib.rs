//! A Discord emulator for tests and local runs: REST (`/api/v10`), the Gateway websocket,
//! OAuth2, and a control API (`/_sandbox`) to play the people on the other side.
//!
//! Unmodified clients connect to it: twilight with only its base URLs changed, discord.js with
//! its `rest.api` option. It depends on no product crate, so a mistake shared with the product
//! cannot hide.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kd_sandbox_discord::{Config, DiscordSandbox, NewGuild};
//! let sandbox = DiscordSandbox::start(Config::default()).await?;
//! let guild = sandbox.create_guild(NewGuild { name: "Physics 101".into(), ..NewGuild::default() })?;
//! println!("REST {} gateway {} guild {}", sandbox.base_url(), sandbox.gateway_url(), guild.id);
//! # Ok(()) }
//! ```

pub mod activity_host;
mod config;
pub mod control;
pub mod error;
mod gateway;
mod ids;
mod model;
mod permissions;
mod ratelimit;
mod rest;
mod sandbox;
mod tls;
mod world;

pub use activity_host::{Latency, UrlMapping};
pub use config::{Config, SessionStartLimit};
pub use error::ApiError;
pub use gateway::{SessionInfo, SessionStartStatus};
pub use sandbox::{RequestRecord, Sandbox};
pub use tls::Tls;
pub use world::{
    GuildCreated, InteractionRef, InteractionView, MemberSpec, MessageSpec, NewChannel,
    NewCommandInteraction, NewComponentInteraction, NewGuild, NewModalSubmit, NewRole, NewUser,
    OverwriteSpec,
};

/// Permission bits for building roles in tests.
pub mod permission {
    pub use crate::permissions::{
        ADMINISTRATOR, ALL, EVERYONE_DEFAULT, MANAGE_ROLES, SEND_MESSAGES,
        USE_APPLICATION_COMMANDS, VIEW_CHANNEL,
    };
}

/// Gateway intent bits.
pub mod intent {
    pub use crate::gateway::intents::*;
}

use axum::Router;
use axum::routing::get;
use std::ops::Deref;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A running sandbox. Dereferences to [`Sandbox`] for the typed control methods; stops when dropped.
pub struct DiscordSandbox {
    sandbox: Sandbox,
    server: JoinHandle<()>,
    activity_server: JoinHandle<()>,
}

impl DiscordSandbox {
    /// Binds `config.listen` and serves REST, the gateway (`/gateway`), OAuth2 and `/_sandbox`
    /// (over TLS when `config.tls` is set); binds `config.activity_listen` for the Activity's
    /// origin (host page and proxy).
    pub async fn start(config: Config) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let activity_listener = TcpListener::bind(config.activity_listen).await?;
        let activity_addr = activity_listener.local_addr()?;
        let acceptor = config.tls.as_ref().map(Tls::acceptor).transpose()?;
        let (http, ws) = if acceptor.is_some() {
            ("https", "wss")
        } else {
            ("http", "ws")
        };
        let sandbox = Sandbox::new(
            config,
            format!("{http}://{addr}"),
            format!("{ws}://{addr}/gateway"),
            format!("http://{activity_addr}"),
        );
        let app = router(sandbox.clone());
        let server = match acceptor {
            Some(acceptor) => serve(tls::TlsListener::new(listener, acceptor)?, app),
            None => serve(no_delay(listener), app),
        };
        let activity_server = serve(
            no_delay(activity_listener),
            activity_host::router(sandbox.clone()),
        );
        tracing::info!(%addr, %activity_addr, "discord sandbox listening");
        Ok(Self {
            sandbox,
            server,
            activity_server,
        })
    }

    /// Serves until the server stops (the CLI's foreground mode).
    pub async fn wait(mut self) {
        let _ = (&mut self.server).await;
    }
}

fn serve<L>(listener: L, app: Router) -> JoinHandle<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
{
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(%err, "discord sandbox server stopped");
        }
    })
}

/// Small gateway frames and REST answers go out at once, as from Discord's edge, instead of
/// waiting for the peer's delayed ACK (Nagle). (The TLS listener does the same itself.)
fn no_delay(listener: TcpListener) -> impl axum::serve::Listener<Addr = std::net::SocketAddr> {
    axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    })
}

impl Deref for DiscordSandbox {
    type Target = Sandbox;

    fn deref(&self) -> &Sandbox {
        &self.sandbox
    }
}

impl Drop for DiscordSandbox {
    fn drop(&mut self) {
        self.server.abort();
        self.activity_server.abort();
        self.sandbox.drop_gateway_connections();
    }
}

/// Every route of the sandbox on one router.
pub fn router(sandbox: Sandbox) -> Router {
    Router::new()
        .merge(rest::router(sandbox.clone()))
        .merge(control::router())
        .route("/gateway", get(gateway::connection::upgrade))
        .route("/gateway/", get(gateway::connection::upgrade))
        .with_state(sandbox)
}

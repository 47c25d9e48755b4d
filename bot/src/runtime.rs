//! The twilight edges: gateway shards feed interactions, guild role changes and member updates
//! in, twilight-http sends answers and command registrations out. A new runtime-config revision is applied on the
//! fly, without reconnecting: the next interaction reads it, and only guilds whose command set
//! changed are re-registered.

use crate::claim::{self, Claim, Outage};
use crate::endpoint::RestEndpoint;
use crate::handle::{Outcome, handle};
use crate::identify::IdentifyQueue;
use crate::invocation::{Action, Invocation, NotHandled, from_interaction};
use crate::metrics::{CommandLabel, CommandLabels, Metrics};
use crate::notify::{Deliverer, DeliveryOptions};
use crate::registration::{self, GuildPlan};
use crate::reply::{Message, Reply, deferral};
use crate::shards::{self, Holding, Keeper, Progress, Running};
use crate::user_sync::{self, Target, Trigger, UserSync};
use kd_core::command::{Command, ConfigAction};
use kd_core::config::{RuntimeConfig, Served, shard_of};
use kd_core::join_token::JoinKey;
use kd_core::kaltura::{KalturaClients, KalturaSettings};
use kd_core::report::{BotReport, Registration, Tracker};
use kd_core::roles::GuildRole;
use kd_core::scope::{GuildScope, Scope};
use kd_core::secrets::SecretSource;
use kd_core::services::Services;
use kd_store::{Backend, GLOBAL_COMMANDS, Store};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use twilight_gateway::error::ReceiveMessageErrorType;
use twilight_gateway::{
    CloseFrame, Config, ConfigBuilder, Event, EventTypeFlags, Intents, Session, Shard, ShardId,
    StreamExt as _,
};
use twilight_http::request::Request;
use twilight_http::response::marker::EmptyBody;
use twilight_http::routing::Route;
use twilight_model::application::command::Command as TwilightCommand;
use twilight_model::application::interaction::Interaction;
use twilight_model::gateway::payload::incoming::{GuildCreate, MemberUpdate};
use twilight_model::id::Id;

/// Registrations in flight at once: enough to keep up with Discord's 50 requests/s at real
/// latencies (50/s x 130 ms = 6.5 in flight), few enough to keep memory flat with thousands of
/// guilds.
const REGISTRATION_WORKERS: usize = 8;

/// Discord refuses an interaction's first answer after this long.
const CALLBACK_DEADLINE: Duration = Duration::from_secs(3);

/// Guilds whose roles go to the store in one write, at most.
const ROLES_BATCH: usize = 2_000;

/// Said below an answer given without the stored settings.
const SETTINGS_FALLBACK_NOTE: &str = "-# Settings changed from Discord could not be read just now, so this answer follows the server's GuildConfig alone.";

/// The outcome label of an interaction Discord never got an answer to.
const UNANSWERED: &str = "unanswered";

/// How long a leaving shard waits for its close to go out (the session stays resumable).
const CLOSE_BOUND: Duration = Duration::from_secs(2);

/// How long a stopping bot waits for the interactions under way to be answered.
const DRAIN_BOUND: Duration = Duration::from_secs(10);

/// How long a replica waits for the config of the shards it takes before it connects them
/// anyway (their guilds answered as unconfigured until it comes).
const CONFIG_BOUND: Duration = Duration::from_secs(30);

/// Milliseconds from the Unix epoch to the Discord epoch, the origin of snowflake times.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// The gateway events the bot reads.
const WANTED: EventTypeFlags = EventTypeFlags::READY
    .union(EventTypeFlags::RESUMED)
    .union(EventTypeFlags::GUILD_CREATE)
    .union(EventTypeFlags::GUILD_DELETE)
    .union(EventTypeFlags::INTERACTION_CREATE)
    .union(EventTypeFlags::MEMBER_UPDATE)
    .union(EventTypeFlags::ROLE_CREATE)
    .union(EventTypeFlags::ROLE_UPDATE)
    .union(EventTypeFlags::ROLE_DELETE);

/// The gateway intents the DiscordApplication asks for.
pub fn intents(config: &RuntimeConfig) -> Intents {
    use kd_crds::application::Intent;
    config
        .application
        .intents
        .iter()
        .fold(Intents::empty(), |all, intent| {
            all | match intent {
                Intent::Guilds => Intents::GUILDS,
                Intent::GuildMembers => Intents::GUILD_MEMBERS,
                Intent::GuildVoiceStates => Intents::GUILD_VOICE_STATES,
                Intent::GuildMessages => Intents::GUILD_MESSAGES,
            }
        })
}

/// How the bot connects; the URLs point it at the sandbox instead of Discord.
#[derive(Clone, Debug)]
pub struct BotOptions {
    /// Discord's REST API elsewhere (the sandbox, a proxy); Discord itself when None.
    pub http_proxy: Option<RestEndpoint>,
    /// `ws://` or `wss://host:port` of the gateway (the sandbox); Discord's when None.
    pub gateway_url: Option<String>,
    pub intents: Intents,
    /// Answer with a deferral when the reply is not ready by then (Discord allows 3 s).
    pub defer_after: Duration,
    pub kaltura: KalturaSettings,
    /// Gateway shards; Discord's recommendation (one per 2,500 guilds) when None.
    pub shards: Option<u32>,
    /// How often user sync passes over the members of each guild that has it on.
    pub user_sync_every: Duration,
    /// Notification delivery from the outbox; none when this process should not deliver.
    pub delivery: Option<DeliveryOptions>,
    /// This process's name in the shard leases and in status.
    pub replica: String,
    /// Where replicas agree on who connects which shard.
    pub sharing: Sharing,
    /// Tells the config source which guilds to keep as the shards held change; None when
    /// the config is whole (one process serving every shard).
    pub served: Option<Arc<watch::Sender<Served>>>,
}

/// Where bot replicas agree on who connects which shard.
#[derive(Clone, Default)]
pub enum Sharing {
    /// The store's: lease rows on PostgreSQL; on SQLite one process connects every shard.
    #[default]
    Store,
    /// An outside coordination service (Kubernetes Leases in a cluster).
    Service(Arc<dyn shards::LeaseService>),
}

impl std::fmt::Debug for Sharing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sharing::Store => "Store",
            Sharing::Service(_) => "Service",
        })
    }
}

impl Default for BotOptions {
    fn default() -> Self {
        Self {
            http_proxy: None,
            gateway_url: None,
            intents: Intents::GUILDS,
            defer_after: Duration::from_millis(2000),
            kaltura: KalturaSettings::default(),
            shards: None,
            user_sync_every: Duration::from_secs(15 * 60),
            delivery: Some(DeliveryOptions::default()),
            replica: shards::replica_name(),
            sharing: Sharing::Store,
            served: None,
        }
    }
}

pub struct Bot {
    http: twilight_http::Client,
    /// Interaction callbacks only: twilight's rate limiter queues every `interactions/...`
    /// request behind one in flight (they share one bucket key), which at 150 ms to Discord
    /// caps the bot near 7 answers a second. Callbacks are outside Discord's global limit and
    /// each token takes one, so they go out concurrently here; webhook edits and follow-ups
    /// (per-token buckets) and everything else stay on the rate-limited client.
    callbacks: twilight_http::Client,
    token: String,
    options: BotOptions,
    config: watch::Receiver<Arc<RuntimeConfig>>,
    store: Store,
    kaltura: KalturaClients,
    user_sync: UserSync,
    join_key: JoinKey,
    guild_roles: RwLock<HashMap<String, Vec<GuildRole>>>,
    /// Guilds whose registration is under way, and whether another was asked for meanwhile: a
    /// GUILD_CREATE and a new revision arriving together send the set once, and a change during
    /// a registration is registered right after it.
    registering: tokio::sync::Mutex<HashMap<String, bool>>,
    /// Held through a registration of the global set.
    registering_global: tokio::sync::Mutex<()>,
    /// What the store recorded as sent, by guild id, once read (see `stored_fingerprint`).
    fingerprints: tokio::sync::Mutex<Option<HashMap<String, String>>>,
    /// Guilds waiting for a registration check, worked off by a few workers so that thousands
    /// of GUILD_CREATEs at start never hold thousands of command sets in memory at once.
    queue: mpsc::UnboundedSender<String>,
    queue_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<String>>,
    queued: Mutex<HashSet<String>>,
    running: watch::Sender<String>,
    tracker: Mutex<Tracker>,
    /// Bumped whenever something the report carries may have changed, so a long poll of
    /// `/status` answers at once instead of on a timer.
    report_changes: watch::Sender<()>,
    deliverer: Deliverer,
    /// Whether the store is failing to take claims (logged once per outage).
    claims_failing: Outage,
    /// Roles changes to record in the store, in order.
    roles_out: mpsc::UnboundedSender<(String, Option<String>)>,
    roles_rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Option<String>)>>,
    /// Set to leave: the shards are handed over and `run` returns.
    leaving: watch::Sender<bool>,
    /// Interactions being answered, which a leaving bot waits for.
    in_flight: watch::Sender<usize>,
    pub metrics: Metrics,
}

/// The bot's readiness, as `/readyz` serves it.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Readiness {
    pub ready: bool,
    /// `ok`, or why the store is not answering.
    pub store: String,
    pub shards: u32,
    /// The shards this replica holds (all of them without leases), and of those connected.
    pub shards_held: u32,
    pub shards_connected: u32,
}

/// What the bot failed to start with.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the bot token Secret {0} is missing")]
    NoToken(String),
    #[error("asking Discord how many shards to run failed: {0}")]
    Gateway(String),
}

impl Bot {
    /// A bot for the application of `config`; its token comes from `secrets`.
    pub fn new(
        options: BotOptions,
        config: watch::Receiver<Arc<RuntimeConfig>>,
        store: Store,
        secrets: Arc<dyn SecretSource>,
    ) -> Result<Arc<Self>, StartError> {
        let reference = config.borrow().application.bot_token_ref.clone();
        let token = secrets
            .get(&reference)
            .ok_or_else(|| StartError::NoToken(format!("{}/{}", reference.name, reference.key)))?
            .expose()
            .to_string();
        // twilight's TLS (https to Discord, wss to its gateway) takes rustls' process-wide
        // provider; the first caller in a process installs it.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = |limited: bool| {
            let mut http = twilight_http::Client::builder().token(token.clone());
            if !limited {
                http = http.ratelimiter(None);
            }
            if let Some(proxy) = &options.http_proxy {
                http = http.proxy(proxy.authority.clone(), !proxy.tls);
            }
            http.build()
        };
        let (running, _) = watch::channel(String::new());
        let (report_changes, _) = watch::channel(());
        let (queue, queue_rx) = mpsc::unbounded_channel();
        let (roles_out, roles_rx) = mpsc::unbounded_channel();
        let kaltura = KalturaClients::new(secrets, options.kaltura.clone());
        let deliverer = Deliverer::new(options.delivery.clone().unwrap_or_default());
        Ok(Arc::new(Self {
            http: client(true),
            callbacks: client(false),
            join_key: JoinKey::derive(&token),
            token,
            user_sync: UserSync::new(kaltura.clone()),
            kaltura,
            options,
            config,
            store,
            guild_roles: RwLock::new(HashMap::new()),
            registering: tokio::sync::Mutex::new(HashMap::new()),
            registering_global: tokio::sync::Mutex::new(()),
            fingerprints: tokio::sync::Mutex::new(None),
            queue,
            queue_rx: tokio::sync::Mutex::new(queue_rx),
            queued: Mutex::new(HashSet::new()),
            running,
            tracker: Mutex::new(Tracker::default()),
            report_changes,
            deliverer,
            claims_failing: Outage::default(),
            roles_out,
            roles_rx: tokio::sync::Mutex::new(roles_rx),
            leaving: watch::channel(false).0,
            in_flight: watch::channel(0).0,
            metrics: Metrics::default(),
        }))
    }

    /// The revision the bot has applied; the operator writes it back into status.
    pub fn running_revision(&self) -> watch::Receiver<String> {
        self.running.subscribe()
    }

    /// What the operator reads at `/status`: running revision, shards, registrations.
    pub fn report(&self) -> BotReport {
        let config = self.config.borrow().clone();
        let revision = self.running.borrow().clone();
        let mut report = self.tracker.lock().expect("tracker lock").report(
            &config.application.application_id,
            &revision,
            config.guilds.keys().chain(&config.clearing),
        );
        report.notifications = self.deliverer.counts();
        let roles = self.guild_roles.read().expect("roles lock");
        report.roles = config
            .guilds
            .keys()
            .filter_map(|id| Some((id.clone(), roles.get(id)?.clone())))
            .collect();
        report
    }

    /// The report once its etag differs from `seen`, waiting up to `wait` for that; None when
    /// it still matched at the end (the poller's copy is current).
    pub async fn report_unless(&self, seen: Option<&str>, wait: Duration) -> Option<BotReport> {
        let deadline = tokio::time::Instant::now() + wait;
        // Subscribed before the report is read: a change in between still wakes the wait.
        let mut changes = self.report_changes.subscribe();
        loop {
            let report = self.report();
            if seen != Some(report.etag().as_str()) {
                return Some(report);
            }
            // `changed` fails only once the sender is dropped, and `self` holds it.
            tokio::time::timeout_at(deadline, changes.changed())
                .await
                .ok()?
                .ok()?;
        }
    }

    /// Something the report carries may have changed: wakes the long polls of `/status`.
    pub(crate) fn report_changed(&self) {
        self.report_changes.send_replace(());
    }

    /// Changes the gateway's view of guild roles (the report carries them).
    fn update_roles<T>(&self, change: impl FnOnce(&mut HashMap<String, Vec<GuildRole>>) -> T) -> T {
        let result = change(&mut self.guild_roles.write().expect("roles lock"));
        self.report_changed();
        result
    }

    /// Changes `guild_id`'s roles and records them in the store, in order, for the next
    /// holder of its shard (a resume brings no GUILD_CREATE).
    fn change_roles(&self, guild_id: String, change: impl FnOnce(&mut Vec<GuildRole>)) {
        let roles = self.update_roles(|all| {
            let roles = all.entry(guild_id.clone()).or_default();
            change(roles);
            serde_json::to_string(roles).expect("roles serialize")
        });
        let _ = self.roles_out.send((guild_id, Some(roles)));
    }

    /// Writes the roles changes to the store in order, those waiting together (each guild's
    /// last change), so the last change is the one kept.
    async fn record_roles(self: Arc<Self>) {
        let mut changes = self.roles_rx.lock().await;
        while let Some((guild, roles)) = changes.recv().await {
            let mut batch = std::collections::BTreeMap::from([(guild, roles)]);
            while batch.len() < ROLES_BATCH {
                match changes.try_recv() {
                    Ok((guild, roles)) => batch.insert(guild, roles),
                    Err(_) => break,
                };
            }
            if let Err(error) = self.store.save_guild_roles(&batch).await {
                tracing::debug!(%error, guilds = batch.len(), "recording guild roles failed");
            }
        }
    }

    /// What `/readyz` tells: ready when the store answers (within a second) and the replica
    /// holds its share of the shards, all connected (a rolling update moves on only then).
    pub async fn readiness(&self) -> Readiness {
        let store = match tokio::time::timeout(Duration::from_secs(1), self.store.ping()).await {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(err)) => err.to_string(),
            Err(_) => "no answer within 1s".to_string(),
        };
        // The tracker alone: a report would list every guild, for each probe.
        let tracker = self.tracker.lock().expect("tracker lock");
        Readiness {
            ready: store == "ok" && tracker.settled(),
            store,
            shards: tracker.shards(),
            shards_held: tracker.held(),
            shards_connected: tracker.held_connected(),
        }
    }

    pub fn http(&self) -> &twilight_http::Client {
        &self.http
    }

    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    pub(crate) fn deliverer(&self) -> &Deliverer {
        &self.deliverer
    }

    /// The `maxPerMinute` of a configured NotificationRule.
    pub(crate) fn rule_rate(&self, rule: &str) -> Option<i32> {
        self.config.borrow().rule_rate(rule)
    }

    /// Connects its shards and serves them until [`Bot::leave`]: every shard on SQLite (one
    /// process), its share of them through the store's leases on PostgreSQL (see [`shards`]).
    /// Then it hands its shards over, sessions saved, and waits for the interactions under
    /// way.
    pub async fn run(self: Arc<Self>) -> Result<(), StartError> {
        let reconfigure = tokio::spawn(self.clone().follow_config());
        let passes = tokio::spawn(self.clone().user_sync_passes());
        let pruning = tokio::spawn(self.clone().prune_claims());
        let roles = tokio::spawn(self.clone().record_roles());
        let delivery = self
            .options
            .delivery
            .is_some()
            .then(|| tokio::spawn(Deliverer::run(self.clone())));
        let workers: Vec<_> = (0..REGISTRATION_WORKERS)
            .map(|_| tokio::spawn(self.clone().registration_worker()))
            .collect();
        let (total, limit) = self.gateway_bot().await?;
        let postgres = self.store.backend() == Backend::Postgres;
        let application_id = self.config.borrow().application.application_id.clone();
        let leases: Option<(Box<dyn shards::Coordination>, shards::Timings)> =
            match &self.options.sharing {
                Sharing::Service(service) => Some((service.leases(total), service.timings())),
                Sharing::Store if postgres => Some((
                    Box::new(shards::StoreLeases {
                        store: self.store.clone(),
                        application_id: application_id.clone(),
                        shards: total,
                    }),
                    shards::Timings::store(),
                )),
                Sharing::Store => None,
            };
        // Replicas need PostgreSQL: its identify slots pace them all.
        let queue = IdentifyQueue::new(
            &limit,
            postgres.then(|| (self.store.clone(), application_id.clone())),
        );
        let mut config = ConfigBuilder::new(self.token.clone(), self.options.intents).queue(queue);
        if let Some(url) = &self.options.gateway_url {
            config = config.proxy_url(url.clone());
        }
        let config = config.build();
        let replica = match leases {
            Some(_) => self.options.replica.as_str(),
            None => "",
        };
        self.tracker
            .lock()
            .expect("tracker lock")
            .set_shards(total, replica);
        self.report_changed();
        let start = |id: u32, session: Option<kd_store::SavedSession>| {
            self.start_shard(&config, ShardId::new(id, total), session)
        };
        if let Some((leases, timings)) = &leases {
            Keeper {
                leases: leases.as_ref(),
                total,
                replica,
                timings: timings.clone(),
                holding: self.as_ref(),
            }
            .run(&start, self.leaving.subscribe())
            .await;
        } else {
            tracing::info!(shards = total, "starting gateway shards");
            let all: BTreeSet<u32> = (0..total).collect();
            self.hold(&all, total);
            let running: Vec<Running> = all.iter().map(|id| start(*id, None)).collect();
            let _ = self.leaving.subscribe().wait_for(|leaving| *leaving).await;
            for run in running {
                let _ = run.stop.send(());
                let _ = run.done.await;
            }
            self.hold(&BTreeSet::new(), total);
        }
        let drained = self.in_flight.subscribe();
        let drained = tokio::time::timeout(DRAIN_BOUND, async move {
            let mut drained = drained;
            let _ = drained.wait_for(|n| *n == 0).await;
        });
        if drained.await.is_err() {
            tracing::warn!(
                interactions = *self.in_flight.borrow(),
                "stopping with interactions still being answered"
            );
        }
        reconfigure.abort();
        passes.abort();
        pruning.abort();
        roles.abort();
        workers.iter().for_each(|w| w.abort());
        if let Some(delivery) = delivery {
            delivery.abort();
        }
        Ok(())
    }

    /// Stops the bot: [`Bot::run`] hands its shards over and returns.
    pub fn leave(&self) {
        self.leaving.send_replace(true);
    }

    /// This replica now holds `held`, of a share of `share`: the report carries them, and the
    /// roles of guilds on shards it let go are another replica's to follow now.
    fn hold(&self, held: &BTreeSet<u32>, share: u32) {
        let total = {
            let mut tracker = self.tracker.lock().expect("tracker lock");
            tracker.hold(held, share);
            tracker.shards()
        };
        self.update_roles(|all| all.retain(|guild, _| serves(held, total, guild)));
        // The config keeps the guilds of the shards still held (a leaving bot keeps its own
        // until it stops: narrowing it is of no use then).
        if let Some(served) = &self.options.served
            && !*self.leaving.borrow()
        {
            served.send_if_modified(|kept| {
                let narrower = Served::Shards {
                    total,
                    held: held.clone(),
                };
                let changed = *kept != narrower;
                *kept = narrower;
                changed
            });
        }
    }

    /// Whether this replica holds the shard of `guild_id`.
    fn serves_guild(&self, guild_id: &str) -> bool {
        let tracker = self.tracker.lock().expect("tracker lock");
        serves(&tracker.held_shards(), tracker.shards(), guild_id)
    }

    /// Has the config source keep the guilds of `shards` too, and waits until the config
    /// holds them (so a shard taken over answers its guilds from its first event).
    async fn keep_guilds_of(&self, shards: &BTreeSet<u32>) {
        let Some(served) = &self.options.served else {
            return;
        };
        let total = self.tracker.lock().expect("tracker lock").shards();
        let wanted = Served::Shards {
            total,
            held: shards.clone(),
        };
        if self.config.borrow().served.covers(&wanted) {
            return;
        }
        // Another replica may have registered those guilds since they were read.
        *self.fingerprints.lock().await = None;
        served.send_replace(wanted.clone());
        let started = Instant::now();
        let mut config = self.config.clone();
        let loaded = config.wait_for(|c| c.served.covers(&wanted));
        match tokio::time::timeout(CONFIG_BOUND, loaded).await {
            Ok(Ok(config)) => tracing::info!(
                guilds = config.guilds.len(),
                millis = started.elapsed().as_millis() as u64,
                "the config of the shards taken is loaded"
            ),
            _ => tracing::warn!(
                ?shards,
                "the config of the shards taken was not loaded within {CONFIG_BOUND:?}; connecting them with the config at hand"
            ),
        }
    }

    /// The shard count (the option, else Discord's recommendation) and the identify limits,
    /// from `GET /gateway/bot`. With the shard count given, a failed ask falls back to
    /// Discord's documented defaults.
    async fn gateway_bot(
        &self,
    ) -> Result<(u32, twilight_model::gateway::SessionStartLimit), StartError> {
        let asked = async {
            let response = self
                .http
                .gateway()
                .authed()
                .await
                .map_err(|e| e.to_string())?;
            response.model().await.map_err(|e| e.to_string())
        };
        match (asked.await, self.options.shards) {
            (Ok(info), shards) => {
                let limit = info.session_start_limit;
                tracing::info!(
                    recommended = info.shards,
                    remaining = limit.remaining,
                    max_concurrency = limit.max_concurrency,
                    "asked Discord about the gateway"
                );
                Ok((shards.unwrap_or(info.shards).max(1), limit))
            }
            (Err(error), Some(shards)) => {
                tracing::warn!(%error, "asking Discord about the gateway failed; identifying one shard at a time");
                Ok((
                    shards.max(1),
                    twilight_model::gateway::SessionStartLimit {
                        max_concurrency: 1,
                        remaining: 1000,
                        reset_after: twilight_gateway::queue::LIMIT_PERIOD.as_millis() as u64,
                        total: 1000,
                    },
                ))
            }
            (Err(error), None) => Err(StartError::Gateway(error)),
        }
    }

    /// Starts serving shard `id`, resuming `session` when one is given.
    fn start_shard(
        self: &Arc<Self>,
        config: &Config<IdentifyQueue>,
        id: ShardId,
        session: Option<kd_store::SavedSession>,
    ) -> Running {
        let config = match session {
            Some(saved) => {
                let mut builder = ConfigBuilder::from(config.clone())
                    .session(Session::new(saved.sequence, saved.session_id));
                if let Some(url) = saved.resume_url {
                    builder = builder.resume_url(url);
                }
                builder.build()
            }
            None => config.clone(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let progress = Arc::new(Progress::default());
        let shard = Shard::with_config(id, config);
        let done = tokio::spawn(self.clone().serve(shard, stopped, progress.clone()));
        Running {
            stop,
            done,
            progress,
        }
    }

    /// Serves one shard until `stop`; gives its session for the next holder. Its progress is
    /// noted after every event, so what the keeper saves never runs ahead of what was handled.
    async fn serve(
        self: Arc<Self>,
        mut shard: Shard<IdentifyQueue>,
        mut stop: tokio::sync::oneshot::Receiver<()>,
        progress: Arc<Progress>,
    ) -> Option<kd_store::SavedSession> {
        let id = shard.id().number();
        let mut closing: Option<tokio::time::Instant> = None;
        loop {
            let next = async {
                match closing {
                    Some(deadline) => tokio::time::timeout_at(deadline, shard.next_event(WANTED))
                        .await
                        .ok()
                        .flatten(),
                    None => shard.next_event(WANTED).await,
                }
            };
            let item = tokio::select! {
                item = next => item,
                _ = &mut stop, if closing.is_none() => {
                    // A resumable close: the next holder resumes the session.
                    shard.close(CloseFrame::RESUME);
                    closing = Some(tokio::time::Instant::now() + CLOSE_BOUND);
                    continue;
                }
            };
            let Some(item) = item else { break };
            match item {
                Ok(Event::GatewayClose(_)) if closing.is_some() => break,
                Ok(Event::GatewayClose(Some(frame))) if fatal_close(frame.code) => {
                    // twilight gives up on these: say what to fix.
                    tracing::error!(
                        shard = id,
                        code = frame.code,
                        reason = %frame.reason,
                        "Discord closed the shard for good (4011: too many guilds per shard, raise spec.bot.shards; 4014: an intent not approved; 4004: the token)"
                    );
                    self.on_event(id, Event::GatewayClose(Some(frame)));
                }
                Ok(event) => self.on_event(id, event),
                // twilight reconnects and resumes by itself. The error's text would carry the
                // whole event, interaction token included, so only its kind is logged.
                Err(err) => {
                    let kind = match err.kind() {
                        ReceiveMessageErrorType::Deserializing { .. } => {
                            "an event twilight could not read"
                        }
                        ReceiveMessageErrorType::Reconnect => "reconnecting failed",
                        _ => "other",
                    };
                    tracing::warn!(kind, shard = id, "gateway receive error");
                }
            }
            if let Some(session) = shard.session() {
                progress.note(session.id(), session.sequence(), shard.resume_url());
            }
        }
        self.shard_connected(id, false);
        progress.get()
    }

    fn on_event(self: &Arc<Self>, shard: u32, event: Event) {
        match event {
            Event::Ready(ready) => {
                self.shard_connected(shard, true);
                // As GUILD_CREATE re-checks a guild: a global set Discord refused is tried again.
                let bot = self.clone();
                tokio::spawn(async move { bot.register_global().await });
                tracing::info!(
                    shard,
                    guilds = ready.guilds.len(),
                    "connected to the gateway"
                )
            }
            Event::Resumed => {
                self.shard_connected(shard, true);
                tracing::info!(shard, "resumed the gateway session");
            }
            Event::GatewayClose(_) => self.shard_connected(shard, false),
            Event::GuildCreate(created) => {
                if let GuildCreate::Available(guild) = *created {
                    let id = guild.id.to_string();
                    let roles = guild
                        .roles
                        .iter()
                        .map(|r| GuildRole {
                            id: r.id.to_string(),
                            name: r.name.clone(),
                        })
                        .collect();
                    self.change_roles(id.clone(), |all| *all = roles);
                    self.enqueue_registration(id);
                }
            }
            Event::GuildDelete(gone) => {
                let id = gone.id.to_string();
                self.update_roles(|all| all.remove(&id));
                let _ = self.roles_out.send((id, None));
            }
            Event::RoleCreate(e) => self.upsert_role(e.guild_id.to_string(), &e.role),
            Event::RoleUpdate(e) => self.upsert_role(e.guild_id.to_string(), &e.role),
            Event::RoleDelete(e) => {
                let role = e.role_id.to_string();
                self.change_roles(e.guild_id.to_string(), |roles| {
                    roles.retain(|r| r.id != role)
                });
            }
            Event::MemberUpdate(update) => {
                let bot = self.clone();
                tokio::spawn(async move { bot.on_member_update(*update).await });
            }
            Event::InteractionCreate(interaction) => {
                let bot = self.clone();
                tokio::spawn(async move { bot.on_interaction(interaction.0).await });
            }
            _ => {}
        }
    }

    fn shard_connected(&self, shard: u32, connected: bool) {
        self.tracker
            .lock()
            .expect("tracker lock")
            .shard_connected(shard, connected);
        self.report_changed();
    }

    fn record(&self, guild_id: &str, registration: Registration) {
        self.tracker
            .lock()
            .expect("tracker lock")
            .record(guild_id, registration);
        self.report_changed();
    }

    fn upsert_role(&self, guild_id: String, role: &twilight_model::guild::Role) {
        self.change_roles(guild_id, |roles| {
            roles.retain(|r| r.id != role.id.to_string());
            roles.push(GuildRole {
                id: role.id.to_string(),
                name: role.name.clone(),
            });
        });
    }

    /// The guild's roles: from the gateway cache, else asked of Discord once.
    pub(crate) async fn roles_of(&self, guild_id: &str) -> Vec<GuildRole> {
        if let Some(roles) = self.guild_roles.read().expect("roles lock").get(guild_id) {
            return roles.clone();
        }
        // Its shard's last holder left them in the store; bounded like a settings read.
        let stored = tokio::time::timeout(
            kd_core::overrides::READ_BOUND,
            self.store.guild_roles(guild_id),
        )
        .await;
        if let Ok(Ok(Some(json))) = stored
            && let Ok(roles) = serde_json::from_str::<Vec<GuildRole>>(&json)
        {
            self.update_roles(|all| all.insert(guild_id.to_string(), roles.clone()));
            return roles;
        }
        let Some(id) = snowflake(guild_id) else {
            return Vec::new();
        };
        match self.http.roles(id).await {
            Ok(response) => match response.models().await {
                Ok(roles) => {
                    let roles: Vec<GuildRole> = roles
                        .into_iter()
                        .map(|r| GuildRole {
                            id: r.id.to_string(),
                            name: r.name,
                        })
                        .collect();
                    self.change_roles(guild_id.to_string(), |all| *all = roles.clone());
                    roles
                }
                Err(err) => {
                    tracing::warn!(error = %err, guild = guild_id, "reading guild roles failed");
                    Vec::new()
                }
            },
            Err(err) => {
                tracing::warn!(error = %err, guild = guild_id, "fetching guild roles failed");
                Vec::new()
            }
        }
    }

    /// Answers one interaction, unless another replica claimed it first (both get it while a
    /// shard is handed over). Every bound counts from its receipt, whatever the store or
    /// Discord do: the deferral goes out at `defer_after` even while settings are still being
    /// read; a plan that writes is acknowledged before it writes, so a member who got no
    /// answer changed nothing; and work whose deferral Discord did not take is dropped.
    async fn on_interaction(self: Arc<Self>, interaction: Interaction) {
        let _flight = InFlight::enter(&self.in_flight);
        // Discord's 3 s run from the interaction's creation (its id's time), which a replay
        // after a hand-over received late.
        let age = age_of(interaction.id.get());
        let received = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        let id = interaction.id.to_string();
        let parsed = match from_interaction(&interaction) {
            Err(NotHandled::Unsupported) => return,
            parsed => parsed,
        };
        // Claimed first: a replay of one its last holder answered is claimed already, and
        // is no expired interaction.
        if !self.claim(&id).await {
            return;
        }
        if age >= CALLBACK_DEADLINE {
            self.metrics.expired.inc();
            tracing::warn!(
                interaction = id,
                age_ms = age.as_millis() as u64,
                "an interaction arrived after Discord's 3 s to answer it; left unanswered"
            );
            return;
        }
        let inv = match parsed {
            Ok(inv) => inv,
            // Not in a guild (the unsupported returned above).
            Err(_) => {
                let reply = Reply::Message(Message::ephemeral(
                    "Kaltura commands work inside a server, not in direct messages.",
                ));
                self.callback(&id, &interaction.token, &reply.callback(), received)
                    .await;
                return;
            }
        };
        let command = label(&inv);
        let is_button = matches!(inv.action, Action::Button { .. });
        let is_autocomplete = matches!(inv.action, Action::Autocomplete { .. });
        let defer_at = tokio::time::Instant::from(received + self.options.defer_after);
        let mut deferred = false;

        let prepare = self.prepare(&inv);
        tokio::pin!(prepare);
        let scope = match tokio::time::timeout_at(defer_at, &mut prepare).await {
            Ok(scope) => scope,
            Err(_) if is_autocomplete => {
                let answered = self
                    .callback(
                        &inv.id,
                        &inv.token,
                        &Reply::Choices(Vec::new()).callback(),
                        received,
                    )
                    .await;
                self.observe(&command, Outcome::Failed, answered, received);
                return;
            }
            Err(_) => {
                if !self.defer(&inv, &command, is_button, received).await {
                    self.observe(&command, Outcome::Failed, false, received);
                    return;
                }
                deferred = true;
                prepare.await
            }
        };
        self.sync_on_use(&scope);
        let degraded = scope.guild.as_ref().is_some_and(|g| g.degraded);
        if degraded {
            self.metrics.settings_fallbacks.inc();
        }
        // A write is answered before it runs: if Discord never took the answer, it is not done.
        if is_config_write(&inv) && scope.guild.is_some() && !deferred {
            if !self.defer(&inv, &command, is_button, received).await {
                self.observe(&command, Outcome::Failed, false, received);
                return;
            }
            deferred = true;
        }
        let services = Services {
            store: &self.store,
            kaltura: &self.kaltura,
            join_key: &self.join_key,
        };
        let work = handle(&services, &self, scope, &inv);
        tokio::pin!(work);
        let (reply, outcome) = if deferred {
            work.await
        } else {
            match tokio::time::timeout_at(defer_at, &mut work).await {
                Ok(done) => done,
                Err(_) if is_autocomplete => (Reply::Choices(Vec::new()), Outcome::Failed),
                Err(_) => {
                    if !self.defer(&inv, &command, is_button, received).await {
                        // Dropping the work here: nobody waits for its result.
                        self.observe(&command, Outcome::Failed, false, received);
                        return;
                    }
                    deferred = true;
                    work.await
                }
            }
        };
        let reply = if degraded {
            reply.with_note(SETTINGS_FALLBACK_NOTE)
        } else {
            reply
        };
        let answered = if deferred {
            self.finish_deferred(&inv, &reply).await
        } else {
            self.callback(&inv.id, &inv.token, &reply.callback(), received)
                .await
        };
        self.observe(&command, outcome, answered, received);
        if matches!(&inv.action, Action::Command { name, subcommand: Some(_), .. } if Command::parse(name) == Some(Command::Config))
            && outcome == Outcome::Ok
        {
            // A feature override may change the guild's commands.
            self.register(&inv.guild_id).await;
        }
    }

    /// Whether this replica answers the interaction: false when another one claimed it first
    /// (see [`claim`]). Bounded by [`claim::CLAIM_BOUND`]; a claim the store did not answer
    /// is answered anyway.
    async fn claim(&self, id: &str) -> bool {
        // On SQLite there is one bot process (replicas need PostgreSQL, and its Deployment is
        // recreated, never rolled), so nobody else can have the interaction; a claim would
        // only add a synchronous write to every ack (p99 +1 to +9 ms at 200/s in bot_ack).
        if self.store.backend() == Backend::Sqlite {
            return true;
        }
        let claiming = self.store.claim_interaction(id, self.deliverer.owner());
        let answer = tokio::time::timeout(claim::CLAIM_BOUND, claiming)
            .await
            .ok();
        let claim = Claim::of(answer);
        match &claim {
            Claim::Unknown(error) => {
                self.metrics.unclaimed.inc();
                if self.claims_failing.failed() {
                    tracing::warn!(
                        error,
                        "claiming an interaction failed; answering unclaimed until the store answers again"
                    );
                }
            }
            _ if self.claims_failing.answered() => {
                tracing::info!("claiming interactions works again")
            }
            _ => {}
        }
        if claim == Claim::Elsewhere {
            self.metrics.claimed_elsewhere.inc();
            tracing::debug!(interaction = id, "claimed by another replica; left to it");
            return false;
        }
        true
    }

    /// Every [`claim::PRUNE_EVERY`], drops the claims older than an interaction token lives.
    async fn prune_claims(self: Arc<Self>) {
        let mut ticks = tokio::time::interval(claim::PRUNE_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let before = kd_store::now_ms() - claim::CLAIMS_KEPT.as_millis() as i64;
            match self.store.prune_interaction_claims(before).await {
                Ok(pruned) => tracing::debug!(pruned, "pruned interaction claims"),
                Err(err) => tracing::warn!(error = %err, "pruning interaction claims failed"),
            }
        }
    }

    /// What answering needs besides the operation's own calls: the config, the guild's
    /// stored settings (bounded, see [`kd_core::overrides::load`]) and its roles.
    async fn prepare(&self, inv: &Invocation) -> Scope {
        let config = self.config.borrow().clone();
        let roles = self.roles_of(&inv.guild_id).await;
        Scope::load(
            config,
            &self.store,
            &inv.guild_id,
            inv.member.clone(),
            roles,
        )
        .await
    }

    /// A member's use of the bot syncs their Kaltura user, in the background.
    fn sync_on_use(self: &Arc<Self>, scope: &Scope) {
        let Some(target) = scope
            .guild
            .as_ref()
            .and_then(|g| Target::of(&scope.config, &g.effective))
        else {
            return;
        };
        let (bot, roles, member) = (
            self.clone(),
            scope.guild_roles.clone(),
            scope.member.clone(),
        );
        tokio::spawn(async move {
            bot.user_sync
                .sync_member(&bot.metrics, Trigger::FirstUse, &target, &roles, &member)
                .await
        });
    }

    /// GUILD_MEMBER_UPDATE (GuildMembers intent): the member's roles or name changed.
    async fn on_member_update(self: Arc<Self>, update: MemberUpdate) {
        if update.user.bot {
            return;
        }
        let guild_id = update.guild_id.to_string();
        let Some(target) = self.sync_target(&guild_id).await else {
            return;
        };
        let roles = self.roles_of(&guild_id).await;
        let member = user_sync::member_of(update.nick.as_deref(), &update.user, &update.roles);
        self.user_sync
            .sync_member(
                &self.metrics,
                Trigger::MemberUpdate,
                &target,
                &roles,
                &member,
            )
            .await;
    }

    /// Where the guild's users sync to, when its features (overrides included) have it on.
    async fn sync_target(&self, guild_id: &str) -> Option<Target> {
        let config = self.config.borrow().clone();
        let guild = GuildScope::load(&config, &self.store, guild_id).await?;
        Target::of(&config, &guild.effective)
    }

    /// Every `user_sync_every`, a pass over the members of each guild of this bot's shards that
    /// syncs users, one guild at a time.
    async fn user_sync_passes(self: Arc<Self>) {
        let every = self.options.user_sync_every;
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let config = self.config.borrow().clone();
            for guild_id in config.guilds.keys().filter(|id| self.serves_guild(id)) {
                let Some(target) = self.sync_target(guild_id).await else {
                    continue;
                };
                let roles = self.roles_of(guild_id).await;
                let started = Instant::now();
                let outcome = match self
                    .user_sync
                    .reconcile(&self.metrics, &self.http, guild_id, &target, &roles)
                    .await
                {
                    Ok(members) => {
                        tracing::info!(
                            guild = guild_id,
                            members,
                            ms = started.elapsed().as_millis() as u64,
                            "user sync pass"
                        );
                        "ok"
                    }
                    Err(error) => {
                        tracing::warn!(guild = guild_id, error, "user sync pass failed");
                        "failed"
                    }
                };
                self.metrics
                    .user_sync_passes
                    .get_or_create(&crate::metrics::OutcomeLabel {
                        outcome: outcome.to_string(),
                    })
                    .inc();
            }
        }
    }

    /// Tells Discord the answer comes later; whether it took that.
    async fn defer(
        &self,
        inv: &Invocation,
        command: &str,
        is_button: bool,
        received: Instant,
    ) -> bool {
        self.metrics
            .deferred
            .get_or_create(&CommandLabel {
                command: command.to_string(),
            })
            .inc();
        self.callback(&inv.id, &inv.token, &deferral(is_button, true), received)
            .await
    }

    /// Counts the interaction by how it ended; one Discord never got an answer to is
    /// `unanswered`, whatever the work came to.
    fn observe(&self, command: &str, outcome: Outcome, answered: bool, started: Instant) {
        let outcome = if answered {
            outcome.as_str()
        } else {
            UNANSWERED
        };
        self.metrics
            .interactions
            .get_or_create(&CommandLabels {
                command: command.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
        if answered {
            self.metrics
                .latency
                .get_or_create(&CommandLabel {
                    command: command.to_string(),
                })
                .observe(started.elapsed().as_secs_f64());
        }
        tracing::info!(
            command,
            outcome,
            ms = started.elapsed().as_millis() as u64,
            "interaction"
        );
    }

    /// `POST /interactions/{id}/{token}/callback`, given up at Discord's deadline for it
    /// (`received` + 3 s): later it would be refused anyway, and without a rate limiter
    /// twilight re-sends a 429 at once, so the deadline also bounds that. Whether Discord
    /// took it.
    async fn callback(
        &self,
        id: &str,
        token: &str,
        body: &serde_json::Value,
        received: Instant,
    ) -> bool {
        let Ok(id) = id.parse::<u64>() else {
            return false;
        };
        let route = Route::InteractionCallback {
            interaction_id: id,
            interaction_token: token,
            with_response: false,
        };
        let deadline = received + CALLBACK_DEADLINE;
        let send = self.send(&self.callbacks, &route, body, "interaction callback");
        match tokio::time::timeout_at(deadline.into(), send).await {
            Ok(sent) => sent,
            Err(_) => {
                tracing::error!("an interaction callback missed Discord's 3 s deadline");
                false
            }
        }
    }

    /// After a deferral: the answer replaces the "thinking" message. Whether Discord took it.
    async fn finish_deferred(&self, inv: &Invocation, reply: &Reply) -> bool {
        let message = match reply {
            Reply::Message(m) | Reply::Update(m) => m.clone(),
            Reply::LaunchActivity | Reply::Choices(_) => {
                Message::ephemeral("That took too long; please run the command again.")
            }
        };
        let application_id = self
            .config
            .borrow()
            .application
            .application_id
            .parse()
            .unwrap_or(0);
        let route = Route::UpdateInteractionOriginal {
            application_id,
            interaction_token: &inv.token,
        };
        self.send(
            &self.http,
            &route,
            &message.to_json(),
            "edit of a deferred answer",
        )
        .await
    }

    async fn send(
        &self,
        client: &twilight_http::Client,
        route: &Route<'_>,
        body: &serde_json::Value,
        what: &str,
    ) -> bool {
        let request = Request::builder(route)
            .body(serde_json::to_vec(body).expect("JSON"))
            .build();
        let result = match request {
            Ok(request) => client.request::<EmptyBody>(request).await.map(|_| ()),
            Err(err) => Err(err),
        };
        if let Err(err) = &result {
            // Never silent: a lost answer is logged with its route.
            // The route holds the interaction token: name the kind of request only.
            tracing::error!(error = %err, request = what, "sending to Discord failed");
        }
        result.is_ok()
    }

    /// Asks for the guild's registration to be checked; a guild already waiting is not queued
    /// twice (its check reads the config current when it runs).
    pub fn enqueue_registration(&self, guild_id: String) {
        if self
            .queued
            .lock()
            .expect("queue lock")
            .insert(guild_id.clone())
        {
            let _ = self.queue.send(guild_id);
        }
    }

    async fn registration_worker(self: Arc<Self>) {
        loop {
            let next = self.queue_rx.lock().await.recv().await;
            let Some(guild_id) = next else { return };
            self.queued.lock().expect("queue lock").remove(&guild_id);
            self.register(&guild_id).await;
        }
    }

    /// Registers the guild's command set when it differs from the last one registered.
    pub async fn register(&self, guild_id: &str) {
        {
            let mut registering = self.registering.lock().await;
            if let Some(again) = registering.get_mut(guild_id) {
                *again = true;
                return;
            }
            registering.insert(guild_id.to_string(), false);
        }
        loop {
            self.register_now(guild_id).await;
            let mut registering = self.registering.lock().await;
            if registering.get(guild_id) == Some(&true) {
                registering.insert(guild_id.to_string(), false);
            } else {
                registering.remove(guild_id);
                return;
            }
        }
    }

    async fn register_now(&self, guild_id: &str) {
        let config = self.config.borrow().clone();
        let target = match registration::guild_plan(&config, guild_id) {
            GuildPlan::Unknown => return,
            GuildPlan::Empty(target) => target,
            GuildPlan::Features => {
                let Some(guild) = GuildScope::load(&config, &self.store, guild_id).await else {
                    return;
                };
                // Without its overrides the set could be wrong (a feature turned off from
                // Discord back on): keep what Discord has until the store answers.
                if guild.degraded {
                    tracing::warn!(
                        guild = guild_id,
                        "stored settings unreadable; command registration postponed"
                    );
                    return;
                }
                registration::guild_commands(&config, guild_id, &guild.effective.features)
            }
        };
        let app = &config.application.application_id;
        let (Some(app_id), Some(guild)) = (snowflake(app), snowflake(guild_id)) else {
            return;
        };
        let interaction = self.http.interaction(app_id);
        let state = self
            .settle_registration(app, guild_id, target, async |set| {
                interaction.set_guild_commands(guild, set).await.map(drop)
            })
            .await;
        self.record(guild_id, state);
    }

    /// Brings the application's global command set to what the running config wants (every
    /// command in `Global` scope, none otherwise). One at a time, each reading the config
    /// current when it starts, so a change during one is sent by the next.
    pub async fn register_global(&self) {
        let _one = self.registering_global.lock().await;
        let config = self.config.borrow().clone();
        let app = &config.application.application_id;
        let Some(app_id) = snowflake(app) else {
            return;
        };
        let interaction = self.http.interaction(app_id);
        let state = self
            .settle_registration(
                app,
                GLOBAL_COMMANDS,
                registration::global_target(&config),
                async |set| interaction.set_global_commands(set).await.map(drop),
            )
            .await;
        self.tracker
            .lock()
            .expect("tracker lock")
            .record_global(state);
        self.report_changed();
    }

    /// What the store last recorded as sent for `key`: from every record of the application,
    /// read once (a start checks every guild: one query, not one per guild on each replica),
    /// else asked alone. A replica that sends a set records it here too; one another replica
    /// sent meanwhile is at worst sent again, which Discord takes as the same set.
    async fn stored_fingerprint(
        &self,
        app: &str,
        key: &str,
    ) -> Result<Option<String>, kd_store::StoreError> {
        let mut known = self.fingerprints.lock().await;
        if known.is_none() {
            match self.store.registered_fingerprints(app).await {
                Ok(mut all) => {
                    // Those of this replica's guilds (and the global set's) alone.
                    let served = self.config.borrow().served.clone();
                    all.retain(|key, _| key == GLOBAL_COMMANDS || served.contains(key));
                    *known = Some(all);
                }
                Err(_) => {
                    drop(known);
                    return self.store.registered_fingerprint(app, key).await;
                }
            }
        }
        Ok(known.as_ref().and_then(|k| k.get(key).cloned()))
    }

    /// Sends `target` with `send` unless the store says Discord holds it already (`key` is the
    /// guild id, or [`GLOBAL_COMMANDS`]), records what was sent, and gives the state to report.
    async fn settle_registration(
        &self,
        app: &str,
        key: &str,
        target: registration::Target,
        send: impl AsyncFnOnce(&[TwilightCommand]) -> Result<(), twilight_http::Error>,
    ) -> Registration {
        let stored = self.stored_fingerprint(app, key).await;
        if !target.needs_sending(&stored) {
            return target.done;
        }
        match send(&target.commands).await {
            Ok(()) => {
                self.metrics.registrations.inc();
                match self
                    .store
                    .record_registration(app, key, &target.fingerprint)
                    .await
                {
                    Ok(()) => {
                        if let Some(known) = self.fingerprints.lock().await.as_mut() {
                            known.insert(key.to_string(), target.fingerprint.clone());
                        }
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "recording a command registration failed")
                    }
                }
                tracing::info!(
                    guild = key,
                    commands = target.commands.len(),
                    fingerprint = target.fingerprint,
                    "registered commands"
                );
                target.done
            }
            Err(err) => {
                tracing::error!(error = %err, guild = key, "registering commands failed");
                target.failed(err.to_string())
            }
        }
    }

    /// Applies each new config revision: brings the global set to it when the scope (or the
    /// application's deletion) changed, checks the registration of the guilds it changes (all
    /// of them at start), then reports it running. An edit to one guild of thousands
    /// costs one check, not thousands.
    async fn follow_config(self: Arc<Self>) {
        let mut config = self.config.clone();
        let mut previous: Option<Arc<RuntimeConfig>> = None;
        loop {
            let current = config.borrow_and_update().clone();
            // The global set first: switching scopes, guilds move to it (or off it) after.
            if previous
                .as_ref()
                .is_none_or(|p| p.global_revision() != current.global_revision())
            {
                self.register_global().await;
            }
            for guild_id in current.guilds.keys().chain(&current.clearing) {
                if previous
                    .as_ref()
                    .is_none_or(|p| p.guild_differs(&current, guild_id))
                {
                    self.enqueue_registration(guild_id.clone());
                }
            }
            // Guilds no longer configured here (deleted, or on shards let go) are not reported.
            self.tracker
                .lock()
                .expect("tracker lock")
                .retain(|id| current.guilds.contains_key(id) || current.clearing.contains(id));
            previous = Some(current.clone());
            self.metrics.set_revision(&current.revision);
            self.running.send_replace(current.revision.clone());
            self.report_changed();
            tracing::info!(revision = %current.revision, guilds = current.guilds.len(), "running config revision");
            if config.changed().await.is_err() {
                return;
            }
        }
    }
}

/// How long ago Discord made the snowflake `id` (zero for one from the future, as clocks
/// drift).
fn age_of(id: u64) -> Duration {
    let made = (id >> 22) + DISCORD_EPOCH_MS;
    Duration::from_millis((kd_store::now_ms().max(0) as u64).saturating_sub(made))
}

/// Whether the shards `held` (of `total`) include that of `guild_id`.
fn serves(held: &BTreeSet<u32>, total: u32, guild_id: &str) -> bool {
    shard_of(guild_id, total).is_some_and(|shard| held.contains(&shard))
}

impl Holding for Bot {
    fn taking<'a>(&'a self, shards: &'a BTreeSet<u32>) -> futures_util::future::BoxFuture<'a, ()> {
        Box::pin(self.keep_guilds_of(shards))
    }

    fn held(&self, held: &BTreeSet<u32>, share: u32) {
        self.hold(held, share);
    }
}

/// The close codes after which Discord accepts no reconnect of the shard as it is.
fn fatal_close(code: u16) -> bool {
    matches!(code, 4004 | 4010 | 4011 | 4012 | 4013 | 4014)
}

/// Counts an interaction being answered while it lives.
struct InFlight<'a>(&'a watch::Sender<usize>);

impl<'a> InFlight<'a> {
    fn enter(count: &'a watch::Sender<usize>) -> Self {
        count.send_modify(|n| *n += 1);
        Self(count)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// A Discord id from its text; None for one that is not a snowflake.
fn snowflake<T>(text: &str) -> Option<Id<T>> {
    Id::new_checked(text.parse().ok()?)
}

/// The command an invocation belongs to, for metrics.
fn label(inv: &Invocation) -> String {
    match &inv.action {
        Action::Command { name, .. } | Action::Autocomplete { name, .. } => name.clone(),
        Action::Button { custom_id } => {
            format!(
                "button:{}",
                custom_id.split(':').nth(1).unwrap_or("unknown")
            )
        }
    }
}

/// `/kaltura-config set|reset`: changes stored settings.
fn is_config_write(inv: &Invocation) -> bool {
    matches!(&inv.action, Action::Command { name, subcommand: Some(sub), .. }
        if Command::parse(name) == Some(Command::Config)
            && matches!(ConfigAction::parse(sub), Some(ConfigAction::Set | ConfigAction::Reset)))
}

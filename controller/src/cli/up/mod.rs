//! `kaltura-discord up [FOLDER]`: the whole system in one process from a folder of manifests.
//! The reconcile core runs on the folder (watched: an edit applies within a second; a broken
//! edit is refused and the last good configuration keeps running), the bot, the HTTP API and
//! the Activity server take the rendered config in memory, the store is SQLite in the state
//! folder, and without real credentials the Discord and Kaltura sandboxes run here too, with
//! a console page to play the Discord side.

mod console;
mod mode;
mod sandboxes;

use super::logs::LogArgs;
use super::validate::print_findings;
use anyhow::Context;
use kd_activity::{Api, ApiOptions};
use kd_bot::runtime::{Bot, BotOptions};
use kd_controller::local::{self, state::State};
use kd_controller::manifests::{self, Loaded, SecretValues};
use kd_controller::reconcile::render::{self, Rendered};
use kd_controller::reconcile::status::{self, Observed};
use kd_core::config::RuntimeConfig;
use kd_core::secrets::{SecretMap, SecretSource};
use kd_crds::references::{Catalog, ObjectKey, check};
use kd_kaltura::Secret;
use kd_store::Store;
use mode::Mode;
use sandboxes::Sandboxes;
use serde_json::json;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(clap::Args)]
pub struct Args {
    /// The folder of manifests to run; watched, so edits apply while it runs.
    #[arg(default_value = "examples")]
    folder: PathBuf,
    /// Where the store (SQLite) and every resource's status are kept across runs.
    #[arg(long, value_name = "DIR", default_value = ".kaltura-discord")]
    state: PathBuf,
    /// Use the built-in Discord and Kaltura sandboxes even when the Secrets hold credentials.
    #[arg(long)]
    sandbox: bool,
    /// Address of the console page (sandbox mode).
    #[arg(long, default_value = "127.0.0.1:7070")]
    console: SocketAddr,
    /// Address of the HTTP API and the Activity.
    #[arg(long, default_value = "127.0.0.1:7071")]
    listen: SocketAddr,
    /// The built Activity app Watch Together shows (`.ci/setup.d/web.sh` builds it in a
    /// checkout; the image carries it at `/usr/share/kaltura-discord/web`).
    #[arg(
        long,
        value_name = "DIR",
        env = "KD_WEB_DIST",
        default_value = "activity/web/dist"
    )]
    web_dist: PathBuf,
    #[command(flatten)]
    logs: LogArgs,
}

/// How often the status is recomputed from what the bot reports.
const STATUS_EVERY: Duration = Duration::from_millis(250);

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    args.logs.init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = runtime.block_on(up(args));
    // In-flight work (a gateway read, an HTTP keep-alive) is cut rather than waited for: what
    // must survive is in the store, written before it was acknowledged.
    runtime.shutdown_timeout(Duration::from_millis(300));
    result
}

/// The credentials the bot and the API read, replaced whole when an edit is accepted.
#[derive(Default)]
struct LiveSecrets(RwLock<SecretMap>);

impl SecretSource for LiveSecrets {
    fn get(&self, reference: &kd_crds::SecretKeyRef) -> Option<Secret> {
        self.0.read().ok()?.get(reference)
    }
}

/// An accepted folder: resources (pointed at the sandboxes in sandbox mode), their Secrets'
/// values and the one application's rendered config.
struct Good {
    catalog: Catalog,
    secrets: SecretValues,
    rendered: Rendered,
}

impl Good {
    fn new(
        loaded: Loaded,
        sandboxes: Option<&Sandboxes>,
        public_url: &str,
    ) -> Result<Self, String> {
        let Loaded {
            mut catalog,
            mut secret_values,
            ..
        } = loaded;
        if let Some(sandboxes) = sandboxes {
            sandboxes.overlay(&mut catalog, public_url);
            sandboxes.credentials(&catalog, &mut secret_values);
        }
        let mut rendered = render::render(&catalog);
        if rendered.len() != 1 {
            return Err(format!(
                "up runs one DiscordApplication; the folder has {}",
                rendered.len()
            ));
        }
        Ok(Self {
            catalog,
            secrets: secret_values,
            rendered: rendered.remove(0),
        })
    }

    fn secret_map(&self) -> SecretMap {
        let mut map = SecretMap::default();
        for ((namespace, name, key), value) in &self.secrets.0 {
            if *namespace == self.rendered.application.namespace {
                map.insert(name, key, value);
            }
        }
        map
    }
}

/// Everything running, and what the reconcile passes need.
struct Running {
    folder: PathBuf,
    state_dir: PathBuf,
    mode: Mode,
    public_url: String,
    good: Good,
    refused: Vec<String>,
    state: State,
    published: watch::Sender<State>,
    config: watch::Sender<Arc<RuntimeConfig>>,
    secrets: Arc<LiveSecrets>,
    bot: Arc<Bot>,
    sandboxes: Option<Sandboxes>,
}

async fn up(args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let loaded = manifests::load(&args.folder)?;
    if loaded.errors().count() > 0 {
        print_findings(&loaded);
        eprintln!(
            "up: nothing started; fix the folder (`kaltura-discord validate` shows the same)"
        );
        return Ok(ExitCode::FAILURE);
    }
    std::fs::create_dir_all(&args.state)
        .with_context(|| format!("creating {}", args.state.display()))?;
    let previous = State::read(&args.state).map_err(anyhow::Error::msg)?;
    let mode = mode::decide(&loaded, &render::render(&loaded.catalog), args.sandbox);
    println!("mode: {mode}");

    let api_listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let api_addr = api_listener.local_addr()?;
    let public_url = format!("http://{api_addr}");
    let console_listener = tokio::net::TcpListener::bind(args.console)
        .await
        .with_context(|| format!("listening on {}", args.console))?;
    let console_url = format!("http://{}", console_listener.local_addr()?);
    let sandboxes = match mode {
        Mode::Sandbox { .. } => {
            Some(Sandboxes::start(&loaded.catalog, &api_addr.to_string()).await?)
        }
        Mode::Real => None,
    };
    let good = Good::new(loaded, sandboxes.as_ref(), &public_url).map_err(anyhow::Error::msg)?;
    if let Some(sandboxes) = &sandboxes {
        sandboxes.seed(&good.catalog)?;
        sandboxes
            .subscribe(&good.catalog, &format!("{public_url}/webhooks/kaltura"))
            .await
            .context("subscribing to the Kaltura sandbox's notifications")?;
    }
    let store_url = format!("sqlite://{}", args.state.join("store.db").display());
    let store = Store::open(&store_url).await.context("opening the store")?;
    if sandboxes.is_some() {
        // The sandbox is new: the commands registered in the last one are not in it.
        let application_id = &good.rendered.config.application.application_id;
        store
            .forget_registrations(application_id)
            .await
            .context("resetting the command registrations")?;
    }
    let secrets = Arc::new(LiveSecrets(RwLock::new(good.secret_map())));
    let (config, config_rx) = watch::channel(Arc::new(good.rendered.config.clone()));

    let mut bot_options = BotOptions {
        intents: kd_bot::runtime::intents(&config_rx.borrow()),
        ..BotOptions::default()
    };
    let mut api_options = ApiOptions {
        web_dist: Some(args.web_dist.clone()),
        ..ApiOptions::default()
    };
    if let Some(s) = &sandboxes {
        bot_options.http_proxy = Some(
            s.discord
                .base_url()
                .parse()
                .map_err(anyhow::Error::msg)
                .context("the Discord sandbox's URL")?,
        );
        bot_options.gateway_url = Some(s.discord.gateway_url().to_string());
        bot_options.shards = Some(1);
        api_options.discord_api = format!("{}/api/v10", s.discord.base_url());
        // The sandbox's Activity origin frames the app, as Discord's does, inside the console.
        api_options.frame_ancestors = format!("{} {console_url}", s.discord.activity_origin());
    }
    let bot = Bot::new(
        bot_options,
        config_rx.clone(),
        store.clone(),
        secrets.clone(),
    )?;
    let api = Api::new(api_options, config_rx, store.clone(), secrets.clone())?;
    let mut bot_task = tokio::spawn(bot.clone().run());
    let mut api_task = tokio::spawn(kd_activity::serve(api, api_listener));

    let (published, state_rx) = watch::channel(previous.clone());
    let console_config = json!({
        "mode": mode.to_string(),
        "api": format!("{public_url}/api/v1"),
        "activity": public_url,
        "discord": sandboxes.as_ref().map(|s| json!({
            "base_url": s.discord.base_url(),
            "activity_origin": s.discord.activity_origin(),
            "application_id": s.discord.application_id().to_string(),
        })),
        "kaltura": sandboxes.as_ref().map(|s| json!({
            "base_url": s.kaltura.base_url(),
            "partner_id": s.kaltura.partner_id(),
        })),
    });
    let mut console_task = tokio::spawn(kd_server::serve(
        console_listener,
        console::router(console_config, state_rx),
        kd_server::Limits::default(),
    ));

    println!("console:  {console_url}/");
    println!("api:      {public_url}/api/v1 (OpenAPI at {public_url}/api/v1/openapi.json)");
    match &sandboxes {
        Some(s) => println!(
            "activity: {public_url}/ (in the Discord sandbox: {}/.discord/host)",
            s.discord.activity_origin()
        ),
        None => println!("activity: {public_url}/"),
    }
    println!("state:    {} (store {store_url})", args.state.display());

    let (_watcher, mut changes) = local::watch::watch(&args.folder)
        .with_context(|| format!("watching {}", args.folder.display()))?;
    let mut running = Running {
        folder: args.folder,
        state_dir: args.state,
        mode,
        public_url,
        good,
        refused: Vec::new(),
        state: previous,
        published,
        config,
        secrets,
        bot,
        sandboxes,
    };
    let stop = crate::cli::stop_signal()?;
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(STATUS_EVERY);
    let mut ready = false;
    let signal = loop {
        tokio::select! {
            Some(()) = changes.recv() => {
                local::watch::settle(&mut changes).await;
                running.reload();
            }
            _ = tick.tick() => {}
            signal = &mut stop => break signal,
            result = &mut bot_task => {
                let why = match result {
                    Ok(Ok(())) => "its gateway connections ended".to_string(),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => e.to_string(),
                };
                anyhow::bail!("the bot stopped: {why}");
            }
            result = &mut api_task => anyhow::bail!("the HTTP server stopped: {result:?}"),
            result = &mut console_task => anyhow::bail!("the console server stopped: {result:?}"),
        }
        running.pass();
        if !ready && all_ready(&running.state) {
            ready = true;
            println!(
                "ready in {:.2}s: revision {} runs",
                started.elapsed().as_secs_f64(),
                running.good.rendered.config.revision
            );
        }
    };
    running.pass();
    // A connection held by work cut short is not waited for: SQLite rolls its transaction back.
    let _ = tokio::time::timeout(Duration::from_millis(500), store.pool_close()).await;
    println!(
        "stopped on {signal}; state kept in {}",
        running.state_dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Every resource's `Ready` condition is true.
fn all_ready(state: &State) -> bool {
    !state.objects.is_empty()
        && state.objects.iter().all(|o| {
            o["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

impl Running {
    /// One reconcile pass over the running configuration: the operator's status computation,
    /// with the in-process bot's report; the state file is replaced when it changed.
    fn pass(&mut self) {
        let mut catalog = self.good.catalog.clone();
        local::restore(&mut catalog, &self.state);
        let findings = check(&catalog);
        let app: ObjectKey = self.good.rendered.application.clone();
        let rendered = std::slice::from_ref(&self.good.rendered);
        let mut observed = Observed::default();
        // In one process the workloads are "applied" once they run, and the Activity is
        // served by the HTTP server started above.
        observed.applied.insert(app.clone(), Ok(()));
        observed
            .bots
            .insert(app.clone(), Ok(self.bot.report().into()));
        observed.activity_ready.insert(app, true);
        let now = kd_controller::reconcile::conditions::api_now();
        let statuses = status::compute(&catalog, &findings, rendered, &observed, &now);
        let state = State {
            mode: self.mode.to_string(),
            objects: local::objects(&catalog, statuses, &now),
            refused: self.refused.clone(),
        };
        if state != self.state {
            if let Err(e) = state.write(&self.state_dir) {
                tracing::error!(error = %e, dir = %self.state_dir.display(), "writing the status file failed");
            }
            self.state = state.clone();
            self.published.send_replace(state);
        }
    }

    /// Reads the folder after a change: a folder that loads clean replaces the running
    /// configuration; anything else is refused, said, and changes nothing.
    fn reload(&mut self) {
        let loaded = match manifests::load(&self.folder) {
            Ok(loaded) => loaded,
            Err(e) => return self.refuse(vec![format!("{e:#}")]),
        };
        let errors: Vec<String> = loaded.errors().map(ToString::to_string).collect();
        if !errors.is_empty() {
            return self.refuse(errors);
        }
        let good = match Good::new(loaded, self.sandboxes.as_ref(), &self.public_url) {
            Ok(good) if good.rendered.application == self.good.rendered.application => good,
            Ok(good) => {
                return self.refuse(vec![format!(
                    "DiscordApplication {} replaces {}: a new application needs a new `up`",
                    good.rendered.application.name, self.good.rendered.application.name
                )]);
            }
            Err(why) => return self.refuse(vec![why]),
        };
        if let Some(sandboxes) = &self.sandboxes
            && let Err(e) = sandboxes.seed(&good.catalog)
        {
            tracing::warn!(error = %format!("{e:#}"), "seeding the Discord sandbox after the edit");
        }
        if let Ok(mut secrets) = self.secrets.0.write() {
            *secrets = good.secret_map();
        }
        let revision = good.rendered.config.revision.clone();
        let changed = self.config.send_if_modified(|config| {
            let changed = config.revision != revision;
            if changed {
                *config = Arc::new(good.rendered.config.clone());
            }
            changed
        });
        self.good = good;
        self.refused.clear();
        if changed {
            println!(
                "applied: revision {revision} from {}",
                self.folder.display()
            );
        }
    }

    fn refuse(&mut self, findings: Vec<String>) {
        // Saving a file often fires twice; the same refusal is said once.
        if findings == self.refused {
            return;
        }
        println!(
            "refused the edit of {}; revision {} keeps running:",
            self.folder.display(),
            self.good.rendered.config.revision
        );
        for finding in &findings {
            println!("  {finding}");
        }
        self.refused = findings;
    }
}

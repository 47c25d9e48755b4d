//! The operator at scale: N GuildConfigs, each with a RoleMapping and a NotificationRule, in
//! the Kubernetes sandbox, reconciled by the `kaltura-discord operator` process, with one
//! `kaltura-discord bot` process reading the config through the API (as its pod does) against
//! the Discord sandbox holding the N guilds. Prints JSON, one run per size
//! (`KD_BENCH_SIZES`, default `100,1000,10000`):
//!
//! - `first_ready_s`: operator and bot started on the fresh resources until every GuildConfig,
//!   RoleMapping and NotificationRule is Ready. In the `Guild` command scope it includes
//!   registering every guild's commands in Discord, which Discord's global limit (50
//!   requests/s, the sandbox enforces it) bounds; in the `Global` scope it is one request.
//! - `restart_ready_s`: the cold start of the operator alone: every status wiped, the operator
//!   restarted with empty caches (the bot still running), until all is Ready again.
//! - `largest_object_bytes`: the largest object the operator writes (its ConfigMaps, and the
//!   largest status), against the API server's 1 MiB per ConfigMap.
//! - `operator_peak_rss_mib`: the operator process's peak RSS (VmHWM).
//! - `edit_to_running` / `edit_to_status`: one RoleMapping edited at a time, from the PATCH to
//!   the bot running the new revision (its `config_revision` metric) and to the GuildConfig's
//!   status showing it.
//! - `pass_ms`: the operator's mean reconcile pass during the edits (its own histogram).
//!
//! `cargo bench -p kd-controller --bench operator_scale` (release build);
//! `KD_BENCH_COMMAND_SCOPE=Global` runs the DiscordApplication in that command scope (default
//! `Guild`); `KD_BENCH_OPERATOR_LOG=FILE` keeps the operator's log (at info) in FILE.

use futures_util::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kd_crds::application::CommandScope;
use kd_crds::{GuildConfig, NotificationRule, RoleMapping};
use kd_sandbox_discord::{DiscordSandbox, NewGuild};
use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use kd_sandbox_kubernetes::{Config as KubeConfig, KubernetesSandbox};
use kd_testing::bench::{mib, proc_status, summary_ms};
use kd_testing::fixtures::{self, Fixture, NAMESPACE as NS};
use kd_testing::kubectl::Kubectl;
use kd_testing::process::Running;
use kd_tests::process::{Reach, WorkloadProcess, endpoint_slice};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kaltura-discord");
const APP: &str = "campus-bot";
/// RoleMapping edits measured per size.
const EDITS: usize = 40;

fn main() {
    let sizes = kd_testing::bench::sizes("100,1000,10000");
    let scope = command_scope();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let runs: Vec<Value> = sizes
        .into_iter()
        .map(|n| runtime.block_on(measure(n, scope)))
        .collect();
    println!("{}", json!({ "operator_scale": runs }));
}

/// `KD_BENCH_COMMAND_SCOPE` (`Guild` or `Global`), `Guild` when unset.
fn command_scope() -> CommandScope {
    let Ok(text) = std::env::var("KD_BENCH_COMMAND_SCOPE") else {
        return CommandScope::Guild;
    };
    serde_json::from_value(json!(text))
        .unwrap_or_else(|_| panic!("KD_BENCH_COMMAND_SCOPE is Guild or Global, not {text:?}"))
}

async fn measure(guilds: usize, scope: CommandScope) -> Value {
    let discord = DiscordSandbox::start(kd_sandbox_discord::Config::default())
        .await
        .unwrap();
    let kaltura = KalturaSandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let cluster = KubernetesSandbox::start(KubeConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubectl = Kubectl {
        kubeconfig: dir.path().join("kubeconfig"),
    };
    cluster.write_kubeconfig(&kubectl.kubeconfig).unwrap();
    let client = client(&cluster).await;
    let ids: Vec<u64> = (0..guilds)
        .map(|i| {
            discord
                .create_guild(NewGuild {
                    name: format!("Course {i}"),
                    ..NewGuild::default()
                })
                .unwrap()
                .id
        })
        .collect();
    setup(&kubectl, &client, &discord, &kaltura, &ids, scope).await;
    eprintln!("{guilds} guilds: resources created");

    // First start: the operator renders, the bot reads its config and registers every guild.
    let started = Instant::now();
    let mut operator = Operator::start(&kubectl.kubeconfig, dir.path());
    let placeholder = kd_tests::runtime_config(&discord, &kaltura, ids[0]);
    eprintln!("waiting for the rendered index");
    poll("the rendered index", async || {
        Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), NS)
            .get_opt(&format!("{APP}-config"))
            .await
            .ok()
            .flatten()
    })
    .await;
    let bot = WorkloadProcess::bot_with(
        BIN,
        &discord,
        &kaltura,
        &placeholder,
        &[
            "--config-map",
            &format!("{APP}-config"),
            "--config-namespace",
            NS,
            "--log",
            "warn",
        ],
        Reach {
            env: vec![("KUBECONFIG", kubectl.kubeconfig.as_os_str())],
            ..Reach::default()
        },
        Stdio::null(),
    );
    kubectl.apply(&endpoint_slice(NS, &format!("{APP}-bot"), bot.port));
    let ready = Readiness::start(&client).await;
    ready.all(guilds).await;
    let first_ready = started.elapsed();
    eprintln!("{guilds} guilds: first Ready in {first_ready:?}");

    // The operator's cold start: stopped as Kubernetes stops a pod (SIGTERM: it gives the
    // leader Lease up), statuses wiped, a fresh process, the bot warm.
    assert!(
        operator
            .process
            .terminate(Duration::from_secs(10))
            .is_some(),
        "the operator did not stop on SIGTERM"
    );
    wipe_statuses(&client).await;
    ready.none().await;
    let started = Instant::now();
    operator = Operator::start(&kubectl.kubeconfig, dir.path());
    ready.all(guilds).await;
    let restart_ready = started.elapsed();
    eprintln!("{guilds} guilds: Ready again after a restart in {restart_ready:?}");

    // Edits, one at a time, each to another guild's RoleMapping.
    let passes_before = operator.passes();
    let (mut to_running, mut to_status) = (Vec::new(), Vec::new());
    let mappings: Api<RoleMapping> = Api::namespaced(client.clone(), NS);
    for edit in 0..EDITS.min(guilds) {
        let k = edit * guilds / EDITS.min(guilds);
        let name = format!("g{k}");
        let before = bot_revision(&bot).expect("the bot reports its revision");
        // Status shows the revision of the guild's own share of the config.
        let shown_before = ready.guild_revision(&name);
        let at = Instant::now();
        mappings
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"default": "moderator"}})),
            )
            .await
            .unwrap();
        poll("the bot to run the edit", async || {
            bot_revision(&bot).filter(|r| *r != before)
        })
        .await;
        to_running.push(at.elapsed());
        poll("the GuildConfig's status to show the edit", async || {
            ready
                .guild_revision(&name)
                .filter(|r| Some(r) != shown_before.as_ref())
                .map(drop)
        })
        .await;
        to_status.push(at.elapsed());
    }
    let passes_after = operator.passes();
    let pass_ms = match (passes_before, passes_after) {
        (Some((s0, c0)), Some((s1, c1))) if c1 > c0 => {
            ((s1 - s0) / (c1 - c0) * 1000.0 * 100.0).round() / 100.0
        }
        _ => f64::NAN,
    };
    let peak = proc_status(operator.process.child.id(), "VmHWM:");
    let largest = largest_object(&cluster);
    drop(bot);
    json!({
        "guilds": guilds,
        "command_scope": scope,
        "objects": guilds * 3,
        "first_ready_s": secs(first_ready),
        "restart_ready_s": secs(restart_ready),
        "largest_object_bytes": largest,
        "config_maps": cluster.objects("", "ConfigMap").iter().filter(|c| c["metadata"]["name"].as_str().is_some_and(|n| n.starts_with(&format!("{APP}-config")))).count(),
        "operator_peak_rss_mib": mib(peak),
        "edit_to_running": summary_ms(&mut to_running),
        "edit_to_status": summary_ms(&mut to_status),
        "pass_ms": pass_ms,
    })
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 100.0).round() / 100.0
}

async fn client(cluster: &KubernetesSandbox) -> Client {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(&cluster.kubeconfig_yaml()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

/// CRDs, namespace, Secrets, partner, application (its commands in `scope`), then N
/// GuildConfigs with a RoleMapping and a NotificationRule each (16 creations in flight).
async fn setup(
    kubectl: &Kubectl,
    client: &Client,
    discord: &DiscordSandbox,
    kaltura: &KalturaSandbox,
    ids: &[u64],
    scope: CommandScope,
) {
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/kaltura-discord/crds");
    kubectl.ok(&["apply", "-f", crds.to_str().unwrap()]);
    kubectl.ok(&[
        "wait",
        "--for",
        "condition=established",
        "crd",
        "--all",
        "--timeout=30s",
    ]);
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap(),
        )
        .await
        .unwrap();
    let partner = fixtures::partner("campus").with(|p| {
        p.spec.partner_id = kaltura.partner_id();
        p.spec.service_url = kaltura.base_url().to_string();
    });
    let application = fixtures::application(APP).with(|a| {
        a.spec.application_id = discord.application_id().to_string();
        a.spec.bot.command_scope = scope;
    });
    kubectl.apply(
        &[
            fixtures::yaml(&fixtures::secret(
                "discord",
                "botToken",
                &discord.bot_token(),
            )),
            fixtures::yaml(&fixtures::secret(
                "kaltura",
                "adminSecret",
                kaltura.admin_secret(),
            )),
            fixtures::yaml(&partner),
            fixtures::yaml(&application),
        ]
        .concat(),
    );
    stream::iter(ids.iter().enumerate())
        .map(|(k, id)| async move {
            let name = format!("g{k}");
            let guild = fixtures::guild(&name, &id.to_string()).with(|g| {
                g.spec.features.notifications = true;
            });
            create::<GuildConfig>(client, guild).await;
            create::<RoleMapping>(client, typed(json!({
                "apiVersion": "kaltura-discord.io/v1alpha1", "kind": "RoleMapping",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"guildConfigRef": {"name": name},
                         "rules": [{"discordRole": {"name": "Teacher"}, "kalturaRole": "admin", "priority": 10}]},
            })))
            .await;
            create::<NotificationRule>(client, typed(json!({
                "apiVersion": "kaltura-discord.io/v1alpha1", "kind": "NotificationRule",
                "metadata": {"name": name, "namespace": NS},
                "spec": {"guildConfigRef": {"name": name}, "events": ["entryReady"], "channel": "general"},
            })))
            .await;
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
}

fn typed<K: DeserializeOwned>(value: Value) -> K {
    serde_json::from_value(value).unwrap()
}

async fn create<K>(client: &Client, object: K)
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("creating {}: {e}", object.name_any()));
}

/// Removes the status of every resource (through the status subresource), as if none had ever
/// been written.
async fn wipe_statuses(client: &Client) {
    async fn wipe<K>(client: &Client)
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + std::fmt::Debug,
    {
        let api: Api<K> = Api::namespaced(client.clone(), NS);
        let names: Vec<String> = api
            .list_metadata(&Default::default())
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.name_any())
            .collect();
        stream::iter(names)
            .map(|name| {
                let api = api.clone();
                async move {
                    api.patch_status(
                        &name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"status": null})),
                    )
                    .await
                    .map(drop)
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await
            .unwrap();
    }
    wipe::<GuildConfig>(client).await;
    wipe::<RoleMapping>(client).await;
    wipe::<NotificationRule>(client).await;
}

/// The operator process (leader election on, as deployed), logging to `dir/operator.log`.
struct Operator {
    process: Running,
    port: u16,
}

impl Operator {
    fn start(kubeconfig: &Path, dir: &Path) -> Self {
        let port = kd_testing::free_port();
        // KD_BENCH_OPERATOR_LOG=FILE keeps the operator's info log there.
        let (path, level) = match std::env::var_os("KD_BENCH_OPERATOR_LOG") {
            Some(path) => (path.into(), "info"),
            None => (dir.join("operator.log"), "warn"),
        };
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open::<std::path::PathBuf>(path)
            .unwrap();
        let process = Running::spawn(
            Command::new(BIN)
                .args(["operator", "--log", level, "--listen"])
                .arg(format!("127.0.0.1:{port}"))
                .env("KUBECONFIG", kubeconfig)
                .stdout(log)
                .stderr(Stdio::inherit()),
        );
        Self { process, port }
    }

    /// The reconcile histogram's sum (seconds) and count.
    fn passes(&self) -> Option<(f64, f64)> {
        let response = kd_testing::http::get(self.port, "/metrics")?;
        let body = kd_testing::http::body(&response)?;
        Some((
            kd_testing::http::metric(body, "kaltura_discord_operator_reconcile_seconds_sum")?,
            kd_testing::http::metric(body, "kaltura_discord_operator_reconcile_seconds_count")?,
        ))
    }
}

/// The revision the bot runs, from its `config_revision` metric.
fn bot_revision(bot: &WorkloadProcess) -> Option<String> {
    let response = bot.get("/metrics")?;
    let body = kd_testing::http::body(&response)?;
    body.lines()
        .find(|l| l.starts_with("kaltura_discord_bot_config_revision{"))?
        .split("revision=\"")
        .nth(1)?
        .split('"')
        .next()
        .map(String::from)
}

/// Polls `check` every 5 ms for up to 60 s.
async fn poll<T>(what: &str, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The three kinds as reflectors (watch-fed caches), to count what is Ready without listing.
struct Readiness {
    guilds: reflector::Store<GuildConfig>,
    mappings: reflector::Store<RoleMapping>,
    rules: reflector::Store<NotificationRule>,
}

fn is_ready(
    conditions: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>,
) -> bool {
    conditions.is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

impl Readiness {
    async fn start(client: &Client) -> Self {
        fn follow<K>(client: &Client) -> reflector::Store<K>
        where
            K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
                + Clone
                + DeserializeOwned
                + std::fmt::Debug
                + Send
                + Sync
                + 'static,
        {
            let (reader, writer) = reflector::store();
            let api: Api<K> = Api::namespaced(client.clone(), NS);
            let stream = watcher(api, watcher::Config::default())
                .default_backoff()
                .reflect(writer)
                .applied_objects();
            tokio::spawn(async move {
                futures_util::pin_mut!(stream);
                while stream.next().await.is_some() {}
            });
            reader
        }
        let readiness = Self {
            guilds: follow(client),
            mappings: follow(client),
            rules: follow(client),
        };
        readiness.guilds.wait_until_ready().await.unwrap();
        readiness.mappings.wait_until_ready().await.unwrap();
        readiness.rules.wait_until_ready().await.unwrap();
        readiness
    }

    fn count(&self) -> usize {
        let guilds = self.guilds.state();
        let mappings = self.mappings.state();
        let rules = self.rules.state();
        guilds
            .iter()
            .filter(|g| is_ready(g.status.as_ref().map(|s| &s.conditions)))
            .count()
            + mappings
                .iter()
                .filter(|m| is_ready(m.status.as_ref().map(|s| &s.conditions)))
                .count()
            + rules
                .iter()
                .filter(|r| is_ready(r.status.as_ref().map(|s| &s.conditions)))
                .count()
    }

    async fn all(&self, guilds: usize) {
        let deadline = Instant::now() + Duration::from_secs(900);
        let mut last = 0;
        loop {
            // Once a round: counting 30,000 objects takes CPU from the sandbox in this process.
            let now = self.count();
            if now >= guilds * 3 {
                return;
            }
            assert!(Instant::now() < deadline, "not all Ready: {now}");
            if now / 1000 != last / 1000 {
                eprintln!("  {now} of {} Ready", guilds * 3);
            }
            last = now;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn none(&self) {
        poll("every status wiped", async || {
            (self.count() == 0).then_some(())
        })
        .await;
    }

    /// The revision a GuildConfig's status says the bot runs.
    fn guild_revision(&self, name: &str) -> Option<String> {
        let key = reflector::ObjectRef::new(name).within(NS);
        self.guilds
            .get(&key)?
            .status
            .as_ref()?
            .config_revision
            .clone()
    }
}

/// The size of the largest object the operator writes: its ConfigMaps and the resources'
/// statuses.
fn largest_object(cluster: &KubernetesSandbox) -> usize {
    let mut sizes: Vec<usize> = cluster
        .objects("", "ConfigMap")
        .iter()
        .map(|o| o.to_string().len())
        .collect();
    for kind in [
        "GuildConfig",
        "RoleMapping",
        "NotificationRule",
        "DiscordApplication",
    ] {
        sizes.extend(
            cluster
                .objects("kaltura-discord.io", kind)
                .iter()
                .map(|o| o.to_string().len()),
        );
    }
    sizes.into_iter().max().unwrap_or(0)
}

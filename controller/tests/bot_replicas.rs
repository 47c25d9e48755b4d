//! Three `kaltura-discord bot` replicas on one PostgreSQL store share an application's 12
//! gateway shards, with 24 guilds spread over the shards, through the store's lease rows and
//! (as in a cluster) through Kubernetes Leases in the Kubernetes sandbox: each
//! shard is connected by exactly one replica, and every interaction is answered exactly once.
//! A rolling restart of all three loses none (a leaving replica hands its shards over and the
//! next holder resumes them, well inside Discord's 3 s); a replica killed with SIGKILL loses its
//! shards to the others within 10 s, resumed rather than identified anew, and the interactions
//! that expired in the gap are counted. Each replica keeps and reports the guilds of its own
//! shards alone, read from the config file or (in the cluster case) from its ConfigMaps.

use kd_controller::reconcile::workloads::{INDEX_KEY, PART_KEY, config_map_name, part_name};
use kd_core::command::Command;
use kd_core::config::RuntimeConfig;
use kd_core::config::parts::Pieces;
use kd_sandbox_discord::{Config, NewCommandInteraction, NewGuild, Sandbox, SessionStartLimit};
use kd_sandbox_kubernetes::{Config as KubeConfig, KubernetesSandbox};
use kd_testing::kubectl::Kubectl;
use kd_testing::wait;
use kd_tests::postgres::PrivatePostgres;
use kd_tests::process::{Outside, Reach, WorkloadProcess};
use kd_tests::shards;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const SHARDS: u64 = 12;
const GUILDS: u64 = 24;

/// Discord's shard of a guild.
fn shard_of(guild: u64) -> u64 {
    (guild >> 22) % SHARDS
}

struct World {
    outside: Outside,
    config: RuntimeConfig,
    url: String,
    /// Kubernetes Leases and the config's ConfigMaps through this kubeconfig; the store's
    /// leases and a config file when None.
    kubeconfig: Option<PathBuf>,
}

impl World {
    fn replica(&self) -> WorkloadProcess {
        let shards = SHARDS.to_string();
        let index = config_map_name(&self.config.application.name);
        let mut args = vec!["--shards", &shards, "--store", &self.url];
        let mut reach = Reach::default();
        if let Some(kubeconfig) = &self.kubeconfig {
            args.extend(["--shard-leases", "kubernetes", "--config-map", &index]);
            reach.env.push(("KUBECONFIG", kubeconfig.as_os_str()));
        }
        WorkloadProcess::bot_with(
            env!("CARGO_BIN_EXE_kaltura-discord"),
            &self.outside.discord,
            &self.outside.kaltura,
            &self.config,
            &args,
            reach,
            Stdio::null(),
        )
    }

    /// Each replica reports the guilds of the shards it holds and no other, and together
    /// they report every guild once.
    fn each_reports_its_own_guilds(replicas: &[WorkloadProcess]) -> Result<(), String> {
        let mut reported = BTreeSet::new();
        for bot in replicas {
            let response = bot
                .get("/status")
                .ok_or("a replica did not answer /status")?;
            let report: Value = kd_testing::http::body(&response)
                .and_then(|body| serde_json::from_str(body).ok())
                .ok_or_else(|| format!("not a report: {response}"))?;
            let held: BTreeSet<u64> = report["holders"]
                .as_object()
                .and_then(|h| h.values().next())
                .and_then(Value::as_array)
                .map(|shards| shards.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            for guild in report["guilds"].as_object().ok_or("no guilds")?.keys() {
                let id: u64 = guild.parse().map_err(|_| format!("guild id {guild}"))?;
                if !held.contains(&shard_of(id)) {
                    return Err(format!(
                        "guild {guild} (shard {}) reported by a replica of {held:?}",
                        shard_of(id)
                    ));
                }
                if !reported.insert(id) {
                    return Err(format!("guild {guild} reported twice"));
                }
            }
        }
        if reported.len() as u64 != GUILDS {
            return Err(format!("{} of {GUILDS} guilds reported", reported.len()));
        }
        Ok(())
    }
}

/// Sends one interaction every `every`, round the guilds, until stopped; the ids sent.
struct Traffic {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<u64>>,
}

impl Traffic {
    fn start(discord: Sandbox, guilds: Vec<(u64, u64)>, user: u64, every: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut sent = Vec::new();
            for (guild, channel) in guilds.iter().cycle() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                sent.push(invoke(&discord, *guild, *channel, user));
                std::thread::sleep(every);
            }
            sent
        });
        Self { stop, thread }
    }

    fn stop(self) -> Vec<u64> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

fn invoke(discord: &Sandbox, guild: u64, channel: u64, user: u64) -> u64 {
    discord
        .invoke_command(NewCommandInteraction {
            guild_id: guild,
            channel_id: channel,
            user_id: user,
            name: Command::List.name().into(),
            ..NewCommandInteraction::default()
        })
        .unwrap()
        .id
}

/// The statuses of the callbacks Discord got for each interaction.
fn callbacks(discord: &Sandbox, ids: &[u64]) -> BTreeMap<u64, Vec<u16>> {
    let requests = discord.requests();
    ids.iter()
        .map(|id| {
            let prefix = format!("/interactions/{id}/");
            let statuses = requests
                .iter()
                .filter(|r| r.method == "POST" && r.path.contains(&prefix))
                .filter(|r| r.path.ends_with("/callback"))
                .map(|r| r.status)
                .collect();
            (*id, statuses)
        })
        .collect()
}

/// Waits until each of `ids` got its callback, then checks it got exactly one, taken (204:
/// inside Discord's 3 s, not refused as already acknowledged).
async fn answered_once(discord: &Sandbox, ids: &[u64], what: &str) {
    wait(what)
        .timeout(Duration::from_secs(15))
        .explain(|| {
            let missing: Vec<_> = callbacks(discord, ids)
                .into_iter()
                .filter(|(_, c)| c.is_empty())
                .map(|(id, _)| id)
                .collect();
            format!(
                "{} of {} without a callback: {missing:?}",
                missing.len(),
                ids.len()
            )
        })
        .until(async || {
            callbacks(discord, ids)
                .values()
                .all(|c| !c.is_empty())
                .then_some(())
        })
        .await;
    // Time for a second answer, were one coming.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (id, statuses) in callbacks(discord, ids) {
        assert_eq!(statuses, [204], "{what}: interaction {id}");
    }
}

fn sum(replicas: &[WorkloadProcess], sample: &str) -> f64 {
    replicas
        .iter()
        .map(|r| r.metric(sample).unwrap_or(0.0))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_twelve_shards_through_the_store() {
    scenario(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_twelve_shards_through_kubernetes_leases() {
    let cluster = KubernetesSandbox::start(KubeConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubectl = Kubectl {
        kubeconfig: dir.path().join("kubeconfig"),
    };
    cluster.write_kubeconfig(&kubectl.kubeconfig).unwrap();
    scenario(Some(&kubectl)).await;
    // One Lease per shard, each naming its holder, and one per replica alive.
    let leases = kubectl.ok(&[
        "get",
        "leases",
        "-l",
        "kaltura-discord.io/shard-leases=campus-bot,kaltura-discord.io/lease=shard",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.spec.holderIdentity}{\"\\n\"}{end}",
    ]);
    let holders: Vec<&str> = leases.lines().collect();
    assert_eq!(holders.len(), SHARDS as usize, "{leases}");
    let names: BTreeSet<&str> = holders
        .iter()
        .map(|l| l.split_once('=').expect("name=holder").1)
        .collect();
    assert!(
        holders
            .iter()
            .all(|l| l.starts_with("campus-bot-shard-12-")),
        "{leases}"
    );
    assert_eq!(
        names.len(),
        2,
        "the two replicas left hold them all: {leases}"
    );
    let replicas = kubectl.ok(&[
        "get",
        "leases",
        "-l",
        "kaltura-discord.io/lease=replica",
        "-o",
        "name",
    ]);
    // The two alive, and the one killed (its Lease runs out; nobody deletes it for it).
    assert_eq!(replicas.lines().count(), 3, "{replicas}");
}

/// Waits until each replica reports its own guilds (see [`World::each_reports_its_own_guilds`]).
async fn own_guilds_reported(replicas: &[WorkloadProcess]) {
    wait("each replica reporting the guilds of its shards alone")
        .timeout(Duration::from_secs(10))
        .explain(|| {
            World::each_reports_its_own_guilds(replicas)
                .err()
                .unwrap_or_default()
        })
        .until(async || World::each_reports_its_own_guilds(replicas).ok())
        .await;
}

/// The config in ConfigMaps as the operator writes them: the parts, then the index.
fn write_config_maps(kubectl: &Kubectl, config: &RuntimeConfig) {
    let index = config_map_name(&config.application.name);
    let pieces = Pieces::of(config);
    let map = |name: String, key: &str, text: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {key: text}});
    for (k, part) in pieces.parts.iter().enumerate() {
        kubectl.apply(&map(part_name(&index, k), PART_KEY, &part.text).to_string());
    }
    kubectl.apply(&map(index, INDEX_KEY, &pieces.index.to_json()).to_string());
}

/// The whole story, with the shards shared (and the config read) through `kubectl`'s cluster,
/// or the store (and a file).
async fn scenario(kubectl: Option<&Kubectl>) {
    let postgres = PrivatePostgres::start();
    // Large bots identify 16 shards at a time; resumes take no identify at all.
    let outside = Outside::start_with(Config {
        session_start_limit: SessionStartLimit {
            max_concurrency: 16,
            ..SessionStartLimit::default()
        },
        ..Config::default()
    })
    .await;
    let discord = &outside.discord;
    // Guild ids whose times differ by a millisecond fall on consecutive shards.
    let base = outside.guild.id >> 22;
    let mut guilds = Vec::new();
    let mut channels = Vec::new();
    for n in 1..=GUILDS {
        let created = discord
            .create_guild(NewGuild {
                name: format!("Course {n}"),
                id: Some((base + 1000 + n) << 22),
                ..NewGuild::default()
            })
            .unwrap();
        discord
            .put_member(created.id, outside.user, Default::default())
            .unwrap();
        guilds.push(created.id);
        channels.push(created.general_channel_id);
    }
    let spread: BTreeSet<u64> = guilds.iter().map(|g| shard_of(*g)).collect();
    assert_eq!(spread.len() as u64, SHARDS, "the guilds cover every shard");
    let template = kd_tests::runtime_config(discord, &outside.kaltura, outside.guild.id);
    let guild = template.guilds.values().next().unwrap().clone();
    let config = RuntimeConfig::new(
        template.application.clone(),
        template.partners.clone(),
        guilds
            .iter()
            .map(|g| (g.to_string(), guild.clone()))
            .collect(),
    );
    if let Some(kubectl) = kubectl {
        write_config_maps(kubectl, &config);
    }
    let world = World {
        outside,
        config,
        url: postgres.url(),
        kubeconfig: kubectl.map(|k| k.kubeconfig.clone()),
    };
    let discord: Sandbox = (*world.outside.discord).clone();
    let user = world.outside.user;
    let targets: Vec<(u64, u64)> = guilds.iter().copied().zip(channels).collect();

    let mut replicas = vec![world.replica(), world.replica(), world.replica()];
    for bot in &replicas {
        bot.ready().await;
    }
    wait("every guild's commands registered")
        .timeout(Duration::from_secs(15))
        .until(async || {
            guilds
                .iter()
                .all(|g| discord.commands(Some(*g)).is_ok_and(|c| !c.is_empty()))
                .then_some(())
        })
        .await;
    shards::until_each_connected_once(&discord, SHARDS, Duration::from_secs(10)).await;

    // Steady: one interaction per guild, each answered once.
    let steady: Vec<u64> = targets
        .iter()
        .map(|(g, c)| invoke(&discord, *g, *c, user))
        .collect();
    answered_once(&discord, &steady, "every guild answered").await;
    own_guilds_reported(&replicas).await;
    assert_eq!(
        sum(
            &replicas,
            "kaltura_discord_bot_interactions_claimed_elsewhere_total"
        ),
        0.0,
        "no interaction reached two replicas"
    );

    // A rolling restart under traffic: each replica leaves (SIGTERM) and a new one starts.
    let started = discord.session_start_limit().remaining;
    let traffic = Traffic::start(
        discord.clone(),
        targets.clone(),
        user,
        Duration::from_millis(10),
    );
    for (slot, bot) in replicas.iter_mut().enumerate() {
        let exited = bot.process.terminate(Duration::from_secs(25));
        assert!(
            exited.is_some_and(|s| s.success()),
            "replica {slot} left cleanly: {exited:?}"
        );
        *bot = world.replica();
        bot.ready().await;
    }
    let rolling = traffic.stop();
    assert!(
        rolling.len() > 30,
        "traffic ran through the restart: {}",
        rolling.len()
    );
    answered_once(
        &discord,
        &rolling,
        "every interaction of the rolling restart",
    )
    .await;
    // The last replicas' shares may still be moving over (every move a resume).
    shards::until_each_connected_once(&discord, SHARDS, Duration::from_secs(10)).await;
    assert_eq!(
        discord.session_start_limit().remaining,
        started,
        "every hand-over of the restart resumed its session"
    );
    own_guilds_reported(&replicas).await;

    // SIGKILL: the dead replica's leases run out and the others resume its shards.
    let before_kill = discord.session_start_limit().remaining;
    let mut killed = replicas.remove(0);
    let dead_at = Instant::now();
    killed.process.stop();
    let traffic = Traffic::start(
        discord.clone(),
        targets.clone(),
        user,
        Duration::from_millis(100),
    );
    // The dead replica's sessions stay in Discord, closed, until resumed.
    shards::until_served_again(&discord, SHARDS, Duration::from_secs(10)).await;
    let handover = dead_at.elapsed();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let gap = traffic.stop();
    assert_eq!(
        discord.session_start_limit().remaining,
        before_kill,
        "the shards were resumed, not identified anew"
    );
    // Each interaction of the gap was answered once, or expired before a replica had it
    // again (then counted); those made after the hand-over were all answered.
    let expired = || sum(&replicas, "kaltura_discord_bot_interactions_expired_total") as usize;
    wait("every interaction of the gap answered or counted expired")
        .timeout(Duration::from_secs(15))
        .explain(|| {
            let calls = callbacks(&discord, &gap);
            let unanswered = calls.values().filter(|c| c.is_empty()).count();
            format!(
                "expired {}, unanswered {unanswered} of {}, identifies left {}",
                expired(),
                gap.len(),
                discord.session_start_limit().remaining
            )
        })
        .until(async || {
            let calls = callbacks(&discord, &gap);
            let unanswered = calls.values().filter(|c| c.is_empty()).count();
            (unanswered == expired()).then_some(())
        })
        .await;
    let calls = callbacks(&discord, &gap);
    for (id, statuses) in &calls {
        assert!(
            statuses.is_empty() || statuses == &[204],
            "interaction {id}: {statuses:?}"
        );
    }
    let answered = calls.values().filter(|c| !c.is_empty()).count();
    assert!(
        answered > 0,
        "interactions after the hand-over were answered"
    );
    assert!(
        expired() > 0,
        "the 5 s lease outlasts Discord's 3 s: some expired"
    );
    assert!(
        handover < Duration::from_secs(10),
        "hand-over took {handover:?}"
    );
}

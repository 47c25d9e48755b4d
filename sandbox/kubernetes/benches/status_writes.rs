//! Status writes at scale, as the operator's cold start makes them: the project's CRDs, N
//! objects spread over GuildConfigs, RoleMappings and NotificationRules, a kube-rs `watcher` on
//! each kind (the operator's caches), then one status write per object through the `/status`
//! subresource from a kube `Client`, `KD_BENCH_CONCURRENCY` in flight (default 32): first
//! server-side apply (what the operator sends), then a merge patch. Prints one JSON object:
//!
//! - `patches_per_s`, `p50_ms`, `p99_ms`: per phase, from the first request to the last answer.
//! - `watch_lag_ms`: from the last answer until every watch has seen every change.
//! - `list_ms`: one unpaged list of every GuildConfig (as a watcher's first list), read as
//!   text (the client does not decode it).
//! - `sandbox_cpu_s`, `sandbox_cpu_us_per_patch`: CPU of the sandbox's own runtime threads
//!   (the server runs on a runtime of its own, so the client's work is not counted);
//!   `process_cpu_s`: the whole process, client included.
//!
//! `cargo bench -p kd-sandbox-kubernetes --bench status_writes`; `KD_BENCH_OBJECTS` sets N
//! (default 10000).

use futures_util::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kd_sandbox_kubernetes::{Config, KubernetesSandbox};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{conditions, wait::await_condition, watcher};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const NS: &str = "kaltura";
const GROUP: &str = "kaltura-discord.io";
const VERSION: &str = "v1alpha1";
/// The operator's field manager.
const MANAGER: &str = "kaltura-discord";
/// Prefix of the sandbox runtime's thread names, to tell its CPU from the client's.
const SERVER_THREADS: &str = "kd-sandbox";

/// The kinds the operator writes status to: (kind, plural).
const KINDS: [(&str, &str); 3] = [
    ("GuildConfig", "guildconfigs"),
    ("RoleMapping", "rolemappings"),
    ("NotificationRule", "notificationrules"),
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let objects = env_usize("KD_BENCH_OBJECTS", 10_000);
    let concurrency = env_usize("KD_BENCH_CONCURRENCY", 32);
    // Two runtimes of two threads each: the server's threads are named, so their CPU time can
    // be read apart from the client's.
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(SERVER_THREADS)
        .enable_all()
        .build()
        .unwrap();
    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("bench-client")
        .enable_all()
        .build()
        .unwrap();
    let cluster = server
        .block_on(KubernetesSandbox::start(Config::default()))
        .expect("sandbox starts");
    let report = client.block_on(run(&cluster, objects, concurrency));
    println!("{}", json!({ "status_writes": report }));
    // The client first: its watches would see the server go.
    client.shutdown_background();
    drop(cluster);
    server.shutdown_background();
}

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: VERSION.into(),
        api_version: format!("{GROUP}/{VERSION}"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

async fn run(cluster: &KubernetesSandbox, objects: usize, concurrency: usize) -> Value {
    let client = client(cluster).await;
    install_crds(&client).await;
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}})).unwrap(),
        )
        .await
        .unwrap();
    let targets: Vec<(usize, usize)> = (0..objects).map(|i| (i % KINDS.len(), i)).collect();
    let started = Instant::now();
    stream::iter(&targets)
        .map(|&(kind, i)| create(&client, kind, i))
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    let create_s = started.elapsed().as_secs_f64();

    let seen = Arc::new(AtomicUsize::new(0));
    let synced = Arc::new(AtomicUsize::new(0));
    for (kind, plural) in KINDS {
        watch(
            &client,
            resource(kind, plural),
            seen.clone(),
            synced.clone(),
        );
    }
    while synced.load(Ordering::SeqCst) < KINDS.len() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let apply = phase(cluster, &client, &targets, concurrency, &seen, Write::Apply).await;
    let merge = phase(cluster, &client, &targets, concurrency, &seen, Write::Merge).await;
    let list = format!("/apis/{GROUP}/{VERSION}/namespaces/{NS}/guildconfigs");
    let started = Instant::now();
    let request = axum::http::Request::get(list).body(Vec::new()).unwrap();
    client.request_text(request).await.unwrap();
    let list_ms = started.elapsed().as_secs_f64() * 1e3;
    json!({
        "objects": objects,
        "concurrency": concurrency,
        "watches": KINDS.len(),
        "create_s": round(create_s),
        "apply": apply,
        "merge": merge,
        "list_ms": round(list_ms),
    })
}

#[derive(Clone, Copy)]
enum Write {
    Apply,
    Merge,
}

async fn phase(
    cluster: &KubernetesSandbox,
    client: &Client,
    targets: &[(usize, usize)],
    concurrency: usize,
    seen: &AtomicUsize,
    write: Write,
) -> Value {
    let seen_before = seen.load(Ordering::SeqCst);
    let revision_before = cluster.resource_version();
    let cpu_before = (thread_cpu(Some(SERVER_THREADS)), thread_cpu(None));
    let started = Instant::now();
    let mut latencies: Vec<Duration> = stream::iter(targets)
        .map(|&(kind, i)| write_status(client, kind, i, write))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let cpu_after = (thread_cpu(Some(SERVER_THREADS)), thread_cpu(None));
    // Every write changed its object, so each is one event on one watch.
    let changes = (cluster.resource_version() - revision_before) as usize;
    assert_eq!(changes, targets.len(), "every status write is a change");
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.load(Ordering::SeqCst) < seen_before + changes {
        assert!(Instant::now() < deadline, "watches missed events");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let watch_lag = started.elapsed() - elapsed;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let server_cpu = cpu_after.0 - cpu_before.0;
    json!({
        "patches": targets.len(),
        "seconds": round(elapsed.as_secs_f64()),
        "patches_per_s": (targets.len() as f64 / elapsed.as_secs_f64()).round(),
        "p50_ms": round(at(0.50).as_secs_f64() * 1e3),
        "p99_ms": round(at(0.99).as_secs_f64() * 1e3),
        "watch_lag_ms": round(watch_lag.as_secs_f64() * 1e3),
        "sandbox_cpu_s": round(server_cpu),
        "sandbox_cpu_us_per_patch": (server_cpu * 1e6 / targets.len() as f64).round(),
        "process_cpu_s": round(cpu_after.1 - cpu_before.1),
    })
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

async fn client(cluster: &KubernetesSandbox) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(&cluster.kubeconfig_yaml()).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kube config");
    Client::try_from(config).expect("client")
}

/// The chart's CRDs, created and waited for until established.
async fn install_crds(client: &Client) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../charts/kaltura-discord/crds");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for entry in std::fs::read_dir(&dir).expect("the chart's CRDs") {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text).expect("a CRD");
        let name = crd.name_any();
        api.create(&PostParams::default(), &crd).await.unwrap();
        await_condition(api.clone(), &name, conditions::is_crd_established())
            .await
            .unwrap();
    }
}

/// Object `i` of kind `kind`, with spec fields the CRDs' CEL rules check.
async fn create(client: &Client, kind: usize, i: usize) {
    let (kind_name, plural) = KINDS[kind];
    let guild = format!("g{}", i / KINDS.len());
    let spec = match kind {
        0 => json!({
            "applicationRef": {"name": "campus-bot"},
            "guildId": format!("{}", 1_283_874_310_720_716_890u64 + i as u64),
            "features": {"meetings": true, "videoSearch": true, "watchTogether": true, "notifications": true},
            "commands": {"permissions": {"kaltura-start": ["Teacher", "TA"], "kaltura-end": ["Teacher"]}},
            "channels": {"default": "general", "recordings": "recordings"},
            "discordOverrides": {"allowed": ["templates", "channels"]},
        }),
        1 => json!({
            "guildConfigRef": {"name": guild},
            "rules": [{"discordRole": {"name": "Teacher"}, "kalturaRole": "admin", "priority": 10}],
        }),
        _ => json!({
            "guildConfigRef": {"name": guild},
            "events": ["entryReady"],
            "channel": "general",
        }),
    };
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": format!("{GROUP}/{VERSION}"), "kind": kind_name,
        "metadata": {"name": guild, "namespace": NS},
        "spec": spec,
    }))
    .unwrap();
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NS, &resource(kind_name, plural));
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("creating {kind_name} {guild}: {e}"));
}

/// A status like the operator's for object `i`: conditions and the kind's own fields.
fn status(kind: usize, i: usize, write: Write) -> Value {
    let (message, reason) = match write {
        Write::Apply => ("", "Reconciled"),
        Write::Merge => ("revision rolled out", "RolledOut"),
    };
    let condition = |kind: &str| {
        json!({"type": kind, "status": "True", "reason": reason, "message": message,
               "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1})
    };
    match kind {
        0 => json!({
            "observedGeneration": 1,
            "configRevision": format!("r{i}-{reason}"),
            "commandSetVersion": "v1",
            "conditions": [condition("Ready"), condition("CommandsRegistered")],
        }),
        1 => json!({
            "observedGeneration": 1,
            "resolvedRoles": [{"name": "Teacher", "id": format!("{}", 1000 + i), "kalturaRole": "admin"}],
            "unmatchedRules": [],
            "conditions": [condition("Ready")],
        }),
        _ => json!({
            "observedGeneration": 1,
            "delivered": 0,
            "failed": 0,
            "conditions": [condition("Ready")],
        }),
    }
}

async fn write_status(client: &Client, kind: usize, i: usize, write: Write) -> Duration {
    let (kind_name, plural) = KINDS[kind];
    let name = format!("g{}", i / KINDS.len());
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NS, &resource(kind_name, plural));
    let status = status(kind, i, write);
    let started = Instant::now();
    let written = match write {
        Write::Apply => {
            let patch = json!({
                "apiVersion": format!("{GROUP}/{VERSION}"), "kind": kind_name,
                "metadata": {"name": name, "namespace": NS},
                "status": status,
            });
            api.patch_status(
                &name,
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
        }
        Write::Merge => {
            api.patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": status})),
            )
            .await
        }
    };
    written.unwrap_or_else(|e| panic!("status of {kind_name} {name}: {e}"));
    started.elapsed()
}

/// A watcher on one kind, counting the changes it sees after its initial list.
fn watch(client: &Client, resource: ApiResource, seen: Arc<AtomicUsize>, synced: Arc<AtomicUsize>) {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), NS, &resource);
    tokio::spawn(async move {
        let events = watcher(api, watcher::Config::default());
        let mut events = std::pin::pin!(events);
        // A watch that fails stops counting, and the phase waiting for its events says so.
        while let Ok(Some(event)) = events.try_next().await {
            match event {
                watcher::Event::InitDone => {
                    synced.fetch_add(1, Ordering::SeqCst);
                }
                watcher::Event::Apply(_) | watcher::Event::Delete(_) => {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                watcher::Event::Init | watcher::Event::InitApply(_) => {}
            }
        }
    });
}

/// CPU seconds (user + system) of this process's threads whose name starts with `prefix`, or
/// of all of them, from `/proc/self/task/*/stat`.
fn thread_cpu(prefix: Option<&str>) -> f64 {
    // The kernel reports in USER_HZ, which is 100 on every Linux ABI.
    const TICKS_PER_S: f64 = 100.0;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ...`: the name may hold spaces, so split at the last parenthesis.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if prefix.is_some_and(|p| !stat[open + 1..close].starts_with(p)) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // After the name: state is field 3, utime 14, stime 15 (1-based, as in proc(5)).
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        ticks += field(14).unwrap_or(0) + field(15).unwrap_or(0);
    }
    ticks as f64 / TICKS_PER_S
}

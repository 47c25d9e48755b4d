//! The operator end to end: resources applied with kubectl to the Kubernetes sandbox, the
//! `kaltura-discord operator` process reconciling them, a bot process reading the config
//! ConfigMaps it renders through the Kubernetes API (as the pod does), and the status read back
//! with kubectl.

use kd_controller::reconcile::conditions::{reasons, types};
use kd_controller::reconcile::finalizer::FINALIZER;
use kd_core::command::Command as SlashCommand;
use kd_core::config::parts::{Index, PartText};
use kd_core::config::{RuntimeConfig, Served};
use kd_crds::LocalRef;
use kd_sandbox_kubernetes::{Config as KubeConfig, KubernetesSandbox};
use kd_testing::fixtures::{self, Fixture, NAMESPACE as NS};
use kd_testing::kubectl::Kubectl;
use kd_testing::process::Running;
use kd_tests::process::{Outside, Reach, WorkloadProcess, endpoint_slice};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_kaltura-discord");

/// Polls `check` (every 250 ms: each runs kubectl) until it gives a value or 60 s pass; the
/// message says what never happened and ends with the operator's log.
async fn eventually<T>(what: &str, log: &Path, mut check: impl FnMut() -> Option<T>) -> T {
    kd_testing::wait(what)
        .timeout(Duration::from_secs(60))
        .every(Duration::from_millis(250))
        .explain(|| {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            format!("operator log (last lines first):\n{}", tail.join("\n"))
        })
        .until(async || check())
        .await
}

fn condition(object: &serde_json::Value, type_: &str) -> Option<(String, String, String)> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (field("status"), field("reason"), field("message"))
        })
}

/// The Secrets and resources of one application with one good and one broken guild.
fn manifests(outside: &Outside) -> String {
    let partner = fixtures::partner("campus").with(|p| {
        p.spec.partner_id = outside.kaltura.partner_id();
        p.spec.service_url = outside.kaltura.base_url().to_string();
    });
    let application = fixtures::application("campus-bot").with(|a| {
        a.spec.application_id = outside.discord.application_id().to_string();
    });
    let physics = fixtures::guild("physics-101", &outside.guild.id.to_string());
    let lost = fixtures::guild("lost", "1283874310720716999").with(|g| {
        g.spec.partner_ref = Some(LocalRef {
            name: "nobody".into(),
        })
    });
    [
        fixtures::yaml(&fixtures::secret(
            "discord",
            "botToken",
            &outside.discord.bot_token(),
        )),
        fixtures::yaml(&fixtures::secret(
            "kaltura",
            "adminSecret",
            outside.kaltura.admin_secret(),
        )),
        fixtures::yaml(&partner),
        fixtures::yaml(&application),
        fixtures::yaml(&physics),
        fixtures::yaml(&lost),
    ]
    .concat()
}

/// The bot process as its pod runs it: reading and watching the config ConfigMaps through the
/// Kubernetes API with the token of the ServiceAccount the operator made for it (as the kubelet
/// would project it), so only what its Role allows works; with the EndpointSlice Kubernetes
/// makes for the bot Service once its pod is ready, so the operator finds its report. `config`
/// is what it should start with.
fn bot_pod(
    outside: &Outside,
    cluster: &KubernetesSandbox,
    kubectl: &Kubectl,
    config: &RuntimeConfig,
) -> WorkloadProcess {
    let token = cluster
        .service_account_token(NS, "campus-bot-workload")
        .expect("the operator made the workload's ServiceAccount");
    let kubeconfig = kubectl.kubeconfig.with_file_name("workload-kubeconfig");
    std::fs::write(&kubeconfig, cluster.kubeconfig_yaml_for_token(&token)).unwrap();
    let bot = WorkloadProcess::bot_with(
        BIN,
        &outside.discord,
        &outside.kaltura,
        config,
        &[
            "--config-map",
            "campus-bot-config",
            "--config-namespace",
            NS,
        ],
        Reach {
            env: vec![("KUBECONFIG", kubeconfig.as_os_str())],
            ..Reach::default()
        },
        Stdio::null(),
    );
    kubectl.apply(&endpoint_slice(NS, "campus-bot-bot", bot.port));
    bot
}

/// The operator process, logging to `dir/operator.log`.
fn operator(kubeconfig: &Path, dir: &Path) -> Running {
    Operator::start(kubeconfig, dir, "operator", &[]).process
}

/// An operator replica named `name` (its Lease identity), logging to `dir/<name>.log`.
struct Operator {
    process: Running,
    port: u16,
    log: std::path::PathBuf,
}

impl Operator {
    fn start(kubeconfig: &Path, dir: &Path, name: &str, extra: &[&str]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let port = kd_testing::free_port();
        // clap takes an option once: a test that sets its own resync gets it instead of 1 s.
        let resync: &[&str] = if extra.contains(&"--resync") {
            &[]
        } else {
            &["--resync", "1s"]
        };
        let process = Running::spawn(
            Command::new(BIN)
                .arg("operator")
                .args(resync)
                .args(["--log", "info,kd_controller=debug", "--listen"])
                .arg(format!("127.0.0.1:{port}"))
                .args(extra)
                .env("KUBECONFIG", kubeconfig)
                .env("KD_POD_NAME", name)
                .stdout(std::fs::File::create(&log).unwrap())
                .stderr(Stdio::inherit()),
        );
        Self { process, port, log }
    }

    fn metric(&self, sample: &str) -> Option<f64> {
        let response = kd_testing::http::get(self.port, "/metrics")?;
        kd_testing::http::metric(kd_testing::http::body(&response)?, sample)
    }

    fn logged(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The config the operator rendered: its index ConfigMap and the parts it names.
fn rendered_config(kubectl: &Kubectl) -> Option<RuntimeConfig> {
    let map = kubectl.json(&["get", "configmap", "campus-bot-config", "-n", NS])?;
    let index = Index::from_json(map["data"]["index.json"].as_str()?).ok()?;
    let mut parts = Vec::new();
    for (k, expected) in index.parts.iter().enumerate() {
        let name = format!("campus-bot-config-{k}");
        let part = kubectl.json(&["get", "configmap", &name, "-n", NS])?;
        let text = part["data"]["guilds.json"].as_str()?;
        parts.push(std::sync::Arc::new(
            PartText::parse(text, expected, &Served::All).ok()?,
        ));
    }
    index.assemble(&parts, &Served::All).ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_deploys_the_bot_and_writes_what_it_reports_into_status() {
    let outside = Outside::start().await;
    let cluster = KubernetesSandbox::start(KubeConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubectl = Kubectl {
        kubeconfig: dir.path().join("kubeconfig"),
    };
    cluster.write_kubeconfig(&kubectl.kubeconfig).unwrap();
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
    kubectl.ok(&["create", "namespace", NS]);
    kubectl.apply(&manifests(&outside));
    let operator = operator(&kubectl.kubeconfig, dir.path());
    let log = dir.path().join("operator.log");

    // The operator renders the config and the workloads; the bot runs what the ConfigMap says.
    let config = eventually("the rendered ConfigMap", &log, || rendered_config(&kubectl)).await;
    assert!(config.guild(&outside.guild.id.to_string()).is_some());
    let deployment = eventually("the bot Deployment", &log, || {
        kubectl.json(&["get", "deployment", "campus-bot", "-n", NS])
    })
    .await;
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "bot"
    );
    let mut bot = bot_pod(&outside, &cluster, &kubectl, &config);

    // The bot registers the guild's commands; the operator reads its report into status.
    let physics = eventually("physics-101 to be Ready", &log, || {
        let gc = kubectl.json(&["get", "guildconfig", "physics-101", "-n", NS])?;
        (condition(&gc, types::READY)?.0 == "True").then_some(gc)
    })
    .await;
    assert_eq!(
        physics["status"]["commandSetVersion"],
        kd_core::command::COMMAND_SET_VERSION
    );
    // The revision of this guild's share of the config, compared per guild.
    assert_eq!(
        physics["status"]["configRevision"],
        config
            .guild_revision(&outside.guild.id.to_string())
            .as_str()
    );
    assert_eq!(
        condition(&physics, types::COMMANDS_REGISTERED).unwrap().1,
        reasons::REGISTERED
    );
    let table = kubectl.ok(&["get", "guildconfigs", "-n", NS]);
    let header = table.lines().next().unwrap();
    for column in ["NAME", "GUILD", "REVISION", "COMMANDS", "READY", "REASON"] {
        assert!(header.contains(column), "{table}");
    }
    let row = table
        .lines()
        .find(|l| l.starts_with("physics-101"))
        .unwrap();
    assert!(row.contains(" True ") && row.contains(" Ready "), "{table}");

    // A broken GuildConfig says why, and the other one is unaffected.
    let (status, reason, message) = eventually("the broken guild's reason", &log, || {
        condition(
            &kubectl.json(&["get", "guildconfig", "lost", "-n", NS])?,
            types::READY,
        )
    })
    .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", reasons::INVALID_SPEC)
    );
    assert!(message.contains("spec.partnerRef"), "{message}");
    let app = eventually("the application to be Ready", &log, || {
        let app = kubectl.json(&["get", "dapp", "campus-bot", "-n", NS])?;
        (condition(&app, types::READY)?.0 == "True").then_some(app)
    })
    .await;
    assert_eq!(app["status"]["guildCount"], 1);
    assert_eq!(condition(&app, types::BOT_CONNECTED).unwrap().0, "True");

    // A spec change renders a new revision; the bot follows it through the API, and status
    // follows the bot.
    kubectl.ok(&[
        "patch",
        "guildconfig",
        "physics-101",
        "-n",
        NS,
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"features":{"videoSearch":false}}}"#,
    ]);
    let changed = eventually("a new rendered revision", &log, || {
        rendered_config(&kubectl).filter(|c| c.revision != config.revision)
    })
    .await;
    eventually("status to follow the new revision", &log, || {
        let gc = kubectl.json(&["get", "guildconfig", "physics-101", "-n", NS])?;
        (gc["status"]["configRevision"]
            == changed
                .guild_revision(&outside.guild.id.to_string())
                .as_str()
            && condition(&gc, types::READY)?.0 == "True")
            .then_some(())
    })
    .await;
    assert!(
        bot.process.child.try_wait().unwrap().is_none(),
        "the same bot process runs the new revision"
    );
    let registered = outside.discord.commands(Some(outside.guild.id)).unwrap();
    assert!(
        registered
            .iter()
            .all(|c| c["name"] != SlashCommand::VideoSearch.name()),
        "the disabled command was unregistered"
    );

    // Credentials never leave their Secrets: not into ConfigMaps, status, events or logs.
    let planted = [
        outside.discord.bot_token(),
        outside.kaltura.admin_secret().to_string(),
    ];
    let mut seen = String::new();
    for kind in ["configmaps", "events", "deployments", "services"] {
        seen += &kubectl.ok(&["get", kind, "-A", "-o", "yaml"]);
    }
    seen += &kubectl.ok(&["get", "kaltura-discord", "-A", "-o", "yaml"]);
    drop(operator);
    seen += &std::fs::read_to_string(&log).unwrap();
    for secret in &planted {
        assert!(!seen.contains(secret.as_str()), "a credential leaked");
    }
}

/// A cluster with the CRDs, the namespace and the resources of [`manifests`].
async fn cluster(outside: &Outside, dir: &Path) -> (KubernetesSandbox, Kubectl) {
    let cluster = KubernetesSandbox::start(KubeConfig::default())
        .await
        .unwrap();
    let kubectl = Kubectl {
        kubeconfig: dir.join("kubeconfig"),
    };
    cluster.write_kubeconfig(&kubectl.kubeconfig).unwrap();
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
    kubectl.ok(&["create", "namespace", NS]);
    kubectl.apply(&manifests(outside));
    (cluster, kubectl)
}

/// The Lease's holder and its last renewal.
fn lease(kubectl: &Kubectl) -> Option<(String, String, i64)> {
    let lease = kubectl.json(&["get", "lease", "kaltura-discord-operator", "-n", "default"])?;
    let spec = &lease["spec"];
    Some((
        spec["holderIdentity"].as_str()?.to_string(),
        spec["renewTime"].as_str()?.to_string(),
        spec["leaseTransitions"].as_i64().unwrap_or(0),
    ))
}

/// Every resource's status (but the time of the last credential check, which moves with each
/// check), and the names of the objects the operator made, as one value.
fn world(kubectl: &Kubectl) -> Option<serde_json::Value> {
    let resources = kubectl.json(&["get", "kaltura-discord", "-n", NS, "-o", "json"])?;
    let mut statuses: Vec<(String, serde_json::Value)> = resources["items"]
        .as_array()?
        .iter()
        .map(|o| {
            let name = format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["name"]
            );
            let mut status = o["status"].clone();
            if let Some(status) = status.as_object_mut() {
                status.remove("lastVerifiedTime");
            }
            (name, status)
        })
        .collect();
    statuses.sort_by(|a, b| a.0.cmp(&b.0));
    let selector = "app.kubernetes.io/managed-by=kaltura-discord-operator";
    let made = kubectl.json(&[
        "get",
        "configmaps,deployments,services,persistentvolumeclaims",
        "-n",
        NS,
        "-l",
        selector,
        "-o",
        "json",
    ])?;
    let mut names: Vec<String> = made["items"]
        .as_array()?
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["name"]
            )
        })
        .collect();
    names.sort();
    Some(serde_json::json!({"statuses": statuses, "objects": names}))
}

/// The operator's Events in the namespace: (type, reason, object, note, series count).
fn events(kubectl: &Kubectl) -> Vec<(String, String, String, String, i64)> {
    let list = kubectl
        .json(&["get", "events.v1.events.k8s.io", "-n", NS, "-o", "json"])
        .unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reportingController"] == "kaltura-discord-operator")
        .map(|e| {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            (
                text(&e["type"]),
                text(&e["reason"]),
                format!(
                    "{}/{}",
                    text(&e["regarding"]["kind"]),
                    text(&e["regarding"]["name"])
                ),
                text(&e["note"]),
                e["series"]["count"].as_i64().unwrap_or(1),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn of_two_operators_only_the_leader_writes_and_the_other_takes_over_without_flapping() {
    let outside = Outside::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (_cluster, kubectl) = cluster(&outside, dir.path()).await;
    let lease_args = ["--lease-duration", "4s", "--verify-every", "1s"];
    let a = Operator::start(&kubectl.kubeconfig, dir.path(), "operator-a", &lease_args);
    eventually("operator-a to hold the Lease", &a.log, || {
        lease(&kubectl).filter(|(holder, ..)| holder == "operator-a")
    })
    .await;
    let b = Operator::start(&kubectl.kubeconfig, dir.path(), "operator-b", &lease_args);
    eventually("operator-b to stand by, ready", &b.log, || {
        let ready = kd_testing::http::get(b.port, "/readyz")?;
        (ready.starts_with("HTTP/1.1 200")
            && b.metric("kaltura_discord_operator_leader") == Some(0.0))
        .then_some(())
    })
    .await;

    // The leader converges: statuses written, the partner's credentials checked with Kaltura.
    let settled = eventually("the leader's statuses to settle", &a.log, || {
        let first = world(&kubectl)?;
        let partner = kubectl.json(&["get", "kalturapartner", "campus", "-n", NS])?;
        let valid = condition(&partner, types::CREDENTIALS_VALID)?;
        let lost = kubectl.json(&["get", "guildconfig", "lost", "-n", NS])?;
        (valid.1 == reasons::VERIFIED
            && condition(&lost, types::READY)?.1 == reasons::INVALID_SPEC)
            .then_some(())?;
        std::thread::sleep(Duration::from_millis(1500));
        (world(&kubectl)? == first).then_some(first)
    })
    .await;
    let partner = kubectl
        .json(&["get", "kalturapartner", "campus", "-n", NS])
        .unwrap();
    assert!(
        partner["status"]["partnerName"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    assert!(partner["status"]["lastVerifiedTime"].is_string());

    // Only the leader writes: the stand-by applied nothing, wrote no status, ran no pass.
    assert!(a.metric(r#"kaltura_discord_operator_reconciles_total{result="ok"}"#) > Some(0.0));
    assert_eq!(b.metric("kaltura_discord_operator_leader"), Some(0.0));
    assert_eq!(
        b.metric(r#"kaltura_discord_operator_reconciles_total{result="ok"}"#),
        None
    );
    let standby = b.logged();
    assert!(
        !standby.contains("\"applied\"")
            && !standby.contains(" applied")
            && !standby.contains("status written"),
        "the stand-by wrote:\n{standby}"
    );
    let events_before = events(&kubectl);
    assert!(
        events_before
            .iter()
            .any(|e| e.1 == reasons::INVALID_SPEC && e.2 == "GuildConfig/lost"),
        "a Warning for the broken guild: {events_before:?}"
    );

    // kill -9 the leader: the stand-by takes the Lease once it expires, within its duration.
    let (_, renewed, transitions) = lease(&kubectl).unwrap();
    let mut a = a;
    a.process.stop();
    // kube-lease-manager takes the holder, then counts the transition, in two writes.
    let (holder, _, after) = eventually("operator-b to take the Lease", &b.log, || {
        lease(&kubectl).filter(|(holder, _, count)| holder == "operator-b" && *count > transitions)
    })
    .await;
    assert_eq!((holder.as_str(), after), ("operator-b", transitions + 1));
    let acquired = kubectl
        .json(&["get", "lease", "kaltura-discord-operator", "-n", "default"])
        .unwrap()["spec"]["acquireTime"]
        .as_str()
        .unwrap()
        .to_string();
    let gap = ts(&acquired) - ts(&renewed);
    // The Lease was valid 4 s after the last renewal; the stand-by may wait up to 1 s more
    // (kube-lease-manager's random back-off against racing stand-bys) plus its API calls.
    assert!(
        gap.as_secs_f64() <= 4.0 + 2.0,
        "took over {gap:?} after the last renewal"
    );
    eventually("operator-b to reconcile as the leader", &b.log, || {
        (b.metric("kaltura_discord_operator_leader") == Some(1.0)
            && b.metric(r#"kaltura_discord_operator_reconciles_total{result="ok"}"#) > Some(1.0))
        .then_some(())
    })
    .await;
    // Same objects (none twice), same conditions with the same transition times, no new Events.
    assert_eq!(world(&kubectl).unwrap(), settled);
    assert_eq!(events(&kubectl), events_before);

    // A wrong Kaltura secret: CredentialsValid False with Kaltura's code, and a Warning.
    let wrong = "not-the-admin-secret-0123456789";
    kubectl.apply(&fixtures::yaml(&fixtures::secret(
        "kaltura",
        "adminSecret",
        wrong,
    )));
    let (status, reason, message) = eventually("CredentialsValid to turn False", &b.log, || {
        let partner = kubectl.json(&["get", "kalturapartner", "campus", "-n", NS])?;
        condition(&partner, types::CREDENTIALS_VALID).filter(|c| c.0 == "False")
    })
    .await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", reasons::CREDENTIALS_REFUSED)
    );
    assert!(message.contains("START_SESSION_ERROR"), "{message}");
    eventually("a Warning Event naming Kaltura's code", &b.log, || {
        events(&kubectl).into_iter().find(|e| {
            e.0 == "Warning"
                && e.1 == reasons::CREDENTIALS_REFUSED
                && e.3.contains("START_SESSION_ERROR")
        })
    })
    .await;

    // The right secret again, then the partner blocked in Kaltura: its own code, checked
    // periodically (the Secret did not change).
    kubectl.apply(&fixtures::yaml(&fixtures::secret(
        "kaltura",
        "adminSecret",
        outside.kaltura.admin_secret(),
    )));
    eventually("CredentialsValid to turn True again", &b.log, || {
        let partner = kubectl.json(&["get", "kalturapartner", "campus", "-n", NS])?;
        condition(&partner, types::CREDENTIALS_VALID).filter(|c| c.0 == "True")
    })
    .await;
    let blocked = reqwest::Client::new()
        .put(format!(
            "{}/_sandbox/partners/{}/status",
            outside.kaltura.base_url(),
            outside.kaltura.partner_id()
        ))
        .json(&serde_json::json!({"status": "blocked"}))
        .send()
        .await
        .unwrap();
    assert!(blocked.status().is_success());
    let (_, reason, message) = eventually("the partner to be reported blocked", &b.log, || {
        let partner = kubectl.json(&["get", "kalturapartner", "campus", "-n", NS])?;
        condition(&partner, types::CREDENTIALS_VALID).filter(|c| c.0 == "False")
    })
    .await;
    assert_eq!(reason, reasons::PARTNER_BLOCKED);
    assert!(
        message.contains("SERVICE_FORBIDDEN_CONTENT_BLOCKED"),
        "{message}"
    );
    let partner = kubectl
        .json(&["get", "kalturapartner", "campus", "-n", NS])
        .unwrap();
    assert_eq!(
        condition(&partner, types::READY).unwrap().1,
        reasons::PARTNER_BLOCKED
    );

    // A broken Secret reference (a key the Secret lacks): the application says which, and a
    // Warning Event says so.
    kubectl.ok(&[
        "patch",
        "dapp",
        "campus-bot",
        "-n",
        NS,
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"botTokenRef":{"name":"discord","key":"gone"}}}"#,
    ]);
    let (_, reason, message) =
        eventually("the application to name the missing Secret", &b.log, || {
            let app = kubectl.json(&["get", "dapp", "campus-bot", "-n", NS])?;
            condition(&app, types::READY).filter(|c| c.1 == reasons::INVALID_SPEC)
        })
        .await;
    assert_eq!(reason, reasons::INVALID_SPEC);
    assert!(message.contains("gone"), "{message}");
    eventually("a Warning Event for the application", &b.log, || {
        events(&kubectl).into_iter().find(|e| {
            e.0 == "Warning" && e.2 == "DiscordApplication/campus-bot" && e.3.contains("gone")
        })
    })
    .await;

    // Neither the planted wrong secret nor the real one is in any status or Event.
    let mut seen = kubectl.ok(&["get", "events.v1.events.k8s.io", "-A", "-o", "yaml"]);
    seen += &kubectl.ok(&["get", "kaltura-discord", "-A", "-o", "yaml"]);
    seen += &b.logged();
    for secret in [wrong, outside.kaltura.admin_secret()] {
        assert!(!seen.contains(secret), "a credential leaked");
    }

    // SIGTERM, as Kubernetes stops a pod: the leader gives the Lease up and exits, so the
    // next replica takes over at once instead of after the lease duration.
    let mut b = b;
    let exited = b.process.terminate(Duration::from_secs(10));
    assert!(
        exited.is_some_and(|s| s.success()),
        "{exited:?}\n{}",
        b.logged()
    );
    let released = kubectl
        .json(&["get", "lease", "kaltura-discord-operator", "-n", "default"])
        .unwrap();
    assert!(
        released["spec"]["holderIdentity"].is_null(),
        "{released}\n{}",
        b.logged()
    );
    assert!(b.logged().contains("released the leader Lease"));
}

fn ts(text: &str) -> std::time::Duration {
    let at: k8s_openapi::jiff::Timestamp = text.parse().unwrap();
    std::time::Duration::from_nanos(at.as_nanosecond() as u64)
}

/// The operator and a bot running the config it rendered, with physics-101 Ready and holding
/// the finalizer: `(operator, bot, log)`.
async fn serving(
    outside: &Outside,
    cluster: &KubernetesSandbox,
    kubectl: &Kubectl,
    dir: &Path,
    extra: &[&str],
) -> (Running, WorkloadProcess, std::path::PathBuf) {
    let operator = Operator::start(&kubectl.kubeconfig, dir, "operator", extra).process;
    let log = dir.join("operator.log");
    let config = eventually("the rendered ConfigMap", &log, || rendered_config(kubectl)).await;
    let bot = bot_pod(outside, cluster, kubectl, &config);
    eventually("physics-101 Ready and holding the finalizer", &log, || {
        let gc = kubectl.json(&["get", "guildconfig", "physics-101", "-n", NS])?;
        (gc["metadata"]["finalizers"] == serde_json::json!([FINALIZER])
            && condition(&gc, types::READY)?.0 == "True")
            .then_some(())
    })
    .await;
    assert!(
        !outside
            .discord
            .commands(Some(outside.guild.id))
            .unwrap()
            .is_empty(),
        "the guild has its commands"
    );
    (operator, bot, log)
}

/// Sends `signal` (`-STOP`, `-CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let pid = pid.to_string();
    let status = Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(status.success(), "kill {signal} {pid}");
}

/// `kubectl delete <what> --wait` in the background: it returns once the object is gone.
fn delete(kubectl: &Kubectl, what: &[&str]) -> tokio::task::JoinHandle<Result<String, String>> {
    let kubectl = Kubectl {
        kubeconfig: kubectl.kubeconfig.clone(),
    };
    let mut args = vec!["delete", "-n", NS, "--wait", "--timeout=60s"];
    args.extend(what);
    let args: Vec<String> = args.into_iter().map(String::from).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kubectl.run(&args, None)
    })
}

/// The notes of the Events with `reason` about GuildConfig `name`.
fn event_notes(kubectl: &Kubectl, name: &str, reason: &str) -> Vec<String> {
    let selector = format!("reason={reason},involvedObject.name={name}");
    let events = kubectl
        .json(&["get", "events", "-n", NS, "--field-selector", &selector])
        .unwrap_or_default();
    events["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            Some(format!(
                "{} {}",
                e["type"].as_str()?,
                e["message"].as_str()?
            ))
        })
        .collect()
}

/// Deletes `object` (`["guildconfig", "physics-101"]`) with `kubectl delete --wait` while the
/// bot is paused (SIGSTOP), so it cannot follow the revision that clears its commands: the
/// finalizer holds the object (reason `Deleting`, `in_discord` still true) from the moment
/// `clearing` says the operator rendered that revision until the bot runs it (SIGCONT), and the
/// commands are gone from Discord once the delete returns. Then the `CommandsCleared` Event
/// names `named` (the guild or application id).
async fn deleted_once_the_bot_cleared(
    kubectl: &Kubectl,
    bot: &WorkloadProcess,
    log: &Path,
    object: [&str; 2],
    clearing: impl Fn(&RuntimeConfig) -> bool,
    in_discord: impl Fn() -> bool,
    named: &str,
) {
    signal(bot.process.child.id(), "-STOP");
    let deleting = delete(kubectl, &object);
    eventually("the revision that clears the commands", log, || {
        rendered_config(kubectl).filter(&clearing)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let [kind, name] = object;
    let held = kubectl
        .json(&["get", kind, name, "-n", NS])
        .expect("still there");
    assert!(held["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(condition(&held, types::READY).unwrap().1, reasons::DELETING);
    assert!(!deleting.is_finished(), "kubectl delete --wait still waits");
    assert!(in_discord(), "the commands are still registered");

    // Once the bot runs that revision it clears the commands, and only then the object goes.
    signal(bot.process.child.id(), "-CONT");
    deleting.await.unwrap().expect("kubectl delete --wait");
    assert!(
        !in_discord(),
        "the commands were removed before the {kind} went"
    );
    let notes = eventually("the CommandsCleared Event", log, || {
        Some(event_notes(kubectl, name, reasons::COMMANDS_CLEARED)).filter(|n| !n.is_empty())
    })
    .await;
    assert!(
        notes[0].starts_with("Normal ") && notes[0].contains(named),
        "{notes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_guild_config_goes_once_the_bot_removed_its_commands() {
    let outside = Outside::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (cluster, kubectl) = cluster(&outside, dir.path()).await;
    let (_operator, bot, log) = serving(&outside, &cluster, &kubectl, dir.path(), &[]).await;
    let guild_id = outside.guild.id.to_string();
    deleted_once_the_bot_cleared(
        &kubectl,
        &bot,
        &log,
        ["guildconfig", "physics-101"],
        |c| c.clearing.contains(&guild_id) && c.guild(&guild_id).is_none(),
        || {
            !outside
                .discord
                .commands(Some(outside.guild.id))
                .unwrap()
                .is_empty()
        },
        &guild_id,
    )
    .await;

    // The application's workloads go with it by their owner references.
    kubectl.ok(&[
        "delete",
        "dapp",
        "campus-bot",
        "-n",
        NS,
        "--wait",
        "--timeout=30s",
    ]);
    for kind in ["deployments", "services", "configmaps"] {
        let left = kubectl.ok(&[
            "get",
            kind,
            "-n",
            NS,
            "-l",
            "app.kubernetes.io/instance=campus-bot",
            "-o",
            "name",
        ]);
        assert_eq!(left.trim(), "", "{kind} left behind");
    }
    // With its application gone nothing can clear a guild: the finalizer goes at once, saying so.
    deleting_without_application(&kubectl, &log).await;
}

async fn deleting_without_application(kubectl: &Kubectl, log: &Path) {
    let started = std::time::Instant::now();
    delete(kubectl, &["guildconfig", "lost"])
        .await
        .unwrap()
        .expect("kubectl delete --wait");
    assert!(started.elapsed() < Duration::from_secs(30));
    let notes = eventually("the CommandsLeftBehind Event", log, || {
        Some(event_notes(kubectl, "lost", reasons::COMMANDS_LEFT_BEHIND)).filter(|n| !n.is_empty())
    })
    .await;
    assert!(
        notes[0].starts_with("Warning ")
            && notes[0].contains("DiscordApplication campus-bot is gone"),
        "{notes:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn in_global_scope_one_set_serves_the_guilds_and_goes_before_its_application() {
    let outside = Outside::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (cluster, kubectl) = cluster(&outside, dir.path()).await;
    let (_operator, bot, log) = serving(&outside, &cluster, &kubectl, dir.path(), &[]).await;
    let global = || outside.discord.commands(None).unwrap();
    assert!(
        global().is_empty(),
        "the Guild scope registers no global commands"
    );
    let app = kubectl
        .json(&["get", "dapp", "campus-bot", "-n", NS])
        .unwrap();
    assert!(
        app["metadata"]["finalizers"].is_null(),
        "nothing global to remove: {app}"
    );

    // Global: one set for every guild; the guild's own set from the Guild scope is emptied.
    kubectl.ok(&[
        "patch",
        "dapp",
        "campus-bot",
        "-n",
        NS,
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"bot":{"commandScope":"Global"}}}"#,
    ]);
    let served = eventually("physics-101 served by the global commands", &log, || {
        let gc = kubectl.json(&["get", "guildconfig", "physics-101", "-n", NS])?;
        let (status, _, message) = condition(&gc, types::COMMANDS_REGISTERED)?;
        (status == "True" && message.starts_with("served by")).then_some(gc)
    })
    .await;
    let all = SlashCommand::ALL.len();
    assert_eq!(
        condition(&served, types::COMMANDS_REGISTERED).unwrap().2,
        format!("served by the application's {all} global commands (command set version 1)")
    );
    assert_eq!(condition(&served, types::READY).unwrap().0, "True");
    assert_eq!(global().len(), all);
    assert_eq!(
        outside.discord.commands(Some(outside.guild.id)).unwrap(),
        Vec::<serde_json::Value>::new()
    );
    let app = eventually("the application holding the finalizer", &log, || {
        let app = kubectl.json(&["get", "dapp", "campus-bot", "-n", NS])?;
        (app["metadata"]["finalizers"] == serde_json::json!([FINALIZER])
            && condition(&app, types::COMMANDS_REGISTERED)?.0 == "True")
            .then_some(app)
    })
    .await;
    assert_eq!(app["status"]["globalCommands"], all);

    // Deleting the application removes its global commands before it goes.
    deleted_once_the_bot_cleared(
        &kubectl,
        &bot,
        &log,
        ["dapp", "campus-bot"],
        |c| c.application.deleting,
        || !global().is_empty(),
        &format!("application {}", outside.discord.application_id()),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_bot_down_the_finalizer_goes_after_the_timeout_naming_what_was_left() {
    let outside = Outside::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (cluster, kubectl) = cluster(&outside, dir.path()).await;
    let (_operator, bot, log) = serving(
        &outside,
        &cluster,
        &kubectl,
        dir.path(),
        &["--finalizer-timeout", "4s"],
    )
    .await;
    drop(bot);

    let started = std::time::Instant::now();
    delete(&kubectl, &["guildconfig", "physics-101"])
        .await
        .unwrap()
        .expect("kubectl delete --wait");
    // The timeout counts from the deletionTimestamp, which has whole seconds (up to one early).
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "held for the timeout, gone after {:?}",
        started.elapsed()
    );
    assert!(
        !outside
            .discord
            .commands(Some(outside.guild.id))
            .unwrap()
            .is_empty(),
        "nobody removed the commands"
    );
    let notes = eventually("the CommandsLeftBehind Event", &log, || {
        Some(event_notes(
            &kubectl,
            "physics-101",
            reasons::COMMANDS_LEFT_BEHIND,
        ))
        .filter(|n| !n.is_empty())
    })
    .await;
    let guild_id = outside.guild.id.to_string();
    assert!(
        notes[0].starts_with("Warning ")
            && notes[0].contains(&format!(
                "the slash commands of guild {guild_id} may still be registered"
            ))
            && notes[0].contains("the bot did not report")
            && notes[0].contains("within 4s"),
        "{notes:?}"
    );
}

/// The revision the bot process reports it runs.
fn running_revision(bot: &WorkloadProcess) -> Option<String> {
    let report: serde_json::Value =
        serde_json::from_str(kd_testing::http::body(&bot.get("/status")?)?).ok()?;
    Some(report["revision"].as_str()?.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_mapping_edit_reaches_the_running_bot_through_the_api_without_a_restart() {
    let outside = Outside::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (cluster, kubectl) = cluster(&outside, dir.path()).await;
    let (_operator, mut bot, _log) = serving(&outside, &cluster, &kubectl, dir.path(), &[]).await;
    let staff = outside
        .discord
        .create_role(
            outside.guild.id,
            kd_sandbox_discord::NewRole {
                name: "Staff".into(),
                ..Default::default()
            },
        )
        .unwrap();
    outside
        .discord
        .put_member(
            outside.guild.id,
            outside.user,
            kd_sandbox_discord::MemberSpec {
                roles: vec![staff.id],
                nick: None,
            },
        )
        .unwrap();
    let start = || async {
        let sent = outside
            .discord
            .invoke_command(kd_sandbox_discord::NewCommandInteraction {
                guild_id: outside.guild.id,
                channel_id: outside.guild.general_channel_id,
                user_id: outside.user,
                name: SlashCommand::Start.name().into(),
                options: vec![
                    serde_json::json!({"name": "type", "value": "meeting"}),
                    serde_json::json!({"name": "title", "value": "Office hours"}),
                ],
                ..Default::default()
            })
            .unwrap();
        kd_tests::content(&kd_tests::final_answer(&outside.discord, sent.id).await)
    };
    let refused = start().await;
    assert!(refused.contains("yours is viewer"), "{refused}");

    // Staff become moderators: the operator renders it, the bot reads it from the API.
    let before = running_revision(&bot).expect("the bot reports");
    let edited = std::time::Instant::now();
    kubectl.apply(&format!(
        r#"
apiVersion: kaltura-discord.io/v1alpha1
kind: RoleMapping
metadata: {{name: physics-101, namespace: {NS}}}
spec:
  guildConfigRef: {{name: physics-101}}
  rules: [{{discordRole: {{name: Staff}}, kalturaRole: moderator, priority: 10}}]
"#
    ));
    let running = kd_testing::wait("the bot to run the edited revision")
        .timeout(Duration::from_secs(30))
        .every(Duration::from_millis(10))
        .until(async || running_revision(&bot).filter(|r| *r != before))
        .await;
    let latency = edited.elapsed();
    eprintln!("RoleMapping edit to running revision: {latency:?}");
    let rendered = rendered_config(&kubectl).unwrap();
    assert_eq!(running, rendered.revision);
    assert_eq!(
        rendered
            .guild(&outside.guild.id.to_string())
            .unwrap()
            .roles
            .rules[0]
            .kaltura_role,
        "moderator"
    );
    // Far inside the minute or more a kubelet takes to refresh a mounted ConfigMap (the
    // benchmark measures the spread against the one-second target).
    assert!(latency < Duration::from_secs(10), "{latency:?}");
    assert!(
        bot.process.child.try_wait().unwrap().is_none(),
        "no restart"
    );
    let allowed = start().await;
    assert!(allowed.starts_with("Started the meeting"), "{allowed}");
}

/// `GET /status` of the bot with `If-None-Match: etag` (when given) and `?wait=`: the status
/// code, the ETag and the report of a 200.
async fn poll_status(
    bot: &WorkloadProcess,
    etag: Option<&str>,
    wait: Option<u64>,
) -> (u16, String, Option<kd_core::report::BotReport>) {
    let mut request = reqwest::Client::new().get(format!("{}/status", bot.base_url()));
    if let Some(etag) = etag {
        request = request.header("If-None-Match", etag);
    }
    if let Some(wait) = wait {
        request = request.query(&[("wait", wait)]);
    }
    let response = request.send().await.unwrap();
    let code = response.status().as_u16();
    let tag = response.headers()["etag"].to_str().unwrap().to_string();
    let report = match code {
        200 => Some(response.json().await.unwrap()),
        _ => None,
    };
    (code, tag, report)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_revision_reaches_status_within_a_second_of_the_bot_reporting_it() {
    let outside = Outside::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (cluster, kubectl) = cluster(&outside, dir.path()).await;
    // No pass on a timer during the test: only the bot's report can move status.
    let operator = Operator::start(
        &kubectl.kubeconfig,
        dir.path(),
        "operator",
        &["--resync", "60s"],
    );
    let log = dir.path().join("operator.log");
    let config = eventually("the rendered ConfigMap", &log, || rendered_config(&kubectl)).await;
    let bot = bot_pod(&outside, &cluster, &kubectl, &config);
    eventually("physics-101 Ready", &log, || {
        let gc = kubectl.json(&["get", "guildconfig", "physics-101", "-n", NS])?;
        (condition(&gc, types::READY)?.0 == "True").then_some(())
    })
    .await;

    // Once settled nothing wakes the loop: a second goes by without a pass (a loop woken by
    // its own work never has one).
    let passes = || {
        operator
            .metric(r#"kaltura_discord_operator_reconciles_total{result="ok"}"#)
            .unwrap_or_default()
    };
    let quiet = async {
        loop {
            let before = passes();
            tokio::time::sleep(Duration::from_secs(1)).await;
            if passes() == before {
                break;
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(15), quiet)
        .await
        .is_err()
    {
        let wakes: Vec<String> = operator
            .logged()
            .lines()
            .rev()
            .filter(|l| l.contains("woken_by") || l.contains("status written"))
            .take(20)
            .map(String::from)
            .collect();
        panic!(
            "passes without end; the log, last first:\n{}",
            wakes.join("\n")
        );
    }

    // The bot's /status: at once with its ETag; 304 for that tag, at once or after a wait.
    let (code, etag, report) = poll_status(&bot, None, None).await;
    assert_eq!(code, 200);
    let running = report.unwrap().revision;
    assert_eq!(poll_status(&bot, Some(&etag), None).await.0, 304);
    let held = std::time::Instant::now();
    let (code, same, _) = poll_status(&bot, Some(&etag), Some(1)).await;
    assert_eq!((code, same.as_str()), (304, etag.as_str()));
    assert!(
        held.elapsed() >= Duration::from_millis(900),
        "held {:?}",
        held.elapsed()
    );

    // The bot reads the new revision from the API; a long poll (like the operator's) returns
    // as soon as it runs it.
    let edited = std::time::Instant::now();
    kubectl.ok(&[
        "patch",
        "guildconfig",
        "physics-101",
        "-n",
        NS,
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"features":{"videoSearch":false}}}"#,
    ]);
    let changed = eventually("a new rendered revision", &log, || {
        rendered_config(&kubectl).filter(|c| c.revision != running)
    })
    .await;

    let mut etag = etag;
    let reported = loop {
        let (code, tag, report) = poll_status(&bot, Some(&etag), Some(30)).await;
        assert_eq!(code, 200, "the report changed within the wait");
        etag = tag;
        if report.unwrap().revision == changed.revision {
            break std::time::Instant::now();
        }
    };
    let shown = loop {
        let gc = kubectl
            .json(&["get", "guildconfig", "physics-101", "-n", NS])
            .unwrap();
        if gc["status"]["configRevision"]
            == changed
                .guild_revision(&outside.guild.id.to_string())
                .as_str()
        {
            break std::time::Instant::now();
        }
        assert!(
            edited.elapsed() < Duration::from_secs(10),
            "status never followed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let (to_report, to_status) = (reported - edited, shown - edited);
    eprintln!("edit to report {to_report:?}, edit to status {to_status:?} (kubectl included)");
    assert!(
        shown - reported < Duration::from_secs(1),
        "status followed the report after {:?}",
        shown - reported
    );
    assert!(
        to_status < Duration::from_secs(2),
        "edit to status {to_status:?}"
    );
    eventually("physics-101 Ready on the new revision", &log, || {
        let gc = kubectl.json(&["get", "guildconfig", "physics-101", "-n", NS])?;
        (condition(&gc, types::READY)?.0 == "True").then_some(())
    })
    .await;
}

//! The operator end to end: resources applied with kubectl to the Kubernetes sandbox, the
//! `kaltura-discord operator` process reconciling them, a bot process started from the
//! ConfigMap it renders (as the kubelet would mount it), and the status read back with kubectl.

use kd_controller::reconcile::conditions::{reasons, types};
use kd_core::command::Command as SlashCommand;
use kd_core::config::RuntimeConfig;
use kd_crds::LocalRef;
use kd_sandbox_kubernetes::{Config as KubeConfig, KubernetesSandbox};
use kd_testing::fixtures::{self, Fixture, NAMESPACE as NS};
use kd_testing::kubectl::Kubectl;
use kd_testing::process::Running;
use kd_tests::process::{Outside, WorkloadProcess};
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

/// An EndpointSlice for the bot Service, as Kubernetes makes one for a ready pod.
fn endpoint_slice(port: u16) -> String {
    format!(
        r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: campus-bot-bot-abcde
  namespace: {NS}
  labels: {{kubernetes.io/service-name: campus-bot-bot}}
addressType: IPv4
ports: [{{name: http, port: {port}, protocol: TCP}}]
endpoints: [{{addresses: ["127.0.0.1"], conditions: {{ready: true}}}}]
"#
    )
}

/// The operator process, logging to `dir/operator.log`.
fn operator(kubeconfig: &Path, dir: &Path) -> Running {
    let log = std::fs::File::create(dir.join("operator.log")).unwrap();
    Running::spawn(
        Command::new(BIN)
            .args([
                "operator",
                "--resync",
                "1s",
                "--log",
                "info,kd_controller=debug",
                "--listen",
            ])
            .arg(format!("127.0.0.1:{}", kd_testing::free_port()))
            .env("KUBECONFIG", kubeconfig)
            .stdout(log)
            .stderr(Stdio::inherit()),
    )
}

fn rendered_config(kubectl: &Kubectl) -> Option<RuntimeConfig> {
    let map = kubectl.json(&["get", "configmap", "campus-bot-config", "-n", NS])?;
    RuntimeConfig::from_json(map["data"]["config.json"].as_str()?).ok()
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
    let bot = WorkloadProcess::bot(
        BIN,
        &outside.discord,
        &outside.kaltura,
        &config,
        &[],
        Stdio::null(),
    );
    kubectl.apply(&endpoint_slice(bot.port));

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
    assert_eq!(
        physics["status"]["configRevision"],
        config.revision.as_str()
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

    // A spec change renders a new revision; once the mounted file follows, status follows.
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
    bot.write_config(&changed);
    eventually("status to follow the new revision", &log, || {
        let gc = kubectl.json(&["get", "guildconfig", "physics-101", "-n", NS])?;
        (gc["status"]["configRevision"] == changed.revision.as_str()
            && condition(&gc, types::READY)?.0 == "True")
            .then_some(())
    })
    .await;
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

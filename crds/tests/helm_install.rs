//! `helm install`, `helm upgrade` and `helm uninstall` of `charts/kaltura-discord` with the real
//! helm binary against the Kubernetes sandbox: the objects the API server ends up holding are
//! the ones `helm template` renders, upgrades add and prune what the values switch, uninstall
//! leaves only the CRDs, and a kind nobody installed is refused as a real cluster refuses it.

mod common;

use common::{chart, helm_bin, kubectl_bin, repo};
use kd_sandbox_kubernetes::{Config, KubernetesSandbox};
use serde::Deserialize;
use serde_json::Value;
use std::process::Command;
use tempfile::TempDir;

const RELEASE: &str = "kaltura-discord";
const NAMESPACE: &str = "kaltura-system";
const CRDS: [&str; 5] = [
    "discordapplications",
    "guildconfigs",
    "kalturapartners",
    "notificationrules",
    "rolemappings",
];

/// A sandbox with a kubeconfig, and helm and kubectl pointed at it only.
struct Cluster {
    sandbox: KubernetesSandbox,
    dir: TempDir,
}

impl Cluster {
    async fn start() -> Self {
        let sandbox = KubernetesSandbox::start(Config::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        sandbox
            .write_kubeconfig(dir.path().join("kubeconfig"))
            .unwrap();
        Self { sandbox, dir }
    }

    fn run(&self, mut command: Command, args: &[&str]) -> Result<String, String> {
        let home = self.dir.path();
        let out = command
            .args(args)
            .env("KUBECONFIG", home.join("kubeconfig"))
            .env("HOME", home)
            .env("HELM_CONFIG_HOME", home.join("helm/config"))
            .env("HELM_CACHE_HOME", home.join("helm/cache"))
            .env("HELM_DATA_HOME", home.join("helm/data"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(stdout + &String::from_utf8_lossy(&out.stderr))
        }
    }

    fn helm(&self, args: &[&str]) -> Result<String, String> {
        self.run(Command::new(helm_bin()), args)
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let mut command = Command::new(kubectl_bin());
        command
            .arg("--cache-dir")
            .arg(self.dir.path().join("kubectl-cache"));
        self.run(command, args)
            .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"))
    }

    /// Writes `values` to a file for `-f`.
    fn values(&self, name: &str, values: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, values).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// What `helm template` renders with these values.
    fn template(&self, values: &str) -> Vec<Value> {
        let chart = chart();
        let text = self
            .helm(&[
                "template",
                RELEASE,
                chart.to_str().unwrap(),
                "-n",
                NAMESPACE,
                "-f",
                values,
            ])
            .unwrap();
        serde_yaml_ng::Deserializer::from_str(&text)
            .map(|doc| Value::deserialize(doc).unwrap())
            .filter(|doc| !doc.is_null())
            .collect()
    }

    /// The stored object a rendered document stands for.
    fn stored(&self, doc: &Value) -> Option<Value> {
        let api_version = doc["apiVersion"].as_str().unwrap();
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        self.sandbox.object(
            group,
            doc["kind"].as_str().unwrap(),
            doc["metadata"]["namespace"].as_str().unwrap_or_default(),
            doc["metadata"]["name"].as_str().unwrap(),
        )
    }

    /// Every rendered object is stored with every rendered field (the server may add its own).
    fn assert_installed(&self, rendered: &[Value]) {
        for doc in rendered {
            let what = format!("{} {}", doc["kind"], doc["metadata"]["name"]);
            let stored = self
                .stored(doc)
                .unwrap_or_else(|| panic!("{what} is not in the cluster"));
            if let Err(diff) = contains(&stored, doc, "") {
                panic!("{what} differs from helm template at {diff}");
            }
        }
    }

    /// helm's release records: (secret name, status label), in revision order.
    fn releases(&self) -> Vec<(String, String)> {
        self.sandbox
            .objects("", "Secret")
            .into_iter()
            .filter(|s| s["type"] == "helm.sh/release.v1")
            .map(|s| {
                assert_eq!(s["metadata"]["namespace"], NAMESPACE);
                assert_eq!(s["metadata"]["labels"]["owner"], "helm");
                (
                    s["metadata"]["name"].as_str().unwrap().to_owned(),
                    s["metadata"]["labels"]["status"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            })
            .collect()
    }
}

/// `Ok` when `actual` holds everything in `wanted` (objects: their keys; lists: item by item).
fn contains(actual: &Value, wanted: &Value, path: &str) -> Result<(), String> {
    match (actual, wanted) {
        (Value::Object(actual), Value::Object(wanted)) => {
            for (key, value) in wanted {
                let here = format!("{path}.{key}");
                contains(actual.get(key).unwrap_or(&Value::Null), value, &here)?;
            }
            Ok(())
        }
        (Value::Array(actual), Value::Array(wanted)) if actual.len() == wanted.len() => actual
            .iter()
            .zip(wanted)
            .enumerate()
            .try_for_each(|(i, (a, w))| contains(a, w, &format!("{path}[{i}]"))),
        _ if actual == wanted => Ok(()),
        _ => Err(format!("{path}: stored {actual}, rendered {wanted}")),
    }
}

fn established(cluster: &Cluster, crd: &str) -> bool {
    cluster
        .sandbox
        .object("apiextensions.k8s.io", "CustomResourceDefinition", "", crd)
        .and_then(|c| c["status"]["conditions"].as_array().cloned())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c["type"] == "Established" && c["status"] == "True")
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_installs_upgrades_and_uninstalls_the_chart() {
    let cluster = Cluster::start().await;
    let chart = chart();
    let chart = chart.to_str().unwrap();
    let defaults = cluster.values("defaults.yaml", "{}\n");
    let monitored = cluster.values(
        "monitored.yaml",
        "watchNamespace: kaltura\nlogLevel: debug\nmetrics: {serviceMonitor: {enabled: true}}\n",
    );

    // ServiceMonitor is no built-in kind: without its CRD the install stops before creating
    // anything of the release, with the message a real API server's discovery leads to.
    let err = cluster
        .helm(&[
            "install",
            RELEASE,
            chart,
            "-n",
            NAMESPACE,
            "--create-namespace",
            "-f",
            &monitored,
        ])
        .unwrap_err();
    assert!(
        err.contains(
            r#"no matches for kind "ServiceMonitor" in version "monitoring.coreos.com/v1""#
        ),
        "{err}"
    );
    assert!(cluster.releases().is_empty());

    let out = cluster
        .helm(&[
            "install",
            RELEASE,
            chart,
            "-n",
            NAMESPACE,
            "--create-namespace",
            "-f",
            &defaults,
        ])
        .unwrap();
    assert!(out.contains("STATUS: deployed"), "{out}");
    let first = cluster.template(&defaults);
    let kinds: Vec<&str> = first.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    for kind in [
        "ClusterRole",
        "ClusterRoleBinding",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ] {
        assert!(kinds.contains(&kind), "{kind} rendered: {kinds:?}");
    }
    cluster.assert_installed(&first);
    for crd in CRDS {
        assert!(established(&cluster, &format!("{crd}.kaltura-discord.io")));
    }
    assert_eq!(
        cluster.releases(),
        [(
            "sh.helm.release.v1.kaltura-discord.v1".into(),
            "deployed".into()
        )]
    );
    let listed = cluster.helm(&["list", "-n", NAMESPACE]).unwrap();
    assert!(listed.contains("deployed"), "{listed}");
    // kubectl finds the chart's RBAC through discovery, by short and full names.
    let roles = cluster.kubectl(&[
        "get",
        "clusterroles.rbac.authorization.k8s.io",
        "-o",
        "name",
    ]);
    assert_eq!(
        roles.trim(),
        "clusterrole.rbac.authorization.k8s.io/kaltura-discord"
    );

    // Upgrade into one watched namespace, with a ServiceMonitor now that its CRD exists.
    let monitor_crd = repo().join("crds/tests/fixtures/servicemonitors.monitoring.coreos.com.yaml");
    cluster.kubectl(&["apply", "-f", monitor_crd.to_str().unwrap()]);
    cluster.kubectl(&["create", "namespace", "kaltura"]);
    cluster
        .helm(&["upgrade", RELEASE, chart, "-n", NAMESPACE, "-f", &monitored])
        .unwrap();
    let second = cluster.template(&monitored);
    cluster.assert_installed(&second);
    let role = cluster
        .sandbox
        .object("rbac.authorization.k8s.io", "Role", "kaltura", RELEASE)
        .expect("the Role in the watched namespace");
    assert_eq!(
        role["rules"],
        second
            .iter()
            .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == RELEASE)
            .unwrap()["rules"]
    );
    for pruned in ["ClusterRole", "ClusterRoleBinding"] {
        let left = cluster.sandbox.objects("rbac.authorization.k8s.io", pruned);
        assert!(left.is_empty(), "{pruned} pruned by the upgrade: {left:?}");
    }
    assert_eq!(
        cluster.releases(),
        [
            (
                "sh.helm.release.v1.kaltura-discord.v1".into(),
                "superseded".into()
            ),
            (
                "sh.helm.release.v1.kaltura-discord.v2".into(),
                "deployed".into()
            ),
        ]
    );

    let out = cluster
        .helm(&["uninstall", RELEASE, "-n", NAMESPACE])
        .unwrap();
    assert!(out.contains("uninstalled"), "{out}");
    for doc in first.iter().chain(&second) {
        assert!(
            cluster.stored(doc).is_none(),
            "{} {} is left after uninstall",
            doc["kind"],
            doc["metadata"]["name"]
        );
    }
    assert!(cluster.releases().is_empty());
    // helm never deletes CRDs (nor, with them, anyone's resources).
    for crd in CRDS {
        assert!(established(&cluster, &format!("{crd}.kaltura-discord.io")));
    }
}

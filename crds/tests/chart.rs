//! The Helm chart `charts/kaltura-discord`, checked with the real `helm` (v4, installed by
//! `.ci/setup.d/helm.sh`) and Kubernetes' own JSON schemas (`kubernetes-validate`, from
//! `.ci/setup.d/00-python.sh`): it lints strictly, renders the operator contract (args, env,
//! ports, probes, security), grants exactly the RBAC the operator needs, rejects misspelt or
//! mistyped values through `values.schema.json`, and every object it renders is valid.

use serde::Deserialize;
use serde_yaml_ng::Value;
use std::io::Write;
use std::process::{Command, Stdio};

mod common;

use common::{chart, helm_bin, repo, tools};

const RELEASE: &str = "kaltura-discord";
const NAMESPACE: &str = "kaltura-system";
const IMAGE: &str = "ghcr.io/kaltura-discord/kaltura-discord";

/// Runs helm with `values` (YAML) on stdin as `-f -`; Ok(stdout) or Err(stdout + stderr).
fn helm(args: &[&str], values: &str) -> Result<String, String> {
    let mut child = Command::new(helm_bin())
        .args(args)
        .args(["-f", "-"])
        // Keep helm away from the developer's kubeconfig and helm settings.
        .env("KUBECONFIG", "/nonexistent")
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("kd-helm-config"),
        )
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("kd-helm-cache"),
        )
        .env("HELM_DATA_HOME", std::env::temp_dir().join("kd-helm-data"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(values.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(stdout + &String::from_utf8_lossy(&out.stderr))
    }
}

fn template_text(values: &str, extra: &[&str]) -> Result<String, String> {
    let chart = chart();
    let mut args = vec![
        "template",
        RELEASE,
        chart.to_str().unwrap(),
        "-n",
        NAMESPACE,
    ];
    args.extend_from_slice(extra);
    helm(&args, values)
}

fn parse(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The objects `helm template` renders with these values (panics with helm's message on error).
fn render(values: &str) -> Vec<Value> {
    parse(&template_text(values, &[]).unwrap_or_else(|e| panic!("helm template failed: {e}")))
}

fn kinds(docs: &[Value]) -> Vec<String> {
    let mut kinds: Vec<String> = docs.iter().map(|d| s(&d["kind"]).to_owned()).collect();
    kinds.sort();
    kinds
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, got {}", found.len());
    found[0]
}

fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v:?}"))
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

fn container(docs: &[Value]) -> &Value {
    let containers = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
        .as_sequence()
        .unwrap();
    assert_eq!(containers.len(), 1);
    &containers[0]
}

fn args(docs: &[Value]) -> Vec<String> {
    container(docs)["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| s(a).to_owned())
        .collect()
}

fn env<'a>(docs: &'a [Value], name: &str) -> &'a Value {
    container(docs)["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("env {name} is missing"))
}

fn workspace_version() -> String {
    let cargo = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let section = cargo
        .split("[workspace.package]")
        .nth(1)
        .expect("[workspace.package] in Cargo.toml");
    let line = section
        .lines()
        .find(|l| l.trim_start().starts_with("version"))
        .expect("workspace.package.version");
    line.split('"').nth(1).unwrap().to_owned()
}

/// The RBAC the operator needs, exactly; the chart must grant no more and no less.
const RULES: &str = r#"
- apiGroups: [kaltura-discord.io]
  resources: [kalturapartners, discordapplications, guildconfigs, rolemappings, notificationrules]
  verbs: [get, list, watch]
- apiGroups: [kaltura-discord.io]
  resources: [kalturapartners/status, discordapplications/status, guildconfigs/status, rolemappings/status, notificationrules/status]
  verbs: [get, patch, update]
- apiGroups: [kaltura-discord.io]
  resources: [discordapplications, guildconfigs]
  verbs: [patch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [configmaps, services]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list, watch, create, patch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, list, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
"#;

/// The leader Lease, in the release namespace only.
const LEASE_RULES: &str = "[{apiGroups: [coordination.k8s.io], resources: [leases], verbs: [get, create, patch, update]}]";

/// The Role (and binding) of kind `kind` named `name`.
fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    let found: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .collect();
    assert_eq!(found.len(), 1, "expected one {kind} {name}");
    found[0]
}

/// The leader-election Role and its binding: Leases in the release namespace, nothing else.
fn assert_lease_role(docs: &[Value]) {
    let name = format!("{RELEASE}-leader-election");
    let role = named(docs, "Role", &name);
    assert_eq!(role["metadata"]["namespace"], NAMESPACE);
    assert_eq!(role["rules"], yaml(LEASE_RULES));
    let binding = named(docs, "RoleBinding", &name);
    assert_eq!(binding["metadata"]["namespace"], NAMESPACE);
    assert_eq!(binding["roleRef"]["name"], name.as_str());
    assert_eq!(
        binding["subjects"],
        yaml("[{kind: ServiceAccount, name: kaltura-discord, namespace: kaltura-system}]")
    );
}

#[test]
fn helm_lint_strict_passes() {
    let chart = chart();
    for values in [
        "",
        "watchNamespace: kaltura\nmetrics: {serviceMonitor: {enabled: true}}\n",
        "rbac: {create: false}\nserviceAccount: {create: false, name: existing}\n",
    ] {
        let out = helm(&["lint", "--strict", chart.to_str().unwrap()], values)
            .unwrap_or_else(|e| panic!("helm lint --strict failed with values {values:?}: {e}"));
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
}

#[test]
fn lint_fails_on_a_broken_template() {
    // The tests can fail: a copy of the chart with a template error must not lint.
    let dir = std::env::temp_dir().join(format!("kd-chart-{}", std::process::id()));
    let copy = dir.join("kaltura-discord");
    std::fs::create_dir_all(copy.join("templates")).unwrap();
    for file in ["Chart.yaml", "values.yaml", "values.schema.json"] {
        std::fs::copy(chart().join(file), copy.join(file)).unwrap();
    }
    std::fs::write(
        copy.join("templates/broken.yaml"),
        "kind: ConfigMap\n{{ .Values.nope.deeper }}\n",
    )
    .unwrap();
    let result = helm(&["lint", "--strict", copy.to_str().unwrap()], "");
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(result.is_err(), "a broken template linted: {result:?}");
}

#[test]
fn default_values_render_the_operator_objects() {
    let docs = render("");
    assert_eq!(
        kinds(&docs),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "Deployment",
            "PodDisruptionBudget",
            "Role",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
    );
    assert_lease_role(&docs);
    let budget = one(&docs, "PodDisruptionBudget");
    assert_eq!(budget["spec"]["maxUnavailable"], 1);
    assert_eq!(
        budget["spec"]["selector"],
        one(&docs, "Deployment")["spec"]["selector"]
    );
    for doc in &docs {
        let kind = s(&doc["kind"]);
        let meta = &doc["metadata"];
        let labels = &meta["labels"];
        for (key, value) in [
            ("app.kubernetes.io/name", "kaltura-discord"),
            ("app.kubernetes.io/instance", RELEASE),
            ("app.kubernetes.io/component", "operator"),
            ("app.kubernetes.io/part-of", "kaltura-discord"),
            ("app.kubernetes.io/managed-by", "Helm"),
        ] {
            assert_eq!(labels[key], value, "{kind}: label {key}");
        }
        assert_eq!(
            labels["app.kubernetes.io/version"],
            workspace_version().as_str(),
            "{kind}"
        );
        assert!(s(&labels["helm.sh/chart"]).starts_with("kaltura-discord-"));
        if kind.starts_with("Cluster") {
            assert!(meta["namespace"].is_null(), "{kind} is cluster-scoped");
        } else {
            assert_eq!(meta["namespace"], NAMESPACE, "{kind}");
        }
    }
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(sa["metadata"]["name"], RELEASE);
    let binding = one(&docs, "ClusterRoleBinding");
    assert_eq!(
        binding["roleRef"],
        yaml("{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: kaltura-discord}")
    );
    assert_eq!(
        binding["subjects"],
        yaml("[{kind: ServiceAccount, name: kaltura-discord, namespace: kaltura-system}]")
    );
    assert_eq!(one(&docs, "ClusterRole")["metadata"]["name"], RELEASE);
}

#[test]
fn the_operator_container_follows_the_contract() {
    let docs = render("");
    let version = workspace_version();
    let image = format!("{IMAGE}:{version}");
    let deployment = one(&docs, "Deployment");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2, "a leader and a stand-by");
    assert_eq!(
        spec["strategy"],
        yaml("{type: RollingUpdate, rollingUpdate: {maxUnavailable: 0, maxSurge: 1}}")
    );
    let selector = yaml(
        "{app.kubernetes.io/name: kaltura-discord, app.kubernetes.io/instance: kaltura-discord, \
         app.kubernetes.io/component: operator}",
    );
    assert_eq!(spec["selector"]["matchLabels"], selector);
    let pod = &spec["template"];
    for (key, value) in selector.as_mapping().unwrap() {
        assert_eq!(&pod["metadata"]["labels"][key], value, "pod label {key:?}");
    }
    let pod_spec = &pod["spec"];
    assert_eq!(pod_spec["serviceAccountName"], RELEASE);
    assert_eq!(pod_spec["automountServiceAccountToken"], true);
    assert_eq!(pod_spec["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod_spec["securityContext"]["runAsUser"], 65532);
    assert_eq!(
        pod_spec["securityContext"]["seccompProfile"],
        yaml("{type: RuntimeDefault}")
    );
    for absent in [
        "nodeSelector",
        "tolerations",
        "affinity",
        "imagePullSecrets",
        "priorityClassName",
    ] {
        assert!(pod_spec[absent].is_null(), "{absent} rendered by default");
    }

    let c = container(&docs);
    assert_eq!(c["image"], image.as_str());
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(
        args(&docs),
        [
            "operator",
            "--listen",
            "0.0.0.0:8080",
            "--log-format",
            "json",
            "--lease-duration",
            "15s"
        ]
    );
    assert_eq!(env(&docs, "RUST_LOG")["value"], "info");
    assert_eq!(
        env(&docs, "KD_POD_NAME")["valueFrom"],
        yaml("{fieldRef: {fieldPath: metadata.name}}")
    );
    assert_eq!(env(&docs, "KD_WORKLOAD_IMAGE")["value"], image.as_str());
    assert_eq!(
        env(&docs, "KD_POD_NAMESPACE")["valueFrom"],
        yaml("{fieldRef: {fieldPath: metadata.namespace}}")
    );
    assert_eq!(
        c["ports"],
        yaml("[{name: http, containerPort: 8080, protocol: TCP}]")
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        yaml("{path: /healthz, port: http}")
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        yaml("{path: /readyz, port: http}")
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"], yaml("{drop: [ALL]}"));
    assert!(c["resources"]["requests"]["memory"].is_string());

    let service = one(&docs, "Service");
    assert_eq!(service["spec"]["type"], "ClusterIP");
    assert_eq!(service["spec"]["selector"], selector);
    assert_eq!(
        service["spec"]["ports"],
        yaml("[{name: http, port: 8080, targetPort: http, protocol: TCP}]")
    );
}

#[test]
fn rbac_rules_are_exactly_what_the_operator_needs() {
    let docs = render("");
    assert_eq!(one(&docs, "ClusterRole")["rules"], yaml(RULES));
}

#[test]
fn watch_namespace_uses_a_role_in_that_namespace() {
    let docs = render("watchNamespace: campus\n");
    assert_eq!(
        kinds(&docs),
        [
            "Deployment",
            "PodDisruptionBudget",
            "Role",
            "Role",
            "RoleBinding",
            "RoleBinding",
            "Service",
            "ServiceAccount"
        ]
    );
    assert_lease_role(&docs);
    let role = named(&docs, "Role", RELEASE);
    assert_eq!(role["metadata"]["namespace"], "campus");
    assert_eq!(role["rules"], yaml(RULES));
    let binding = named(&docs, "RoleBinding", RELEASE);
    assert_eq!(binding["metadata"]["namespace"], "campus");
    assert_eq!(
        binding["roleRef"],
        yaml("{apiGroup: rbac.authorization.k8s.io, kind: Role, name: kaltura-discord}")
    );
    // The ServiceAccount stays in the release namespace.
    assert_eq!(
        binding["subjects"],
        yaml("[{kind: ServiceAccount, name: kaltura-discord, namespace: kaltura-system}]")
    );
    assert_eq!(
        args(&docs),
        [
            "operator",
            "--listen",
            "0.0.0.0:8080",
            "--log-format",
            "json",
            "--lease-duration",
            "15s",
            "--namespace",
            "campus"
        ]
    );
}

#[test]
fn service_monitor_only_when_enabled() {
    assert!(!kinds(&render("")).contains(&"ServiceMonitor".to_owned()));
    let docs = render(
        "metrics:\n  serviceMonitor:\n    enabled: true\n    interval: 15s\n    \
         labels: {release: prometheus}\n",
    );
    let monitor = one(&docs, "ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(monitor["metadata"]["namespace"], NAMESPACE);
    assert_eq!(monitor["metadata"]["labels"]["release"], "prometheus");
    assert_eq!(
        monitor["spec"]["endpoints"],
        yaml("[{port: http, path: /metrics, interval: 15s}]")
    );
    assert_eq!(
        monitor["spec"]["namespaceSelector"],
        yaml("{matchNames: [kaltura-system]}")
    );
    // It selects the metrics Service.
    let service_labels = &one(&docs, "Service")["metadata"]["labels"];
    for (key, value) in monitor["spec"]["selector"]["matchLabels"]
        .as_mapping()
        .unwrap()
    {
        assert_eq!(&service_labels[key], value, "{key:?}");
    }
}

#[test]
fn pod_settings_come_from_values() {
    let docs = render(
        r#"
image: {repository: registry.example/kd, tag: "1.2", pullPolicy: Always}
imagePullSecrets: [{name: regcred}]
logLevel: debug,kd_controller=trace
logFormat: text
nodeSelector: {kubernetes.io/os: linux}
tolerations: [{key: dedicated, operator: Equal, value: ops, effect: NoSchedule}]
affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: zone, operator: In, values: [a]}]}]}}}
podAnnotations: {example.com/note: hi}
podLabels: {team: video, app.kubernetes.io/name: hijack}
priorityClassName: system-cluster-critical
resources: {limits: {cpu: "1", memory: 1Gi}}
serviceAccount: {name: kd-operator, annotations: {example.com/role: operator}}
"#,
    );
    let c = container(&docs);
    assert_eq!(c["image"], "registry.example/kd:1.2");
    assert_eq!(c["imagePullPolicy"], "Always");
    assert_eq!(
        env(&docs, "KD_WORKLOAD_IMAGE")["value"],
        "registry.example/kd:1.2"
    );
    assert_eq!(env(&docs, "RUST_LOG")["value"], "debug,kd_controller=trace");
    assert_eq!(args(&docs)[4], "text");
    // Helm merges maps with the defaults: the default requests stay.
    assert_eq!(
        c["resources"],
        yaml("{limits: {cpu: '1', memory: 1Gi}, requests: {cpu: 50m, memory: 64Mi}}")
    );
    let pod = &one(&docs, "Deployment")["spec"]["template"];
    let spec = &pod["spec"];
    assert_eq!(spec["imagePullSecrets"], yaml("[{name: regcred}]"));
    assert_eq!(spec["nodeSelector"], yaml("{kubernetes.io/os: linux}"));
    assert_eq!(spec["tolerations"][0]["key"], "dedicated");
    assert_eq!(
        spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            [0]["matchExpressions"][0]["key"],
        "zone"
    );
    assert_eq!(spec["priorityClassName"], "system-cluster-critical");
    assert_eq!(spec["serviceAccountName"], "kd-operator");
    assert_eq!(pod["metadata"]["annotations"]["example.com/note"], "hi");
    assert_eq!(pod["metadata"]["labels"]["team"], "video");
    // podLabels cannot break the selector.
    assert_eq!(
        pod["metadata"]["labels"]["app.kubernetes.io/name"],
        "kaltura-discord"
    );
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(sa["metadata"]["name"], "kd-operator");
    assert_eq!(
        sa["metadata"]["annotations"]["example.com/role"],
        "operator"
    );
    assert_eq!(
        one(&docs, "ClusterRoleBinding")["subjects"][0]["name"],
        "kd-operator"
    );
    assert_eq!(
        one(&docs, "Deployment")["metadata"]["labels"]["app.kubernetes.io/version"],
        "1.2"
    );
}

#[test]
fn without_rbac_and_service_account_creation_only_the_workload_renders() {
    let docs = render(
        "rbac: {create: false}\nserviceAccount: {create: false, name: existing}\nreplicaCount: 1\n",
    );
    assert_eq!(kinds(&docs), ["Deployment", "Service"]);
    assert_eq!(
        one(&docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"],
        "existing"
    );
    let err = template_text("serviceAccount: {create: false}\n", &[]).unwrap_err();
    assert!(err.contains("serviceAccount.name is required"), "{err}");
}

#[test]
fn bad_values_fail_with_the_schema_message() {
    for (values, message) in [
        (
            "imagee: {tag: v1}\n",
            "additional properties 'imagee' not allowed",
        ),
        (
            "image: {tagg: v1}\n",
            "additional properties 'tagg' not allowed",
        ),
        (
            "metrics: {serviceMonitor: {enable: true}}\n",
            "additional properties 'enable' not allowed",
        ),
        ("logFormat: xml\n", "'/logFormat': value must be one of"),
        ("image: {tag: 5}\n", "'/image/tag': got number, want string"),
        ("watchNamespace: Not_A_Namespace\n", "'/watchNamespace'"),
        ("image: {pullPolicy: Sometimes}\n", "'/image/pullPolicy'"),
        ("replicaCount: 0\n", "'/replicaCount'"),
        (
            "leaderElection: {leaseDuration: 15}\n",
            "'/leaderElection/leaseDuration'",
        ),
        (
            "metrics: {prometheusRule: {runbookUrl: docs/operations.md}}\n",
            "'/metrics/prometheusRule/runbookUrl'",
        ),
    ] {
        let err = template_text(values, &[])
            .expect_err(&format!("values {values:?} rendered without error"));
        assert!(
            err.contains("values don't meet the specifications of the schema"),
            "{values:?}: {err}"
        );
        assert!(
            err.contains(message),
            "{values:?}: expected {message:?} in {err}"
        );
    }
}

#[test]
fn rendered_objects_pass_kubernetes_validate() {
    let venv_tool = tools().join("venv/bin/kubernetes-validate");
    assert!(
        venv_tool.exists(),
        "{} is missing: run .ci/setup (or `KD_TOOLS=$PWD/target/tools bash .ci/setup.d/00-python.sh`)",
        venv_tool.display()
    );
    let dir = std::env::temp_dir().join(format!("kd-chart-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, values) in [
        "",
        "watchNamespace: campus\nmetrics: {serviceMonitor: {enabled: true}, prometheusRule: {enabled: true}, dashboard: {enabled: true}}\n",
        "imagePullSecrets: [{name: regcred}]\npodAnnotations: {a: b}\npodLabels: {c: d}\n\
         nodeSelector: {kubernetes.io/os: linux}\npriorityClassName: high\n\
         tolerations: [{key: k, operator: Exists}]\n\
         metrics: {service: {type: NodePort, port: 9090, annotations: {a: b}}}\n",
    ]
    .iter()
    .enumerate()
    {
        // ServiceMonitor and PrometheusRule are not built-in kinds: kubernetes-validate has no
        // schema for them (their shape is asserted in `service_monitor_only_when_enabled` and
        // `alerts_link_their_runbooks_and_use_metrics_the_code_exports`).
        let docs: Vec<Value> = render(values)
            .into_iter()
            .filter(|d| d["kind"] != "ServiceMonitor" && d["kind"] != "PrometheusRule")
            .collect();
        let file = dir.join(format!("rendered-{i}.yaml"));
        let text: String = docs
            .iter()
            .map(|d| format!("---\n{}", serde_yaml_ng::to_string(d).unwrap()))
            .collect();
        std::fs::write(&file, text).unwrap();
        let out = Command::new(&venv_tool)
            .arg("--strict")
            .arg(&file)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "values {values:?}: {log}");
        assert_eq!(
            log.matches(" passed for resource ").count(),
            docs.len(),
            "values {values:?}: {log}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kubernetes_validate_catches_a_bad_rendered_object() {
    // The validation step above can fail: a misspelt field in a rendered Deployment is rejected.
    let venv_tool = tools().join("venv/bin/kubernetes-validate");
    assert!(
        venv_tool.exists(),
        "{} is missing: run .ci/setup",
        venv_tool.display()
    );
    let text = template_text("", &["-s", "templates/deployment.yaml"])
        .unwrap()
        .replace("readinessProbe:", "readynessProbe:");
    let file = std::env::temp_dir().join(format!("kd-chart-bad-{}.yaml", std::process::id()));
    std::fs::write(&file, text).unwrap();
    let out = Command::new(&venv_tool)
        .arg("--strict")
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    assert!(!out.status.success(), "a misspelt probe passed validation");
}

#[test]
fn include_crds_renders_the_five_crds() {
    let docs = parse(&template_text("", &["--include-crds"]).unwrap());
    let mut crds: Vec<&str> = docs
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .map(|d| s(&d["metadata"]["name"]))
        .collect();
    crds.sort();
    assert_eq!(
        crds,
        [
            "discordapplications.kaltura-discord.io",
            "guildconfigs.kaltura-discord.io",
            "kalturapartners.kaltura-discord.io",
            "notificationrules.kaltura-discord.io",
            "rolemappings.kaltura-discord.io",
        ]
    );
    // Without the flag they stay out (helm installs them itself, once; see docs/helm.md).
    assert!(!kinds(&render("")).contains(&"CustomResourceDefinition".to_owned()));
}

#[test]
fn chart_app_version_is_the_workspace_version() {
    let chart: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(chart().join("Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(
        s(&chart["appVersion"]),
        workspace_version(),
        "Chart.yaml appVersion must equal the workspace version in Cargo.toml"
    );
}

#[test]
fn install_notes_say_what_to_do_next() {
    let chart = chart();
    let out = helm(
        &[
            "install",
            "kd",
            chart.to_str().unwrap(),
            "-n",
            NAMESPACE,
            "--dry-run=client",
        ],
        "",
    )
    .unwrap();
    let notes = out
        .split("NOTES:")
        .nth(1)
        .expect("NOTES in helm install output");
    for needle in [
        "create secret generic",
        "adminSecret=",
        "botToken=",
        "KalturaPartner",
        "DiscordApplication",
        "GuildConfig",
        "get guildconfigs",
        "get lease kaltura-discord-operator",
        "events --for",
        "kubectl apply -f charts/kaltura-discord/crds/",
    ] {
        assert!(notes.contains(needle), "NOTES lack {needle:?}:\n{notes}");
    }
}

/// Every value the schema owns appears in docs/helm.md's values table.
#[test]
fn docs_list_every_value() {
    fn leaves(schema: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        for (key, sub) in schema["properties"].as_object().unwrap() {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            if sub["additionalProperties"] == false && sub.get("properties").is_some() {
                leaves(sub, &path, out);
            } else if path != "global" {
                out.push(path);
            }
        }
    }
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(chart().join("values.schema.json")).unwrap())
            .unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(schema["additionalProperties"], false);
    let mut paths = Vec::new();
    leaves(&schema, "", &mut paths);
    assert!(paths.len() > 20, "{paths:?}");
    let docs = std::fs::read_to_string(repo().join("docs/helm.md")).unwrap();
    let values = std::fs::read_to_string(chart().join("values.yaml")).unwrap();
    for path in paths {
        assert!(
            docs.contains(&format!("| `{path}` |")),
            "docs/helm.md has no row for `{path}`"
        );
        let last = path.rsplit('.').next().unwrap();
        assert!(
            values.contains(&format!("{last}:")),
            "values.yaml does not set `{path}`"
        );
    }
}

/// Every metric name the code registers: `<prefix>_<name>` of each `Registry::with_prefix`
/// and `register("name", ...)` in the crates that serve `/metrics`, a sub-registry's prefix
/// in between where one is used.
fn exported_metrics() -> Vec<String> {
    let quoted = |text: &str, call: &str| -> Vec<String> {
        text.match_indices(call)
            .filter_map(|(at, _)| {
                let rest = text[at + call.len()..].trim_start();
                let rest = rest.strip_prefix('"')?;
                Some(rest[..rest.find('"')?].to_owned())
            })
            .collect()
    };
    let mut prefixes = Vec::new();
    let mut subs = vec![String::new()];
    let mut names = Vec::new();
    for dir in ["bot/src", "activity/src", "controller/src"] {
        let mut stack = vec![repo().join(dir)];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                prefixes.extend(quoted(&text, "Registry::with_prefix("));
                subs.extend(
                    quoted(&text, "sub_registry_with_prefix(")
                        .into_iter()
                        .map(|s| format!("{s}_")),
                );
                names.extend(quoted(&text, ".register("));
            }
        }
    }
    let mut all = Vec::new();
    for prefix in prefixes.iter().filter(|p| p.starts_with("kaltura_discord")) {
        for sub in &subs {
            for name in &names {
                all.push(format!("{prefix}_{sub}{name}"));
            }
        }
    }
    all
}

/// The `kaltura_discord_*` metric names an expression uses, without the series suffixes
/// Prometheus adds to counters and histograms.
fn metrics_in(expr: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("kaltura_discord_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        let base = ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name)
            .to_owned();
        found.push(base);
    }
    found
}

#[test]
fn alerts_link_their_runbooks_and_use_metrics_the_code_exports() {
    assert!(!kinds(&render("")).contains(&"PrometheusRule".to_owned()));
    let docs =
        render("metrics: {prometheusRule: {enabled: true, labels: {release: prometheus}}}\n");
    let rule = one(&docs, "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["labels"]["release"], "prometheus");
    let rules = rule["spec"]["groups"][0]["rules"].as_sequence().unwrap();
    let alerts: Vec<&str> = rules.iter().map(|r| s(&r["alert"])).collect();
    assert_eq!(
        alerts,
        [
            "KalturaDiscordOperatorDown",
            "KalturaDiscordReconcileErrors",
            "KalturaDiscordBotDisconnected",
            "KalturaDiscordRegistrationsFailing",
            "KalturaDiscordNotificationBacklog",
            "KalturaDiscordActivityUnavailable",
        ]
    );
    let operations = std::fs::read_to_string(repo().join("docs/operations.md")).unwrap();
    let exported = exported_metrics();
    for r in rules {
        let alert = s(&r["alert"]);
        // GitHub's anchor of the `### <alert>` heading in docs/operations.md.
        let runbook = s(&r["annotations"]["runbook_url"]);
        assert_eq!(
            runbook,
            format!(
                "https://github.com/kaltura-discord/kaltura-discord/blob/main/docs/operations.md#{}",
                alert.to_lowercase()
            )
        );
        assert!(
            operations.contains(&format!("\n### {alert}\n")),
            "docs/operations.md has no runbook section for {alert}"
        );
        let expr = s(&r["expr"]);
        assert!(!metrics_in(expr).is_empty(), "{alert}: {expr}");
        for metric in metrics_in(expr) {
            assert!(
                exported.contains(&metric),
                "{alert} uses {metric}, which no code exports"
            );
        }
        assert!(["critical", "warning"].contains(&s(&r["labels"]["severity"])));
    }
    // The check can fail: a made-up name is not among the exported ones.
    assert!(!exported.contains(&"kaltura_discord_operator_nonsense".to_owned()));
}

#[test]
fn the_dashboard_is_a_configmap_for_the_grafana_sidecar() {
    assert!(!kinds(&render("")).contains(&"ConfigMap".to_owned()));
    let docs =
        render("metrics: {dashboard: {enabled: true, annotations: {grafana_folder: Kaltura}}}\n");
    let map = one(&docs, "ConfigMap");
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(map["metadata"]["annotations"]["grafana_folder"], "Kaltura");
    let dashboard: serde_json::Value =
        serde_json::from_str(s(&map["data"]["kaltura-discord.json"])).unwrap();
    assert_eq!(dashboard["uid"], "kaltura-discord");
    let panels = dashboard["panels"].as_array().unwrap();
    let titles: Vec<&str> = panels
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for topic in [
        "Interactions",
        "latency",
        "registrations",
        "Notifications",
        "Watch Together",
        "Reconciles",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(topic)),
            "no panel about {topic}: {titles:?}"
        );
    }
    let exported = exported_metrics();
    for panel in panels {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for metric in metrics_in(expr) {
                assert!(
                    exported.contains(&metric),
                    "panel {:?} uses {metric}, which no code exports",
                    panel["title"]
                );
            }
        }
    }
}

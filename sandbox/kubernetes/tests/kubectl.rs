//! The real kubectl (v1.32) against the sandbox.
mod common;

use common::{Cluster, fixture};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crds_are_served_with_names_short_names_and_categories() {
    let cluster = Cluster::start().await;
    cluster.apply_crds().await;
    let resources = cluster
        .ok(&["api-resources", "--api-group=kaltura-discord.io"])
        .await;
    for line in [
        "guildconfigs",
        "gc",
        "kaltura-discord.io/v1alpha1",
        "true",
        "GuildConfig",
    ] {
        assert!(resources.contains(line), "{line} missing in\n{resources}");
    }
    let by_category = cluster
        .ok(&[
            "api-resources",
            "--categories=kaltura-discord",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(by_category.lines().count(), 5, "{by_category}");
    cluster.ok(&["create", "namespace", "kaltura"]).await;
    let physics = fixture("examples/guilds/physics-101.yaml");
    cluster
        .ok(&["apply", "-f", physics.to_str().unwrap()])
        .await;
    let short = cluster
        .ok(&["get", "gc", "-n", "kaltura", "-o", "name"])
        .await;
    assert_eq!(short.trim(), "guildconfig.kaltura-discord.io/physics-101");
    let all = cluster
        .ok(&["get", "kaltura-discord", "-n", "kaltura", "-o", "name"])
        .await;
    assert!(
        all.contains("rolemapping.kaltura-discord.io/physics-101"),
        "{all}"
    );
    assert!(
        all.contains("notificationrule.kaltura-discord.io/physics-101-recordings"),
        "{all}"
    );
}

/// A GuildConfig with a given guild id, as YAML for `kubectl apply -f`.
fn guild(dir: &std::path::Path, name: &str, guild_id: &str) -> String {
    let path = dir.join(format!("{name}.yaml"));
    std::fs::write(
        &path,
        format!(
            "apiVersion: kaltura-discord.io/v1alpha1\nkind: GuildConfig\nmetadata:\n  name: {name}\n  labels: {{tier: course}}\nspec:\n  applicationRef: {{name: campus-bot}}\n  guildId: \"{guild_id}\"\n"
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_apply_client_side_then_server_side() {
    let cluster = Cluster::start().await;
    cluster.apply_crds().await;
    cluster.ok(&["create", "namespace", "kaltura"]).await;
    let examples = fixture("examples");
    let examples = examples.to_str().unwrap();
    let first = cluster.ok(&["apply", "-R", "-f", examples]).await;
    assert!(
        first.contains("guildconfig.kaltura-discord.io/physics-101 created"),
        "{first}"
    );
    assert!(first.contains("secret/kaltura-campus created"), "{first}");
    let second = cluster.ok(&["apply", "-R", "-f", examples]).await;
    // Secrets say "configured" again, as on a real cluster: their write-only stringData is
    // never in the live object, so kubectl's three-way patch always re-sends it.
    assert!(
        second
            .lines()
            .filter(|l| !l.starts_with("secret/"))
            .all(|l| l.ends_with(" unchanged")),
        "second apply changed something:\n{second}"
    );
    assert_eq!(second.lines().count(), 10, "{second}");
    let guilds = fixture("examples/guilds");
    let server_side = cluster
        .ok(&[
            "apply",
            "--server-side",
            "-R",
            "-f",
            guilds.to_str().unwrap(),
        ])
        .await;
    assert!(
        server_side.contains("guildconfig.kaltura-discord.io/physics-101 serverside-applied"),
        "{server_side}"
    );
    let managers = cluster
        .ok(&[
            "get",
            "gc",
            "physics-101",
            "-n",
            "kaltura",
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ])
        .await;
    // kubectl moved ownership from its client-side manager to its server-side one.
    let mut managers: Vec<&str> = managers.split_whitespace().collect();
    managers.sort();
    assert_eq!(managers, ["kubectl", "kubectl-last-applied"]);
    // Secrets keep their stringData ownership with the client-side manager, so server-side
    // apply conflicts until forced, as on a real cluster.
    let secrets = fixture("examples/secrets.yaml");
    let err = cluster
        .fails(&["apply", "--server-side", "-f", secrets.to_str().unwrap()])
        .await;
    assert!(
        err.contains(
            "conflicts with \"kubectl-client-side-apply\" using v1:\n- .stringData.adminSecret"
        ),
        "{err}"
    );
    cluster
        .ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            secrets.to_str().unwrap(),
        ])
        .await;
    // stringData became data, as the API server stores it.
    let data = cluster
        .ok(&[
            "get",
            "secret",
            "kaltura-campus",
            "-n",
            "kaltura",
            "-o",
            "jsonpath={.data.adminSecret}",
        ])
        .await;
    assert_eq!(data, "UkVQTEFDRS1XSVRILUtBTFRVUkEtQURNSU4tU0VDUkVU");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn printer_columns_defaults_status_and_validation() {
    let cluster = Cluster::start().await;
    cluster.apply_crds().await;
    let dir = cluster.dir.path().to_path_buf();
    cluster
        .ok(&[
            "apply",
            "-f",
            &guild(&dir, "physics", "1283874310720716890"),
        ])
        .await;

    let table = cluster.ok(&["get", "guildconfigs"]).await;
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "NAME",
            "GUILD",
            "APPLICATION",
            "REVISION",
            "READY",
            "REASON",
            "AGE"
        ]
    );
    assert!(
        table.contains("physics   1283874310720716890   campus-bot"),
        "{table}"
    );

    let yaml = cluster.ok(&["get", "gc", "physics", "-o", "yaml"]).await;
    for defaulted in [
        "meetings: true",
        "videoSearch: true",
        "channels: {}",
        "generation: 1",
        "uid: ",
    ] {
        assert!(yaml.contains(defaulted), "{defaulted} missing in\n{yaml}");
    }

    let bad = guild(&dir, "broken", "not-a-snowflake");
    let err = cluster.fails(&["apply", "-f", &bad]).await;
    assert!(
        err.contains(r#"The GuildConfig "broken" is invalid: spec.guildId: Invalid value: "not-a-snowflake": spec.guildId in body should match '^[0-9]{17,20}$'"#),
        "{err}"
    );
    let unknown = dir.join("unknown.yaml");
    std::fs::write(&unknown, "apiVersion: kaltura-discord.io/v1alpha1\nkind: GuildConfig\nmetadata: {name: extra}\nspec:\n  applicationRef: {name: campus-bot}\n  guildId: \"1283874310720716893\"\n  bogus: 1\n").unwrap();
    let err = cluster
        .fails(&["apply", "-f", unknown.to_str().unwrap()])
        .await;
    assert!(
        err.contains(r#"GuildConfig in version "v1alpha1" cannot be handled as a GuildConfig: strict decoding error: unknown field "spec.bogus""#),
        "{err}"
    );
    let warned = cluster
        .kubectl(&["apply", "--validate=warn", "-f", unknown.to_str().unwrap()])
        .await;
    assert!(warned.status.success());
    assert!(String::from_utf8_lossy(&warned.stderr).contains(r#"unknown field "spec.bogus""#));
    let moved = guild(&dir, "physics", "1283874310720716891");
    let err = cluster.fails(&["apply", "-f", &moved]).await;
    assert!(
        err.contains(r#"The GuildConfig "physics" is invalid: spec.guildId: Invalid value: "string": guildId is immutable: create a new GuildConfig for another guild"#),
        "{err}"
    );

    cluster
        .ok(&[
            "patch", "gc", "physics", "--subresource=status", "--type=merge", "-p",
            r#"{"status":{"configRevision":"rev-7","conditions":[{"type":"Ready","status":"False","reason":"PartnerMissing","message":"x","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
        ])
        .await;
    let table = cluster.ok(&["get", "gc"]).await;
    assert!(
        table.contains("rev-7      False   PartnerMissing"),
        "{table}"
    );
    // Status did not count as a spec change.
    let generation = cluster
        .ok(&[
            "get",
            "gc",
            "physics",
            "-o",
            "jsonpath={.metadata.generation}",
        ])
        .await;
    assert_eq!(generation, "1");

    let out = cluster.ok(&["delete", "gc", "physics"]).await;
    assert!(
        out.contains("guildconfig.kaltura-discord.io \"physics\" deleted"),
        "{out}"
    );
    let err = cluster.fails(&["get", "gc", "physics"]).await;
    assert!(
        err.contains(r#"guildconfigs.kaltura-discord.io "physics" not found"#),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_shows_later_changes() {
    let cluster = Cluster::start().await;
    cluster.apply_crds().await;
    let dir = cluster.dir.path().to_path_buf();
    cluster
        .ok(&[
            "apply",
            "-f",
            &guild(&dir, "physics", "1283874310720716890"),
        ])
        .await;
    let mut watch = cluster.spawn_lines(&["get", "gc", "-w"]);
    watch.wait_for(&["physics", "1283874310720716890"]).await;
    cluster
        .ok(&[
            "apply",
            "-f",
            &guild(&dir, "chemistry", "1283874310720716892"),
        ])
        .await;
    watch
        .wait_for(&["chemistry", "1283874310720716892", "campus-bot"])
        .await;
    cluster
        .ok(&[
            "patch",
            "gc",
            "physics",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"configRevision":"rev-9"}}"#,
        ])
        .await;
    watch.wait_for(&["physics", "rev-9"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_and_selectors() {
    let cluster = Cluster::start().await;
    for (name, labels) in [
        ("a", "app=bot,env=prod"),
        ("b", "app=bot,env=dev"),
        ("c", "app=activity"),
    ] {
        cluster
            .ok(&["create", "configmap", name, "--from-literal=k=v"])
            .await;
        let labels: Vec<&str> = labels.split(',').collect();
        let mut args = vec!["label", "configmap", name];
        args.extend(labels);
        cluster.ok(&args).await;
    }
    let names = |out: String| out.split_whitespace().map(String::from).collect::<Vec<_>>();
    let select = |sel: &'static str| {
        let cluster = &cluster;
        async move {
            names(
                cluster
                    .ok(&[
                        "get",
                        "cm",
                        "-l",
                        sel,
                        "-o",
                        "jsonpath={.items[*].metadata.name}",
                    ])
                    .await,
            )
        }
    };
    assert_eq!(select("app=bot").await, ["a", "b"]);
    assert_eq!(select("app=bot,env!=prod").await, ["b"]);
    assert_eq!(select("env in (prod,staging)").await, ["a"]);
    assert_eq!(select("env notin (prod)").await, ["b", "c"]);
    assert_eq!(select("!env").await, ["c"]);
    let err = cluster.fails(&["get", "cm", "-l", "env in (prod"]).await;
    assert!(err.contains("unable to parse requirement"), "{err}");
    cluster.ok(&["label", "configmap", "a", "env-"]).await;
    assert_eq!(select("!env").await, ["a", "c"]);
    let table = cluster.ok(&["get", "cm", "a"]).await;
    assert!(table.starts_with("NAME   DATA   AGE"), "{table}");
}

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
      - {name: side, image: busybox}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_strategic_merge_server_side_apply_and_scale() {
    let cluster = Cluster::start().await;
    let dir = cluster.dir.path();
    let v1 = dir.join("v1.yaml");
    let v2 = dir.join("v2.yaml");
    std::fs::write(&v1, DEPLOYMENT).unwrap();
    let second = DEPLOYMENT
        .replace("nginx:1", "nginx:2")
        .replace(r#", {name: B, value: "2"}"#, "")
        .replace("      - {name: side, image: busybox}\n", "");
    std::fs::write(&v2, second).unwrap();
    let (v1, v2) = (v1.to_str().unwrap(), v2.to_str().unwrap());

    cluster.ok(&["apply", "-f", v1]).await;
    let again = cluster.kubectl(&["apply", "-f", v1]).await;
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "deployment.apps/web unchanged\n"
    );
    assert!(
        again.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // kubectl's strategic merge patch removes the container and the env entry it no longer has.
    cluster.ok(&["apply", "-f", v2]).await;
    let containers = cluster
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers}",
        ])
        .await;
    assert_eq!(
        containers,
        r#"[{"env":[{"name":"A","value":"1"}],"image":"nginx:2","name":"web"}]"#
    );

    let err = cluster.fails(&["apply", "--server-side", "-f", v1]).await;
    assert!(
        err.contains(r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.template.spec.containers[name="web"].image"#),
        "{err}"
    );
    cluster
        .ok(&["apply", "--server-side", "--force-conflicts", "-f", v1])
        .await;
    let image = cluster
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ])
        .await;
    assert_eq!(image, "nginx:1");

    cluster
        .ok(&["scale", "deploy", "web", "--replicas=5"])
        .await;
    let table = cluster.ok(&["get", "deploy"]).await;
    assert!(table.contains("web    0/5     0            0"), "{table}");
    let generation = cluster
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.generation}",
        ])
        .await;
    assert_eq!(generation, "4", "create, apply v2, forced apply, scale");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn size_limits_as_kubectl_meets_them() {
    let cluster = Cluster::start().await;
    let dir = cluster.dir.path();
    let blob = dir.join("blob");
    std::fs::write(&blob, "x".repeat(1024 * 1024 + 1)).unwrap();
    let err = cluster
        .fails(&[
            "create",
            "configmap",
            "big",
            "--from-file",
            blob.to_str().unwrap(),
        ])
        .await;
    assert!(
        err.contains(
            r#"ConfigMap "big" is invalid: []: Too long: may not be more than 1048576 bytes"#
        ),
        "{err}"
    );
    let manifest = |name: &str, size: usize| {
        let path = dir.join(format!("{name}.yaml"));
        let text = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  blob: {}\n",
            "y".repeat(size)
        );
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    // Client-side apply copies the object into an annotation, whose limit is 256 KiB:
    // 300 KB of data is well within a ConfigMap's 1 MiB but too much for it.
    let mid = manifest("mid", 300 * 1024);
    let err = cluster.fails(&["apply", "-f", &mid]).await;
    assert!(
        err.contains(r#"ConfigMap "mid" is invalid: metadata.annotations: Too long: may not be more than 262144 bytes"#),
        "{err}"
    );
    cluster.ok(&["apply", "--server-side", "-f", &mid]).await;
    let huge = manifest("huge", 3 * 1024 * 1024 + 1);
    let err = cluster.fails(&["create", "-f", &huge]).await;
    assert!(
        err.contains("Request entity too large: limit is 3145728"),
        "{err}"
    );
    let names = cluster.ok(&["get", "configmaps", "-o", "name"]).await;
    assert_eq!(names.trim(), "configmap/mid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_cascades_waits_and_empties_namespaces() {
    let cluster = Cluster::start().await;
    let dir = cluster.dir.path();
    let dependent = |name: &str, owner: &str, uid: &str, finalizer: bool| {
        let path = dir.join(format!("{name}.yaml"));
        let finalizers = if finalizer {
            "\n  finalizers: [test.kd.io/hold]"
        } else {
            ""
        };
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}{finalizers}\n  ownerReferences:\n  - {{apiVersion: v1, kind: ConfigMap, name: {owner}, uid: {uid}, controller: true, blockOwnerDeletion: true}}\n"
            ),
        )
        .unwrap();
        path.to_str().unwrap().to_owned()
    };
    let uid_of = "jsonpath={.metadata.uid}";
    // Foreground: kubectl's wait holds while a blocking dependent has a finalizer.
    cluster.ok(&["create", "configmap", "owner"]).await;
    let owner_uid = cluster
        .ok(&["get", "configmap", "owner", "-o", uid_of])
        .await;
    let dep = dependent("dep", "owner", &owner_uid, true);
    cluster.ok(&["apply", "-f", &dep]).await;
    let err = cluster
        .fails(&[
            "delete",
            "configmap",
            "owner",
            "--cascade=foreground",
            "--timeout=2s",
        ])
        .await;
    assert!(err.contains("timed out"), "{err}");
    let finalizers = cluster
        .ok(&[
            "get",
            "configmap",
            "owner",
            "-o",
            "jsonpath={.metadata.finalizers}",
        ])
        .await;
    assert_eq!(finalizers, r#"["foregroundDeletion"]"#);
    let pending = cluster
        .ok(&[
            "get",
            "configmap",
            "dep",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .await;
    assert!(!pending.is_empty(), "the dependent is being deleted");
    cluster
        .ok(&[
            "patch",
            "configmap",
            "dep",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .await;
    cluster
        .ok(&["wait", "--for=delete", "configmap/owner", "--timeout=10s"])
        .await;

    // Orphan: the dependent stays, without the reference.
    cluster.ok(&["create", "configmap", "parent"]).await;
    let parent_uid = cluster
        .ok(&["get", "configmap", "parent", "-o", uid_of])
        .await;
    let child = dependent("child", "parent", &parent_uid, false);
    cluster.ok(&["apply", "-f", &child]).await;
    let out = cluster
        .ok(&["delete", "configmap", "parent", "--cascade=orphan"])
        .await;
    assert!(out.contains(r#"configmap "parent" deleted"#), "{out}");
    let refs = cluster
        .ok(&[
            "get",
            "configmap",
            "child",
            "-o",
            "jsonpath={.metadata.ownerReferences}",
        ])
        .await;
    assert_eq!(refs, "[]");
    // Background (kubectl's default): the dependent goes too.
    cluster.ok(&["create", "configmap", "boss"]).await;
    let boss_uid = cluster
        .ok(&["get", "configmap", "boss", "-o", uid_of])
        .await;
    let report = dependent("report", "boss", &boss_uid, false);
    cluster.ok(&["apply", "-f", &report]).await;
    cluster.ok(&["delete", "configmap", "boss"]).await;
    let left = cluster.ok(&["get", "configmaps", "-o", "name"]).await;
    assert_eq!(left.trim(), "configmap/child");

    // A namespace terminates, refuses new content, and goes once its content is gone.
    cluster.ok(&["create", "namespace", "doomed"]).await;
    let held = dir.join("held.yaml");
    std::fs::write(
        &held,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: doomed\n  finalizers: [test.kd.io/hold]\n",
    )
    .unwrap();
    cluster.ok(&["apply", "-f", held.to_str().unwrap()]).await;
    cluster
        .ok(&["delete", "namespace", "doomed", "--wait=false"])
        .await;
    let phase = cluster
        .ok(&[
            "get",
            "namespace",
            "doomed",
            "-o",
            "jsonpath={.status.phase}",
        ])
        .await;
    assert_eq!(phase, "Terminating");
    let err = cluster
        .fails(&["-n", "doomed", "create", "configmap", "late"])
        .await;
    assert!(
        err.contains(
            "unable to create new content in namespace doomed because it is being terminated"
        ),
        "{err}"
    );
    cluster
        .ok(&[
            "-n",
            "doomed",
            "patch",
            "configmap",
            "held",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .await;
    cluster
        .ok(&["wait", "--for=delete", "namespace/doomed", "--timeout=10s"])
        .await;
}

//! The Kubernetes objects that run one application, computed as data: a ConfigMap with the
//! rendered runtime config, the bot and Activity Deployments, their Services and, with SQLite,
//! the volume claim that holds the database.
//!
//! With SQLite the bot and the Activity share one database file, so they run as two containers
//! of one pod; with PostgreSQL they are separate Deployments that scale on their own.
//! The config is mounted, not baked into the pod template, so a new revision reaches running
//! pods without a restart (the bot re-reads it); a change of credentials or image rolls them.

use super::render::Rendered;
use kd_crds::application::StorageType;
use kd_crds::{DiscordApplication, SecretKeyRef};
use kube::ResourceExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Every object this operator creates carries these; pruning looks for them.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "kaltura-discord-operator");
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// Pod labels the bot and Activity Services select on.
pub const BOT_LABEL: &str = "kaltura-discord.io/bot";
pub const ACTIVITY_LABEL: &str = "kaltura-discord.io/activity";
/// Port of the bot's `/status`, `/metrics` and `/healthz`.
pub const BOT_PORT: u16 = 9100;
pub const ACTIVITY_PORT: u16 = 8080;
/// Pod-template annotation that changes when a referenced Secret changes, to roll the pods.
pub const CREDENTIALS_ANNOTATION: &str = "kaltura-discord.io/credentials";

const CONFIG_DIR: &str = "/etc/kaltura-discord";
const SECRETS_DIR: &str = "/var/run/secrets/kaltura-discord";
const DATA_DIR: &str = "/var/lib/kaltura-discord";

/// What the workloads are built from besides the rendered config.
pub struct Inputs<'a> {
    pub app: &'a DiscordApplication,
    pub rendered: &'a Rendered,
    /// Image when the application names none: the operator's own.
    pub default_image: &'a str,
    /// Digest of the referenced Secrets' versions.
    pub credentials: &'a str,
}

pub fn bot_service_name(app: &str) -> String {
    format!("{app}-bot")
}

/// The Secrets the workloads mount, each with the keys they read.
pub fn referenced_secrets(app: &DiscordApplication, rendered: &Rendered) -> Vec<SecretKeyRef> {
    let mut refs = vec![rendered.config.application.bot_token_ref.clone()];
    refs.extend(
        rendered
            .config
            .partners
            .values()
            .map(|p| p.admin_secret_ref.clone()),
    );
    // The OAuth client secret is the Activity's alone.
    if app.spec.activity.enabled {
        refs.extend(app.spec.client_secret_ref.clone());
    }
    refs.sort_by(|a, b| (&a.name, &a.key).cmp(&(&b.name, &b.key)));
    refs.dedup();
    refs
}

/// The objects to apply, in apply order (config before the pods that mount it).
pub fn objects(inputs: &Inputs) -> Vec<Value> {
    let app = inputs.app;
    let name = app.name_any();
    let spec = &app.spec;
    let sqlite = spec.storage.kind == StorageType::Sqlite;
    let activity = spec.activity.enabled;
    let mut objects = vec![object(
        inputs,
        "v1",
        "ConfigMap",
        &format!("{name}-config"),
        "config",
        json!({"data": {"config.json": inputs.rendered.config.to_json()}}),
    )];
    if sqlite {
        objects.push(object(
            inputs,
            "v1",
            "PersistentVolumeClaim",
            &format!("{name}-data"),
            "data",
            json!({"spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            }}),
        ));
        let mut containers = vec![bot_container(inputs)];
        if activity {
            containers.push(activity_container(inputs));
        }
        objects.push(deployment(inputs, &name, spec.bot.replicas, containers));
    } else {
        objects.push(deployment(
            inputs,
            &format!("{name}-bot"),
            spec.bot.replicas,
            vec![bot_container(inputs)],
        ));
        if activity {
            objects.push(deployment(
                inputs,
                &format!("{name}-activity"),
                spec.activity.replicas,
                vec![activity_container(inputs)],
            ));
        }
    }
    objects.push(service(
        inputs,
        &bot_service_name(&name),
        BOT_LABEL,
        BOT_PORT,
    ));
    if activity {
        objects.push(service(
            inputs,
            &format!("{name}-activity"),
            ACTIVITY_LABEL,
            ACTIVITY_PORT,
        ));
    }
    objects
}

fn labels(app: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "kaltura-discord".into()),
        (INSTANCE_LABEL.into(), app.into()),
        ("app.kubernetes.io/component".into(), component.into()),
        (MANAGED_BY.0.into(), MANAGED_BY.1.into()),
    ])
}

/// An object owned by the application, so deleting the application deletes it.
fn object(
    inputs: &Inputs,
    api_version: &str,
    kind: &str,
    name: &str,
    component: &str,
    body: Value,
) -> Value {
    let app = inputs.app;
    let mut object = json!({
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": app.namespace().unwrap_or_else(|| "default".into()),
            "labels": labels(&app.name_any(), component),
            "ownerReferences": [{
                "apiVersion": "kaltura-discord.io/v1alpha1",
                "kind": "DiscordApplication",
                "name": app.name_any(),
                "uid": app.uid().unwrap_or_default(),
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
    });
    if let (Some(target), Value::Object(body)) = (object.as_object_mut(), body) {
        target.extend(body);
    }
    object
}

fn deployment(inputs: &Inputs, name: &str, replicas: i32, containers: Vec<Value>) -> Value {
    let app = inputs.app.name_any();
    let sqlite = inputs.app.spec.storage.kind == StorageType::Sqlite;
    let serves_bot = containers.iter().any(|c| c["name"] == "bot");
    let serves_activity = containers.iter().any(|c| c["name"] == "activity");
    let component = if serves_bot { "bot" } else { "activity" };
    let mut pod_labels = BTreeMap::from([
        (INSTANCE_LABEL.to_string(), app.clone()),
        ("app.kubernetes.io/component".into(), component.into()),
    ]);
    if serves_bot {
        pod_labels.insert(BOT_LABEL.into(), "true".into());
    }
    if serves_activity {
        pod_labels.insert(ACTIVITY_LABEL.into(), "true".into());
    }
    let mut volumes = vec![
        json!({"name": "config", "configMap": {"name": format!("{app}-config")}}),
        json!({"name": "secrets", "projected": {"sources": secret_sources(inputs)}}),
    ];
    if sqlite {
        volumes.push(
            json!({"name": "data", "persistentVolumeClaim": {"claimName": format!("{app}-data")}}),
        );
    } else {
        volumes.push(json!({"name": "data", "emptyDir": {}}));
    }
    object(
        inputs,
        "apps/v1",
        "Deployment",
        name,
        component,
        json!({"spec": {
            "replicas": replicas,
            // One SQLite file may have only one writer: replace, never overlap.
            "strategy": {"type": if sqlite { "Recreate" } else { "RollingUpdate" }},
            "selector": {"matchLabels": pod_labels.iter()
                .filter(|(k, _)| !k.starts_with("kaltura-discord.io/"))
                .collect::<BTreeMap<_, _>>()},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {CREDENTIALS_ANNOTATION: inputs.credentials},
                },
                "spec": {
                    "automountServiceAccountToken": false,
                    "securityContext": {
                        "runAsNonRoot": true,
                        "runAsUser": 65532,
                        "fsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": containers,
                    "volumes": volumes,
                },
            },
        }}),
    )
}

fn secret_sources(inputs: &Inputs) -> Vec<Value> {
    let mut by_secret: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in referenced_secrets(inputs.app, inputs.rendered) {
        by_secret.entry(r.name).or_default().push(r.key);
    }
    by_secret
        .into_iter()
        .map(|(name, keys)| {
            let items: Vec<Value> = keys
                .iter()
                .map(|key| json!({"key": key, "path": format!("{name}/{key}")}))
                .collect();
            json!({"secret": {"name": name, "items": items}})
        })
        .collect()
}

fn image(inputs: &Inputs) -> String {
    inputs
        .app
        .spec
        .image
        .clone()
        .unwrap_or_else(|| inputs.default_image.to_string())
}

/// What both containers share: image, config, secrets, store, logs and a locked-down context.
fn container(inputs: &Inputs, name: &str, mut args: Vec<String>, port: u16) -> Value {
    args.extend(
        [
            "--config",
            &format!("{CONFIG_DIR}/config.json"),
            "--secrets-dir",
            SECRETS_DIR,
            "--listen",
            &format!("0.0.0.0:{port}"),
            "--log-format",
            "json",
        ]
        .map(String::from),
    );
    let store = match &inputs.app.spec.storage.postgres_dsn_ref {
        Some(dsn) => json!({"name": "KALTURA_DISCORD_STORE", "valueFrom": {
            "secretKeyRef": {"name": dsn.name, "key": dsn.key}}}),
        None => json!({"name": "KALTURA_DISCORD_STORE",
            "value": format!("sqlite://{DATA_DIR}/kaltura-discord.db")}),
    };
    json!({
        "name": name,
        "image": image(inputs),
        "args": args,
        "env": [store, {"name": "RUST_LOG", "value": "info"}],
        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": true},
            {"name": "secrets", "mountPath": SECRETS_DIR, "readOnly": true},
            {"name": "data", "mountPath": DATA_DIR},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]},
        },
    })
}

fn bot_container(inputs: &Inputs) -> Value {
    let mut args = vec!["bot".to_string()];
    if let Some(shards) = inputs.app.spec.bot.shards {
        args.extend(["--shards".into(), shards.to_string()]);
    }
    let mut bot = container(inputs, "bot", args, BOT_PORT);
    bot["livenessProbe"] = json!({"httpGet": {"path": "/healthz", "port": "http"}});
    bot
}

fn activity_container(inputs: &Inputs) -> Value {
    let mut serve = container(inputs, "activity", vec!["serve".into()], ACTIVITY_PORT);
    serve["livenessProbe"] = json!({"httpGet": {"path": "/healthz", "port": "http"}});
    serve["readinessProbe"] = json!({"httpGet": {"path": "/readyz", "port": "http"}});
    serve
}

fn service(inputs: &Inputs, name: &str, selects: &str, port: u16) -> Value {
    let app = inputs.app.name_any();
    object(
        inputs,
        "v1",
        "Service",
        name,
        if selects == BOT_LABEL {
            "bot"
        } else {
            "activity"
        },
        json!({"spec": {
            "selector": {INSTANCE_LABEL: app, selects: "true"},
            "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}],
        }}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests;
    use crate::reconcile::render::render;
    use kd_crds::application::{Storage, StorageType};
    use std::path::Path;

    fn build(edit: impl FnOnce(&mut DiscordApplication)) -> Vec<Value> {
        let catalog = manifests::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"))
            .unwrap()
            .catalog;
        let rendered = render(&catalog).remove(0);
        let mut app = catalog.applications[0].clone();
        app.metadata.uid = Some("u-1".into());
        edit(&mut app);
        objects(&Inputs {
            app: &app,
            rendered: &rendered,
            default_image: "example/kd:1",
            credentials: "c0ffee",
        })
    }

    fn kinds(objects: &[Value]) -> Vec<String> {
        objects
            .iter()
            .map(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["metadata"]["name"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn sqlite_runs_bot_and_activity_in_one_pod_sharing_the_data_claim() {
        let objects = build(|_| {});
        assert_eq!(
            kinds(&objects),
            [
                "ConfigMap/campus-bot-config",
                "PersistentVolumeClaim/campus-bot-data",
                "Deployment/campus-bot",
                "Service/campus-bot-bot",
                "Service/campus-bot-activity",
            ]
        );
        let deployment = &objects[2];
        assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
        let pod = &deployment["spec"]["template"];
        assert_eq!(pod["metadata"]["labels"][BOT_LABEL], "true");
        assert_eq!(pod["metadata"]["labels"][ACTIVITY_LABEL], "true");
        assert_eq!(
            pod["metadata"]["annotations"][CREDENTIALS_ANNOTATION],
            "c0ffee"
        );
        let containers = pod["spec"]["containers"].as_array().unwrap();
        assert_eq!(containers.len(), 2);
        assert_eq!(containers[0]["args"][0], "bot");
        assert_eq!(containers[1]["args"][0], "serve");
        assert_eq!(containers[0]["image"], "example/kd:1");
        let volumes = pod["spec"]["volumes"].as_array().unwrap();
        assert!(
            volumes
                .iter()
                .any(|v| v["persistentVolumeClaim"]["claimName"] == "campus-bot-data")
        );
        for object in &objects {
            assert_eq!(object["metadata"]["ownerReferences"][0]["uid"], "u-1");
            assert_eq!(object["metadata"]["labels"][MANAGED_BY.0], MANAGED_BY.1);
        }
        // The selector must stay stable when roles move between pods, so it never uses them.
        let selector = deployment["spec"]["selector"]["matchLabels"]
            .as_object()
            .unwrap();
        assert!(
            selector
                .keys()
                .all(|k| !k.starts_with("kaltura-discord.io/"))
        );
    }

    #[test]
    fn postgres_scales_bot_and_activity_separately_with_the_dsn_from_its_secret() {
        let objects = build(|app| {
            app.spec.storage = Storage {
                kind: StorageType::Postgres,
                postgres_dsn_ref: Some(SecretKeyRef {
                    name: "db".into(),
                    key: "dsn".into(),
                }),
            };
            app.spec.activity.replicas = 3;
            app.spec.image = Some("mirror/kd:2".into());
        });
        assert_eq!(
            kinds(&objects),
            [
                "ConfigMap/campus-bot-config",
                "Deployment/campus-bot-bot",
                "Deployment/campus-bot-activity",
                "Service/campus-bot-bot",
                "Service/campus-bot-activity",
            ]
        );
        let activity = &objects[2]["spec"];
        assert_eq!(activity["replicas"], 3);
        let container = &activity["template"]["spec"]["containers"][0];
        assert_eq!(container["image"], "mirror/kd:2");
        assert_eq!(
            container["env"][0]["valueFrom"]["secretKeyRef"]["name"],
            "db"
        );
        assert_eq!(
            activity["template"]["metadata"]["labels"].get(BOT_LABEL),
            None
        );
    }

    #[test]
    fn without_the_activity_only_the_bot_runs_and_secrets_are_mounted_by_reference() {
        let objects = build(|app| app.spec.activity.enabled = false);
        assert!(kinds(&objects).iter().all(|k| !k.contains("activity")));
        let sources = &objects[2]["spec"]["template"]["spec"]["volumes"][1]["projected"]["sources"];
        let paths: Vec<&str> = sources
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["secret"]["items"].as_array().unwrap())
            .map(|item| item["path"].as_str().unwrap())
            .collect();
        assert_eq!(
            paths,
            ["discord-campus-bot/botToken", "kaltura-campus/adminSecret"]
        );
    }
}

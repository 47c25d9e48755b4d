//! The Kubernetes objects that run one application, computed as typed k8s-openapi objects: the
//! workloads' ServiceAccount and the Role that lets them read their config, the ConfigMaps of
//! the rendered runtime config, the bot and Activity Deployments, their Services and, with
//! SQLite, the volume claim that holds the database. One module per kind of object.
//!
//! With SQLite the bot and the Activity share one database file, so they run as two containers
//! of one pod; with PostgreSQL they are separate Deployments that scale on their own.
//! The config is watched through the API, not baked into the pod template, so a new revision
//! reaches running pods without a restart; a change of credentials or image rolls them.

mod access;
mod config_map;
mod deployment;
mod disruption_budget;
mod service;
mod volume;

use super::digest::json_sha256;
use super::render::Rendered;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role as RbacRole, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kd_crds::application::StorageType;
use kd_crds::{DiscordApplication, SecretKeyRef};
use kube::core::ApiResource;
use kube::{Resource, ResourceExt};
use serde::Serialize;
use std::collections::BTreeMap;

/// Every object this operator creates carries these; pruning looks for them.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "kaltura-discord-operator");
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
const COMPONENT_LABEL: &str = "app.kubernetes.io/component";
/// Pod labels the bot and Activity Services select on.
pub const BOT_LABEL: &str = "kaltura-discord.io/bot";
pub const ACTIVITY_LABEL: &str = "kaltura-discord.io/activity";
/// Port of the bot's `/status`, `/metrics` and `/healthz`.
pub const BOT_PORT: u16 = 9100;
pub const ACTIVITY_PORT: u16 = 8080;
/// Pod-template annotation that changes when a referenced Secret changes, to roll the pods.
pub const CREDENTIALS_ANNOTATION: &str = "kaltura-discord.io/credentials";

/// What the workloads are built from besides the rendered config.
pub struct Inputs<'a> {
    pub app: &'a DiscordApplication,
    pub rendered: &'a Rendered,
    /// Image when the application names none: the operator's own.
    pub default_image: &'a str,
    /// Digest of the referenced Secrets' versions.
    pub credentials: &'a str,
}

/// One object to apply.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // A handful per application, built once per pass.
pub enum Workload {
    ServiceAccount(ServiceAccount),
    Role(RbacRole),
    RoleBinding(RoleBinding),
    /// A ConfigMap of the rendered config and its text's digest, known from rendering: with
    /// thousands of guilds the texts are megabytes, not to be hashed again every pass.
    ConfigMap(ConfigMap, String),
    VolumeClaim(PersistentVolumeClaim),
    Deployment(Deployment),
    Service(Service),
    DisruptionBudget(PodDisruptionBudget),
}

impl Workload {
    /// Its API type and its metadata.
    pub fn identity(&self) -> (ApiResource, &ObjectMeta) {
        fn of<K: Resource<DynamicType = ()>>(object: &K) -> (ApiResource, &ObjectMeta) {
            (ApiResource::erase::<K>(&()), object.meta())
        }
        match self {
            Workload::ServiceAccount(o) => of(o),
            Workload::Role(o) => of(o),
            Workload::RoleBinding(o) => of(o),
            Workload::ConfigMap(o, _) => of(o),
            Workload::VolumeClaim(o) => of(o),
            Workload::Deployment(o) => of(o),
            Workload::Service(o) => of(o),
            Workload::DisruptionBudget(o) => of(o),
        }
    }

    /// The digest of what it says: a ConfigMap of the config by its metadata and its text's
    /// digest, the others by their JSON, serialized straight into the hash.
    pub fn digest(&self) -> String {
        let digest = match self {
            Workload::ConfigMap(o, digest) => json_sha256(&(&o.metadata, digest)),
            other => json_sha256(other),
        };
        hex::encode(digest)
    }
}

/// Its JSON body, as server-side apply takes it.
impl Serialize for Workload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Workload::ServiceAccount(o) => o.serialize(serializer),
            Workload::Role(o) => o.serialize(serializer),
            Workload::RoleBinding(o) => o.serialize(serializer),
            Workload::ConfigMap(o, _) => o.serialize(serializer),
            Workload::VolumeClaim(o) => o.serialize(serializer),
            Workload::Deployment(o) => o.serialize(serializer),
            Workload::Service(o) => o.serialize(serializer),
            Workload::DisruptionBudget(o) => o.serialize(serializer),
        }
    }
}

/// What a pod or a Service is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Bot,
    Activity,
}

impl Role {
    fn component(self) -> &'static str {
        match self {
            Role::Bot => "bot",
            Role::Activity => "activity",
        }
    }

    /// The pod label its Service selects on.
    fn label(self) -> &'static str {
        match self {
            Role::Bot => BOT_LABEL,
            Role::Activity => ACTIVITY_LABEL,
        }
    }

    fn port(self) -> u16 {
        match self {
            Role::Bot => BOT_PORT,
            Role::Activity => ACTIVITY_PORT,
        }
    }
}

pub use config_map::{INDEX_KEY, PART_KEY, config_map_name, part_name};

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

/// The objects to apply, in apply order: the access to the config before the config, the
/// config before the pods that read it.
pub fn objects(inputs: &Inputs) -> Vec<Workload> {
    let app = inputs.app;
    let name = app.name_any();
    let spec = &app.spec;
    let activity = spec.activity.enabled;
    let pieces = &inputs.rendered.pieces;
    let mut objects = vec![
        Workload::ServiceAccount(access::service_account(inputs)),
        Workload::Role(access::role(inputs, pieces.parts.len())),
        Workload::RoleBinding(access::role_binding(inputs)),
    ];
    objects.extend(
        config_map::config_maps(inputs, pieces)
            .into_iter()
            .map(|(map, digest)| Workload::ConfigMap(map, digest)),
    );
    if spec.storage.kind == StorageType::Sqlite {
        objects.push(Workload::VolumeClaim(volume::data_claim(inputs)));
        let mut roles = vec![Role::Bot];
        if activity {
            roles.push(Role::Activity);
        }
        objects.push(Workload::Deployment(deployment::deployment(
            inputs,
            &name,
            spec.bot.replicas,
            &roles,
        )));
    } else {
        objects.push(Workload::Deployment(deployment::deployment(
            inputs,
            &format!("{name}-bot"),
            spec.bot.replicas,
            &[Role::Bot],
        )));
        if activity {
            objects.push(Workload::Deployment(deployment::deployment(
                inputs,
                &format!("{name}-activity"),
                spec.activity.replicas,
                &[Role::Activity],
            )));
        }
    }
    let budgets: Vec<Workload> = objects
        .iter()
        .filter_map(|o| match o {
            Workload::Deployment(d) => disruption_budget::disruption_budget(inputs, d),
            _ => None,
        })
        .map(Workload::DisruptionBudget)
        .collect();
    objects.extend(budgets);
    objects.push(Workload::Service(service::service(
        inputs,
        &bot_service_name(&name),
        Role::Bot,
    )));
    if activity {
        objects.push(Workload::Service(service::service(
            inputs,
            &format!("{name}-activity"),
            Role::Activity,
        )));
    }
    objects
}

fn labels(app: &str, component: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "kaltura-discord".into()),
        (INSTANCE_LABEL.into(), app.into()),
        (COMPONENT_LABEL.into(), component.into()),
        (MANAGED_BY.0.into(), MANAGED_BY.1.into()),
    ])
}

/// Metadata of an object owned by the application, so deleting the application deletes it.
fn metadata(inputs: &Inputs, name: &str, component: &str) -> ObjectMeta {
    let app = inputs.app;
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(app.namespace().unwrap_or_else(|| "default".into())),
        labels: Some(labels(&app.name_any(), component)),
        owner_references: Some(vec![OwnerReference {
            api_version: DiscordApplication::api_version(&()).into(),
            kind: DiscordApplication::kind(&()).into(),
            name: app.name_any(),
            uid: app.uid().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]),
        ..ObjectMeta::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests;
    use crate::reconcile::render::render;
    use kd_crds::application::{Storage, StorageType};
    use serde_json::{Value, json};
    use std::path::Path;

    fn build(edit: impl FnOnce(&mut DiscordApplication)) -> Vec<Value> {
        let catalog = manifests::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"))
            .unwrap()
            .catalog;
        let rendered = render(&catalog).remove(0);
        let mut app = (*catalog.applications[0]).clone();
        app.metadata.uid = Some("u-1".into());
        edit(&mut app);
        objects(&Inputs {
            app: &app,
            rendered: &rendered,
            default_image: "example/kd:1",
            credentials: "c0ffee",
        })
        .iter()
        .map(|o| serde_json::to_value(o).unwrap())
        .collect()
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
                "ServiceAccount/campus-bot-workload",
                "Role/campus-bot-config-reader",
                "RoleBinding/campus-bot-config-reader",
                "ConfigMap/campus-bot-config-0",
                "ConfigMap/campus-bot-config",
                "PersistentVolumeClaim/campus-bot-data",
                "Deployment/campus-bot",
                "Service/campus-bot-bot",
                "Service/campus-bot-activity",
            ]
        );
        let deployment = &objects[6];
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
    fn the_pods_may_read_their_config_maps_by_name_and_nothing_else() {
        let objects = build(|_| {});
        let config_maps: Vec<&str> = objects
            .iter()
            .filter(|o| o["kind"] == "ConfigMap")
            .map(|o| o["metadata"]["name"].as_str().unwrap())
            .collect();
        let rules = objects[1]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 1);
        assert_eq!(rules[0]["resources"], json!(["configmaps"]));
        assert_eq!(rules[0]["verbs"], json!(["get", "list", "watch"]));
        assert_eq!(rules[0]["resourceNames"], json!(config_maps));
        assert_eq!(objects[2]["subjects"][0]["name"], "campus-bot-workload");
        assert_eq!(
            objects[2]["roleRef"]["name"],
            objects[1]["metadata"]["name"]
        );
        let pod = &objects[6]["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "campus-bot-workload");
        let args = pod["containers"][0]["args"].as_array().unwrap();
        let at = args.iter().position(|a| a == "--config-map").unwrap();
        assert_eq!(args[at + 1], "campus-bot-config");
        assert!(
            pod["containers"][0]["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["name"] != "config"),
            "the config is read through the API, not mounted"
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
                "ServiceAccount/campus-bot-workload",
                "Role/campus-bot-config-reader",
                "RoleBinding/campus-bot-config-reader",
                "ConfigMap/campus-bot-config-0",
                "ConfigMap/campus-bot-config",
                "Deployment/campus-bot-bot",
                "Deployment/campus-bot-activity",
                "PodDisruptionBudget/campus-bot-activity",
                "Service/campus-bot-bot",
                "Service/campus-bot-activity",
            ]
        );
        let budget = &objects[7]["spec"];
        assert_eq!(budget["maxUnavailable"], 1);
        assert_eq!(budget["selector"], objects[6]["spec"]["selector"]);
        let activity = &objects[6]["spec"];
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
        // Bot replicas share the gateway shards through Leases, which their Role allows.
        let bot = &objects[5]["spec"]["template"]["spec"]["containers"][0];
        let args = bot["args"].as_array().unwrap();
        let at = args.iter().position(|a| a == "--shard-leases").unwrap();
        assert_eq!(args[at + 1], "kubernetes");
        let rules = objects[1]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1]["apiGroups"], json!(["coordination.k8s.io"]));
        assert_eq!(rules[1]["resources"], json!(["leases"]));
    }

    #[test]
    fn without_the_activity_only_the_bot_runs_and_secrets_are_mounted_by_reference() {
        let objects = build(|app| app.spec.activity.enabled = false);
        assert!(kinds(&objects).iter().all(|k| !k.contains("activity")));
        let sources = &objects[6]["spec"]["template"]["spec"]["volumes"][0]["projected"]["sources"];
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

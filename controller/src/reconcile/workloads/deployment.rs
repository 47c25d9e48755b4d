//! The Deployments of the bot and the Activity server: their pods, containers and volumes.

use super::access::service_account_name;
use super::config_map::config_map_name;
use super::volume::data_claim_name;
use super::{
    COMPONENT_LABEL, CREDENTIALS_ANNOTATION, INSTANCE_LABEL, Inputs, Role, metadata,
    referenced_secrets,
};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource,
    HTTPGetAction, KeyToPath, PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ProjectedVolumeSource, ResourceRequirements, SeccompProfile,
    SecretKeySelector, SecretProjection, SecurityContext, Volume, VolumeMount, VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kd_crds::application::StorageType;
use kd_crds::common::{ComputeResources, ResourceAmounts};
use kube::ResourceExt;
use std::collections::BTreeMap;

const SECRETS_DIR: &str = "/var/run/secrets/kaltura-discord";
const DATA_DIR: &str = "/var/lib/kaltura-discord";
/// The distroless `nonroot` user.
const NONROOT: i64 = 65532;

/// A Deployment whose pods run one container per role (both share one SQLite file).
pub fn deployment(inputs: &Inputs, name: &str, replicas: i32, roles: &[Role]) -> Deployment {
    let app = inputs.app.name_any();
    let sqlite = inputs.app.spec.storage.kind == StorageType::Sqlite;
    let component = if roles.contains(&Role::Bot) {
        Role::Bot
    } else {
        Role::Activity
    }
    .component();
    let mut pod_labels = BTreeMap::from([
        (INSTANCE_LABEL.to_string(), app.clone()),
        (COMPONENT_LABEL.to_string(), component.to_string()),
    ]);
    // The selector must stay stable when roles move between pods, so it never uses them.
    let selector = pod_labels.clone();
    for role in roles {
        pod_labels.insert(role.label().into(), "true".into());
    }
    let data = if sqlite {
        Volume {
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: data_claim_name(&app),
                ..PersistentVolumeClaimVolumeSource::default()
            }),
            ..volume("data")
        }
    } else {
        Volume {
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..volume("data")
        }
    };
    let volumes = vec![
        Volume {
            projected: Some(ProjectedVolumeSource {
                sources: Some(secret_sources(inputs)),
                ..ProjectedVolumeSource::default()
            }),
            ..volume("secrets")
        },
        data,
    ];
    Deployment {
        metadata: metadata(inputs, name, component),
        spec: DeploymentSpec {
            replicas: Some(replicas),
            // One SQLite file may have only one writer: replace, never overlap.
            strategy: Some(DeploymentStrategy {
                type_: Some(if sqlite { "Recreate" } else { "RollingUpdate" }.into()),
                ..DeploymentStrategy::default()
            }),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    annotations: Some(BTreeMap::from([(
                        CREDENTIALS_ANNOTATION.to_string(),
                        inputs.credentials.to_string(),
                    )])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    // Its token reads the application's config ConfigMaps, and only those.
                    service_account_name: Some(service_account_name(&app)),
                    automount_service_account_token: Some(true),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(NONROOT),
                        fs_group: Some(NONROOT),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".into(),
                            ..SeccompProfile::default()
                        }),
                        ..PodSecurityContext::default()
                    }),
                    containers: roles.iter().map(|role| container(inputs, *role)).collect(),
                    volumes: Some(volumes),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    }
}

fn volume(name: &str) -> Volume {
    Volume {
        name: name.into(),
        ..Volume::default()
    }
}

/// One projected source per Secret, each key a file `<secret>/<key>`.
fn secret_sources(inputs: &Inputs) -> Vec<VolumeProjection> {
    let mut by_secret: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in referenced_secrets(inputs.app, inputs.rendered) {
        by_secret.entry(r.name).or_default().push(r.key);
    }
    by_secret
        .into_iter()
        .map(|(name, keys)| {
            let items = keys
                .into_iter()
                .map(|key| KeyToPath {
                    path: format!("{name}/{key}"),
                    key,
                    ..KeyToPath::default()
                })
                .collect();
            VolumeProjection {
                secret: Some(SecretProjection {
                    name,
                    items: Some(items),
                    ..SecretProjection::default()
                }),
                ..VolumeProjection::default()
            }
        })
        .collect()
}

/// A probe of `path` on the `http` port. Liveness tolerates a minute of failures: the servers
/// close half-sent requests after 10 s, and a flood of them must not get the pod killed.
fn http_probe(path: &str, failures: i32) -> Option<Probe> {
    Some(Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(10),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        ..Probe::default()
    })
}

/// The CRD's requests and limits, each amount left out taking its default: requests 50m CPU
/// and 128Mi memory, a 512Mi memory limit and no CPU limit (throttling a gateway connection
/// helps no one).
fn resources(spec: &ComputeResources) -> ResourceRequirements {
    let amounts = |given: &ResourceAmounts, cpu: Option<&str>, memory: &str| {
        let mut list = BTreeMap::new();
        if let Some(cpu) = given.cpu.as_deref().or(cpu) {
            list.insert("cpu".to_string(), Quantity(cpu.into()));
        }
        let memory = given.memory.as_deref().unwrap_or(memory);
        list.insert("memory".to_string(), Quantity(memory.into()));
        Some(list)
    };
    ResourceRequirements {
        requests: amounts(&spec.requests, Some("50m"), "128Mi"),
        limits: amounts(&spec.limits, None, "512Mi"),
        ..ResourceRequirements::default()
    }
}

/// The container of one role. Both share image, config, secrets, store, logs and a
/// locked-down context.
fn container(inputs: &Inputs, role: Role) -> Container {
    let spec = &inputs.app.spec;
    let port = role.port();
    let mut args = match role {
        Role::Bot => {
            let mut args = vec!["bot".to_string()];
            if let Some(shards) = spec.bot.shards {
                args.extend(["--shards".into(), shards.to_string()]);
            }
            // Replicas (PostgreSQL only) share the shards through Leases in the cluster.
            if spec.storage.postgres_dsn_ref.is_some() {
                args.extend(["--shard-leases".into(), "kubernetes".into()]);
            }
            args
        }
        Role::Activity => vec!["serve".to_string()],
    };
    args.extend(
        [
            "--config-map",
            &config_map_name(&inputs.app.name_any()),
            "--secrets-dir",
            SECRETS_DIR,
            "--listen",
            &format!("0.0.0.0:{port}"),
            "--log-format",
            "json",
        ]
        .map(String::from),
    );
    let store = match &spec.storage.postgres_dsn_ref {
        Some(dsn) => EnvVar {
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: dsn.name.clone(),
                    key: dsn.key.clone(),
                    ..SecretKeySelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..env("KALTURA_DISCORD_STORE", None)
        },
        None => env(
            "KALTURA_DISCORD_STORE",
            Some(format!("sqlite://{DATA_DIR}/kaltura-discord.db")),
        ),
    };
    let mount = |name: &str, path: &str, read_only: bool| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    };
    Container {
        name: role.component().into(),
        image: Some(
            spec.image
                .clone()
                .unwrap_or_else(|| inputs.default_image.into()),
        ),
        args: Some(args),
        env: Some(vec![store, env("RUST_LOG", Some("info".into()))]),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: port.into(),
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        volume_mounts: Some(vec![
            mount("secrets", SECRETS_DIR, true),
            mount("data", DATA_DIR, false),
        ]),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        resources: Some(resources(match role {
            Role::Bot => &spec.bot.resources,
            Role::Activity => &spec.activity.resources,
        })),
        liveness_probe: http_probe("/healthz", 6),
        // The bot is ready when its store answers and its shards are connected; its Service
        // publishes unready pods too, so the operator still reads their reports.
        readiness_probe: http_probe("/readyz", 3),
        ..Container::default()
    }
}

fn env(name: &str, value: Option<String>) -> EnvVar {
    EnvVar {
        name: name.into(),
        value,
        ..EnvVar::default()
    }
}

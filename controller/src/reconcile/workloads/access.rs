//! The workloads' identity in the cluster: a ServiceAccount per application, and a Role bound
//! to it that may read that application's config ConfigMaps by name, so the pods watch their
//! config through the API (a new revision in well under a second) instead of waiting a minute
//! or more for the kubelet to refresh a mounted ConfigMap, and keep the bot replicas' shard
//! Leases in their namespace.

use super::config_map::{config_map_name, part_name};
use super::{Inputs, metadata};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::ResourceExt;

pub fn service_account_name(app: &str) -> String {
    format!("{app}-workload")
}

fn role_name(app: &str) -> String {
    format!("{app}-config-reader")
}

pub fn service_account(inputs: &Inputs) -> ServiceAccount {
    ServiceAccount {
        metadata: metadata(
            inputs,
            &service_account_name(&inputs.app.name_any()),
            "workload",
        ),
        // The pods mount a token only because they read their config with it.
        automount_service_account_token: Some(true),
        ..ServiceAccount::default()
    }
}

/// Get, list and watch (the last two only with `fieldSelector=metadata.name=...`, as the API
/// server authorizes named rules) of the index and its `parts` parts; with PostgreSQL (bot
/// replicas), the Leases of the shards they share.
pub fn role(inputs: &Inputs, parts: usize) -> Role {
    let app = inputs.app.name_any();
    let index = config_map_name(&app);
    let mut names: Vec<String> = (0..parts).map(|k| part_name(&index, k)).collect();
    names.push(index);
    let postgres = inputs.app.spec.storage.postgres_dsn_ref.is_some();
    Role {
        metadata: metadata(inputs, &role_name(&app), "workload"),
        rules: Some(
            [
                Some(PolicyRule {
                    api_groups: Some(vec![String::new()]),
                    resources: Some(vec!["configmaps".into()]),
                    verbs: ["get", "list", "watch"].map(String::from).into(),
                    resource_names: Some(names),
                    ..PolicyRule::default()
                }),
                // Bot replicas (PostgreSQL only) keep their gateway shard Leases; their names
                // are made as replicas come, so they cannot be listed here.
                postgres.then(|| PolicyRule {
                    api_groups: Some(vec!["coordination.k8s.io".into()]),
                    resources: Some(vec!["leases".into()]),
                    verbs: ["get", "list", "create", "patch", "delete"]
                        .map(String::from)
                        .into(),
                    ..PolicyRule::default()
                }),
            ]
            .into_iter()
            .flatten()
            .collect(),
        ),
    }
}

pub fn role_binding(inputs: &Inputs) -> RoleBinding {
    let app = inputs.app.name_any();
    RoleBinding {
        metadata: metadata(inputs, &role_name(&app), "workload"),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: role_name(&app),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: service_account_name(&app),
            namespace: inputs.app.namespace(),
            ..Subject::default()
        }]),
    }
}

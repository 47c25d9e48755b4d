//! Discovery (`/version`, `/api`, `/apis`, resource lists) and the OpenAPI v3 documents
//! kubectl reads to learn that the server validates fields itself (`fieldValidation`).

use crate::resource::ResourceType;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

pub fn version() -> Value {
    json!({
        "major": "1",
        "minor": "32",
        "gitVersion": "v1.32.0+kd-sandbox",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.23.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn core_versions() -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}],
    })
}

/// Resources served by handlers rather than storage (create only, cluster-scoped): the
/// authorization reviews, as `(group, plural, kind)` in `v1`.
const REVIEWS: &[(&str, &str, &str)] = &[
    (
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
    ),
    (
        "authorization.k8s.io",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
    ),
];

/// Groups (other than core) with their versions, in first-seen order; the first is preferred.
fn groups(types: &[Arc<ResourceType>]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for t in types.iter().filter(|t| !t.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == t.group) {
            Some((_, versions)) if !versions.contains(&t.version) => {
                versions.push(t.version.clone())
            }
            Some(_) => {}
            None => out.push((t.group.clone(), vec![t.version.clone()])),
        }
    }
    for (group, _, _) in REVIEWS {
        if !out.iter().any(|(g, _)| g == group) {
            out.push((group.to_string(), vec!["v1".into()]));
        }
    }
    out
}

fn group_json(name: &str, versions: &[String]) -> Value {
    let listed: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({
        "name": name,
        "versions": listed,
        "preferredVersion": listed[0],
    })
}

pub fn group_list(types: &[Arc<ResourceType>]) -> Value {
    let groups: Vec<Value> = groups(types)
        .iter()
        .map(|(g, v)| group_json(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub fn group(types: &[Arc<ResourceType>], name: &str) -> Option<Value> {
    let (group, versions) = groups(types).into_iter().find(|(g, _)| g == name)?;
    let mut doc = group_json(&group, &versions);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    Some(doc)
}

/// `APIResourceList` of one group/version, or `None` when nothing is served there.
pub fn resource_list(types: &[Arc<ResourceType>], group: &str, version: &str) -> Option<Value> {
    let served: Vec<&Arc<ResourceType>> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    let reviews: Vec<Value> = REVIEWS
        .iter()
        .filter(|(g, _, _)| *g == group && version == "v1")
        .map(|(_, plural, kind)| {
            json!({"name": plural, "singularName": "", "namespaced": false, "kind": kind, "verbs": ["create"]})
        })
        .collect();
    if served.is_empty() && reviews.is_empty() {
        return None;
    }
    let mut resources = reviews;
    for t in served {
        let mut entry = json!({
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": t.verbs(),
        });
        if !t.short_names.is_empty() {
            entry["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            entry["categories"] = json!(t.categories);
        }
        resources.push(entry);
        if t.group == "apps" && t.plural == "deployments" {
            resources.push(json!({
                "name": "deployments/scale",
                "singularName": "",
                "namespaced": true,
                "group": "autoscaling",
                "version": "v1",
                "kind": "Scale",
                "verbs": ["get", "patch", "update"],
            }));
        }
        if t.group.is_empty() && t.plural == "serviceaccounts" {
            resources.push(json!({
                "name": "serviceaccounts/token",
                "singularName": "",
                "namespaced": true,
                "group": "authentication.k8s.io",
                "version": "v1",
                "kind": "TokenRequest",
                "verbs": ["create"],
            }));
        }
        if t.status_subresource {
            resources.push(json!({
                "name": format!("{}/status", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": ["get", "patch", "update"],
            }));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }))
}

/// The OpenAPI v3 root: one document per group/version.
pub fn openapi_root(types: &[Arc<ResourceType>], revision: u64) -> Value {
    let mut paths = BTreeMap::new();
    for t in types {
        let path = if t.group.is_empty() {
            format!("api/{}", t.version)
        } else {
            format!("apis/{}/{}", t.group, t.version)
        };
        let url = format!("/openapi/v3/{path}?hash={revision:016X}");
        paths.insert(path, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

fn schema_name(t: &ResourceType) -> String {
    let reversed: Vec<&str> = if t.group.is_empty() {
        vec!["io", "k8s", "api", "core"]
    } else {
        t.group.split('.').rev().collect()
    };
    format!("{}.{}.{}", reversed.join("."), t.version, t.kind)
}

fn parameter(name: &str, location: &str) -> Value {
    json!({"name": name, "in": location, "schema": {"type": "string", "uniqueItems": true}})
}

/// The OpenAPI v3 document of one group/version: operations tagged with their
/// group/version/kind, `fieldValidation` among the parameters, and CRD schemas.
pub fn openapi_group_version(
    types: &[Arc<ResourceType>],
    group: &str,
    version: &str,
) -> Option<Value> {
    let served: Vec<&Arc<ResourceType>> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if served.is_empty() {
        return None;
    }
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for t in served {
        let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
        let reference = json!({"$ref": format!("#/components/schemas/{}", schema_name(t))});
        let content = |types: &[&str]| -> Value {
            types
                .iter()
                .map(|ct| (ct.to_string(), json!({"schema": reference})))
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        let operation = |action: &str| {
            json!({
                "operationId": format!("{action}{}", t.kind),
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [parameter("dryRun", "query"), parameter("fieldManager", "query"), parameter("fieldValidation", "query")],
                "responses": {"200": {"description": "OK", "content": content(&["application/json"])}},
            })
        };
        let mut patch = operation("patch");
        // Strategic merge is not advertised, even for built-ins: kubectl would then compute its
        // patches from these schemaless documents; without it, it uses its compiled-in types.
        patch["requestBody"] = json!({"content": content(&[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ])});
        if let Some(params) = patch["parameters"].as_array_mut() {
            params.push(parameter("force", "query"));
        }
        let mut item = json!({
            "get": operation("get"),
            "put": operation("put"),
            "patch": patch,
            "delete": operation("delete"),
            "parameters": [parameter("name", "path"), parameter("fieldValidation", "query")],
        });
        let collection = if t.namespaced {
            if let Some(params) = item["parameters"].as_array_mut() {
                params.push(parameter("namespace", "path"));
            }
            format!("{prefix}/namespaces/{{namespace}}/{}", t.plural)
        } else {
            format!("{prefix}/{}", t.plural)
        };
        paths.insert(format!("{collection}/{{name}}"), item);
        paths.insert(
            collection,
            json!({"get": operation("list"), "post": operation("post")}),
        );
        let mut schema = match &t.schema {
            Some(s) => s.raw().clone(),
            None => json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        };
        schema["x-kubernetes-group-version-kind"] = json!([gvk]);
        schemas.insert(schema_name(t), schema);
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

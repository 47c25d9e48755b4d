//! The resource types the server knows: the built-in subset and those CRDs add.

use crate::schema::Schema;
use serde_json::{Value, json};
use std::sync::Arc;

/// A column of `kubectl get` (a CRD's `additionalPrinterColumns`, or a built-in's standard ones).
#[derive(Clone, Debug)]
pub struct PrinterColumn {
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub json_path: String,
}

/// One served group/version/resource.
#[derive(Clone, Debug)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub status_subresource: bool,
    /// A CRD's printer columns (after Name); built-ins' columns are in `table`.
    pub columns: Vec<PrinterColumn>,
    /// The version's `openAPIV3Schema`, compiled; `None` for the schemaless built-ins.
    pub schema: Option<Arc<Schema>>,
    /// Whether a CRD defines this type (its objects go when the CRD goes).
    pub custom: bool,
}

impl ResourceType {
    /// The group objects are stored under: `events.k8s.io` Events are the core Events seen
    /// through another schema, as in the API server (one store, both APIs list every event).
    pub fn storage_group(&self) -> &str {
        if self.group == "events.k8s.io" && self.plural == "events" {
            ""
        } else {
            &self.group
        }
    }

    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Verbs as discovery lists them.
    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    status: bool,
}

const fn builtin(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        kind,
        plural,
        namespaced,
        short_names: &[],
        status: false,
    }
}

/// The built-in types this emulator serves. Categories follow the real API server (`all`).
const BUILTINS: &[Builtin] = &[
    Builtin {
        short_names: &["ns"],
        status: true,
        ..builtin("", "v1", "Namespace", "namespaces", false)
    },
    Builtin {
        ..builtin("", "v1", "Secret", "secrets", true)
    },
    Builtin {
        short_names: &["cm"],
        ..builtin("", "v1", "ConfigMap", "configmaps", true)
    },
    Builtin {
        short_names: &["pvc"],
        status: true,
        ..builtin(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
        )
    },
    Builtin {
        short_names: &["svc"],
        status: true,
        ..builtin("", "v1", "Service", "services", true)
    },
    Builtin {
        short_names: &["sa"],
        ..builtin("", "v1", "ServiceAccount", "serviceaccounts", true)
    },
    Builtin {
        short_names: &["ev"],
        ..builtin("", "v1", "Event", "events", true)
    },
    Builtin {
        short_names: &["po"],
        status: true,
        ..builtin("", "v1", "Pod", "pods", true)
    },
    Builtin {
        short_names: &["deploy"],
        status: true,
        ..builtin("apps", "v1", "Deployment", "deployments", true)
    },
    Builtin {
        ..builtin(
            "discovery.k8s.io",
            "v1",
            "EndpointSlice",
            "endpointslices",
            true,
        )
    },
    Builtin {
        ..builtin("coordination.k8s.io", "v1", "Lease", "leases", true)
    },
    Builtin {
        short_names: &["ev"],
        ..builtin("events.k8s.io", "v1", "Event", "events", true)
    },
    Builtin {
        short_names: &["pdb"],
        status: true,
        ..builtin(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
        )
    },
    Builtin {
        ..builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
        )
    },
    Builtin {
        ..builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        )
    },
    Builtin {
        ..builtin("rbac.authorization.k8s.io", "v1", "Role", "roles", true)
    },
    Builtin {
        ..builtin(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
        )
    },
    Builtin {
        short_names: &["crd", "crds"],
        status: true,
        ..builtin(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        )
    },
];

/// The built-in types, in the order discovery lists them.
pub fn builtins() -> Vec<Arc<ResourceType>> {
    BUILTINS
        .iter()
        .map(|b| {
            let all = matches!(b.plural, "pods" | "services" | "deployments");
            Arc::new(ResourceType {
                group: b.group.into(),
                version: b.version.into(),
                kind: b.kind.into(),
                plural: b.plural.into(),
                singular: b.kind.to_ascii_lowercase(),
                namespaced: b.namespaced,
                short_names: b.short_names.iter().map(|s| s.to_string()).collect(),
                categories: if all { vec!["all".into()] } else { vec![] },
                status_subresource: b.status,
                columns: Vec::new(),
                schema: None,
                custom: false,
            })
        })
        .collect()
}

/// The object a fresh server starts with: the `default` namespace (and the system ones kubectl expects).
pub fn initial_namespaces() -> Vec<Value> {
    ["default", "kube-system", "kube-public", "kube-node-lease"]
        .iter()
        .map(|name| {
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            })
        })
        .collect()
}

//! Pieces shared by every kind: references, Discord ids, status conditions, printer columns.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every kind in this crate.
pub const GROUP: &str = "kaltura-discord.io";
/// The one served and stored version.
pub const VERSION: &str = "v1alpha1";
/// `kubectl get kaltura-discord` lists every kind.
pub const CATEGORY: &str = "kaltura-discord";

/// A Discord snowflake: a 64-bit id written as decimal digits.
pub const SNOWFLAKE_PATTERN: &str = "^[0-9]{17,20}$";
/// A role or channel named either by its Discord name or by its snowflake id.
pub const NAME_OR_ID_PATTERN: &str = r"^[^@#:`]{1,100}$";

/// A key of a Secret in the same namespace as the resource naming it.
/// Credentials are only ever named, never written inline.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key inside the Secret's data.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

/// A reference to another resource of this API in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LocalRef {
    /// Name of the referenced resource.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// A Kubernetes quantity such as `100m`, `0.5`, `256Mi` or `1G`.
pub const QUANTITY_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$";

/// CPU and memory of a container; an amount left out takes the operator's default.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ResourceAmounts {
    /// CPU, e.g. `100m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub cpu: Option<String>,
    /// Memory, e.g. `256Mi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = QUANTITY_PATTERN))]
    pub memory: Option<String>,
}

/// Requests and limits of a workload's containers.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ComputeResources {
    /// What the scheduler reserves (default 50m CPU, 128Mi memory).
    #[serde(default)]
    pub requests: ResourceAmounts,
    /// The most a container may use (default 512Mi memory, no CPU limit).
    #[serde(default)]
    pub limits: ResourceAmounts,
}

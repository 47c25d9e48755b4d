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

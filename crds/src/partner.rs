//! `KalturaPartner`: one Kaltura account and how sessions (KS) are minted for it.

use crate::common::SecretKeyRef;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A Kaltura account (partner). Its admin secret stays in a Secret; the operator checks it
/// against Kaltura and reports `CredentialsValid`.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kaltura-discord.io",
    version = "v1alpha1",
    kind = "KalturaPartner",
    doc = "A Kaltura account (partner) and how sessions are minted for it.",
    namespaced,
    status = "KalturaPartnerStatus",
    shortname = "kp",
    category = "kaltura-discord",
    printcolumn = r#"{"name":"Partner","type":"integer","jsonPath":".spec.partnerId"}"#,
    printcolumn = r#"{"name":"Account","type":"string","jsonPath":".status.partnerName"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct KalturaPartnerSpec {
    /// Kaltura partner id.
    #[schemars(range(min = 1))]
    pub partner_id: i64,
    /// Base URL of the Kaltura API (without `/api_v3`).
    #[serde(default = "default_service_url")]
    #[x_kube(validation = kube::core::Rule::new("self.matches('^https?://[^/?#]+/?$')").message("must be an http(s) URL with no path, e.g. https://www.kaltura.com"))]
    pub service_url: String,
    /// The partner's admin secret.
    pub admin_secret_ref: SecretKeyRef,
    /// Secret that signs HTTP event notifications; Kaltura signs with the admin secret when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret_ref: Option<SecretKeyRef>,
    /// Lifetime and privileges of the sessions (KS) minted for each use.
    #[serde(default)]
    pub sessions: SessionPolicies,
    /// The Kaltura player used by Watch Together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub player: Option<PlayerSettings>,
}

fn default_service_url() -> String {
    "https://www.kaltura.com".into()
}

/// Session policy per use, so a playback KS never carries meeting privileges.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionPolicies {
    /// Sessions handed to viewers of one entry.
    #[serde(default = "SessionPolicy::playback")]
    pub playback: SessionPolicy,
    /// Sessions embedded in meeting join links.
    #[serde(default = "SessionPolicy::meetings")]
    pub meetings: SessionPolicy,
    /// Sessions used for search on behalf of a member.
    #[serde(default = "SessionPolicy::search")]
    pub search: SessionPolicy,
}

impl Default for SessionPolicies {
    fn default() -> Self {
        Self {
            playback: SessionPolicy::playback(),
            meetings: SessionPolicy::meetings(),
            search: SessionPolicy::search(),
        }
    }
}

/// How long a KS lives and which privileges it carries besides those the bot adds per use.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionPolicy {
    /// Lifetime in seconds (1 minute to 7 days).
    #[schemars(range(min = 60, max = 604800))]
    pub expiry_seconds: i64,
    /// Extra KS privileges, each `name` or `name:value` (e.g. `privacycontext:campus`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(regex(pattern = r"^[a-zA-Z]+(:[^,]+)?$")))]
    #[x_kube(validation = kube::core::Rule::new("!self.exists(p, p.startsWith('setrole:') || p == 'disableentitlement')").message("setrole and disableentitlement are decided per member by the role mapping, not here"))]
    pub privileges: Vec<String>,
}

impl SessionPolicy {
    fn with_expiry(expiry_seconds: i64) -> Self {
        Self {
            expiry_seconds,
            privileges: Vec::new(),
        }
    }
    fn playback() -> Self {
        Self::with_expiry(3600)
    }
    fn meetings() -> Self {
        Self::with_expiry(4 * 3600)
    }
    fn search() -> Self {
        Self::with_expiry(600)
    }
}

/// The player a Watch Together room loads.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlayerSettings {
    /// uiConf id of a Kaltura player v7 configuration.
    #[schemars(range(min = 1))]
    pub ui_conf_id: i64,
}

/// What the operator last learnt about the partner.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct KalturaPartnerStatus {
    /// Generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and `CredentialsValid`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The account name Kaltura reports for the partner id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_name: Option<String>,
    /// When the credentials were last checked against Kaltura (periodically, not per reconcile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_time: Option<Time>,
}

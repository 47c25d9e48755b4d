//! The kaltura-discord API (`kaltura-discord.io/v1alpha1`): the custom-resource types, their
//! schemas, defaults and CEL rules, the CRD generator, and offline validation of manifests.

pub mod application;
pub mod command;
pub mod common;
pub mod guild;
pub mod notification;
pub mod partner;
pub mod references;
pub mod role_mapping;
pub mod template;
pub mod validation;

pub use application::{DiscordApplication, DiscordApplicationSpec, DiscordApplicationStatus};
pub use common::{CATEGORY, GROUP, LocalRef, SecretKeyRef, VERSION};
pub use guild::{GuildConfig, GuildConfigSpec, GuildConfigStatus};
pub use notification::{NotificationRule, NotificationRuleSpec, NotificationRuleStatus};
pub use partner::{KalturaPartner, KalturaPartnerSpec, KalturaPartnerStatus};
pub use role_mapping::{RoleMapping, RoleMappingSpec, RoleMappingStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The CRDs of every kind, in the order they are written out.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        KalturaPartner::crd(),
        DiscordApplication::crd(),
        GuildConfig::crd(),
        RoleMapping::crd(),
        NotificationRule::crd(),
    ]
}

/// One CRD as a YAML document, as committed in the Helm chart.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> String {
    serde_yaml_ng::to_string(crd).expect("a CRD serializes to YAML")
}

/// File name of a CRD in the chart's `crds/` folder: `<plural>.<group>.yaml`.
pub fn crd_file_name(crd: &CustomResourceDefinition) -> String {
    format!(
        "{}.yaml",
        crd.metadata
            .name
            .as_deref()
            .expect("a generated CRD has a name")
    )
}

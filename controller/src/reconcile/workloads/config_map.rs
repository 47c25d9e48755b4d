//! The ConfigMap that holds the rendered runtime config the pods mount.

use super::{Inputs, metadata};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;
use std::collections::BTreeMap;

/// The file name of the runtime config inside the mounted ConfigMap.
pub const CONFIG_FILE: &str = "config.json";

pub fn config_map_name(app: &str) -> String {
    format!("{app}-config")
}

pub fn config(inputs: &Inputs) -> ConfigMap {
    ConfigMap {
        metadata: metadata(inputs, &config_map_name(&inputs.app.name_any()), "config"),
        data: Some(BTreeMap::from([(
            CONFIG_FILE.to_string(),
            inputs.rendered.config.to_json(),
        )])),
        ..ConfigMap::default()
    }
}

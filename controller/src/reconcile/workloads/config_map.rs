//! The ConfigMaps that hold the rendered runtime config: an index (`<app>-config`) and the
//! guilds in parts (`<app>-config-<k>`), each well under the API's 1 MiB, which the workloads
//! read and watch through the Kubernetes API ([`kd_core::config::parts`]).

use super::{Inputs, metadata};
use k8s_openapi::api::core::v1::ConfigMap;
use kd_core::config::parts::Pieces;
use kube::ResourceExt;
use std::collections::BTreeMap;

/// The key of the index inside `<app>-config`.
pub const INDEX_KEY: &str = "index.json";
/// The key of a part's guilds inside `<app>-config-<k>`.
pub const PART_KEY: &str = "guilds.json";

pub fn config_map_name(app: &str) -> String {
    format!("{app}-config")
}

/// The name of part `part` of the config whose index is the ConfigMap `index`.
pub fn part_name(index: &str, part: usize) -> String {
    format!("{index}-{part}")
}

/// The parts first, then the index: a reader that sees the new index finds its parts written.
/// Each with the digest of its text (a part's own, the index's revision).
pub fn config_maps(inputs: &Inputs, pieces: &Pieces) -> Vec<(ConfigMap, String)> {
    let index_name = config_map_name(&inputs.app.name_any());
    let object = |name: String, key: &str, text: String| ConfigMap {
        metadata: metadata(inputs, &name, "config"),
        data: Some(BTreeMap::from([(key.to_string(), text)])),
        ..ConfigMap::default()
    };
    pieces
        .parts
        .iter()
        .enumerate()
        .map(|(k, part)| {
            let map = object(part_name(&index_name, k), PART_KEY, part.text.clone());
            (map, part.digest.clone())
        })
        .chain([(
            object(index_name.clone(), INDEX_KEY, pieces.index.to_json()),
            pieces.index.revision.clone(),
        )])
        .collect()
}

//! The volume claim that holds the SQLite database the bot and the Activity share.

use super::{Inputs, metadata};
use k8s_openapi::api::core::v1::{
    PersistentVolumeClaim, PersistentVolumeClaimSpec, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::ResourceExt;
use std::collections::BTreeMap;

pub fn data_claim_name(app: &str) -> String {
    format!("{app}-data")
}

pub fn data_claim(inputs: &Inputs) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: metadata(inputs, &data_claim_name(&inputs.app.name_any()), "data"),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity("1Gi".into()),
                )])),
                ..VolumeResourceRequirements::default()
            }),
            ..PersistentVolumeClaimSpec::default()
        }),
        ..PersistentVolumeClaim::default()
    }
}

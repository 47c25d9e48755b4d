//! A PodDisruptionBudget for a Deployment that runs several replicas, so a node drain takes
//! its pods down one at a time. A single replica gets none: a budget would block the drain.

use super::{Inputs, metadata};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

pub fn disruption_budget(inputs: &Inputs, deployment: &Deployment) -> Option<PodDisruptionBudget> {
    let spec = &deployment.spec;
    if spec.replicas.unwrap_or(1) < 2 {
        return None;
    }
    let meta = &deployment.metadata;
    let component = meta
        .labels
        .as_ref()
        .and_then(|l| l.get(super::COMPONENT_LABEL))
        .map_or("bot", String::as_str);
    Some(PodDisruptionBudget {
        metadata: metadata(inputs, meta.name.as_deref()?, component),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(spec.selector.clone()),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    })
}

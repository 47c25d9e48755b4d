//! The reconcile core, shared by the Kubernetes and the folder backends: plain functions from
//! the resources to what should run.

pub mod conditions;
pub mod digest;
pub mod finalizer;
pub mod incremental;
pub mod render;
pub mod status;
pub mod verification;
pub mod workloads;

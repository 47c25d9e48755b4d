//! The kaltura-discord operator: manifest sources, the reconcile pipeline and its backends.

pub mod error;
mod folder;
pub mod local;
pub mod manifests;
pub mod operator;
pub mod reconcile;

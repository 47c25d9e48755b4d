//! The kaltura-discord operator: manifest sources, the reconcile pipeline and its backends.

mod folder;
pub mod manifests;
pub mod operator;
pub mod reconcile;

//! The kaltura-discord operator: manifest sources, the reconcile pipeline and its backends.

pub mod config_watch;
pub mod error;
mod folder;
pub mod local;
pub mod manifests;
pub mod operator;
pub mod reconcile;

//! The Discord bot. Command logic is plain functions over data (this crate's modules); the
//! twilight gateway and HTTP edges call into it.

pub mod commands;
pub mod config_source;
pub mod execute;
pub mod invocation;
pub mod logging;
pub mod logic;
pub mod metrics;
pub mod reply;
pub mod runtime;

//! The Discord bot: an adapter over the domain core (`kd-core`). An interaction is planned into
//! a typed request (`plan`), gated and carried out by the core, and rendered back as Discord
//! messages (`render`); the twilight gateway and HTTP edges are in `runtime`, which sends the
//! command sets `registration` decides on; `user_sync` keeps members' Kaltura users in step,
//! and `notify` delivers notifications from the outbox.

pub mod buttons;
pub mod claim;
pub mod commands;
pub mod config_source;
pub mod endpoint;
pub mod handle;
pub mod identify;
pub mod invocation;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod plan;
pub mod registration;
pub mod render;
pub mod reply;
pub mod runtime;
pub mod shards;
pub mod user_sync;

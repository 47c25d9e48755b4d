//! The domain core of kaltura-discord, free of twilight, axum and kube: the runtime config and
//! the bot report (the operator's contract), roles, settings and overrides, join tokens, and
//! the Kaltura clients of the partners. The bot and the HTTP API are adapters over it.

pub mod command;
pub mod config;
pub mod join_token;
pub mod kaltura;
pub mod report;
pub mod roles;
pub mod secrets;
pub mod settings;

//! The domain core of kaltura-discord, free of twilight, axum and kube: the command
//! vocabulary, the runtime config and the bot report (the operator's contract), roles, the
//! gate, settings and overrides, join tokens, the partners' Kaltura clients, and the typed
//! operations on meetings and videos. The bot and the HTTP API are adapters over it: Discord
//! interaction or HTTP request -> [`scope::Scope`] -> [`gate`] -> operation -> reply.

pub mod command;
pub mod config;
pub mod error;
pub mod gate;
pub mod join_token;
pub mod kaltura;
pub mod meetings;
pub mod metrics;
pub mod notifications;
pub mod overrides;
pub mod report;
pub mod roles;
pub mod scope;
pub mod secrets;
pub mod services;
pub mod settings;
#[cfg(test)]
mod testing;
pub mod user_sync;
pub mod videos;

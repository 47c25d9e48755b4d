//! The Discord bot. Command logic is plain functions over data (this crate's modules); the
//! twilight gateway and HTTP edges call into it.

pub mod commands;
pub mod config;
pub mod invocation;
pub mod join_token;
pub mod logic;
pub mod reply;
pub mod roles;
pub mod settings;

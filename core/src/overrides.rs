//! A guild's Discord-side overrides in the store: read for every request, set and reset by
//! `/kaltura-config`.

use crate::error::Failure;
use crate::gate::Allowed;
use crate::settings::{self, Overrides};
use kd_store::Store;
use std::time::Duration;

/// How long a request waits for the guild's stored settings before going on without them:
/// an answer from the GuildConfig alone beats no answer inside Discord's 3 s.
pub const READ_BOUND: Duration = Duration::from_millis(500);

/// The guild's overrides, and whether they are missing: when the store fails or does not
/// answer within [`READ_BOUND`], none (the GuildConfig alone is in force), logged.
pub async fn load(store: &Store, guild_id: &str) -> (Overrides, bool) {
    let error = match tokio::time::timeout(READ_BOUND, store.overrides(guild_id)).await {
        Ok(Ok(overrides)) => return (overrides, false),
        Ok(Err(err)) => err.to_string(),
        Err(_) => format!("no answer within {READ_BOUND:?}"),
    };
    tracing::warn!(
        guild = guild_id,
        error,
        "reading stored settings failed; answering from the GuildConfig alone"
    );
    (Overrides::default(), true)
}

/// Overrides `key` with `value`, if the GuildConfig delegates it and the value is valid.
pub async fn set(store: &Store, who: &Allowed, key: &str, value: &str) -> Result<(), Failure> {
    settings::check_override(&who.guild.declared, key, value).map_err(Failure::Setting)?;
    store
        .set_override(&who.guild_id, key, value, &who.member.id)
        .await
        .map_err(|e| Failure::Store("save the setting", e.to_string()))
}

/// Drops the override of `key`; false when there was none.
pub async fn reset(store: &Store, who: &Allowed, key: &str) -> Result<bool, Failure> {
    store
        .reset_override(&who.guild_id, key)
        .await
        .map_err(|e| Failure::Store("reset the setting", e.to_string()))
}

/// The setting keys this guild's admins may override that contain `typed`.
pub fn overridable_keys(who: &Allowed, typed: &str) -> Vec<String> {
    settings::keys()
        .into_iter()
        .filter(|k| settings::is_overridable(&who.guild.declared, k) && k.contains(typed))
        .collect()
}

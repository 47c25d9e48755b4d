//! A guild's Discord-side overrides in the store: read for every request, set and reset by
//! `/kaltura-config`.

use crate::error::Failure;
use crate::gate::Allowed;
use crate::settings::{self, Overrides};
use kd_store::Store;

/// The guild's overrides; when the store cannot be read, none (the GuildConfig alone is in
/// force), logged.
pub async fn load(store: &Store, guild_id: &str) -> Overrides {
    match store.overrides(guild_id).await {
        Ok(overrides) => overrides,
        Err(err) => {
            tracing::error!(error = %err, "reading overrides failed; using the GuildConfig alone");
            Overrides::default()
        }
    }
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

//! The caller of an API route, let through the core's gate as the slash command the route
//! stands for (configured guild, feature on, roles allowed, with the guild's overrides).

use crate::Api;
use crate::auth::ApiClaims;
use crate::error::ApiError;
use kd_core::command::Command;
use kd_core::gate::Allowed;
use kd_core::scope::{Member, Scope};
use kd_core::services::Services;

/// Lets the caller run `command` in their guild, or says why not.
pub async fn allow(api: &Api, caller: &ApiClaims, command: Command) -> Result<Allowed, ApiError> {
    let member = Member {
        id: caller.sub.clone(),
        display_name: caller.name.clone(),
        roles: caller.roles.iter().map(|r| r.id.clone()).collect(),
        // API tokens carry no Discord permissions, and no route changes settings.
        manages_guild: false,
    };
    let config = api.config.borrow().clone();
    let scope = Scope::load(
        config,
        &api.store,
        &caller.guild,
        member,
        caller.roles.clone(),
    )
    .await;
    Ok(scope.allow(command)?)
}

impl Api {
    /// What the core's operations talk to.
    pub fn services(&self) -> Services<'_> {
        Services {
            store: &self.store,
            kaltura: &self.kaltura,
            join_key: &self.join_key,
        }
    }
}

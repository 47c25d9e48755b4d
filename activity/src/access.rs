//! The same gate as the slash commands: an API call is run through the bot's command logic as
//! the command it corresponds to (configured guild, feature on, member's roles allowed, options
//! valid), with the guild's Discord-side overrides applied.

use crate::Api;
use crate::auth::ApiClaims;
use crate::error::ApiError;
use kd_bot::invocation::{Action, Invocation, Member, Value};
use kd_bot::logic::{self, Context, Plan};
use kd_bot::reply::Reply;
use kd_core::config::{GuildRuntime, PartnerRuntime, RuntimeConfig};
use kd_core::roles::GuildRole;
use kd_core::settings;
use kd_kaltura::Client;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A caller allowed to run a command in their guild.
pub struct Access {
    pub config: Arc<RuntimeConfig>,
    /// The guild as declared in Git (its partner and role mapping).
    pub declared: GuildRuntime,
    /// With Discord-side overrides applied (features and permissions may be overridden).
    pub effective: GuildRuntime,
    pub roles: Vec<GuildRole>,
    pub inv: Invocation,
}

/// Lets the caller run `command`, or says why not.
pub async fn allow(api: &Api, caller: &ApiClaims, command: &str) -> Result<Access, ApiError> {
    let config = api.config.borrow().clone();
    let inv = Invocation {
        id: String::new(),
        token: String::new(),
        guild_id: caller.guild.clone(),
        channel_id: String::new(),
        member: Member {
            id: caller.sub.clone(),
            display_name: caller.name.clone(),
            roles: caller.roles.iter().map(|r| r.id.clone()).collect(),
            permissions: 0,
        },
        action: Action::Command {
            name: command.into(),
            subcommand: None,
            options: BTreeMap::new(),
        },
    };
    let Some(declared) = config.guild(&caller.guild).cloned() else {
        return Err(logic::Refusal::NotConfigured {
            guild_id: caller.guild.clone(),
        }
        .into());
    };
    let overrides = match api.store.overrides(&caller.guild).await {
        Ok(o) => o,
        Err(err) => {
            tracing::error!(error = %err, "reading overrides failed; using the GuildConfig alone");
            Default::default()
        }
    };
    let access = Access {
        effective: settings::apply(&declared, &overrides),
        declared,
        config,
        roles: caller.roles.clone(),
        inv,
    };
    logic::gate(&access.context(), &access.inv, command)?;
    Ok(access)
}

impl Access {
    fn context(&self) -> Context<'_> {
        Context {
            config: &self.config,
            guild: Some(&self.effective),
            guild_roles: &self.roles,
        }
    }

    /// Plans the command with these options as the bot would; what the bot would refuse to do
    /// with them is a bad request.
    pub fn plan(&mut self, options: &[(&str, Value)]) -> Result<Plan, ApiError> {
        if let Action::Command { options: set, .. } = &mut self.inv.action {
            set.extend(options.iter().map(|(k, v)| (k.to_string(), v.clone())));
        }
        match logic::plan(&self.context(), &self.inv) {
            Plan::Reply(Reply::Message(message)) => Err(ApiError::bad_request(message.content)),
            plan => Ok(plan),
        }
    }

    pub fn partner(&self) -> Result<&PartnerRuntime, ApiError> {
        self.config.partner_of(&self.declared).ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "kaltura_not_configured",
                "This server has no Kaltura partner configured.",
            )
        })
    }

    /// A Kaltura client of the guild's partner.
    pub fn client(&self, api: &Api) -> Result<Client, ApiError> {
        let partner = self.partner()?;
        api.kaltura
            .client(partner)
            .map_err(|f| ApiError::kaltura_setup(&f))
    }
}

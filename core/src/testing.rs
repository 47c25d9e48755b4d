//! Fixtures of the unit tests: a runtime config with one guild whose `Teacher` role (id 100)
//! maps to moderator and alone may start meetings.

use crate::config::{ApplicationRuntime, GuildRuntime, PartnerRuntime, RoleTable, RuntimeConfig};
use crate::roles::GuildRole;
use crate::scope::Member;
use kd_crds::guild::{Channels, Features, Templates};
use kd_crds::role_mapping::{RoleRule, RoleSelector};
use std::collections::BTreeMap;

pub const GUILD: &str = "1283874310720716890";

pub fn config(activity: bool) -> RuntimeConfig {
    let guild = GuildRuntime {
        config_name: "physics".into(),
        partner: "campus".into(),
        features: Features {
            watch_together: true,
            ..Features::default()
        },
        permissions: BTreeMap::from([(
            crate::command::Command::Start.permission_key().to_string(),
            vec!["Teacher".to_string()],
        )]),
        channels: Channels::default(),
        templates: Templates::default(),
        overridable: vec![],
        roles: RoleTable {
            rules: vec![RoleRule {
                discord_role: RoleSelector {
                    name: Some("Teacher".into()),
                    id: None,
                },
                kaltura_role: "moderator".into(),
                priority: 10,
            }],
            default: "viewer".into(),
        },
        notification_rules: Vec::new(),
    };
    let secret = kd_crds::SecretKeyRef {
        name: "s".into(),
        key: "k".into(),
    };
    RuntimeConfig::new(
        ApplicationRuntime {
            name: "bot".into(),
            namespace: "ns".into(),
            application_id: "1".into(),
            bot_token_ref: secret.clone(),
            client_secret_ref: None,
            public_url: activity.then(|| "https://watch.example.org".into()),
            activity_enabled: activity,
            intents: vec![kd_crds::application::Intent::Guilds],
            command_scope: Default::default(),
            deleting: false,
        },
        BTreeMap::from([(
            "campus".to_string(),
            PartnerRuntime {
                partner_id: 42,
                service_url: "https://www.kaltura.com".into(),
                admin_secret_ref: secret,
                sessions: Default::default(),
                player_ui_conf_id: Some(7),
                webhook_secret_ref: None,
            },
        )]),
        BTreeMap::from([(GUILD.to_string(), guild)]),
    )
}

pub fn teacher_role() -> GuildRole {
    GuildRole {
        id: "100".into(),
        name: "Teacher".into(),
    }
}

pub fn member(roles: &[&str], manages_guild: bool) -> Member {
    Member {
        id: "111".into(),
        display_name: "Ada".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        manages_guild,
    }
}

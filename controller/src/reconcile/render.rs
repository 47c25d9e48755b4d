//! Renders each DiscordApplication's runtime configuration from the resources that refer to it.
//! Resources with reference errors are left out (their status says why), so one broken
//! GuildConfig never stops the others.

use kd_core::config::parts::Pieces;
use kd_core::config::{
    ApplicationRuntime, GuildRuntime, PartnerRuntime, RoleTable, RuleRuntime, RuntimeConfig,
};
use kd_crds::references::{Catalog, Finding, Lookup, ObjectKey, Severity, check};
use kd_crds::{DiscordApplication, GuildConfig, KalturaPartner};
use kube::ResourceExt;
use std::collections::{BTreeMap, BTreeSet};

/// One application's rendered configuration and the guilds left out of it.
#[derive(Debug)]
pub struct Rendered {
    pub application: ObjectKey,
    pub config: RuntimeConfig,
    /// The config as the operator writes it, and each guild's revision.
    pub pieces: Pieces,
    /// GuildConfig names not rendered because of errors.
    pub left_out: Vec<String>,
}

fn namespace<K: ResourceExt>(obj: &K) -> String {
    obj.namespace().unwrap_or_else(|| "default".into())
}

fn object_key<K: ResourceExt>(kind: &'static str, obj: &K) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: namespace(obj),
        name: obj.name_any(),
    }
}

fn partner_runtime(partner: &KalturaPartner) -> PartnerRuntime {
    PartnerRuntime {
        partner_id: partner.spec.partner_id,
        service_url: partner.spec.service_url.clone(),
        admin_secret_ref: partner.spec.admin_secret_ref.clone(),
        sessions: partner.spec.sessions.clone(),
        player_ui_conf_id: partner.spec.player.as_ref().map(|p| p.ui_conf_id),
        webhook_secret_ref: partner.spec.webhook_secret_ref.clone(),
    }
}

/// Every application's runtime configuration, from a consistent set of resources.
pub fn render(catalog: &Catalog) -> Vec<Rendered> {
    render_checked(catalog, &check(catalog))
}

/// [`render`] with the catalog's findings at hand.
pub fn render_checked(catalog: &Catalog, findings: &[Finding]) -> Vec<Rendered> {
    let broken: BTreeSet<ObjectKey> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.object.clone())
        .collect();
    let lookup = catalog.lookup();
    catalog
        .applications
        .iter()
        .filter(|app| !broken.contains(&object_key("DiscordApplication", *app)))
        .map(|app| render_application(catalog, &lookup, app, &broken))
        .collect()
}

fn render_application(
    catalog: &Catalog,
    lookup: &Lookup,
    app: &DiscordApplication,
    broken: &BTreeSet<ObjectKey>,
) -> Rendered {
    let ns = namespace(app);
    let mut partners = BTreeMap::new();
    let mut guilds = BTreeMap::new();
    let mut left_out = Vec::new();
    let mut clearing = BTreeSet::new();
    let ours = catalog
        .guilds
        .iter()
        .filter(|g| namespace(*g) == ns && g.spec.application_ref.name == app.name_any());
    for guild in ours {
        // Being deleted, broken or not: the bot is to remove its commands (see `finalizer`).
        if guild.metadata.deletion_timestamp.is_some() {
            clearing.insert(guild.spec.guild_id.clone());
            continue;
        }
        if broken.contains(&object_key("GuildConfig", guild)) {
            left_out.push(guild.name_any());
            continue;
        }
        let partner_name = partner_name(guild, app);
        let Some(partner) = lookup.partner(&ns, &partner_name) else {
            left_out.push(guild.name_any());
            continue;
        };
        partners.insert(partner_name.clone(), partner_runtime(partner));
        guilds.insert(
            guild.spec.guild_id.clone(),
            guild_runtime(lookup, guild, partner_name, broken),
        );
    }
    // A guild another GuildConfig still serves keeps its commands.
    clearing.retain(|id| !guilds.contains_key(id));
    let application = ApplicationRuntime {
        name: app.name_any(),
        namespace: ns,
        application_id: app.spec.application_id.clone(),
        bot_token_ref: app.spec.bot_token_ref.clone(),
        client_secret_ref: app.spec.client_secret_ref.clone(),
        public_url: app.spec.activity.public_url.clone(),
        activity_enabled: app.spec.activity.enabled,
        intents: app.spec.bot.intents.clone(),
        command_scope: app.spec.bot.command_scope,
        // Its global commands go before it does (see `finalizer`).
        deleting: app.metadata.deletion_timestamp.is_some(),
    };
    let (config, pieces) = RuntimeConfig::sealed(application, partners, guilds, clearing);
    Rendered {
        application: object_key("DiscordApplication", app),
        config,
        pieces,
        left_out,
    }
}

fn partner_name(guild: &GuildConfig, app: &DiscordApplication) -> String {
    guild
        .spec
        .partner_ref
        .as_ref()
        .or(app.spec.default_partner_ref.as_ref())
        .map(|r| r.name.clone())
        .unwrap_or_default()
}

fn guild_runtime(
    lookup: &Lookup,
    guild: &GuildConfig,
    partner: String,
    broken: &BTreeSet<ObjectKey>,
) -> GuildRuntime {
    let (ns, name) = (namespace(guild), guild.name_any());
    let roles = lookup
        .role_mappings_of(&ns, &name)
        .iter()
        .find(|m| !broken.contains(&object_key("RoleMapping", **m)))
        .map(|m| RoleTable {
            rules: m.spec.rules.clone(),
            default: m.spec.default.clone(),
        })
        .unwrap_or_default();
    let notification_rules = lookup
        .notification_rules_of(&ns, &name)
        .iter()
        .filter(|r| !broken.contains(&object_key("NotificationRule", **r)))
        .map(|r| RuleRuntime {
            name: format!("{ns}/{}", r.name_any()),
            spec: r.spec.clone(),
        })
        .collect();
    let spec = &guild.spec;
    GuildRuntime {
        config_name: guild.name_any(),
        partner,
        features: spec.features.clone(),
        permissions: spec.commands.permissions.clone(),
        channels: spec.channels.clone(),
        templates: spec.templates.clone(),
        overridable: spec.discord_overrides.allowed.clone(),
        roles,
        notification_rules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests;
    use std::path::Path;

    fn examples() -> Catalog {
        manifests::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"))
            .unwrap()
            .catalog
    }

    #[test]
    fn the_examples_render_one_application_with_both_guilds() {
        let rendered = render(&examples());
        assert_eq!(rendered.len(), 1);
        let config = &rendered[0].config;
        assert!(rendered[0].left_out.is_empty());
        assert_eq!(config.application.application_id, "1283874310720716800");
        assert_eq!(config.guilds.len(), 2);
        let physics = config.guild("1283874310720716890").unwrap();
        assert_eq!(physics.config_name, "physics-101");
        assert_eq!(physics.roles.rules.len(), 3);
        assert_eq!(config.partner_of(physics).unwrap().partner_id, 2365491);
        assert_eq!(
            config.partner_of(physics).unwrap().player_ui_conf_id,
            Some(52876002)
        );
    }

    #[test]
    fn the_revision_follows_the_content_only() {
        let catalog = examples();
        let first = render(&catalog).remove(0).config;
        assert_eq!(
            first.revision,
            render(&catalog).remove(0).config.revision,
            "rendering is deterministic"
        );
        let mut changed = catalog.clone();
        changed.guilds[0].spec.features.video_search =
            !changed.guilds[0].spec.features.video_search;
        let second = render(&changed).remove(0).config;
        assert_ne!(first.revision, second.revision);
        let reread = kd_core::config::RuntimeConfig::from_json(&second.to_json()).unwrap();
        assert_eq!(reread, second);
    }

    #[test]
    fn a_tampered_config_is_refused() {
        let config = render(&examples()).remove(0).config;
        let tampered = config
            .to_json()
            .replace("\"videoSearch\": true", "\"videoSearch\": false");
        assert_ne!(tampered, config.to_json());
        let err = kd_core::config::RuntimeConfig::from_json(&tampered).unwrap_err();
        assert!(err.contains("does not match its content"), "{err}");
    }

    #[test]
    fn a_broken_guild_is_left_out_and_the_others_still_render() {
        let mut catalog = examples();
        let mut copy = catalog.guilds[0].clone();
        copy.metadata.name = Some("copy".into());
        copy.spec.partner_ref = Some(kd_crds::LocalRef {
            name: "nope".into(),
        });
        copy.spec.guild_id = "1283874310720716001".into();
        catalog.guilds.push(copy);
        let rendered = render(&catalog).remove(0);
        assert_eq!(rendered.left_out, ["copy"]);
        assert_eq!(rendered.config.guilds.len(), 2);
    }

    #[test]
    fn a_deleted_guild_is_rendered_for_clearing_unless_another_serves_it() {
        let mut catalog = examples();
        let deleted = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-12-02T20:00:00Z".parse().unwrap(),
        ));
        catalog.guilds[0].metadata.deletion_timestamp = deleted;
        let id = catalog.guilds[0].spec.guild_id.clone();
        let config = render(&catalog).remove(0).config;
        assert!(config.guild(&id).is_none());
        assert_eq!(config.clearing, [id.clone()].into());
        assert_ne!(
            config.revision,
            render(&examples()).remove(0).config.revision
        );
        let mut copy = examples().guilds[0].clone();
        copy.metadata.name = Some("copy".into());
        catalog.guilds.push(copy);
        let config = render(&catalog).remove(0).config;
        assert!(config.guild(&id).is_some() && config.clearing.is_empty());
    }

    #[test]
    fn the_command_scope_and_a_deletion_reach_the_config() {
        let mut catalog = examples();
        let guild_scope = render(&catalog).remove(0).config;
        assert_eq!(
            guild_scope.application.command_scope,
            kd_crds::application::CommandScope::Guild
        );
        catalog.applications[0].spec.bot.command_scope = kd_crds::application::CommandScope::Global;
        let global = render(&catalog).remove(0).config;
        assert!(global.global_commands_wanted());
        assert_ne!(global.revision, guild_scope.revision);
        catalog.applications[0].metadata.deletion_timestamp =
            Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                "2026-12-02T20:00:00Z".parse().unwrap(),
            ));
        let deleting = render(&catalog).remove(0).config;
        assert!(deleting.application.deleting && !deleting.global_commands_wanted());
        assert_eq!(
            deleting.guilds, global.guilds,
            "its guilds are served meanwhile"
        );
    }

    #[test]
    fn the_rendered_config_holds_no_secret_values() {
        let config = render(&examples()).remove(0).config.to_json();
        for planted in [
            "REPLACE-WITH-KALTURA-ADMIN-SECRET",
            "REPLACE-WITH-DISCORD-BOT-TOKEN",
            "REPLACE-WITH-DISCORD-OAUTH-CLIENT-SECRET",
        ] {
            assert!(
                !config.contains(planted),
                "{planted} leaked into the runtime config"
            );
        }
        assert!(config.contains("\"adminSecretRef\""), "references stay");
    }
}

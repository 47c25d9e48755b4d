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

/// One application's rendered configuration and the guilds left out of it. Built from each
/// GuildConfig's [`Contribution`]; kept from pass to pass, it takes the contributions that
/// changed ([`Rendered::apply`]) and rewrites only what they touch.
#[derive(Debug)]
pub struct Rendered {
    pub application: ObjectKey,
    pub config: RuntimeConfig,
    /// The config as the operator writes it, and each guild's revision.
    pub pieces: Pieces,
    /// GuildConfig names not rendered because of errors.
    pub left_out: BTreeSet<String>,
    /// How many guilds name each partner, and ask for each guild to be cleared.
    partner_uses: BTreeMap<String, usize>,
    clearing_asked: BTreeMap<String, usize>,
}

/// What one GuildConfig puts into its application's config.
#[derive(Clone, Debug, PartialEq)]
pub enum Contribution {
    /// Being deleted, broken or not: the bot is to remove its commands (see `finalizer`).
    Clearing(String),
    /// Not rendered because of errors (its status says why), by GuildConfig name.
    LeftOut(String),
    /// The guild by id.
    Guild(String, Box<GuildRuntime>),
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

/// The objects with reference errors: left out of what is rendered.
pub fn broken(findings: &[Finding]) -> BTreeSet<ObjectKey> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.object.clone())
        .collect()
}

/// [`render`] with the catalog's findings at hand.
pub fn render_checked(catalog: &Catalog, findings: &[Finding]) -> Vec<Rendered> {
    let broken = broken(findings);
    let lookup = catalog.lookup();
    catalog
        .applications
        .iter()
        .filter(|app| !broken.contains(&object_key("DiscordApplication", &***app)))
        .map(|app| {
            let mut rendered = Rendered::new(app);
            let ns = namespace(&**app);
            let ours = catalog
                .guilds
                .iter()
                .filter(|g| namespace(&***g) == ns && g.spec.application_ref.name == app.name_any())
                .map(|g| contribution(&lookup, app, g, &broken));
            rendered.apply(&lookup, app, Vec::new(), ours.collect());
            rendered
        })
        .collect()
}

/// What GuildConfig `guild` of application `app` puts into its config.
pub fn contribution(
    lookup: &Lookup,
    app: &DiscordApplication,
    guild: &GuildConfig,
    broken: &BTreeSet<ObjectKey>,
) -> Contribution {
    if guild.metadata.deletion_timestamp.is_some() {
        return Contribution::Clearing(guild.spec.guild_id.clone());
    }
    if broken.contains(&object_key("GuildConfig", guild)) {
        return Contribution::LeftOut(guild.name_any());
    }
    let partner_name = partner_name(guild, app);
    if lookup.partner(&namespace(app), &partner_name).is_none() {
        return Contribution::LeftOut(guild.name_any());
    }
    Contribution::Guild(
        guild.spec.guild_id.clone(),
        Box::new(guild_runtime(lookup, guild, partner_name, broken)),
    )
}

impl Rendered {
    /// The config of `app` with no guilds yet.
    pub fn new(app: &DiscordApplication) -> Self {
        let application = application_runtime(app);
        let config = RuntimeConfig::new(application, BTreeMap::new(), BTreeMap::new());
        Self {
            application: object_key("DiscordApplication", app),
            pieces: Pieces::of(&config),
            config,
            left_out: BTreeSet::new(),
            partner_uses: BTreeMap::new(),
            clearing_asked: BTreeMap::new(),
        }
    }

    /// A rendering of `config` as it stands, for tests of what reads one.
    #[cfg(test)]
    pub(crate) fn of(application: ObjectKey, config: RuntimeConfig) -> Self {
        Self {
            application,
            pieces: Pieces::of(&config),
            config,
            left_out: BTreeSet::new(),
            partner_uses: BTreeMap::new(),
            clearing_asked: BTreeMap::new(),
        }
    }

    /// Takes back the contributions `removed` (each as it was given) and adds `added`, then
    /// rewrites the pieces of the guilds they touch; `app` and its partners as they are now.
    pub fn apply(
        &mut self,
        lookup: &Lookup,
        app: &DiscordApplication,
        removed: Vec<Contribution>,
        added: Vec<Contribution>,
    ) {
        let mut touched = BTreeSet::new();
        for c in removed {
            match c {
                Contribution::Clearing(id) => {
                    release(&mut self.clearing_asked, &id);
                    touched.insert(id);
                }
                Contribution::LeftOut(name) => {
                    self.left_out.remove(&name);
                }
                Contribution::Guild(id, guild) => {
                    release(&mut self.partner_uses, &guild.partner);
                    // A guild claimed twice is left out for both, so one id has one guild.
                    self.config.guilds.remove(&id);
                    touched.insert(id);
                }
            }
        }
        for c in added {
            match c {
                Contribution::Clearing(id) => {
                    *self.clearing_asked.entry(id.clone()).or_default() += 1;
                    touched.insert(id);
                }
                Contribution::LeftOut(name) => {
                    self.left_out.insert(name);
                }
                Contribution::Guild(id, guild) => {
                    *self.partner_uses.entry(guild.partner.clone()).or_default() += 1;
                    self.config.guilds.insert(id.clone(), *guild);
                    touched.insert(id);
                }
            }
        }
        let ns = namespace(app);
        self.config.application = application_runtime(app);
        self.config.partners = self
            .partner_uses
            .keys()
            .filter_map(|name| Some((name.clone(), partner_runtime(lookup.partner(&ns, name)?))))
            .collect();
        // A guild another GuildConfig still serves keeps its commands.
        self.config.clearing = self
            .clearing_asked
            .keys()
            .filter(|id| !self.config.guilds.contains_key(*id))
            .cloned()
            .collect();
        let guilds = &self.config.guilds;
        self.pieces.update(
            self.config.application.clone(),
            self.config.partners.clone(),
            self.config.clearing.clone(),
            touched.into_iter().map(|id| {
                let guild = guilds.get(&id);
                (id, guild)
            }),
        );
        self.config.revision = self.pieces.index.revision.clone();
    }
}

/// One fewer of `key`; gone at none.
fn release(counts: &mut BTreeMap<String, usize>, key: &str) {
    if let Some(n) = counts.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            counts.remove(key);
        }
    }
}

fn application_runtime(app: &DiscordApplication) -> ApplicationRuntime {
    ApplicationRuntime {
        name: app.name_any(),
        namespace: namespace(app),
        application_id: app.spec.application_id.clone(),
        bot_token_ref: app.spec.bot_token_ref.clone(),
        client_secret_ref: app.spec.client_secret_ref.clone(),
        public_url: app.spec.activity.public_url.clone(),
        activity_enabled: app.spec.activity.enabled,
        intents: app.spec.bot.intents.clone(),
        command_scope: app.spec.bot.command_scope,
        // Its global commands go before it does (see `finalizer`).
        deleting: app.metadata.deletion_timestamp.is_some(),
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
        .find(|m| !broken.contains(&object_key("RoleMapping", &***m)))
        .map(|m| RoleTable {
            rules: m.spec.rules.clone(),
            default: m.spec.default.clone(),
        })
        .unwrap_or_default();
    let notification_rules = lookup
        .notification_rules_of(&ns, &name)
        .iter()
        .filter(|r| !broken.contains(&object_key("NotificationRule", &***r)))
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
    use std::sync::Arc;

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
        let guild = Arc::make_mut(&mut changed.guilds[0]);
        guild.spec.features.video_search = !guild.spec.features.video_search;
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
        let mut copy = (*catalog.guilds[0]).clone();
        copy.metadata.name = Some("copy".into());
        copy.spec.partner_ref = Some(kd_crds::LocalRef {
            name: "nope".into(),
        });
        copy.spec.guild_id = "1283874310720716001".into();
        catalog.guilds.push(copy.into());
        let rendered = render(&catalog).remove(0);
        assert_eq!(rendered.left_out, BTreeSet::from(["copy".to_string()]));
        assert_eq!(rendered.config.guilds.len(), 2);
    }

    #[test]
    fn a_deleted_guild_is_rendered_for_clearing_unless_another_serves_it() {
        let mut catalog = examples();
        let deleted = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            "2026-12-02T20:00:00Z".parse().unwrap(),
        ));
        Arc::make_mut(&mut catalog.guilds[0])
            .metadata
            .deletion_timestamp = deleted;
        let id = catalog.guilds[0].spec.guild_id.clone();
        let config = render(&catalog).remove(0).config;
        assert!(config.guild(&id).is_none());
        assert_eq!(config.clearing, [id.clone()].into());
        assert_ne!(
            config.revision,
            render(&examples()).remove(0).config.revision
        );
        let mut copy = (*examples().guilds[0]).clone();
        copy.metadata.name = Some("copy".into());
        catalog.guilds.push(copy.into());
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
        Arc::make_mut(&mut catalog.applications[0])
            .spec
            .bot
            .command_scope = kd_crds::application::CommandScope::Global;
        let global = render(&catalog).remove(0).config;
        assert!(global.global_commands_wanted());
        assert_ne!(global.revision, guild_scope.revision);
        Arc::make_mut(&mut catalog.applications[0])
            .metadata
            .deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
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

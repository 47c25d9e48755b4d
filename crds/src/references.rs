//! Checks between resources: what no single object's schema can see. Shared by
//! `kaltura-discord validate` and the reconcile core, so both say the same thing.

use crate::validation::Problem;
use crate::{
    DiscordApplication, GuildConfig, KalturaPartner, NotificationRule, RoleMapping, SecretKeyRef,
};
use kube::ResourceExt;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The keys a Secret holds (values are never needed for checking).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretKeys {
    pub namespace: String,
    pub name: String,
    pub keys: BTreeSet<String>,
}

/// Every resource of a folder or a namespace set.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub partners: Vec<KalturaPartner>,
    pub applications: Vec<DiscordApplication>,
    pub guilds: Vec<GuildConfig>,
    pub role_mappings: Vec<RoleMapping>,
    pub notification_rules: Vec<NotificationRule>,
    pub secrets: Vec<SecretKeys>,
}

/// Identifies the resource a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

/// Errors make a set of manifests unusable; warnings name what the cluster may still supply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub object: ObjectKey,
    pub severity: Severity,
    pub problem: Problem,
}

fn ns<K: ResourceExt>(obj: &K) -> String {
    obj.namespace().unwrap_or_else(|| "default".into())
}

fn key<K: ResourceExt>(kind: &'static str, obj: &K) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: ns(obj),
        name: obj.name_any(),
    }
}

/// An object's namespace and name, borrowed.
fn at<K: ResourceExt>(obj: &K) -> (&str, &str) {
    let meta = obj.meta();
    (
        meta.namespace.as_deref().unwrap_or("default"),
        meta.name.as_deref().unwrap_or_default(),
    )
}

/// Values by namespace, then name (nested, so borrowed keys of any lifetime look them up).
type ByName<'a, V> = HashMap<&'a str, HashMap<&'a str, V>>;

fn by_name<K: ResourceExt>(items: &[K]) -> ByName<'_, &K> {
    let mut map: ByName<'_, &K> = HashMap::new();
    for o in items {
        let (namespace, name) = at(o);
        map.entry(namespace).or_default().insert(name, o);
    }
    map
}

fn get<'a, V>(map: &'a ByName<'_, V>, namespace: &str, name: &str) -> Option<&'a V> {
    map.get(namespace)?.get(name)
}

/// The catalog's resources by namespace and name, and the guild-scoped ones by the GuildConfig
/// they name: built once, so a catalog of thousands of guilds is looked through in linear
/// time, not quadratic.
pub struct Lookup<'a> {
    partners: ByName<'a, &'a KalturaPartner>,
    applications: ByName<'a, &'a DiscordApplication>,
    guilds: ByName<'a, &'a GuildConfig>,
    role_mappings: ByName<'a, Vec<&'a RoleMapping>>,
    notification_rules: ByName<'a, Vec<&'a NotificationRule>>,
}

impl Catalog {
    pub fn lookup(&self) -> Lookup<'_> {
        let mut role_mappings: ByName<'_, Vec<_>> = HashMap::new();
        for m in &self.role_mappings {
            role_mappings
                .entry(at(m).0)
                .or_default()
                .entry(m.spec.guild_config_ref.name.as_str())
                .or_default()
                .push(m);
        }
        let mut notification_rules: ByName<'_, Vec<_>> = HashMap::new();
        for r in &self.notification_rules {
            notification_rules
                .entry(at(r).0)
                .or_default()
                .entry(r.spec.guild_config_ref.name.as_str())
                .or_default()
                .push(r);
        }
        Lookup {
            partners: by_name(&self.partners),
            applications: by_name(&self.applications),
            guilds: by_name(&self.guilds),
            role_mappings,
            notification_rules,
        }
    }
}

impl<'a> Lookup<'a> {
    pub fn partner(&self, namespace: &str, name: &str) -> Option<&'a KalturaPartner> {
        get(&self.partners, namespace, name).copied()
    }

    pub fn application(&self, namespace: &str, name: &str) -> Option<&'a DiscordApplication> {
        get(&self.applications, namespace, name).copied()
    }

    pub fn guild(&self, namespace: &str, name: &str) -> Option<&'a GuildConfig> {
        get(&self.guilds, namespace, name).copied()
    }

    /// The RoleMappings naming GuildConfig `guild`, in catalog order.
    pub fn role_mappings_of(&self, namespace: &str, guild: &str) -> &[&'a RoleMapping] {
        get(&self.role_mappings, namespace, guild).map_or(&[], Vec::as_slice)
    }

    /// The NotificationRules naming GuildConfig `guild`, in catalog order.
    pub fn notification_rules_of(&self, namespace: &str, guild: &str) -> &[&'a NotificationRule] {
        get(&self.notification_rules, namespace, guild).map_or(&[], Vec::as_slice)
    }
}

struct Checker<'a> {
    catalog: &'a Catalog,
    lookup: Lookup<'a>,
    findings: Vec<Finding>,
}

impl Checker<'_> {
    fn error(&mut self, object: &ObjectKey, path: &str, message: String) {
        self.push(object, Severity::Error, path, message);
    }

    fn push(&mut self, object: &ObjectKey, severity: Severity, path: &str, message: String) {
        self.findings.push(Finding {
            object: object.clone(),
            severity,
            problem: Problem::new(path, message),
        });
    }

    /// A Secret missing from the set is only a warning: in a cluster it often comes from
    /// elsewhere (sealed or external secrets). A Secret that is there must hold the key.
    fn secret(&mut self, object: &ObjectKey, path: &str, secret: &SecretKeyRef) {
        let found = self
            .catalog
            .secrets
            .iter()
            .find(|s| s.namespace == object.namespace && s.name == secret.name);
        match found {
            None => self.push(
                object,
                Severity::Warning,
                path,
                format!(
                    "Secret {:?} is not among these manifests; it must exist in namespace {:?}",
                    secret.name, object.namespace
                ),
            ),
            Some(s) if !s.keys.contains(&secret.key) => self.error(
                object,
                path,
                format!(
                    "Secret {:?} has no key {:?} (it has: {})",
                    secret.name,
                    secret.key,
                    s.keys.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
            ),
            Some(_) => {}
        }
    }

    fn partners(&mut self) {
        for partner in &self.catalog.partners {
            let k = key("KalturaPartner", partner);
            self.secret(&k, "spec.adminSecretRef", &partner.spec.admin_secret_ref);
            if let Some(webhook) = &partner.spec.webhook_secret_ref {
                self.secret(&k, "spec.webhookSecretRef", webhook);
            }
        }
    }

    fn applications(&mut self) {
        for app in &self.catalog.applications {
            let k = key("DiscordApplication", app);
            let spec = &app.spec;
            self.secret(&k, "spec.botTokenRef", &spec.bot_token_ref);
            let optional = [
                ("spec.clientSecretRef", &spec.client_secret_ref),
                ("spec.publicKeyRef", &spec.public_key_ref),
                (
                    "spec.storage.postgresDsnRef",
                    &spec.storage.postgres_dsn_ref,
                ),
            ];
            for (path, secret) in optional {
                if let Some(secret) = secret {
                    self.secret(&k, path, secret);
                }
            }
            if let Some(partner) = &spec.default_partner_ref
                && self.lookup.partner(&k.namespace, &partner.name).is_none()
            {
                self.error(
                    &k,
                    "spec.defaultPartnerRef.name",
                    format!("KalturaPartner {:?} not found", partner.name),
                );
            }
        }
    }

    fn guilds(&mut self) {
        let mut by_guild: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
        for guild in &self.catalog.guilds {
            let k = key("GuildConfig", guild);
            let spec = &guild.spec;
            // One being deleted is on its way out: the GuildConfig replacing it is no duplicate.
            if guild.metadata.deletion_timestamp.is_none() {
                by_guild
                    .entry((
                        k.namespace.clone(),
                        spec.application_ref.name.clone(),
                        spec.guild_id.clone(),
                    ))
                    .or_default()
                    .push(k.name.clone());
            }
            let Some(app) = self
                .lookup
                .application(&k.namespace, &spec.application_ref.name)
            else {
                self.error(
                    &k,
                    "spec.applicationRef.name",
                    format!(
                        "DiscordApplication {:?} not found",
                        spec.application_ref.name
                    ),
                );
                continue;
            };
            let partner = match (&spec.partner_ref, &app.spec.default_partner_ref) {
                (Some(own), _) => {
                    let found = self.lookup.partner(&k.namespace, &own.name);
                    if found.is_none() {
                        self.error(
                            &k,
                            "spec.partnerRef.name",
                            format!("KalturaPartner {:?} not found", own.name),
                        );
                    }
                    found
                }
                (None, Some(default)) => self.lookup.partner(&k.namespace, &default.name),
                (None, None) => {
                    self.error(
                        &k,
                        "spec.partnerRef",
                        format!("no Kaltura partner: set spec.partnerRef or DiscordApplication {:?} spec.defaultPartnerRef", app.name_any()),
                    );
                    None
                }
            };
            if spec.features.watch_together {
                if !app.spec.activity.enabled {
                    self.error(
                        &k,
                        "spec.features.watchTogether",
                        format!("needs the Activity: DiscordApplication {:?} has spec.activity.enabled false", app.name_any()),
                    );
                }
                if let Some(p) = partner.filter(|p| p.spec.player.is_none()) {
                    self.error(
                        &k,
                        "spec.features.watchTogether",
                        format!(
                            "needs a player: KalturaPartner {:?} has no spec.player.uiConfId",
                            p.name_any()
                        ),
                    );
                }
            }
            if spec.features.user_sync
                && !app
                    .spec
                    .bot
                    .intents
                    .contains(&crate::application::Intent::GuildMembers)
            {
                self.error(
                    &k,
                    "spec.features.userSync",
                    format!(
                        "needs the GuildMembers intent in DiscordApplication {:?} spec.bot.intents",
                        app.name_any()
                    ),
                );
            }
        }
        for ((namespace, app, guild_id), names) in by_guild {
            if names.len() > 1 {
                for name in &names {
                    let k = ObjectKey {
                        kind: "GuildConfig",
                        namespace: namespace.clone(),
                        name: name.clone(),
                    };
                    self.error(
                        &k,
                        "spec.guildId",
                        format!(
                            "guild {guild_id} of application {app:?} is configured twice: {}",
                            names.join(", ")
                        ),
                    );
                }
            }
        }
    }

    /// A guild-scoped resource must name an existing GuildConfig; one RoleMapping per guild.
    fn guild_scoped(&mut self) {
        let mut mappings: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for mapping in &self.catalog.role_mappings {
            let k = key("RoleMapping", mapping);
            let target = &mapping.spec.guild_config_ref.name;
            if self.lookup.guild(&k.namespace, target).is_none() {
                self.error(
                    &k,
                    "spec.guildConfigRef.name",
                    format!("GuildConfig {target:?} not found"),
                );
            }
            mappings
                .entry((k.namespace.clone(), target.clone()))
                .or_default()
                .push(k.name);
        }
        for ((namespace, guild), names) in mappings.into_iter().filter(|(_, n)| n.len() > 1) {
            for name in &names {
                let k = ObjectKey {
                    kind: "RoleMapping",
                    namespace: namespace.clone(),
                    name: name.clone(),
                };
                self.error(
                    &k,
                    "spec.guildConfigRef.name",
                    format!(
                        "GuildConfig {guild:?} has several RoleMappings: {}",
                        names.join(", ")
                    ),
                );
            }
        }
        for rule in &self.catalog.notification_rules {
            let k = key("NotificationRule", rule);
            let target = &rule.spec.guild_config_ref.name;
            match self.lookup.guild(&k.namespace, target) {
                None => self.error(&k, "spec.guildConfigRef.name", format!("GuildConfig {target:?} not found")),
                Some(guild) if !guild.spec.features.notifications => self.push(
                    &k,
                    Severity::Warning,
                    "spec.guildConfigRef.name",
                    format!("GuildConfig {target:?} has features.notifications false: nothing is delivered"),
                ),
                Some(_) => {}
            }
        }
    }
}

/// Every finding about references between the resources of `catalog`, errors and warnings.
pub fn check(catalog: &Catalog) -> Vec<Finding> {
    let mut checker = Checker {
        catalog,
        lookup: catalog.lookup(),
        findings: Vec::new(),
    };
    checker.partners();
    checker.applications();
    checker.guilds();
    checker.guild_scoped();
    checker.findings
}

//! Checks between resources: what no single object's schema can see. Shared by
//! `kaltura-discord validate` and the reconcile core, so both say the same thing.

use crate::validation::Problem;
use crate::{
    DiscordApplication, GuildConfig, KalturaPartner, NotificationRule, RoleMapping, SecretKeyRef,
};
use kube::ResourceExt;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// The keys a Secret holds (values are never needed for checking).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecretKeys {
    pub namespace: String,
    pub name: String,
    pub keys: BTreeSet<String>,
}

/// Every resource of a folder or a namespace set. Shared, not owned: the operator's caches
/// hold each object once, and a pass's catalog of thousands of guilds costs a pointer each.
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    pub partners: Vec<Arc<KalturaPartner>>,
    pub applications: Vec<Arc<DiscordApplication>>,
    pub guilds: Vec<Arc<GuildConfig>>,
    pub role_mappings: Vec<Arc<RoleMapping>>,
    pub notification_rules: Vec<Arc<NotificationRule>>,
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

fn by_name<K: ResourceExt>(items: &[Arc<K>]) -> ByName<'_, &Arc<K>> {
    let mut map: ByName<'_, &Arc<K>> = HashMap::new();
    for o in items {
        let (namespace, name) = at(&**o);
        map.entry(namespace).or_default().insert(name, o);
    }
    map
}

fn get<'a, V>(map: &'a ByName<'_, V>, namespace: &str, name: &str) -> Option<&'a V> {
    map.get(namespace)?.get(name)
}

/// A GuildConfig and the RoleMappings and NotificationRules that name it: what one guild's
/// checks, rendering and statuses read besides its namespace's partners, applications and
/// Secrets. A unit may lack its GuildConfig (the others then name a missing one).
#[derive(Clone, Debug, Default)]
pub struct Unit<'a> {
    pub guild: Option<&'a Arc<GuildConfig>>,
    pub role_mappings: Vec<&'a Arc<RoleMapping>>,
    pub notification_rules: Vec<&'a Arc<NotificationRule>>,
}

/// The GuildConfigs (not being deleted) claiming each guild of an application, by namespace,
/// application and guild id (nested, like [`ByName`]): more than one is an error for all.
type Claims<'a> = HashMap<&'a str, ByName<'a, Vec<&'a str>>>;

/// The catalog's resources by namespace and name, and the guild-scoped ones by the GuildConfig
/// they name: built once, so a catalog of thousands of guilds is looked through in linear
/// time, not quadratic.
pub struct Lookup<'a> {
    partners: ByName<'a, &'a Arc<KalturaPartner>>,
    applications: ByName<'a, &'a Arc<DiscordApplication>>,
    /// Every unit, by namespace and GuildConfig name.
    units: ByName<'a, Unit<'a>>,
    claims: Claims<'a>,
}

impl Catalog {
    pub fn lookup(&self) -> Lookup<'_> {
        let mut units: ByName<'_, Unit<'_>> = HashMap::new();
        let mut claims: Claims<'_> = HashMap::new();
        for g in &self.guilds {
            let (namespace, name) = at(&**g);
            units
                .entry(namespace)
                .or_default()
                .entry(name)
                .or_default()
                .guild = Some(g);
            // One being deleted is on its way out: the GuildConfig replacing it is no duplicate.
            if g.metadata.deletion_timestamp.is_none() {
                claims
                    .entry(namespace)
                    .or_default()
                    .entry(g.spec.application_ref.name.as_str())
                    .or_default()
                    .entry(g.spec.guild_id.as_str())
                    .or_default()
                    .push(name);
            }
        }
        for m in &self.role_mappings {
            let unit = units.entry(at(&**m).0).or_default();
            let unit = unit
                .entry(m.spec.guild_config_ref.name.as_str())
                .or_default();
            unit.role_mappings.push(m);
        }
        for r in &self.notification_rules {
            let unit = units.entry(at(&**r).0).or_default();
            let unit = unit
                .entry(r.spec.guild_config_ref.name.as_str())
                .or_default();
            unit.notification_rules.push(r);
        }
        Lookup {
            partners: by_name(&self.partners),
            applications: by_name(&self.applications),
            units,
            claims,
        }
    }
}

impl<'a> Lookup<'a> {
    pub fn partner(&self, namespace: &str, name: &str) -> Option<&'a KalturaPartner> {
        get(&self.partners, namespace, name).map(|p| &***p)
    }

    pub fn application(&self, namespace: &str, name: &str) -> Option<&'a DiscordApplication> {
        get(&self.applications, namespace, name).map(|a| &***a)
    }

    pub fn guild(&self, namespace: &str, name: &str) -> Option<&'a GuildConfig> {
        self.unit(namespace, name)?.guild.map(|g| &**g)
    }

    /// The unit of GuildConfig `name` (it may name a missing GuildConfig).
    pub fn unit(&self, namespace: &str, name: &str) -> Option<&Unit<'a>> {
        get(&self.units, namespace, name)
    }

    /// Every unit with its namespace and GuildConfig name.
    pub fn units(&self) -> impl Iterator<Item = (&'a str, &'a str, &Unit<'a>)> {
        self.units
            .iter()
            .flat_map(|(ns, units)| units.iter().map(move |(name, unit)| (*ns, *name, unit)))
    }

    /// The RoleMappings naming GuildConfig `guild`, in catalog order.
    pub fn role_mappings_of(&self, namespace: &str, guild: &str) -> &[&'a Arc<RoleMapping>] {
        self.unit(namespace, guild)
            .map_or(&[], |u| u.role_mappings.as_slice())
    }

    /// The NotificationRules naming GuildConfig `guild`, in catalog order.
    pub fn notification_rules_of(
        &self,
        namespace: &str,
        guild: &str,
    ) -> &[&'a Arc<NotificationRule>] {
        self.unit(namespace, guild)
            .map_or(&[], |u| u.notification_rules.as_slice())
    }

    /// The names of the GuildConfigs claiming guild `guild_id` of application `app`.
    pub fn claims(&self, namespace: &str, app: &str, guild_id: &str) -> &[&'a str] {
        self.claims
            .get(namespace)
            .and_then(|apps| get(apps, app, guild_id))
            .map_or(&[], Vec::as_slice)
    }
}

struct Checker<'a, 'l> {
    catalog: &'a Catalog,
    lookup: &'l Lookup<'a>,
    findings: Vec<Finding>,
}

impl Checker<'_, '_> {
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
            let k = key("KalturaPartner", &**partner);
            self.secret(&k, "spec.adminSecretRef", &partner.spec.admin_secret_ref);
            if let Some(webhook) = &partner.spec.webhook_secret_ref {
                self.secret(&k, "spec.webhookSecretRef", webhook);
            }
        }
    }

    fn applications(&mut self) {
        for app in &self.catalog.applications {
            let k = key("DiscordApplication", &**app);
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

    /// A GuildConfig's references and claim, and its RoleMappings and NotificationRules:
    /// each must name an existing GuildConfig, and one RoleMapping per guild.
    fn unit(&mut self, name: &str, unit: &Unit) {
        if let Some(guild) = unit.guild {
            self.guild(guild);
        }
        let several = unit.role_mappings.len() > 1;
        let names = || {
            unit.role_mappings
                .iter()
                .map(|m| m.name_any())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for mapping in &unit.role_mappings {
            let k = key("RoleMapping", &***mapping);
            if unit.guild.is_none() {
                self.error(
                    &k,
                    "spec.guildConfigRef.name",
                    format!("GuildConfig {name:?} not found"),
                );
            }
            if several {
                self.error(
                    &k,
                    "spec.guildConfigRef.name",
                    format!("GuildConfig {name:?} has several RoleMappings: {}", names()),
                );
            }
        }
        for rule in &unit.notification_rules {
            let k = key("NotificationRule", &***rule);
            match unit.guild {
                None => self.error(&k, "spec.guildConfigRef.name", format!("GuildConfig {name:?} not found")),
                Some(guild) if !guild.spec.features.notifications => self.push(
                    &k,
                    Severity::Warning,
                    "spec.guildConfigRef.name",
                    format!("GuildConfig {name:?} has features.notifications false: nothing is delivered"),
                ),
                Some(_) => {}
            }
        }
    }

    fn guild(&mut self, guild: &GuildConfig) {
        let k = key("GuildConfig", guild);
        let spec = &guild.spec;
        let claims = self
            .lookup
            .claims(&k.namespace, &spec.application_ref.name, &spec.guild_id);
        if claims.len() > 1 && guild.metadata.deletion_timestamp.is_none() {
            self.error(
                &k,
                "spec.guildId",
                format!(
                    "guild {} of application {:?} is configured twice: {}",
                    spec.guild_id,
                    spec.application_ref.name,
                    claims.join(", ")
                ),
            );
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
            return;
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
}

/// Every finding about references between the resources of `catalog`, errors and warnings.
pub fn check(catalog: &Catalog) -> Vec<Finding> {
    let lookup = catalog.lookup();
    let mut findings = check_shared(catalog, &lookup);
    for (_, name, unit) in lookup.units() {
        findings.extend(check_unit(catalog, &lookup, name, unit));
    }
    findings
}

/// The findings about the partners and applications: what every unit of their namespace reads.
pub fn check_shared(catalog: &Catalog, lookup: &Lookup) -> Vec<Finding> {
    let mut checker = Checker {
        catalog,
        lookup,
        findings: Vec::new(),
    };
    checker.partners();
    checker.applications();
    checker.findings
}

/// The findings about one unit's objects.
pub fn check_unit(catalog: &Catalog, lookup: &Lookup, name: &str, unit: &Unit) -> Vec<Finding> {
    let mut checker = Checker {
        catalog,
        lookup,
        findings: Vec::new(),
    };
    checker.unit(name, unit);
    checker.findings
}

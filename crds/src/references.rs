//! Checks between resources: what no single object's schema can see. Shared by
//! `kaltura-discord validate` and the reconcile core, so both say the same thing.

use crate::validation::Problem;
use crate::{
    DiscordApplication, GuildConfig, KalturaPartner, NotificationRule, RoleMapping, SecretKeyRef,
};
use kube::ResourceExt;
use std::collections::{BTreeSet, HashMap, HashSet};
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

/// Values by namespace, then name (nested, so a borrowed pair of names looks them up).
type ByName<V> = HashMap<String, HashMap<String, V>>;

fn get<'m, V>(map: &'m ByName<V>, namespace: &str, name: &str) -> Option<&'m V> {
    map.get(namespace)?.get(name)
}

/// The value at `key`, made (a key allocated) only when missing.
fn slot<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("inserted above")
}

fn by_name<K: ResourceExt>(items: &[Arc<K>]) -> ByName<Arc<K>> {
    let mut map: ByName<Arc<K>> = HashMap::new();
    for o in items {
        let (namespace, name) = at(&**o);
        slot(&mut map, namespace).insert(name.to_string(), o.clone());
    }
    map
}

/// The objects every unit of a namespace reads: few, so each pass takes them whole.
#[derive(Clone, Debug, Default)]
pub struct Shared {
    pub partners: Vec<Arc<KalturaPartner>>,
    pub applications: Vec<Arc<DiscordApplication>>,
    pub secrets: Vec<SecretKeys>,
}

/// A GuildConfig and the RoleMappings and NotificationRules that name it (each by name):
/// what one guild's checks, rendering and statuses read besides its namespace's [`Shared`]
/// objects. A unit may lack its GuildConfig (the others then name a missing one).
#[derive(Clone, Debug, Default)]
pub struct Unit {
    pub guild: Option<Arc<GuildConfig>>,
    pub role_mappings: Vec<Arc<RoleMapping>>,
    pub notification_rules: Vec<Arc<NotificationRule>>,
}

impl Unit {
    fn is_empty(&self) -> bool {
        self.guild.is_none() && self.role_mappings.is_empty() && self.notification_rules.is_empty()
    }
}

/// A unit by namespace and GuildConfig name.
pub type UnitKey = (String, String);

/// The names of the GuildConfigs (not being deleted) claiming each guild of an application,
/// by namespace, application and guild id: more than one is an error for all.
type Claims = HashMap<String, ByName<Vec<String>>>;

/// The resources by namespace and name, and the guild-scoped ones by the GuildConfig they
/// name, so thousands of guilds are looked through in linear time, not quadratic. Built
/// whole from a [`Catalog`], or kept up to date object by object ([`Lookup::update`]), which
/// notes the units each change touches.
#[derive(Default)]
pub struct Lookup {
    partners: ByName<Arc<KalturaPartner>>,
    applications: ByName<Arc<DiscordApplication>>,
    units: ByName<Unit>,
    claims: Claims,
    /// The unit of each RoleMapping and of each NotificationRule.
    mapping_units: ByName<String>,
    rule_units: ByName<String>,
    /// Units whose objects or claims changed since [`Lookup::take_touched`].
    touched: HashSet<UnitKey>,
}

/// How the objects of one guild-scoped kind changed.
pub enum Delta<K> {
    /// These objects, by namespace and name, as they are now (`None`: gone).
    Some(Vec<(UnitKey, Option<Arc<K>>)>),
    /// Every object of the kind as it is now: what is not among them is gone.
    All(Vec<Arc<K>>),
}

impl<K> Default for Delta<K> {
    fn default() -> Self {
        Delta::Some(Vec::new())
    }
}

/// How the guild-scoped objects changed.
#[derive(Default)]
pub struct Changes {
    pub guilds: Delta<GuildConfig>,
    pub role_mappings: Delta<RoleMapping>,
    pub notification_rules: Delta<NotificationRule>,
}

impl Changes {
    /// Every object as `catalog` has it: what is not there is gone.
    pub fn all(catalog: &Catalog) -> Self {
        Self {
            guilds: Delta::All(catalog.guilds.clone()),
            role_mappings: Delta::All(catalog.role_mappings.clone()),
            notification_rules: Delta::All(catalog.notification_rules.clone()),
        }
    }
}

/// A guild-scoped kind, as the lookup files it.
pub trait Scoped: ResourceExt + Sized {
    fn put(lookup: &mut Lookup, object: Arc<Self>);
    fn remove(lookup: &mut Lookup, namespace: &str, name: &str);
    fn find<'l>(lookup: &'l Lookup, namespace: &str, name: &str) -> Option<&'l Arc<Self>>;
    fn keys(lookup: &Lookup) -> Vec<UnitKey>;
}

impl Scoped for GuildConfig {
    fn put(lookup: &mut Lookup, guild: Arc<Self>) {
        let (namespace, name) = at(&*guild);
        let (namespace, name) = (namespace.to_string(), name.to_string());
        lookup.unclaim(&namespace, &name);
        lookup.claim(&guild);
        slot(slot(&mut lookup.units, &namespace), &name).guild = Some(guild);
        lookup.touched.insert((namespace, name));
    }

    fn remove(lookup: &mut Lookup, namespace: &str, name: &str) {
        lookup.unclaim(namespace, name);
        lookup.edit_unit(namespace, name, |u| u.guild = None);
    }

    fn find<'l>(lookup: &'l Lookup, namespace: &str, name: &str) -> Option<&'l Arc<Self>> {
        get(&lookup.units, namespace, name)?.guild.as_ref()
    }

    fn keys(lookup: &Lookup) -> Vec<UnitKey> {
        lookup
            .units()
            .filter(|(_, _, u)| u.guild.is_some())
            .map(|(ns, name, _)| (ns.to_string(), name.to_string()))
            .collect()
    }
}

/// A RoleMapping or a NotificationRule: an object that names its GuildConfig.
pub trait Member: ResourceExt + Sized {
    fn guild_config(&self) -> &str;
    fn of_unit(unit: &mut Unit) -> &mut Vec<Arc<Self>>;
    fn in_unit(unit: &Unit) -> &[Arc<Self>];
    fn units_of(lookup: &mut Lookup) -> &mut ByName<String>;
    fn units_ref(lookup: &Lookup) -> &ByName<String>;
}

impl Member for RoleMapping {
    fn guild_config(&self) -> &str {
        &self.spec.guild_config_ref.name
    }
    fn of_unit(unit: &mut Unit) -> &mut Vec<Arc<Self>> {
        &mut unit.role_mappings
    }
    fn in_unit(unit: &Unit) -> &[Arc<Self>] {
        &unit.role_mappings
    }
    fn units_of(lookup: &mut Lookup) -> &mut ByName<String> {
        &mut lookup.mapping_units
    }
    fn units_ref(lookup: &Lookup) -> &ByName<String> {
        &lookup.mapping_units
    }
}

impl Member for NotificationRule {
    fn guild_config(&self) -> &str {
        &self.spec.guild_config_ref.name
    }
    fn of_unit(unit: &mut Unit) -> &mut Vec<Arc<Self>> {
        &mut unit.notification_rules
    }
    fn in_unit(unit: &Unit) -> &[Arc<Self>] {
        &unit.notification_rules
    }
    fn units_of(lookup: &mut Lookup) -> &mut ByName<String> {
        &mut lookup.rule_units
    }
    fn units_ref(lookup: &Lookup) -> &ByName<String> {
        &lookup.rule_units
    }
}

impl<M: Member> Scoped for M {
    fn put(lookup: &mut Lookup, object: Arc<Self>) {
        let (namespace, name) = at(&*object);
        let (namespace, name) = (namespace.to_string(), name.to_string());
        Self::remove(lookup, &namespace, &name);
        let unit_name = object.guild_config().to_string();
        let members = Self::of_unit(slot(slot(&mut lookup.units, &namespace), &unit_name));
        // By name: the same order however the objects came.
        let at = members
            .partition_point(|m| m.meta().name.as_deref().unwrap_or_default() < name.as_str());
        members.insert(at, object);
        slot(Self::units_of(lookup), &namespace).insert(name, unit_name.clone());
        lookup.touched.insert((namespace, unit_name));
    }

    fn remove(lookup: &mut Lookup, namespace: &str, name: &str) {
        let Some(unit) = Self::units_of(lookup)
            .get_mut(namespace)
            .and_then(|units| units.remove(name))
        else {
            return;
        };
        lookup.edit_unit(namespace, &unit, |u| {
            Self::of_unit(u).retain(|m| m.meta().name.as_deref() != Some(name))
        });
    }

    fn find<'l>(lookup: &'l Lookup, namespace: &str, name: &str) -> Option<&'l Arc<Self>> {
        let unit = get(Self::units_ref(lookup), namespace, name)?;
        Self::in_unit(get(&lookup.units, namespace, unit)?)
            .iter()
            .find(|m| m.meta().name.as_deref() == Some(name))
    }

    fn keys(lookup: &Lookup) -> Vec<UnitKey> {
        Self::units_ref(lookup)
            .iter()
            .flat_map(|(ns, names)| names.keys().map(move |name| (ns.clone(), name.clone())))
            .collect()
    }
}

impl Catalog {
    pub fn lookup(&self) -> Lookup {
        let mut lookup = Lookup::default();
        lookup.set_shared(&self.partners, &self.applications);
        lookup.apply(Changes::all(self));
        lookup.touched.clear();
        lookup
    }

    /// Its partners, applications and Secrets.
    pub fn shared(&self) -> Shared {
        Shared {
            partners: self.partners.clone(),
            applications: self.applications.clone(),
            secrets: self.secrets.clone(),
        }
    }
}

impl Lookup {
    /// Takes the partners and applications as they are now.
    pub fn set_shared(
        &mut self,
        partners: &[Arc<KalturaPartner>],
        applications: &[Arc<DiscordApplication>],
    ) {
        self.partners = by_name(partners);
        self.applications = by_name(applications);
    }

    /// Files the changes of one guild-scoped kind, noting the units they touch.
    pub fn update<K: Scoped>(&mut self, delta: Delta<K>) {
        match delta {
            Delta::Some(changes) => {
                for ((namespace, name), object) in changes {
                    match object {
                        Some(object) => K::put(self, object),
                        None => K::remove(self, &namespace, &name),
                    }
                }
            }
            Delta::All(objects) => {
                let now: HashSet<(&str, &str)> = objects.iter().map(|o| at(&**o)).collect();
                for (namespace, name) in K::keys(self) {
                    if !now.contains(&(namespace.as_str(), name.as_str())) {
                        K::remove(self, &namespace, &name);
                    }
                }
                for object in objects {
                    let (namespace, name) = at(&*object);
                    // The caches hand out a new `Arc` for every new version of an object.
                    let same =
                        K::find(self, namespace, name).is_some_and(|o| Arc::ptr_eq(o, &object));
                    if !same {
                        K::put(self, object);
                    }
                }
            }
        }
    }

    /// Files the changes of every guild-scoped kind.
    pub fn apply(&mut self, changes: Changes) {
        self.update(changes.guilds);
        self.update(changes.role_mappings);
        self.update(changes.notification_rules);
    }

    /// The units touched since the last call.
    pub fn take_touched(&mut self) -> HashSet<UnitKey> {
        std::mem::take(&mut self.touched)
    }

    /// Changes unit `name`, dropping it once empty, and notes it touched.
    fn edit_unit(&mut self, namespace: &str, name: &str, edit: impl FnOnce(&mut Unit)) {
        let Some(units) = self.units.get_mut(namespace) else {
            return;
        };
        let Some(unit) = units.get_mut(name) else {
            return;
        };
        edit(unit);
        if unit.is_empty() {
            units.remove(name);
        }
        self.touched
            .insert((namespace.to_string(), name.to_string()));
    }

    /// Adds the claim of `guild` (unless it is being deleted: one on its way out is no
    /// duplicate of the GuildConfig replacing it); the other claimants are touched.
    fn claim(&mut self, guild: &GuildConfig) {
        if guild.metadata.deletion_timestamp.is_some() {
            return;
        }
        let (namespace, name) = at(guild);
        let names = slot(
            slot(
                slot(&mut self.claims, namespace),
                &guild.spec.application_ref.name,
            ),
            &guild.spec.guild_id,
        );
        let at = names.partition_point(|n| n.as_str() < name);
        names.insert(at, name.to_string());
        for other in names.iter() {
            self.touched.insert((namespace.to_string(), other.clone()));
        }
    }

    /// Takes back the claim of GuildConfig `name`, if it has one; the others are touched.
    fn unclaim(&mut self, namespace: &str, name: &str) {
        let Some(old) = get(&self.units, namespace, name).and_then(|u| u.guild.clone()) else {
            return;
        };
        let spec = &old.spec;
        let Some(apps) = self.claims.get_mut(namespace) else {
            return;
        };
        let Some(guilds) = apps.get_mut(&spec.application_ref.name) else {
            return;
        };
        let Some(names) = guilds.get_mut(&spec.guild_id) else {
            return;
        };
        names.retain(|n| n != name);
        for other in names.iter() {
            self.touched.insert((namespace.to_string(), other.clone()));
        }
        if names.is_empty() {
            guilds.remove(&spec.guild_id);
            if guilds.is_empty() {
                apps.remove(&spec.application_ref.name);
            }
        }
    }

    pub fn partner(&self, namespace: &str, name: &str) -> Option<&KalturaPartner> {
        get(&self.partners, namespace, name).map(|p| &**p)
    }

    pub fn application(&self, namespace: &str, name: &str) -> Option<&DiscordApplication> {
        get(&self.applications, namespace, name).map(|a| &**a)
    }

    pub fn guild(&self, namespace: &str, name: &str) -> Option<&GuildConfig> {
        self.unit(namespace, name)?.guild.as_deref()
    }

    pub fn role_mapping(&self, namespace: &str, name: &str) -> Option<&RoleMapping> {
        RoleMapping::find(self, namespace, name).map(|m| &**m)
    }

    pub fn notification_rule(&self, namespace: &str, name: &str) -> Option<&NotificationRule> {
        NotificationRule::find(self, namespace, name).map(|r| &**r)
    }

    /// The unit RoleMapping or NotificationRule `name` is in.
    pub fn unit_of<M: Member>(&self, namespace: &str, name: &str) -> Option<&str> {
        get(M::units_ref(self), namespace, name).map(String::as_str)
    }

    /// The unit of GuildConfig `name` (it may name a missing GuildConfig).
    pub fn unit(&self, namespace: &str, name: &str) -> Option<&Unit> {
        get(&self.units, namespace, name)
    }

    /// Every unit with its namespace and GuildConfig name.
    pub fn units(&self) -> impl Iterator<Item = (&str, &str, &Unit)> {
        self.units.iter().flat_map(|(ns, units)| {
            units
                .iter()
                .map(move |(name, unit)| (ns.as_str(), name.as_str(), unit))
        })
    }

    /// The names of the units of one namespace.
    pub fn units_in(&self, namespace: &str) -> impl Iterator<Item = &str> {
        self.units
            .get(namespace)
            .into_iter()
            .flat_map(|units| units.keys().map(String::as_str))
    }

    /// The RoleMappings naming GuildConfig `guild`, by name.
    pub fn role_mappings_of(&self, namespace: &str, guild: &str) -> &[Arc<RoleMapping>] {
        self.unit(namespace, guild)
            .map_or(&[], |u| u.role_mappings.as_slice())
    }

    /// The NotificationRules naming GuildConfig `guild`, by name.
    pub fn notification_rules_of(&self, namespace: &str, guild: &str) -> &[Arc<NotificationRule>] {
        self.unit(namespace, guild)
            .map_or(&[], |u| u.notification_rules.as_slice())
    }

    /// The names of the GuildConfigs claiming guild `guild_id` of application `app`, by name.
    pub fn claims(&self, namespace: &str, app: &str, guild_id: &str) -> &[String] {
        self.claims
            .get(namespace)
            .and_then(|apps| get(apps, app, guild_id))
            .map_or(&[], Vec::as_slice)
    }
}

struct Checker<'l> {
    lookup: &'l Lookup,
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
    fn secret(
        &mut self,
        secrets: &[SecretKeys],
        object: &ObjectKey,
        path: &str,
        secret: &SecretKeyRef,
    ) {
        let found = secrets
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

    fn partners(&mut self, shared: &Shared) {
        for partner in &shared.partners {
            let k = key("KalturaPartner", &**partner);
            let secrets = &shared.secrets;
            self.secret(
                secrets,
                &k,
                "spec.adminSecretRef",
                &partner.spec.admin_secret_ref,
            );
            if let Some(webhook) = &partner.spec.webhook_secret_ref {
                self.secret(secrets, &k, "spec.webhookSecretRef", webhook);
            }
        }
    }

    fn applications(&mut self, shared: &Shared) {
        for app in &shared.applications {
            let k = key("DiscordApplication", &**app);
            let spec = &app.spec;
            self.secret(&shared.secrets, &k, "spec.botTokenRef", &spec.bot_token_ref);
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
                    self.secret(&shared.secrets, &k, path, secret);
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
        if let Some(guild) = &unit.guild {
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
            let k = key("RoleMapping", &**mapping);
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
            let k = key("NotificationRule", &**rule);
            match &unit.guild {
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
    let mut findings = check_shared(&catalog.shared(), &lookup);
    for (_, name, unit) in lookup.units() {
        findings.extend(check_unit(&lookup, name, unit));
    }
    findings
}

/// The findings about the partners and applications: what every unit of their namespace reads.
pub fn check_shared(shared: &Shared, lookup: &Lookup) -> Vec<Finding> {
    let mut checker = Checker {
        lookup,
        findings: Vec::new(),
    };
    checker.partners(shared);
    checker.applications(shared);
    checker.findings
}

/// The findings about one unit's objects.
pub fn check_unit(lookup: &Lookup, name: &str, unit: &Unit) -> Vec<Finding> {
    let mut checker = Checker {
        lookup,
        findings: Vec::new(),
    };
    checker.unit(name, unit);
    checker.findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};
    use std::collections::BTreeMap;

    fn typed<K: serde::de::DeserializeOwned>(
        kind: &str,
        ns: &str,
        name: &str,
        spec: Value,
    ) -> Arc<K> {
        let object = json!({
            "apiVersion": "kaltura-discord.io/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": ns}, "spec": spec,
        });
        Arc::new(serde_json::from_value(object).unwrap())
    }

    /// One change a watch may bring: small name and id spaces, so units share guilds and
    /// members move between units.
    #[derive(Clone, Debug)]
    enum Edit {
        Guild {
            ns: u8,
            name: u8,
            id: u8,
            deleting: bool,
        },
        GuildGone {
            ns: u8,
            name: u8,
        },
        Mapping {
            ns: u8,
            name: u8,
            guild: u8,
        },
        MappingGone {
            ns: u8,
            name: u8,
        },
        Rule {
            ns: u8,
            name: u8,
            guild: u8,
        },
        RuleGone {
            ns: u8,
            name: u8,
        },
    }

    fn edit() -> impl Strategy<Value = Edit> {
        let (ns, name) = (0..2u8, 0..4u8);
        prop_oneof![
            (ns.clone(), name.clone(), 0..3u8, any::<bool>()).prop_map(
                |(ns, name, id, deleting)| Edit::Guild {
                    ns,
                    name,
                    id,
                    deleting
                }
            ),
            (ns.clone(), name.clone()).prop_map(|(ns, name)| Edit::GuildGone { ns, name }),
            (ns.clone(), name.clone(), 0..4u8).prop_map(|(ns, name, guild)| Edit::Mapping {
                ns,
                name,
                guild
            }),
            (ns.clone(), name.clone()).prop_map(|(ns, name)| Edit::MappingGone { ns, name }),
            (ns.clone(), name.clone(), 0..4u8).prop_map(|(ns, name, guild)| Edit::Rule {
                ns,
                name,
                guild
            }),
            (ns, name).prop_map(|(ns, name)| Edit::RuleGone { ns, name }),
        ]
    }

    /// Applies `edit` to `catalog`; returns the change as a watch reports it.
    fn apply(catalog: &mut Catalog, edit: &Edit) -> Changes {
        fn replace<K: ResourceExt>(
            items: &mut Vec<Arc<K>>,
            object: Option<Arc<K>>,
            ns: &str,
            name: &str,
        ) -> Delta<K> {
            items.retain(|o| at(&**o) != (ns, name));
            items.extend(object.clone());
            Delta::Some(vec![((ns.to_string(), name.to_string()), object)])
        }
        let n = |ns: &u8| format!("ns{ns}");
        let g = |name: &u8| format!("g{name}");
        let mut changes = Changes::default();
        match edit {
            Edit::Guild {
                ns,
                name,
                id,
                deleting,
            } => {
                let mut guild: GuildConfig = (*typed::<GuildConfig>(
                    "GuildConfig",
                    &n(ns),
                    &g(name),
                    json!({"applicationRef": {"name": "bot"}, "guildId": format!("10000000000000000{id}")}),
                ))
                .clone();
                if *deleting {
                    guild.metadata.deletion_timestamp =
                        Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                            k8s_openapi::jiff::Timestamp::from_second(1).unwrap(),
                        ));
                }
                changes.guilds = replace(&mut catalog.guilds, Some(guild.into()), &n(ns), &g(name));
            }
            Edit::GuildGone { ns, name } => {
                changes.guilds = replace(&mut catalog.guilds, None, &n(ns), &g(name));
            }
            Edit::Mapping { ns, name, guild } => {
                let spec = json!({"guildConfigRef": {"name": g(guild)}, "rules": []});
                let m = typed("RoleMapping", &n(ns), &format!("m{name}"), spec);
                changes.role_mappings = replace(
                    &mut catalog.role_mappings,
                    Some(m),
                    &n(ns),
                    &format!("m{name}"),
                );
            }
            Edit::MappingGone { ns, name } => {
                changes.role_mappings = replace(
                    &mut catalog.role_mappings,
                    None,
                    &n(ns),
                    &format!("m{name}"),
                );
            }
            Edit::Rule { ns, name, guild } => {
                let spec = json!({"guildConfigRef": {"name": g(guild)}, "events": ["entryReady"], "channel": "general"});
                let r = typed("NotificationRule", &n(ns), &format!("r{name}"), spec);
                changes.notification_rules = replace(
                    &mut catalog.notification_rules,
                    Some(r),
                    &n(ns),
                    &format!("r{name}"),
                );
            }
            Edit::RuleGone { ns, name } => {
                changes.notification_rules = replace(
                    &mut catalog.notification_rules,
                    None,
                    &n(ns),
                    &format!("r{name}"),
                );
            }
        }
        changes
    }

    /// What a lookup says of each unit: its GuildConfig, members and claim, comparable.
    type View = BTreeMap<
        UnitKey,
        (
            Option<(String, bool)>,
            Vec<String>,
            Vec<String>,
            Vec<String>,
        ),
    >;

    fn view(lookup: &Lookup) -> View {
        lookup
            .units()
            .map(|(ns, name, unit)| {
                let guild = unit.guild.as_ref().map(|g| {
                    (
                        g.spec.guild_id.clone(),
                        g.metadata.deletion_timestamp.is_some(),
                    )
                });
                // A GuildConfig being deleted reads no claims.
                let claims = unit
                    .guild
                    .as_ref()
                    .filter(|g| g.metadata.deletion_timestamp.is_none())
                    .map_or_else(Vec::new, |g| {
                        lookup.claims(ns, "bot", &g.spec.guild_id).to_vec()
                    });
                let names =
                    |items: &[Arc<RoleMapping>]| items.iter().map(|o| o.name_any()).collect();
                let rules = unit
                    .notification_rules
                    .iter()
                    .map(|o| o.name_any())
                    .collect();
                (
                    (ns.to_string(), name.to_string()),
                    (guild, names(&unit.role_mappings), rules, claims),
                )
            })
            .collect()
    }

    proptest! {
        /// A lookup kept up to date change by change says what one built afresh says, and
        /// every unit whose view changed is among those it notes as touched.
        #[test]
        fn kept_up_to_date_it_equals_one_built_afresh(edits in prop::collection::vec(edit(), 1..40)) {
            let mut catalog = Catalog::default();
            let mut kept = catalog.lookup();
            for edit in &edits {
                let before = view(&kept);
                let changes = apply(&mut catalog, edit);
                kept.apply(changes);
                let after = view(&kept);
                prop_assert_eq!(&after, &view(&catalog.lookup()), "after {:?}", edit);
                let touched = kept.take_touched();
                for unit in before.keys().chain(after.keys()) {
                    if before.get(unit) != after.get(unit) {
                        prop_assert!(touched.contains(unit), "{:?} changed by {:?} but not touched", unit, edit);
                    }
                }
            }
            // A relist (every object at once) of what is there changes nothing.
            kept.apply(Changes::all(&catalog));
            prop_assert!(kept.take_touched().is_empty());
        }
    }
}

//! The reconcile core pass after pass, doing again only what changed. The world is cut into
//! units, one per GuildConfig with the RoleMappings and NotificationRules that name it
//! ([`Unit`]): a unit's checks, its share of the rendered config and its statuses are computed
//! from the unit itself and from the partners, applications and Secrets of its namespace (its
//! context), from the units claiming the same guild, and from the bot's report of that guild.
//! A unit none of these changed for is not looked at again, so an edit costs its unit, not
//! the thousands of others: the whole-world functions ([`check`], [`render::render_checked`],
//! [`status::compute`]) are made of the same per-unit pieces.
//!
//! [`check`]: kd_crds::references::check

use super::render::{self, Contribution, Rendered};
use super::status::{Errors, Inputs, Observed, Statuses};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kd_core::report::{BotReport, Registration};
use kd_crds::references::{
    Catalog, Finding, Lookup, ObjectKey, SecretKeys, Unit, check_shared, check_unit,
};
use kd_crds::{DiscordApplication, GuildConfig, KalturaPartner, NotificationRule, RoleMapping};
use kube::ResourceExt;
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// A unit by namespace and GuildConfig name.
type UnitKey = (String, String);

/// What the last passes computed, to recompute only what changed.
#[derive(Default)]
pub struct Incremental {
    contexts: HashMap<String, Context>,
    units: HashMap<UnitKey, UnitMemo>,
    /// Every application's rendering, in catalog order.
    rendered: Vec<Rendered>,
    shared_findings: Vec<Finding>,
    /// The units claiming each guild of an application (being deleted or not), by namespace,
    /// application and guild id: they read each other's share of the config.
    by_guild: HashMap<(String, String, String), BTreeSet<String>>,
    /// The unit each RoleMapping and NotificationRule belongs to.
    members: HashMap<ObjectKey, String>,
    /// The last report of each application's bot, to see which guilds it changed for.
    reports: BTreeMap<ObjectKey, Seen>,
    /// Units whose statuses are due whatever else changes (a write of theirs failed).
    due: HashSet<UnitKey>,
    /// Units whose statuses are due this pass.
    dirty: HashSet<UnitKey>,
    /// Passes prepared so far.
    pass: u64,
    /// GuildConfigs by application and `Ready` reason, for the metrics.
    reasons: HashMap<UnitKey, (ObjectKey, String)>,
}

/// The shared objects of one namespace, as a unit reads them.
#[derive(Default)]
struct Context {
    partners: Vec<Arc<KalturaPartner>>,
    applications: Vec<Arc<DiscordApplication>>,
    secrets: Vec<SecretKeys>,
}

impl Context {
    fn same(&self, other: &Context) -> bool {
        same(&self.partners, &other.partners)
            && same(&self.applications, &other.applications)
            && self.secrets == other.secrets
    }
}

/// The same objects: the caches hand out a new `Arc` for every new version of an object, and
/// the memo holds the old one, so its address cannot be reused meanwhile.
fn same<K>(a: &[Arc<K>], b: &[impl Borrow<Arc<K>>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| Arc::ptr_eq(a, b.borrow()))
}

struct UnitMemo {
    guild: Option<Arc<GuildConfig>>,
    role_mappings: Vec<Arc<RoleMapping>>,
    notification_rules: Vec<Arc<NotificationRule>>,
    /// The GuildConfigs claiming the same guild.
    claims: Vec<String>,
    findings: Vec<Finding>,
    /// The application it renders into and what it puts there.
    contribution: Option<(ObjectKey, Contribution)>,
    /// The pass that saw it last.
    seen: u64,
}

/// What a bot's report said, as far as statuses read it.
struct Seen {
    /// What every guild's status reads: reachable or why not, the command set version and
    /// the global set's state.
    whole: Result<(String, Registration), String>,
    revision: String,
    report: Option<BotReport>,
}

type Report = Result<BotReport, crate::error::Error>;

impl Seen {
    /// Whether `observed` says the same.
    fn matches(&self, observed: Option<&Report>) -> bool {
        match observed {
            Some(Ok(report)) => self.report.as_ref() == Some(report),
            Some(Err(why)) => self.report.is_none() && self.whole == Err(why.to_string()),
            None => self.report.is_none() && self.whole == Err(String::new()),
        }
    }

    fn of(observed: Option<&Report>) -> Self {
        match observed {
            Some(Ok(report)) => Self {
                whole: Ok((report.command_set_version.clone(), report.global.clone())),
                revision: report.revision.clone(),
                report: Some(report.clone()),
            },
            Some(Err(why)) => Self {
                whole: Err(why.to_string()),
                revision: String::new(),
                report: None,
            },
            None => Self {
                whole: Err(String::new()),
                revision: String::new(),
                report: None,
            },
        }
    }
}

/// The keys whose values differ between two maps, those in one only included.
fn differing<'m, V: PartialEq>(
    a: &'m BTreeMap<String, V>,
    b: &'m BTreeMap<String, V>,
) -> impl Iterator<Item = &'m String> {
    let changed = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| k);
    let added = b.keys().filter(|k| !a.contains_key(*k));
    changed.chain(added)
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

impl Incremental {
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks and renders what changed since the last pass.
    pub fn prepare(&mut self, catalog: &Catalog) {
        let lookup = catalog.lookup();
        let stale = self.contexts(catalog);
        self.shared_findings = check_shared(catalog, &lookup);
        let broken_apps = render::broken(&self.shared_findings);
        self.pass += 1;
        let pass = self.pass;
        // Contributions taken back and given, by application.
        let mut changes: BTreeMap<ObjectKey, (Vec<Contribution>, Vec<Contribution>)> =
            BTreeMap::new();
        for (namespace, name, unit) in lookup.units() {
            let unit_key = (namespace.to_string(), name.to_string());
            let claims = claims_of(&lookup, unit);
            if let Some(memo) = self.units.get_mut(&unit_key)
                && !stale.contains(namespace)
                && memo.holds(unit, &claims)
            {
                memo.seen = pass;
                continue;
            }
            let findings = check_unit(catalog, &lookup, name, unit);
            let broken = render::broken(&findings);
            let contribution = unit.guild.and_then(|guild| {
                let app_name = &guild.spec.application_ref.name;
                let app = lookup.application(namespace, app_name)?;
                let app_key = key("DiscordApplication", app);
                (!broken_apps.contains(&app_key))
                    .then(|| (app_key, render::contribution(&lookup, app, guild, &broken)))
            });
            let memo = UnitMemo {
                guild: unit.guild.cloned(),
                role_mappings: unit.role_mappings.iter().map(|m| (*m).clone()).collect(),
                notification_rules: unit
                    .notification_rules
                    .iter()
                    .map(|r| (*r).clone())
                    .collect(),
                claims,
                findings,
                contribution,
                seen: pass,
            };
            let old = self.units.insert(unit_key.clone(), memo);
            self.refile(&unit_key, old, &mut changes);
        }
        let gone: Vec<UnitKey> = self
            .units
            .iter()
            .filter(|(_, m)| m.seen != pass)
            .map(|(k, _)| k.clone())
            .collect();
        for unit_key in gone {
            let old = self.units.remove(&unit_key);
            self.refile(&unit_key, old, &mut changes);
        }
        self.render(catalog, &lookup, &stale, &broken_apps, changes);
    }

    /// Files a recomputed (or gone) unit: its claims, members and contribution's change, and
    /// the units it touches marked dirty.
    fn refile(
        &mut self,
        unit_key: &UnitKey,
        old: Option<UnitMemo>,
        changes: &mut BTreeMap<ObjectKey, (Vec<Contribution>, Vec<Contribution>)>,
    ) {
        let new = self.units.get(unit_key);
        let guild_of = |m: &UnitMemo| {
            let g = m.guild.as_ref()?;
            Some((
                unit_key.0.clone(),
                g.spec.application_ref.name.clone(),
                g.spec.guild_id.clone(),
            ))
        };
        let (old_guild, new_guild) = (old.as_ref().and_then(guild_of), new.and_then(guild_of));
        // The units sharing its guild, before and after, read its share of the config.
        for claim in [&old_guild, &new_guild].into_iter().flatten() {
            for name in self.by_guild.get(claim).into_iter().flatten() {
                self.dirty.insert((unit_key.0.clone(), name.clone()));
            }
        }
        if old_guild != new_guild {
            if let Some(claim) = &old_guild
                && let Some(names) = self.by_guild.get_mut(claim)
            {
                names.remove(&unit_key.1);
                if names.is_empty() {
                    self.by_guild.remove(claim);
                }
            }
            if let Some(claim) = new_guild {
                self.by_guild
                    .entry(claim)
                    .or_default()
                    .insert(unit_key.1.clone());
            }
        }
        if let Some(old) = &old {
            for object in old.member_keys() {
                self.members.remove(&object);
            }
        }
        if let Some(new) = new {
            for object in new.member_keys() {
                self.members.insert(object, unit_key.1.clone());
            }
        }
        let new_contribution = new.and_then(|m| m.contribution.clone());
        let old_contribution = old.and_then(|m| m.contribution);
        if old_contribution != new_contribution {
            if let Some((app, c)) = old_contribution {
                changes.entry(app).or_default().0.push(c);
            }
            if let Some((app, c)) = new_contribution {
                changes.entry(app).or_default().1.push(c);
            }
        }
        if new.is_some() {
            self.dirty.insert(unit_key.clone());
        } else {
            self.reasons.remove(unit_key);
            self.due.remove(unit_key);
        }
    }

    /// Compares each namespace's shared objects with the last pass's; returns the namespaces
    /// whose units must all be done again.
    fn contexts(&mut self, catalog: &Catalog) -> HashSet<String> {
        let mut contexts: HashMap<String, Context> = HashMap::new();
        for p in &catalog.partners {
            contexts
                .entry(ns(&**p))
                .or_default()
                .partners
                .push(p.clone());
        }
        for a in &catalog.applications {
            contexts
                .entry(ns(&**a))
                .or_default()
                .applications
                .push(a.clone());
        }
        for s in &catalog.secrets {
            contexts
                .entry(s.namespace.clone())
                .or_default()
                .secrets
                .push(s.clone());
        }
        let mut stale: HashSet<String> = self
            .contexts
            .keys()
            .filter(|n| !contexts.contains_key(*n))
            .cloned()
            .collect();
        for (namespace, context) in &contexts {
            if self
                .contexts
                .get(namespace)
                .is_none_or(|c| !c.same(context))
            {
                stale.insert(namespace.clone());
            }
        }
        self.contexts = contexts;
        stale
    }

    /// Brings each application's rendering up to date: afresh where its namespace's context
    /// changed (every unit there was done again), else by the contributions that changed.
    fn render(
        &mut self,
        catalog: &Catalog,
        lookup: &Lookup,
        stale: &HashSet<String>,
        broken_apps: &BTreeSet<ObjectKey>,
        mut changes: BTreeMap<ObjectKey, (Vec<Contribution>, Vec<Contribution>)>,
    ) {
        let mut previous: BTreeMap<ObjectKey, Rendered> = std::mem::take(&mut self.rendered)
            .into_iter()
            .map(|r| (r.application.clone(), r))
            .collect();
        for app in &catalog.applications {
            let app_key = key("DiscordApplication", &**app);
            if broken_apps.contains(&app_key) {
                continue;
            }
            let kept = previous
                .remove(&app_key)
                .filter(|_| !stale.contains(&app_key.namespace));
            let rendered = match kept {
                Some(mut rendered) => {
                    if let Some((removed, added)) = changes.remove(&app_key) {
                        rendered.apply(lookup, app, removed, added);
                    }
                    rendered
                }
                None => {
                    let mut rendered = Rendered::new(app);
                    let all = self
                        .units
                        .values()
                        .filter_map(|m| m.contribution.as_ref())
                        .filter(|(a, _)| *a == app_key)
                        .map(|(_, c)| c.clone())
                        .collect();
                    rendered.apply(lookup, app, Vec::new(), all);
                    // A new rendering: every status of the application reads it.
                    self.dirty.extend(self.units_of(&app_key));
                    rendered
                }
            };
            self.rendered.push(rendered);
        }
    }

    fn units_of(&self, app: &ObjectKey) -> Vec<UnitKey> {
        self.by_guild
            .iter()
            .filter(|((n, a, _), _)| *n == app.namespace && *a == app.name)
            .flat_map(|((n, _, _), names)| names.iter().map(move |name| (n.clone(), name.clone())))
            .collect()
    }

    pub fn rendered(&self) -> &[Rendered] {
        &self.rendered
    }

    /// The findings about partners and applications.
    pub fn shared_findings(&self) -> &[Finding] {
        &self.shared_findings
    }

    /// Every finding, the units' included (for a whole-world view).
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.shared_findings
            .iter()
            .chain(self.units.values().flat_map(|u| u.findings.iter()))
    }

    /// The statuses due: every partner's and application's, and those of the units that
    /// changed or whose bot report did. Call after [`Self::prepare`] with the same catalog.
    pub fn statuses(&mut self, catalog: &Catalog, observed: &Observed, now: &Time) -> Statuses {
        self.follow_reports(observed);
        let shared = Errors::of(&self.shared_findings);
        let inputs = Inputs {
            findings: &shared,
            rendered: &self.rendered,
            observed,
            now,
        };
        let mut statuses = Statuses {
            partners: catalog.partners.iter().map(|p| inputs.partner(p)).collect(),
            applications: catalog
                .applications
                .iter()
                .map(|a| inputs.application(a))
                .collect(),
            ..Statuses::default()
        };
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.extend(self.due.drain());
        for unit_key in dirty {
            let Some(memo) = self.units.get(&unit_key) else {
                continue;
            };
            // The memo holds the objects the catalog has: `prepare` saw them last.
            let unit = &Unit {
                guild: memo.guild.as_ref(),
                role_mappings: memo.role_mappings.iter().collect(),
                notification_rules: memo.notification_rules.iter().collect(),
            };
            let findings = Errors::of(&memo.findings);
            let inputs = Inputs {
                findings: &findings,
                ..inputs
            };
            let before = statuses.guilds.len();
            inputs.unit(unit, &mut statuses);
            if let (Some(guild), Some((_, status))) = (unit.guild, statuses.guilds.get(before)) {
                let reason = status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Ready")
                    .map_or_else(String::new, |c| c.reason.clone());
                let app = ObjectKey {
                    kind: "DiscordApplication",
                    namespace: unit_key.0.clone(),
                    name: guild.spec.application_ref.name.clone(),
                };
                self.reasons.insert(unit_key, (app, reason));
            }
        }
        statuses
    }

    /// Marks the units whose guilds' reports changed, all of an application's when what
    /// every guild reads changed.
    fn follow_reports(&mut self, observed: &Observed) {
        let apps: Vec<ObjectKey> = self
            .rendered
            .iter()
            .map(|r| r.application.clone())
            .collect();
        self.reports.retain(|app, _| apps.contains(app));
        for app in apps {
            let report = observed.bots.get(&app);
            let previous = self.reports.get(&app);
            if previous.is_some_and(|p| p.matches(report)) {
                continue;
            }
            let seen = Seen::of(report);
            let mut guilds: BTreeSet<String> = BTreeSet::new();
            let mut rules: BTreeSet<String> = BTreeSet::new();
            match (previous, &seen) {
                (
                    Some(Seen {
                        whole,
                        revision,
                        report: Some(before),
                    }),
                    Seen {
                        report: Some(after),
                        ..
                    },
                ) if *whole == seen.whole => {
                    guilds.extend(differing(&before.guilds, &after.guilds).cloned());
                    guilds.extend(differing(&before.roles, &after.roles).cloned());
                    rules.extend(differing(&before.notifications, &after.notifications).cloned());
                    // A guild the bot does not have yet is described by the bot's revision.
                    if *revision != after.revision {
                        let rendered = self.rendered.iter().find(|r| r.application == app);
                        guilds.extend(
                            rendered
                                .into_iter()
                                .flat_map(|r| r.config.guilds.keys())
                                .filter(|id| !after.guilds.contains_key(*id))
                                .cloned(),
                        );
                    }
                }
                _ => {
                    let all = self.units_of(&app);
                    self.dirty.extend(all);
                }
            }
            for id in guilds {
                let claim = (app.namespace.clone(), app.name.clone(), id);
                for name in self.by_guild.get(&claim).into_iter().flatten() {
                    self.dirty.insert((app.namespace.clone(), name.clone()));
                }
            }
            for rule in rules {
                let Some((namespace, name)) = rule.split_once('/') else {
                    continue;
                };
                let object = ObjectKey {
                    kind: "NotificationRule",
                    namespace: namespace.into(),
                    name: name.into(),
                };
                if let Some(unit) = self.members.get(&object) {
                    self.dirty.insert((namespace.into(), unit.clone()));
                }
            }
            self.reports.insert(app, seen);
        }
    }

    /// The GuildConfig, RoleMapping or NotificationRule `object` as the last pass saw it.
    pub fn guild(&self, object: &ObjectKey) -> Option<&GuildConfig> {
        let unit = self
            .units
            .get(&(object.namespace.clone(), object.name.clone()))?;
        unit.guild.as_deref()
    }

    pub fn role_mapping(&self, object: &ObjectKey) -> Option<&RoleMapping> {
        self.member(object)?
            .role_mappings
            .iter()
            .find(|m| m.name_any() == object.name)
            .map(|m| &**m)
    }

    pub fn notification_rule(&self, object: &ObjectKey) -> Option<&NotificationRule> {
        self.member(object)?
            .notification_rules
            .iter()
            .find(|r| r.name_any() == object.name)
            .map(|r| &**r)
    }

    fn member(&self, object: &ObjectKey) -> Option<&UnitMemo> {
        let unit = self.members.get(object)?;
        self.units.get(&(object.namespace.clone(), unit.clone()))
    }

    /// A status of `object` could not be written: its unit's are due again next pass.
    pub fn retry(&mut self, object: &ObjectKey) {
        let unit = match object.kind {
            "GuildConfig" => Some(object.name.clone()),
            _ => self.members.get(object).cloned(),
        };
        if let Some(unit) = unit {
            self.due.insert((object.namespace.clone(), unit));
        }
    }

    /// How many GuildConfigs of each application have each `Ready` reason.
    pub fn ready_reasons(&self) -> BTreeMap<(ObjectKey, String), usize> {
        let mut counts = BTreeMap::new();
        for (app, reason) in self.reasons.values() {
            *counts.entry((app.clone(), reason.clone())).or_default() += 1;
        }
        counts
    }
}

impl UnitMemo {
    /// Whether it was computed from exactly these objects and claims.
    fn holds(&self, unit: &Unit, claims: &[String]) -> bool {
        match (&self.guild, unit.guild) {
            (None, None) => {}
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) => {}
            _ => return false,
        }
        same(&self.role_mappings, &unit.role_mappings)
            && same(&self.notification_rules, &unit.notification_rules)
            && self.claims == claims
    }

    fn member_keys(&self) -> impl Iterator<Item = ObjectKey> + '_ {
        let mappings = self.role_mappings.iter().map(|m| key("RoleMapping", &**m));
        let rules = self
            .notification_rules
            .iter()
            .map(|r| key("NotificationRule", &**r));
        mappings.chain(rules)
    }
}

/// The other GuildConfigs claiming the unit's guild (none when it is alone).
fn claims_of(lookup: &Lookup, unit: &Unit) -> Vec<String> {
    let Some(guild) = unit.guild else {
        return Vec::new();
    };
    let claims = lookup.claims(
        &ns(&**guild),
        &guild.spec.application_ref.name,
        &guild.spec.guild_id,
    );
    if claims.len() > 1 {
        claims.iter().map(|c| c.to_string()).collect()
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::status;
    use k8s_openapi::jiff::Timestamp;
    use kd_crds::references::check;
    use kd_testing::fixtures::{self, Fixture, NAMESPACE as NS};
    use serde_json::{Value, json};

    fn typed<K: serde::de::DeserializeOwned>(value: Value) -> Arc<K> {
        Arc::new(serde_json::from_value(value).unwrap())
    }

    fn mapping(name: &str, guild: &str, default: &str) -> Arc<RoleMapping> {
        typed(json!({
            "apiVersion": "kaltura-discord.io/v1alpha1", "kind": "RoleMapping",
            "metadata": {"name": name, "namespace": NS, "generation": 1},
            "spec": {"guildConfigRef": {"name": guild}, "default": default,
                     "rules": [{"discordRole": {"name": "Teacher"}, "kalturaRole": "admin", "priority": 10}]},
        }))
    }

    fn rule(name: &str, guild: &str) -> Arc<NotificationRule> {
        typed(json!({
            "apiVersion": "kaltura-discord.io/v1alpha1", "kind": "NotificationRule",
            "metadata": {"name": name, "namespace": NS, "generation": 1},
            "spec": {"guildConfigRef": {"name": guild}, "events": ["entryReady"], "channel": "general"},
        }))
    }

    fn world(guilds: usize) -> Catalog {
        let mut catalog = Catalog {
            partners: vec![fixtures::partner("campus").into()],
            applications: vec![fixtures::application("campus-bot").into()],
            secrets: ["discord", "kaltura"]
                .map(|name| SecretKeys {
                    namespace: NS.into(),
                    name: name.into(),
                    keys: ["botToken", "adminSecret"].map(String::from).into(),
                })
                .into(),
            ..Catalog::default()
        };
        for k in 0..guilds {
            let name = format!("g{k}");
            let id = (1_000_000_000_000_000u64 + k as u64).to_string();
            let guild = fixtures::guild(&name, &id).with(|g| g.spec.features.notifications = true);
            catalog.guilds.push(guild.into());
            catalog.role_mappings.push(mapping(&name, &name, "viewer"));
            catalog.notification_rules.push(rule(&name, &name));
        }
        catalog
    }

    /// The bot runs what was rendered; `failing` guilds were refused by Discord.
    fn observed(rendered: &[Rendered], failing: &BTreeSet<String>) -> Observed {
        let mut observed = Observed::default();
        for r in rendered {
            let guilds = r
                .pieces
                .guild_revisions
                .iter()
                .map(|(id, revision)| {
                    let state = if failing.contains(id) {
                        Registration::Failed {
                            error: "Missing Access".into(),
                            revision: revision.clone(),
                        }
                    } else {
                        Registration::Registered {
                            commands: 7,
                            fingerprint: "f".into(),
                            revision: revision.clone(),
                            scope: r.config.application.command_scope,
                        }
                    };
                    (id.clone(), state)
                })
                .collect();
            let revision = r.config.global_revision();
            let global = if failing.contains("global") {
                Registration::Failed {
                    error: "Missing Access".into(),
                    revision,
                }
            } else if r.config.application.command_scope.is_guild() {
                Registration::Cleared { revision }
            } else {
                Registration::Registered {
                    commands: 8,
                    fingerprint: "g".into(),
                    revision,
                    scope: r.config.application.command_scope,
                }
            };
            let report = BotReport {
                application_id: r.config.application.application_id.clone(),
                revision: r.config.revision.clone(),
                command_set_version: "1".into(),
                shards: 1,
                shards_connected: 1,
                guilds,
                global,
                ..BotReport::default()
            };
            observed.bots.insert(r.application.clone(), Ok(report));
            observed.applied.insert(r.application.clone(), Ok(()));
        }
        observed
    }

    /// Each object's status as JSON, by kind and name.
    fn statuses_of(catalog: &Catalog) -> BTreeMap<(String, String), Value> {
        let mut all = BTreeMap::new();
        let mut put = |kind: &str, name: String, status: Value| {
            all.insert((kind.to_string(), name), status);
        };
        for g in &catalog.guilds {
            put("GuildConfig", g.name_any(), json!(g.status));
        }
        for m in &catalog.role_mappings {
            put("RoleMapping", m.name_any(), json!(m.status));
        }
        for r in &catalog.notification_rules {
            put("NotificationRule", r.name_any(), json!(r.status));
        }
        all
    }

    /// Writes `statuses` into the catalog as the API server and the caches would: a new
    /// object for each status that differs.
    fn write_back(catalog: &mut Catalog, statuses: Statuses) {
        fn each<K: ResourceExt + Clone, S: PartialEq + Clone>(
            items: &mut [Arc<K>],
            statuses: &[(ObjectKey, S)],
            status: impl Fn(&mut K) -> &mut Option<S>,
        ) {
            for (key, new) in statuses {
                if let Some(item) = items.iter_mut().find(|i| i.name_any() == key.name) {
                    let mut copy = (**item).clone();
                    if status(&mut copy).as_ref() != Some(new) {
                        *status(&mut copy) = Some(new.clone());
                        *item = Arc::new(copy);
                    }
                }
            }
        }
        each(&mut catalog.guilds, &statuses.guilds, |g| &mut g.status);
        each(&mut catalog.role_mappings, &statuses.role_mappings, |m| {
            &mut m.status
        });
        each(
            &mut catalog.notification_rules,
            &statuses.notification_rules,
            |r| &mut r.status,
        );
        each(&mut catalog.applications, &statuses.applications, |a| {
            &mut a.status
        });
        each(&mut catalog.partners, &statuses.partners, |p| &mut p.status);
    }

    fn find<'c, K: ResourceExt>(items: &'c mut [Arc<K>], name: &str) -> &'c mut Arc<K> {
        items.iter_mut().find(|i| i.name_any() == name).unwrap()
    }

    #[test]
    fn pass_after_pass_it_gives_what_the_whole_world_functions_give() {
        let mut catalog = world(40);
        let mut memo = Incremental::new();
        let mut failing = BTreeSet::new();
        let deleted = Some(Time(Timestamp::from_second(1_000).unwrap()));
        // Each edits the world, or which guilds Discord refuses.
        type Edit = Box<dyn Fn(&mut Catalog, &mut BTreeSet<String>)>;
        let edits: Vec<(&str, Edit)> = vec![
            ("nothing", Box::new(|_, _| {})),
            (
                "a RoleMapping's default",
                Box::new(|c, _| {
                    Arc::make_mut(find(&mut c.role_mappings, "g3")).spec.default = "host".into();
                }),
            ),
            (
                "a feature",
                Box::new(|c, _| {
                    Arc::make_mut(find(&mut c.guilds, "g5"))
                        .spec
                        .features
                        .video_search = false;
                }),
            ),
            (
                "a second GuildConfig for a guild",
                Box::new(|c, _| {
                    let copy = (*c.guilds[7])
                        .clone()
                        .with(|g| g.metadata.name = Some("twin".into()));
                    c.guilds.push(copy.into());
                }),
            ),
            (
                "the twin gone",
                Box::new(|c, _| c.guilds.retain(|g| g.name_any() != "twin")),
            ),
            (
                "a GuildConfig being deleted",
                Box::new(move |c, _| {
                    Arc::make_mut(find(&mut c.guilds, "g9"))
                        .metadata
                        .deletion_timestamp = deleted.clone();
                }),
            ),
            (
                "another GuildConfig takes the deleted one's guild",
                Box::new(|c, _| {
                    let heir = (*c.guilds[9]).clone().with(|g| {
                        g.metadata.name = Some("heir".into());
                        g.metadata.deletion_timestamp = None;
                    });
                    c.guilds.push(heir.into());
                }),
            ),
            (
                "a GuildConfig gone, its mapping and rule left",
                Box::new(|c, _| {
                    c.guilds.retain(|g| g.name_any() != "g11");
                }),
            ),
            (
                "two RoleMappings for one guild",
                Box::new(|c, _| {
                    c.role_mappings.push(mapping("extra", "g12", "moderator"));
                }),
            ),
            (
                "a rule for a guild without notifications",
                Box::new(|c, _| {
                    Arc::make_mut(find(&mut c.guilds, "g13"))
                        .spec
                        .features
                        .notifications = false;
                }),
            ),
            (
                "Discord refuses a guild",
                Box::new(|_, f| {
                    f.insert("1000000000000000014".to_string());
                }),
            ),
            (
                "the partner",
                Box::new(|c, _| {
                    Arc::make_mut(&mut c.partners[0]).spec.partner_id = 77;
                }),
            ),
            (
                "a Secret loses its key",
                Box::new(|c, _| {
                    c.secrets[1].keys.remove("adminSecret");
                }),
            ),
            (
                "the Secret fixed",
                Box::new(|c, _| {
                    c.secrets[1].keys.insert("adminSecret".into());
                }),
            ),
            (
                "a guild moved to another guild id",
                Box::new(|c, _| {
                    Arc::make_mut(find(&mut c.guilds, "g15")).spec.guild_id =
                        "1000000000000000016".into();
                }),
            ),
            (
                "the application",
                Box::new(|c, _| {
                    Arc::make_mut(&mut c.applications[0]).spec.bot.replicas = 2;
                }),
            ),
            (
                "the Global scope",
                Box::new(|c, _| {
                    let scope = kd_crds::application::CommandScope::Global;
                    Arc::make_mut(&mut c.applications[0]).spec.bot.command_scope = scope;
                }),
            ),
            (
                "Discord refuses the global set",
                Box::new(|_, f| {
                    f.insert("global".to_string());
                }),
            ),
            (
                "Discord takes it",
                Box::new(|_, f| {
                    f.remove("global");
                }),
            ),
            ("nothing again", Box::new(|_, _| {})),
        ];
        for (n, (what, edit)) in edits.iter().enumerate() {
            edit(&mut catalog, &mut failing);
            // Twice: a pass that writes statuses is followed by one that sees them written.
            for round in 0..2 {
                let now = Time(Timestamp::from_second(100 + n as i64).unwrap());
                memo.prepare(&catalog);
                let whole = render::render(&catalog);
                assert_eq!(memo.rendered().len(), whole.len(), "{what}");
                for (r, w) in memo.rendered().iter().zip(&whole) {
                    assert_eq!(r.config, w.config, "{what}: config");
                    assert_eq!(r.pieces, w.pieces, "{what}: pieces");
                    assert_eq!(r.left_out, w.left_out, "{what}: left out");
                }
                let mut findings: Vec<String> = memo.findings().map(|f| format!("{f:?}")).collect();
                let mut expected: Vec<String> =
                    check(&catalog).iter().map(|f| format!("{f:?}")).collect();
                findings.sort();
                expected.sort();
                assert_eq!(findings, expected, "{what}: findings");
                let observed = observed(&whole, &failing);
                let expected = status::compute(&catalog, &check(&catalog), &whole, &observed, &now);
                let given = memo.statuses(&catalog, &observed, &now);
                let mut after = catalog.clone();
                write_back(&mut after, given);
                let mut wanted = catalog.clone();
                write_back(&mut wanted, expected);
                assert_eq!(
                    statuses_of(&after),
                    statuses_of(&wanted),
                    "{what}, round {round}"
                );
                catalog = after;
            }
        }
    }

    #[test]
    fn an_edit_looks_again_at_its_unit_alone() {
        let mut catalog = world(200);
        let mut memo = Incremental::new();
        let now = Time(Timestamp::from_second(100).unwrap());
        let pass = |catalog: &Catalog, memo: &mut Incremental| {
            memo.prepare(catalog);
            let observed = observed(memo.rendered(), &BTreeSet::new());
            memo.statuses(catalog, &observed, &now)
        };
        let first = pass(&catalog, &mut memo);
        assert_eq!(first.guilds.len(), 200);
        write_back(&mut catalog, first);
        pass(&catalog, &mut memo);
        let quiet = pass(&catalog, &mut memo);
        assert_eq!(
            (
                quiet.guilds.len(),
                quiet.role_mappings.len(),
                quiet.notification_rules.len()
            ),
            (0, 0, 0),
            "nothing changed, nothing looked at"
        );
        Arc::make_mut(find(&mut catalog.role_mappings, "g42"))
            .spec
            .default = "host".into();
        let edited = pass(&catalog, &mut memo);
        let names: Vec<&str> = edited.guilds.iter().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(names, ["g42"], "the edited guild's unit, and only it");
        assert_eq!(edited.role_mappings.len(), 1);
    }
}

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

use super::digest::json_sha256;
use super::finalizer;
use super::render::{self, Contribution, Rendered};
use super::status::{Errors, Inputs, Observed, Report, Statuses};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kd_core::report::{BotReport, Registration};
use kd_crds::references::{
    Changes, Finding, Lookup, ObjectKey, SecretKeys, Shared, Unit, UnitKey, check_shared,
    check_unit,
};
use kd_crds::{
    DiscordApplication, GuildConfig, GuildConfigStatus, KalturaPartner, NotificationRule,
    NotificationRuleStatus, RoleMapping, RoleMappingStatus,
};
use kube::ResourceExt;
use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// What the last passes computed, to recompute only what changed.
#[derive(Default)]
pub struct Incremental {
    /// Every object, kept up to date by the changes each pass is given.
    lookup: Lookup,
    contexts: HashMap<String, Context>,
    units: HashMap<UnitKey, UnitMemo>,
    /// Every application's rendering, in the order of the applications.
    rendered: Vec<Rendered>,
    shared_findings: Vec<Finding>,
    /// The units claiming each guild of an application (being deleted or not), by namespace,
    /// application and guild id: they read each other's share of the config.
    by_guild: HashMap<(String, String, String), BTreeSet<String>>,
    /// The last report of each application's bot, to see which guilds it changed for.
    reports: BTreeMap<ObjectKey, Seen>,
    /// Units whose statuses are due whatever else changes (a write of theirs failed).
    due: HashSet<UnitKey>,
    /// Units whose statuses are due this pass.
    dirty: HashSet<UnitKey>,
    /// The GuildConfigs whose finalizer has something to decide (see [`finalizer::undecided`]).
    undecided: BTreeSet<UnitKey>,
    /// Each GuildConfig's application and `Ready` reason, and how many have each, for the metrics.
    reasons: HashMap<UnitKey, (ObjectKey, String)>,
    reason_counts: BTreeMap<(ObjectKey, String), usize>,
}

/// The shared objects of one namespace, as a unit reads them.
#[derive(Default)]
struct Context {
    partners: Vec<Arc<KalturaPartner>>,
    applications: Vec<Arc<DiscordApplication>>,
    secrets: Vec<SecretKeys>,
}

impl Context {
    /// Whether the units of the namespace read the same. They read the partners' and the
    /// applications' names, specs and deletion, never their statuses: the application's
    /// status changes with every revision it runs, and must not redo 10,000 guilds.
    fn same(&self, other: &Context) -> bool {
        let partners =
            |a: &KalturaPartner, b: &KalturaPartner| same_object(a, b) && a.spec == b.spec;
        let applications =
            |a: &DiscordApplication, b: &DiscordApplication| same_object(a, b) && a.spec == b.spec;
        same_by(&self.partners, &other.partners, partners)
            && same_by(&self.applications, &other.applications, applications)
            && self.secrets == other.secrets
    }
}

/// The same object by name and uid, and as much deleted.
fn same_object<K: ResourceExt>(a: &K, b: &K) -> bool {
    let (a, b) = (a.meta(), b.meta());
    a.name == b.name && a.uid == b.uid && a.deletion_timestamp == b.deletion_timestamp
}

/// Pairwise the same objects, or equal as `eq` compares them.
fn same_by<K>(a: &[Arc<K>], b: &[Arc<K>], eq: impl Fn(&K, &K) -> bool) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| Arc::ptr_eq(a, b) || eq(a, b))
}

/// The same objects: the caches hand out a new `Arc` for every new version of an object, and
/// the memo holds the old one, so its address cannot be reused meanwhile.
fn same<K>(a: &[Arc<K>], b: &[impl Borrow<Arc<K>>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| Arc::ptr_eq(a, b.borrow()))
}

struct UnitMemo {
    /// The objects it was computed from.
    unit: Unit,
    /// The GuildConfigs claiming the same guild.
    claims: Vec<String>,
    findings: Vec<Finding>,
    /// The application it renders into and what it puts there.
    contribution: Option<(ObjectKey, Contribution)>,
    /// The digest of the statuses last computed for it: its objects coming back from the API
    /// with just those statuses are the echo of their writes, and change nothing.
    computed: Option<StatusDigest>,
}

type StatusDigest = [u8; 32];

/// The digest of one unit's statuses, in the order [`Inputs::unit`] gives them.
fn status_digest<'s>(
    guild: Option<&GuildConfigStatus>,
    mappings: impl Iterator<Item = Option<&'s RoleMappingStatus>>,
    rules: impl Iterator<Item = Option<&'s NotificationRuleStatus>>,
) -> StatusDigest {
    let statuses = (
        guild,
        mappings.collect::<Vec<_>>(),
        rules.collect::<Vec<_>>(),
    );
    json_sha256(&statuses)
}

/// The same object but for its status (and the version a status write gives it) and its
/// finalizers: only the finalizer decisions read those, and [`Incremental::file_undecided`]
/// keeps them up to date (a first start adds the finalizer to 10,000 GuildConfigs just as
/// their statuses are written).
fn same_but_status(a: &ObjectMeta, b: &ObjectMeta) -> bool {
    a.name == b.name
        && a.uid == b.uid
        && a.generation == b.generation
        && a.deletion_timestamp == b.deletion_timestamp
        && a.labels == b.labels
        && a.annotations == b.annotations
        && a.owner_references == b.owner_references
}

/// What a bot's report said, as far as statuses read it.
struct Seen {
    /// What every guild's status reads: reachable or why not, the command set version and
    /// the global set's state.
    whole: Result<(String, Registration), String>,
    revision: String,
    report: Option<Arc<BotReport>>,
}

impl Seen {
    /// Whether `observed` says the same.
    fn matches(&self, observed: Option<&Report>) -> bool {
        match observed {
            // Most passes hold the very report the last one did.
            Some(Ok(report)) => self
                .report
                .as_ref()
                .is_some_and(|seen| Arc::ptr_eq(seen, report) || seen == report),
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

/// The keys whose values differ between two maps, those in one only included: one walk of
/// both in key order (a report holds every guild; looking each up would be N log N).
fn differing<'m, V: PartialEq>(
    a: &'m BTreeMap<String, V>,
    b: &'m BTreeMap<String, V>,
) -> Vec<&'m String> {
    let (mut a, mut b) = (a.iter().peekable(), b.iter().peekable());
    let mut keys = Vec::new();
    loop {
        match (a.peek(), b.peek()) {
            (None, None) => return keys,
            (Some((k, _)), None) => {
                keys.push(*k);
                a.next();
            }
            (None, Some((k, _))) => {
                keys.push(*k);
                b.next();
            }
            (Some((ka, va)), Some((kb, vb))) => match ka.cmp(kb) {
                std::cmp::Ordering::Less => {
                    keys.push(*ka);
                    a.next();
                }
                std::cmp::Ordering::Greater => {
                    keys.push(*kb);
                    b.next();
                }
                std::cmp::Ordering::Equal => {
                    if va != vb {
                        keys.push(*ka);
                    }
                    a.next();
                    b.next();
                }
            },
        }
    }
}

/// The keys of `a` that `b` lacks, in one walk of both.
fn absent<'m, A, B>(
    a: &'m BTreeMap<String, A>,
    b: &'m BTreeMap<String, B>,
) -> impl Iterator<Item = &'m String> {
    let mut b = b.keys().peekable();
    a.keys().filter(move |k| {
        while b.next_if(|kb| kb < k).is_some() {}
        b.peek() != Some(k)
    })
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

    /// Takes in what changed since the last pass, then checks and renders the units it touched.
    pub fn prepare(&mut self, shared: &Shared, changes: Changes) {
        self.lookup
            .set_shared(&shared.partners, &shared.applications);
        self.lookup.apply(changes);
        let stale = self.contexts(shared);
        self.shared_findings = check_shared(shared, &self.lookup);
        let broken_apps = render::broken(&self.shared_findings);
        let mut visit = self.lookup.take_touched();
        for namespace in &stale {
            let names = self.lookup.units_in(namespace);
            visit.extend(names.map(|name| (namespace.clone(), name.to_string())));
        }
        // Contributions taken back and given, by application.
        let mut changes: BTreeMap<ObjectKey, (Vec<Contribution>, Vec<Contribution>)> =
            BTreeMap::new();
        for unit_key in visit {
            let (namespace, name) = (&unit_key.0, &unit_key.1);
            let Some(unit) = self.lookup.unit(namespace, name).cloned() else {
                let old = self.units.remove(&unit_key);
                self.undecided.remove(&unit_key);
                self.refile(&unit_key, old, &mut changes);
                continue;
            };
            let claims = claims_of(&self.lookup, &unit);
            if let Some(memo) = self.units.get_mut(&unit_key)
                && !stale.contains(namespace)
            {
                if memo.holds(&unit, &claims) {
                    continue;
                }
                if memo.claims == claims && memo.echoed_by(&unit) {
                    // A cold start's 30,000 status writes come back as 30,000 changes.
                    memo.unit = unit;
                    self.file_undecided(&unit_key);
                    continue;
                }
            }
            let findings = check_unit(&self.lookup, name, &unit);
            let broken = render::broken(&findings);
            let contribution = unit.guild.as_ref().and_then(|guild| {
                let app_name = &guild.spec.application_ref.name;
                let app = self.lookup.application(namespace, app_name)?;
                let app_key = key("DiscordApplication", app);
                (!broken_apps.contains(&app_key)).then(|| {
                    let given = render::contribution(&self.lookup, app, guild, &broken);
                    (app_key, given)
                })
            });
            let memo = UnitMemo {
                unit,
                claims,
                findings,
                contribution,
                computed: None,
            };
            let old = self.units.insert(unit_key.clone(), memo);
            self.file_undecided(&unit_key);
            self.refile(&unit_key, old, &mut changes);
        }
        self.render(shared, &stale, &broken_apps, changes);
    }

    /// Files whether the unit's GuildConfig has a finalizer decision to make.
    fn file_undecided(&mut self, unit_key: &UnitKey) {
        let undecided = self.units.get(unit_key).is_some_and(|memo| {
            memo.unit
                .guild
                .as_ref()
                .is_some_and(|g| finalizer::undecided(&g.metadata))
        });
        if undecided {
            self.undecided.insert(unit_key.clone());
        } else {
            self.undecided.remove(unit_key);
        }
    }

    /// Files a recomputed (or gone) unit: its claims and its contribution's change, and the
    /// units it touches marked dirty.
    fn refile(
        &mut self,
        unit_key: &UnitKey,
        old: Option<UnitMemo>,
        changes: &mut BTreeMap<ObjectKey, (Vec<Contribution>, Vec<Contribution>)>,
    ) {
        let new = self.units.get(unit_key);
        let guild_of = |m: &UnitMemo| {
            let g = m.unit.guild.as_ref()?;
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
        let new_contribution = new.and_then(|m| m.contribution.clone());
        let exists = new.is_some();
        let old_contribution = old.and_then(|m| m.contribution);
        if old_contribution != new_contribution {
            if let Some((app, c)) = old_contribution {
                changes.entry(app).or_default().0.push(c);
            }
            if let Some((app, c)) = new_contribution {
                changes.entry(app).or_default().1.push(c);
            }
        }
        if exists {
            self.dirty.insert(unit_key.clone());
        } else {
            self.set_reason(unit_key, None);
            self.due.remove(unit_key);
        }
    }

    /// Records the `Ready` reason of a GuildConfig (`None`: it is gone).
    fn set_reason(&mut self, unit_key: &UnitKey, reason: Option<(ObjectKey, String)>) {
        let old = match reason {
            Some(reason) => {
                *self.reason_counts.entry(reason.clone()).or_default() += 1;
                self.reasons.insert(unit_key.clone(), reason)
            }
            None => self.reasons.remove(unit_key),
        };
        if let Some(old) = old
            && let Some(count) = self.reason_counts.get_mut(&old)
        {
            *count -= 1;
            if *count == 0 {
                self.reason_counts.remove(&old);
            }
        }
    }

    /// Compares each namespace's shared objects with the last pass's; returns the namespaces
    /// whose units must all be done again.
    fn contexts(&mut self, shared: &Shared) -> HashSet<String> {
        let mut contexts: HashMap<String, Context> = HashMap::new();
        for p in &shared.partners {
            contexts
                .entry(ns(&**p))
                .or_default()
                .partners
                .push(p.clone());
        }
        for a in &shared.applications {
            contexts
                .entry(ns(&**a))
                .or_default()
                .applications
                .push(a.clone());
        }
        for s in &shared.secrets {
            contexts
                .entry(s.namespace.clone())
                .or_default()
                .secrets
                .push(s.clone());
        }
        // By name: the caches' order is no order.
        for context in contexts.values_mut() {
            context
                .partners
                .sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            context
                .applications
                .sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
            context.secrets.sort_by(|a, b| a.name.cmp(&b.name));
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
        shared: &Shared,
        stale: &HashSet<String>,
        broken_apps: &BTreeSet<ObjectKey>,
        mut changes: BTreeMap<ObjectKey, (Vec<Contribution>, Vec<Contribution>)>,
    ) {
        let mut previous: BTreeMap<ObjectKey, Rendered> = std::mem::take(&mut self.rendered)
            .into_iter()
            .map(|r| (r.application.clone(), r))
            .collect();
        for app in &shared.applications {
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
                        rendered.apply(&self.lookup, app, removed, added);
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
                    rendered.apply(&self.lookup, app, Vec::new(), all);
                    // A new rendering: every status of the application reads it.
                    let all = self.units_of(&app_key);
                    self.dirty.extend(all);
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
    /// changed or whose bot report did. Call after [`Self::prepare`] with the same objects.
    pub fn statuses(&mut self, shared: &Shared, observed: &Observed, now: &Time) -> Statuses {
        self.follow_reports(observed);
        let shared_errors = Errors::of(&self.shared_findings);
        let inputs = Inputs {
            findings: &shared_errors,
            rendered: &self.rendered,
            observed,
            now,
        };
        let mut statuses = Statuses {
            partners: shared.partners.iter().map(|p| inputs.partner(p)).collect(),
            applications: shared
                .applications
                .iter()
                .map(|a| inputs.application(a))
                .collect(),
            ..Statuses::default()
        };
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.extend(self.due.drain());
        let mut reasons = Vec::new();
        let mut computed = Vec::new();
        for unit_key in dirty {
            let Some(memo) = self.units.get(&unit_key) else {
                continue;
            };
            let findings = Errors::of(&memo.findings);
            let inputs = Inputs {
                findings: &findings,
                ..inputs
            };
            let before = statuses.guilds.len();
            let (mappings, rules) = (
                statuses.role_mappings.len(),
                statuses.notification_rules.len(),
            );
            inputs.unit(&memo.unit, &mut statuses);
            let digest = status_digest(
                statuses.guilds.get(before).map(|(_, s)| s),
                statuses.role_mappings[mappings..]
                    .iter()
                    .map(|(_, s)| Some(s)),
                statuses.notification_rules[rules..]
                    .iter()
                    .map(|(_, s)| Some(s)),
            );
            computed.push((unit_key.clone(), digest));
            if let (Some(guild), Some((_, status))) =
                (&memo.unit.guild, statuses.guilds.get(before))
            {
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
                reasons.push((unit_key, (app, reason)));
            }
        }
        for (unit_key, reason) in reasons {
            self.set_reason(&unit_key, Some(reason));
        }
        for (unit_key, digest) in computed {
            if let Some(memo) = self.units.get_mut(&unit_key) {
                memo.computed = Some(digest);
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
                    guilds.extend(
                        differing(&before.guilds, &after.guilds)
                            .into_iter()
                            .cloned(),
                    );
                    guilds.extend(differing(&before.roles, &after.roles).into_iter().cloned());
                    let notifications = differing(&before.notifications, &after.notifications);
                    rules.extend(notifications.into_iter().cloned());
                    // A guild the bot does not have yet is described by the bot's revision.
                    if *revision != after.revision {
                        let rendered = self.rendered.iter().find(|r| r.application == app);
                        if let Some(r) = rendered {
                            guilds.extend(absent(&r.config.guilds, &after.guilds).cloned());
                        }
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
                if let Some(unit) = self.lookup.unit_of::<NotificationRule>(namespace, name) {
                    self.dirty.insert((namespace.into(), unit.to_string()));
                }
            }
            self.reports.insert(app, seen);
        }
    }

    /// The GuildConfig, RoleMapping or NotificationRule `object` as the last pass saw it.
    pub fn guild(&self, object: &ObjectKey) -> Option<&GuildConfig> {
        self.lookup.guild(&object.namespace, &object.name)
    }

    pub fn role_mapping(&self, object: &ObjectKey) -> Option<&RoleMapping> {
        self.lookup.role_mapping(&object.namespace, &object.name)
    }

    pub fn notification_rule(&self, object: &ObjectKey) -> Option<&NotificationRule> {
        self.lookup
            .notification_rule(&object.namespace, &object.name)
    }

    /// The GuildConfigs whose finalizer has something to decide.
    pub fn undecided(&self) -> impl Iterator<Item = &GuildConfig> {
        self.undecided
            .iter()
            .filter_map(|(namespace, name)| self.lookup.guild(namespace, name))
    }

    /// A status of `object` could not be written: its unit's are due again next pass.
    pub fn retry(&mut self, object: &ObjectKey) {
        let (namespace, name) = (object.namespace.as_str(), object.name.as_str());
        let unit = match object.kind {
            "GuildConfig" => Some(name),
            "RoleMapping" => self.lookup.unit_of::<RoleMapping>(namespace, name),
            "NotificationRule" => self.lookup.unit_of::<NotificationRule>(namespace, name),
            _ => None,
        };
        if let Some(unit) = unit {
            self.due.insert((namespace.to_string(), unit.to_string()));
        }
    }

    /// How many GuildConfigs of each application have each `Ready` reason.
    pub fn ready_reasons(&self) -> &BTreeMap<(ObjectKey, String), usize> {
        &self.reason_counts
    }
}

impl UnitMemo {
    /// Whether `unit` is its objects with the statuses last computed for them, and nothing
    /// else changed: the echo of their status writes.
    fn echoed_by(&self, unit: &Unit) -> bool {
        let Some(computed) = self.computed else {
            return false;
        };
        let guilds = match (&self.unit.guild, &unit.guild) {
            (None, None) => true,
            (Some(a), Some(b)) => a.spec == b.spec && same_but_status(&a.metadata, &b.metadata),
            _ => false,
        };
        let mappings = |a: &RoleMapping, b: &RoleMapping| {
            a.spec == b.spec && same_but_status(&a.metadata, &b.metadata)
        };
        let rules = |a: &NotificationRule, b: &NotificationRule| {
            a.spec == b.spec && same_but_status(&a.metadata, &b.metadata)
        };
        guilds
            && same_by(&self.unit.role_mappings, &unit.role_mappings, mappings)
            && same_by(
                &self.unit.notification_rules,
                &unit.notification_rules,
                rules,
            )
            && status_digest(
                unit.guild.as_ref().and_then(|g| g.status.as_ref()),
                unit.role_mappings.iter().map(|m| m.status.as_ref()),
                unit.notification_rules.iter().map(|r| r.status.as_ref()),
            ) == computed
    }

    /// Whether it was computed from exactly these objects and claims.
    fn holds(&self, unit: &Unit, claims: &[String]) -> bool {
        match (&self.unit.guild, &unit.guild) {
            (None, None) => {}
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) => {}
            _ => return false,
        }
        same(&self.unit.role_mappings, &unit.role_mappings)
            && same(&self.unit.notification_rules, &unit.notification_rules)
            && self.claims == claims
    }
}

/// The other GuildConfigs claiming the unit's guild (none when it is alone, or on its way
/// out: then it claims nothing).
fn claims_of(lookup: &Lookup, unit: &Unit) -> Vec<String> {
    let Some(guild) = unit
        .guild
        .as_ref()
        .filter(|g| g.metadata.deletion_timestamp.is_none())
    else {
        return Vec::new();
    };
    let claims = lookup.claims(
        &ns(&**guild),
        &guild.spec.application_ref.name,
        &guild.spec.guild_id,
    );
    if claims.len() > 1 {
        claims.to_vec()
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::status;
    use k8s_openapi::jiff::Timestamp;
    use kd_crds::references::{Catalog, Delta, check};
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
            observed
                .bots
                .insert(r.application.clone(), Ok(report.into()));
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

    /// What changed between two catalogs, as the operator's caches tell it: the objects
    /// added, replaced or gone, by name.
    fn delta<K: ResourceExt>(before: &[Arc<K>], after: &[Arc<K>]) -> Delta<K> {
        let named = |items: &[Arc<K>]| -> BTreeMap<UnitKey, Arc<K>> {
            items
                .iter()
                .map(|o| ((ns(&**o), o.name_any()), o.clone()))
                .collect()
        };
        let (before, after) = (named(before), named(after));
        let gone = before
            .keys()
            .filter(|k| !after.contains_key(*k))
            .map(|k| (k.clone(), None));
        let changed = after
            .iter()
            .filter(|(k, o)| before.get(*k).is_none_or(|b| !Arc::ptr_eq(b, o)))
            .map(|(k, o)| (k.clone(), Some(o.clone())));
        Delta::Some(gone.chain(changed).collect())
    }

    /// Prepares a pass over `catalog`, given only what changed since `seen`.
    fn prepare(memo: &mut Incremental, seen: &mut Catalog, catalog: &Catalog) {
        let changes = Changes {
            guilds: delta(&seen.guilds, &catalog.guilds),
            role_mappings: delta(&seen.role_mappings, &catalog.role_mappings),
            notification_rules: delta(&seen.notification_rules, &catalog.notification_rules),
        };
        memo.prepare(&catalog.shared(), changes);
        *seen = catalog.clone();
    }

    fn find<'c, K: ResourceExt>(items: &'c mut [Arc<K>], name: &str) -> &'c mut Arc<K> {
        items.iter_mut().find(|i| i.name_any() == name).unwrap()
    }

    #[test]
    fn pass_after_pass_it_gives_what_the_whole_world_functions_give() {
        let mut catalog = world(40);
        let mut memo = Incremental::new();
        let mut seen = Catalog::default();
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
                prepare(&mut memo, &mut seen, &catalog);
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
                let given = memo.statuses(&catalog.shared(), &observed, &now);
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
        let mut seen = Catalog::default();
        let now = Time(Timestamp::from_second(100).unwrap());
        let mut pass = |catalog: &Catalog, memo: &mut Incremental| {
            prepare(memo, &mut seen, catalog);
            let observed = observed(memo.rendered(), &BTreeSet::new());
            memo.statuses(&catalog.shared(), &observed, &now)
        };
        let first = pass(&catalog, &mut memo);
        assert_eq!(first.guilds.len(), 200);
        write_back(&mut catalog, first);
        let echo = pass(&catalog, &mut memo);
        assert_eq!(
            (echo.guilds.len(), echo.role_mappings.len()),
            (0, 0),
            "the statuses' own echo from the API is nothing to do"
        );
        assert_eq!(memo.undecided().count(), 200, "none holds the finalizer");
        for guild in &mut catalog.guilds {
            let meta = &mut Arc::make_mut(guild).metadata;
            meta.finalizers = Some(vec![finalizer::FINALIZER.into()]);
        }
        let finalized = pass(&catalog, &mut memo);
        assert_eq!(
            (finalized.guilds.len(), memo.undecided().count()),
            (0, 0),
            "a finalizer added is a decision made, and nothing to do again"
        );
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
        // The application's own status changes with every revision: its guilds read its spec.
        let app = Arc::make_mut(&mut catalog.applications[0]);
        app.status.get_or_insert_default().running_revision = Some("elsewhere".into());
        let after_status = pass(&catalog, &mut memo);
        assert_eq!(
            after_status.guilds.len(),
            0,
            "an application's status is no input of its guilds"
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

//! The status of every resource, computed as data from the resources, the reference check,
//! what was rendered and what the running workloads report. The backends only write it.

use super::conditions::{Observation, Truth, reasons, settle, types};
use super::render::Rendered;
use super::verification::{self, Outcome, Verification};
use crate::error::Error;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kd_core::report::{BotReport, Registration};
use kd_crds::application::{CommandScope, ShardHolding, shard_ranges};
use kd_crds::references::{Catalog, Finding, ObjectKey, Severity, Unit};
use kd_crds::{
    DiscordApplication, DiscordApplicationStatus, GuildConfig, GuildConfigStatus, KalturaPartner,
    KalturaPartnerStatus, NotificationRule, NotificationRuleStatus, RoleMapping, RoleMappingStatus,
};
use kube::ResourceExt;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// A bot's report, or why there is none. Shared: the report of thousands of guilds is kept,
/// not copied, while it holds.
pub type Report = Result<Arc<BotReport>, Error>;

/// What the operator saw of each application's workloads (keyed by the DiscordApplication).
#[derive(Debug, Default)]
pub struct Observed {
    /// The bot's report (replicas merged), or why there is none.
    pub bots: BTreeMap<ObjectKey, Report>,
    /// Whether applying the workloads worked.
    pub applied: BTreeMap<ObjectKey, Result<(), Error>>,
    /// Whether the Activity has an available replica.
    pub activity_ready: BTreeMap<ObjectKey, bool>,
    /// The last credential check of each KalturaPartner that was checked.
    pub credentials: BTreeMap<ObjectKey, Verification>,
}

/// Every resource's new status.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Statuses {
    pub partners: Vec<(ObjectKey, KalturaPartnerStatus)>,
    pub applications: Vec<(ObjectKey, DiscordApplicationStatus)>,
    pub guilds: Vec<(ObjectKey, GuildConfigStatus)>,
    pub role_mappings: Vec<(ObjectKey, RoleMappingStatus)>,
    pub notification_rules: Vec<(ObjectKey, NotificationRuleStatus)>,
}

/// One view of several bot replicas: shards add up, a guild is as far as the furthest-behind
/// replica reporting it (each reports the guilds of its shards; two do while a shard moves),
/// and replicas on different revisions have no single running revision.
pub fn merge(reports: &[Arc<BotReport>]) -> Option<Arc<BotReport>> {
    let (first, others) = reports.split_first()?;
    if others.is_empty() {
        return Some(first.clone());
    }
    let mut merged = (**first).clone();
    for report in others.iter().map(|r| (**r).clone()) {
        if report.revision != merged.revision {
            merged.revision = String::new();
        }
        for (guild, roles) in report.roles {
            merged.roles.entry(guild).or_insert(roles);
        }
        // Every replica reports the application's shards; each counts those it holds.
        merged.shards = merged.shards.max(report.shards);
        merged.shards_connected += report.shards_connected;
        merged.holders.extend(report.holders);
        for (guild, state) in report.guilds {
            match merged.guilds.entry(guild) {
                std::collections::btree_map::Entry::Vacant(entry) => {
                    entry.insert(state);
                }
                std::collections::btree_map::Entry::Occupied(mut entry) => {
                    if rank(&state) > rank(entry.get()) {
                        entry.insert(state);
                    }
                }
            }
        }
        if rank(&report.global) > rank(&merged.global) {
            merged.global = report.global;
        }
        // Counts come from the shared outbox: the replica that read it last knows most.
        for (rule, delivery) in report.notifications {
            let entry = merged.notifications.entry(rule).or_default();
            if delivery.delivered + delivery.failed >= entry.delivered + entry.failed {
                *entry = delivery;
            }
        }
    }
    Some(Arc::new(merged))
}

fn rank(state: &Registration) -> u8 {
    match state {
        Registration::Registered { .. } | Registration::Cleared { .. } => 0,
        Registration::Pending => 1,
        Registration::Failed { .. } => 2,
    }
}

fn key<K: ResourceExt>(kind: &'static str, obj: &K) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: obj.namespace().unwrap_or_else(|| "default".into()),
        name: obj.name_any(),
    }
}

/// `Ready` of a resource that is only checked, not run: its own reference errors, if any.
fn checked(object: &ObjectKey, findings: &Errors) -> Observation {
    match errors_of(object, findings) {
        Some(message) => {
            Observation::new(types::READY, Truth::False, reasons::INVALID_SPEC, message)
        }
        None => Observation::new(
            types::READY,
            Truth::True,
            reasons::VALID,
            "references resolve".into(),
        ),
    }
}

/// The object's errors as one message, `path: message; ...`.
fn errors_of(object: &ObjectKey, findings: &Errors) -> Option<String> {
    findings.0.get(object).cloned()
}

/// The error findings' messages by object, gathered once per pass: looked up per object, a
/// list would make a pass quadratic in the resources.
pub struct Errors(HashMap<ObjectKey, String>);

impl Errors {
    pub fn of(findings: &[Finding]) -> Self {
        let mut errors: HashMap<ObjectKey, Vec<String>> = HashMap::new();
        for f in findings.iter().filter(|f| f.severity == Severity::Error) {
            errors
                .entry(f.object.clone())
                .or_default()
                .push(format!("{}: {}", f.problem.path, f.problem.message));
        }
        Self(
            errors
                .into_iter()
                .map(|(object, messages)| (object, messages.join("; ")))
                .collect(),
        )
    }
}

/// The part every status shares.
pub(crate) trait Common: Clone + Default {
    fn conditions(&self) -> &[Condition];
    fn settle(&mut self, generation: Option<i64>, conditions: Vec<Condition>);
}

macro_rules! common {
    ($($status:ty),*) => {$(
        impl Common for $status {
            fn conditions(&self) -> &[Condition] {
                &self.conditions
            }
            fn settle(&mut self, generation: Option<i64>, conditions: Vec<Condition>) {
                self.observed_generation = generation;
                self.conditions = conditions;
            }
        }
    )*};
}

common!(
    KalturaPartnerStatus,
    DiscordApplicationStatus,
    GuildConfigStatus,
    RoleMappingStatus,
    NotificationRuleStatus
);

/// The status of `item`: `observe` gives the conditions and the rest of the status (from the
/// previous one); generation and transition times are filled in here.
fn one<K: ResourceExt, S: Common>(
    kind: &'static str,
    item: &K,
    current: Option<&S>,
    now: &Time,
    observe: impl FnOnce(&ObjectKey, S) -> (Vec<Observation>, S),
) -> (ObjectKey, S) {
    let object = key(kind, item);
    let previous = current.cloned().unwrap_or_default();
    let generation = item.meta().generation;
    let conditions = previous.conditions().to_vec();
    let (observations, mut status) = observe(&object, previous);
    status.settle(
        generation,
        settle(&conditions, observations, generation, now),
    );
    (object, status)
}

/// What every status of a pass is computed from besides its own object.
pub struct Inputs<'a> {
    pub findings: &'a Errors,
    pub rendered: &'a [Rendered],
    pub observed: &'a Observed,
    /// Stamps the conditions whose status flips.
    pub now: &'a Time,
}

impl Inputs<'_> {
    fn rendered(&self, app: &ObjectKey) -> Option<&Rendered> {
        self.rendered.iter().find(|r| &r.application == app)
    }

    pub fn partner(&self, partner: &KalturaPartner) -> (ObjectKey, KalturaPartnerStatus) {
        one(
            "KalturaPartner",
            partner,
            partner.status.as_ref(),
            self.now,
            |object, previous| partner_status(object, self.findings, self.observed, previous),
        )
    }

    pub fn application(&self, app: &DiscordApplication) -> (ObjectKey, DiscordApplicationStatus) {
        one(
            "DiscordApplication",
            app,
            app.status.as_ref(),
            self.now,
            |object, previous| {
                application(
                    object,
                    app,
                    self.findings,
                    self.rendered(object),
                    self.observed,
                    previous,
                )
            },
        )
    }

    pub fn guild(&self, guild: &GuildConfig) -> (ObjectKey, GuildConfigStatus) {
        one(
            "GuildConfig",
            guild,
            guild.status.as_ref(),
            self.now,
            |object, _| {
                let app = ObjectKey {
                    kind: "DiscordApplication",
                    namespace: object.namespace.clone(),
                    name: guild.spec.application_ref.name.clone(),
                };
                guild_status(
                    object,
                    &guild.spec.guild_id,
                    &app,
                    self.findings,
                    self.rendered(&app),
                    self.observed,
                )
            },
        )
    }

    /// `guild`: the GuildConfig the RoleMapping names, if it exists.
    pub fn role_mapping(
        &self,
        mapping: &RoleMapping,
        guild: Option<&GuildConfig>,
    ) -> (ObjectKey, RoleMappingStatus) {
        one(
            "RoleMapping",
            mapping,
            mapping.status.as_ref(),
            self.now,
            |object, previous| {
                role_mapping_status(
                    object,
                    mapping,
                    guild,
                    self.findings,
                    self.observed,
                    previous,
                )
            },
        )
    }

    pub fn notification_rule(
        &self,
        rule: &NotificationRule,
    ) -> (ObjectKey, NotificationRuleStatus) {
        one(
            "NotificationRule",
            rule,
            rule.status.as_ref(),
            self.now,
            |object, previous| {
                let status = deliveries(object, self.observed, previous);
                (vec![checked(object, self.findings)], status)
            },
        )
    }

    /// The statuses of one unit's objects, added to `into`.
    pub fn unit(&self, unit: &Unit, into: &mut Statuses) {
        let guild = unit.guild.as_deref();
        if let Some(guild) = guild {
            into.guilds.push(self.guild(guild));
        }
        for mapping in &unit.role_mappings {
            into.role_mappings.push(self.role_mapping(mapping, guild));
        }
        for rule in &unit.notification_rules {
            into.notification_rules.push(self.notification_rule(rule));
        }
    }
}

/// Every resource's status, each kind in the catalog's order. `now` stamps conditions whose
/// status flips.
pub fn compute(
    catalog: &Catalog,
    findings: &[Finding],
    rendered: &[Rendered],
    observed: &Observed,
    now: &Time,
) -> Statuses {
    let inputs = Inputs {
        findings: &Errors::of(findings),
        rendered,
        observed,
        now,
    };
    let lookup = catalog.lookup();
    Statuses {
        partners: catalog.partners.iter().map(|p| inputs.partner(p)).collect(),
        applications: catalog
            .applications
            .iter()
            .map(|a| inputs.application(a))
            .collect(),
        guilds: catalog.guilds.iter().map(|g| inputs.guild(g)).collect(),
        role_mappings: catalog
            .role_mappings
            .iter()
            .map(|m| {
                let namespace = m.namespace().unwrap_or_else(|| "default".into());
                let guild = lookup.guild(&namespace, &m.spec.guild_config_ref.name);
                inputs.role_mapping(m, guild)
            })
            .collect(),
        notification_rules: catalog
            .notification_rules
            .iter()
            .map(|r| inputs.notification_rule(r))
            .collect(),
    }
}

/// A NotificationRule's delivery counts, last delivery and last error, from the bot's report
/// (the outbox is shared, so any replica's report tells the same).
fn deliveries(
    object: &ObjectKey,
    observed: &Observed,
    mut status: NotificationRuleStatus,
) -> NotificationRuleStatus {
    let rule = format!("{}/{}", object.namespace, object.name);
    let reported = observed
        .bots
        .values()
        .filter_map(|report| report.as_ref().ok()?.notifications.get(&rule))
        .max_by_key(|d| d.delivered + d.failed);
    if let Some(d) = reported {
        status.delivered = d.delivered;
        status.failed = d.failed;
        status.last_delivery_time = d
            .last_delivery
            .and_then(|ms| k8s_openapi::jiff::Timestamp::from_millisecond(ms).ok())
            .map(Time);
        status.last_error = d.last_error.clone();
    }
    status
}

/// `Ready` from its references, and its rules resolved against the guild's roles as the bot
/// reports them (kept as they were while no report names the guild's roles).
fn role_mapping_status(
    object: &ObjectKey,
    mapping: &RoleMapping,
    guild: Option<&GuildConfig>,
    findings: &Errors,
    observed: &Observed,
    previous: RoleMappingStatus,
) -> (Vec<Observation>, RoleMappingStatus) {
    let mut status = previous;
    let roles = guild.and_then(|guild| {
        let app = ObjectKey {
            kind: "DiscordApplication",
            namespace: object.namespace.clone(),
            name: guild.spec.application_ref.name.clone(),
        };
        match observed.bots.get(&app)? {
            Ok(report) => report.roles.get(&guild.spec.guild_id),
            Err(_) => None,
        }
    });
    if let Some(roles) = roles {
        let table = kd_core::config::RoleTable {
            rules: mapping.spec.rules.clone(),
            default: mapping.spec.default.clone(),
        };
        (status.resolved_roles, status.unmatched_rules) =
            kd_core::roles::resolve_rules(&table, roles);
    }
    (vec![checked(object, findings)], status)
}

/// `Ready` (references resolve and Kaltura does not refuse the credentials), `CredentialsValid`,
/// and the account name and time of the last check that reached Kaltura.
fn partner_status(
    object: &ObjectKey,
    findings: &Errors,
    observed: &Observed,
    previous: KalturaPartnerStatus,
) -> (Vec<Observation>, KalturaPartnerStatus) {
    let verification = observed.credentials.get(object);
    let credentials = verification::condition(verification);
    let references = checked(object, findings);
    let ready = if references.is_true() && credentials.status == Truth::False {
        Observation::new(
            types::READY,
            Truth::False,
            credentials.reason,
            credentials.message.clone(),
        )
    } else {
        references
    };
    let mut status = previous;
    match verification {
        Some(Verification {
            at,
            outcome: Outcome::Valid { partner_name },
        }) => {
            status.partner_name = Some(partner_name.clone());
            status.last_verified_time = Some(at.clone());
        }
        Some(Verification {
            at,
            outcome: Outcome::Refused { .. },
        }) => {
            status.partner_name = None;
            status.last_verified_time = Some(at.clone());
        }
        // Unreachable or not checked: what was learnt last still stands.
        _ => {}
    }
    (vec![ready, credentials], status)
}

/// How many global commands Discord holds for an application: as many as the bot reports
/// registered, none once it reports them cleared, else (not reporting, not checked yet, or
/// refused) what status said before.
pub fn global_commands(previous: Option<i32>, report: Option<&Report>) -> Option<i32> {
    match report {
        Some(Ok(report)) => match &report.global {
            Registration::Registered { commands, .. } => Some(*commands as i32),
            Registration::Cleared { .. } => None,
            Registration::Pending | Registration::Failed { .. } => previous,
        },
        _ => previous,
    }
}

/// The report's state of the global set when it is of the rendered config's global revision
/// (else the bot has not got to the rendered scope yet).
pub fn global_state<'a>(report: &'a BotReport, rendered: &Rendered) -> Option<&'a Registration> {
    let revision = match &report.global {
        Registration::Registered { revision, .. }
        | Registration::Cleared { revision }
        | Registration::Failed { revision, .. } => revision,
        Registration::Pending => return None,
    };
    (*revision == rendered.config.global_revision()).then_some(&report.global)
}

/// The application's `CommandsRegistered`: in `Global` scope whether Discord holds the global
/// set; in `Guild` scope that it holds no global set of ours (the guilds' sets are on their
/// GuildConfigs).
fn global_registration(rendered: &Rendered, report: &BotReport) -> Observation {
    let observe = |truth, reason, message| {
        Observation::new(types::COMMANDS_REGISTERED, truth, reason, message)
    };
    let wanted = rendered.config.global_commands_wanted();
    match (wanted, global_state(report, rendered)) {
        (true, Some(Registration::Registered { commands, .. })) => observe(
            Truth::True,
            reasons::REGISTERED,
            format!(
                "{commands} global commands of command set version {} registered",
                report.command_set_version
            ),
        ),
        (false, Some(Registration::Cleared { .. })) => observe(
            Truth::True,
            reasons::GUILD_SCOPE,
            "commands are registered per guild (see each GuildConfig); no global commands".into(),
        ),
        (_, Some(Registration::Failed { error, .. })) => observe(
            Truth::False,
            reasons::REGISTRATION_FAILED,
            format!("Discord refused the global command set: {error}"),
        ),
        (true, _) => observe(
            Truth::False,
            reasons::PENDING,
            "the bot has not registered the global commands yet".into(),
        ),
        (false, _) => observe(
            Truth::False,
            reasons::PENDING,
            "the bot has not removed the global commands yet".into(),
        ),
    }
}

fn application(
    object: &ObjectKey,
    app: &DiscordApplication,
    findings: &Errors,
    rendered: Option<&Rendered>,
    observed: &Observed,
    previous: DiscordApplicationStatus,
) -> (Vec<Observation>, DiscordApplicationStatus) {
    let activity_enabled = app.spec.activity.enabled;
    let global_commands = global_commands(previous.global_commands, observed.bots.get(object));
    let Some(rendered) = rendered else {
        let message = errors_of(object, findings).unwrap_or_else(|| "not rendered".into());
        let invalid =
            |type_| Observation::new(type_, Truth::False, reasons::INVALID_SPEC, message.clone());
        return (
            vec![invalid(types::READY), invalid(types::DEPLOYED)],
            DiscordApplicationStatus {
                global_commands,
                ..DiscordApplicationStatus::default()
            },
        );
    };
    let desired = rendered.config.revision.clone();
    let deployed = match observed.applied.get(object) {
        Some(Ok(())) => Observation::new(
            types::DEPLOYED,
            Truth::True,
            reasons::APPLIED,
            "the bot and Activity workloads are applied".into(),
        ),
        Some(Err(error)) => Observation::new(
            types::DEPLOYED,
            Truth::False,
            reasons::APPLY_FAILED,
            error.to_string(),
        ),
        None => Observation::new(
            types::DEPLOYED,
            Truth::Unknown,
            reasons::NOT_APPLIED,
            "the workloads were not applied yet".into(),
        ),
    };
    let report = observed.bots.get(object);
    let connected = match report {
        Some(Ok(r)) => {
            let all = r.shards > 0 && r.shards_connected == r.shards;
            let (truth, reason) = if all {
                (Truth::True, reasons::CONNECTED)
            } else {
                (Truth::False, reasons::CONNECTING)
            };
            let message = format!(
                "{} of {} gateway shards connected",
                r.shards_connected, r.shards
            );
            Observation::new(types::BOT_CONNECTED, truth, reason, message)
        }
        Some(Err(why)) => Observation::new(
            types::BOT_CONNECTED,
            Truth::False,
            reasons::BOT_NOT_REPORTING,
            why.to_string(),
        ),
        None => Observation::new(
            types::BOT_CONNECTED,
            Truth::Unknown,
            reasons::BOT_NOT_REPORTING,
            "no bot report yet".into(),
        ),
    };
    let activity = match (activity_enabled, observed.activity_ready.get(object)) {
        (false, _) => Observation::new(
            types::ACTIVITY_READY,
            Truth::False,
            reasons::DISABLED,
            "activity.enabled is false".into(),
        ),
        (true, Some(true)) => Observation::new(
            types::ACTIVITY_READY,
            Truth::True,
            reasons::AVAILABLE,
            "the Activity server has an available replica".into(),
        ),
        (true, _) => Observation::new(
            types::ACTIVITY_READY,
            Truth::False,
            reasons::UNAVAILABLE,
            "the Activity server has no available replica".into(),
        ),
    };
    let commands = match report {
        _ if rendered.config.application.deleting => Observation::new(
            types::COMMANDS_REGISTERED,
            Truth::False,
            reasons::DELETING,
            "being deleted: the bot is removing the global commands".into(),
        ),
        Some(Ok(r)) => global_registration(rendered, r),
        _ => Observation::new(
            types::COMMANDS_REGISTERED,
            Truth::Unknown,
            connected.reason,
            connected.message.clone(),
        ),
    };
    let running = match report {
        Some(Ok(r)) if !r.revision.is_empty() => Some(r.revision.clone()),
        _ => None,
    };
    // The first condition that is not met, in the order an operator fixes them; being
    // deleted says so first, whatever else is amiss.
    let unmet = (commands.reason == reasons::DELETING)
        .then(|| commands.clone())
        .or_else(|| {
            [&deployed, &connected]
                .into_iter()
                .find(|o| !o.is_true())
                .cloned()
        })
        .or_else(|| {
            (running.as_deref() != Some(desired.as_str())).then(|| {
                Observation::new(
                    types::READY,
                    Truth::False,
                    reasons::ROLLING_OUT,
                    format!(
                        "the bot runs revision {}, the rendered revision is {desired}",
                        running.as_deref().unwrap_or("(mixed)")
                    ),
                )
            })
        })
        // In `Guild` scope the global set only has to go away, which holds no guild up (and a
        // bot from before global sets never reports it).
        .or_else(|| {
            (rendered.config.global_commands_wanted() && !commands.is_true())
                .then(|| commands.clone())
        })
        .or_else(|| (activity_enabled && !activity.is_true()).then(|| activity.clone()));
    let ready = match unmet {
        Some(unmet) => Observation::new(types::READY, Truth::False, unmet.reason, unmet.message),
        None => Observation::new(
            types::READY,
            Truth::True,
            reasons::RUNNING,
            format!("revision {desired} runs"),
        ),
    };
    let (shards, shard_holders) = match report {
        Some(Ok(r)) if r.shards > 0 => (
            Some(format!("{}/{}", r.shards_connected, r.shards)),
            r.holders
                .iter()
                .map(|(replica, shards)| ShardHolding {
                    replica: replica.clone(),
                    shards: shard_ranges(shards),
                })
                .collect(),
        ),
        _ => (None, Vec::new()),
    };
    let status = DiscordApplicationStatus {
        guild_count: Some(rendered.config.guilds.len() as i32),
        desired_revision: Some(desired),
        running_revision: running,
        global_commands,
        shards,
        shard_holders,
        ..DiscordApplicationStatus::default()
    };
    (vec![ready, deployed, connected, activity, commands], status)
}

fn guild_status(
    object: &ObjectKey,
    guild_id: &str,
    app: &ObjectKey,
    findings: &Errors,
    rendered: Option<&Rendered>,
    observed: &Observed,
) -> (Vec<Observation>, GuildConfigStatus) {
    let not_ready = |reason, message: String| {
        (
            vec![
                Observation::new(types::READY, Truth::False, reason, message.clone()),
                Observation::new(types::COMMANDS_REGISTERED, Truth::Unknown, reason, message),
            ],
            GuildConfigStatus::default(),
        )
    };
    if let Some(message) = errors_of(object, findings) {
        return not_ready(reasons::INVALID_SPEC, message);
    }
    let Some(rendered) = rendered else {
        return not_ready(
            reasons::APPLICATION_NOT_READY,
            format!("DiscordApplication {} is not valid", app.name),
        );
    };
    if rendered.config.clearing.contains(guild_id) {
        return not_ready(
            reasons::DELETING,
            "being deleted: the bot is removing the guild's commands".into(),
        );
    }
    if rendered.config.guild(guild_id).is_none() {
        return not_ready(
            reasons::NOT_RENDERED,
            "left out of the rendered configuration".into(),
        );
    }
    let report = match observed.bots.get(app) {
        Some(Ok(report)) => report,
        Some(Err(why)) => return not_ready(reasons::BOT_NOT_REPORTING, why.to_string()),
        None => return not_ready(reasons::BOT_NOT_REPORTING, "no bot report yet".into()),
    };
    let Some(state) = report.guilds.get(guild_id) else {
        return not_ready(
            reasons::ROLLING_OUT,
            format!(
                "the bot runs revision {}, which does not have this guild yet",
                report.revision
            ),
        );
    };
    // Compared per guild: an edit elsewhere in the application leaves this status alone.
    let running = match state {
        Registration::Registered { revision, .. }
        | Registration::Cleared { revision }
        | Registration::Failed { revision, .. } => Some(revision),
        Registration::Pending => None,
    };
    let registered = guild_registration(state, report, rendered);
    let desired = rendered.pieces.guild_revisions.get(guild_id);
    let ready = if !registered.is_true() {
        Observation::new(
            types::READY,
            Truth::False,
            registered.reason,
            registered.message.clone(),
        )
    } else if running != desired {
        Observation::new(
            types::READY,
            Truth::False,
            reasons::ROLLING_OUT,
            format!(
                "the bot runs revision {} of this guild's config, the rendered one is {}",
                running.map_or("(none)", String::as_str),
                desired.map_or("(none)", String::as_str)
            ),
        )
    } else {
        Observation::new(
            types::READY,
            Truth::True,
            reasons::READY,
            "the bot serves this guild's commands".into(),
        )
    };
    let status = GuildConfigStatus {
        config_revision: running.cloned(),
        command_set_version: registered
            .is_true()
            .then(|| report.command_set_version.clone()),
        ..GuildConfigStatus::default()
    };
    (vec![ready, registered], status)
}

/// A guild's `CommandsRegistered`: its own set in `Guild` scope; in `Global` scope the
/// application's global set, once the guild holds none of its own.
fn guild_registration(
    state: &Registration,
    report: &BotReport,
    rendered: &Rendered,
) -> Observation {
    let observe = |truth, reason, message| {
        Observation::new(types::COMMANDS_REGISTERED, truth, reason, message)
    };
    let pending = || {
        observe(
            Truth::False,
            reasons::PENDING,
            "the bot has not registered the commands yet".into(),
        )
    };
    let global = !rendered.config.application.command_scope.is_guild();
    match state {
        Registration::Registered {
            scope: CommandScope::Guild,
            commands,
            ..
        } => observe(
            Truth::True,
            reasons::REGISTERED,
            format!(
                "{commands} commands of command set version {} registered",
                report.command_set_version
            ),
        ),
        Registration::Registered {
            scope: CommandScope::Global,
            ..
        } if global => match global_state(report, rendered) {
            Some(Registration::Registered { commands, .. }) => observe(
                Truth::True,
                reasons::REGISTERED,
                format!(
                    "served by the application's {commands} global commands (command set version {})",
                    report.command_set_version
                ),
            ),
            Some(Registration::Failed { error, .. }) => observe(
                Truth::False,
                reasons::REGISTRATION_FAILED,
                format!("Discord refused the application's global command set: {error}"),
            ),
            _ => observe(
                Truth::False,
                reasons::PENDING,
                "the bot has not registered the application's global commands yet".into(),
            ),
        },
        // Served globally under an older scope, or cleared (the state of a guild left out):
        // an older report's.
        Registration::Registered { .. } | Registration::Pending | Registration::Cleared { .. } => {
            pending()
        }
        Registration::Failed { error, .. } if global => observe(
            Truth::False,
            reasons::REGISTRATION_FAILED,
            format!(
                "Discord refused removing the guild's own commands (the global ones serve it): {error}"
            ),
        ),
        Registration::Failed { error, .. } => observe(
            Truth::False,
            reasons::REGISTRATION_FAILED,
            format!("Discord refused the command set: {error}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests;
    use crate::reconcile::render::render;
    use k8s_openapi::jiff::Timestamp;
    use kd_crds::references::check;
    use std::path::Path;
    use std::sync::Arc;

    const PHYSICS: &str = "1283874310720716890";

    fn examples() -> Catalog {
        manifests::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"))
            .unwrap()
            .catalog
    }

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn app_key(catalog: &Catalog) -> ObjectKey {
        key("DiscordApplication", &*catalog.applications[0])
    }

    /// A bot that runs `revision` and registered every guild of it.
    fn report(rendered: &Rendered, revision: &str) -> BotReport {
        BotReport {
            application_id: rendered.config.application.application_id.clone(),
            revision: revision.into(),
            command_set_version: "1".into(),
            shards: 1,
            shards_connected: 1,
            guilds: rendered
                .config
                .guilds
                .keys()
                .map(|id| {
                    // Each guild at its revision under `revision`: the rendered one's, or an
                    // older one's.
                    let guild_revision = if revision == rendered.config.revision {
                        rendered.config.guild_revision(id)
                    } else {
                        format!("{revision}-{id}")
                    };
                    let registered = Registration::Registered {
                        commands: 7,
                        fingerprint: "f".into(),
                        revision: guild_revision,
                        scope: CommandScope::Guild,
                    };
                    (id.clone(), registered)
                })
                .collect(),
            global: Registration::Cleared {
                revision: rendered.config.global_revision(),
            },
            ..BotReport::default()
        }
    }

    fn running(catalog: &Catalog, report: BotReport) -> Observed {
        let app = app_key(catalog);
        Observed {
            bots: BTreeMap::from([(app.clone(), Ok(report.into()))]),
            applied: BTreeMap::from([(app.clone(), Ok(()))]),
            activity_ready: BTreeMap::from([(app, true)]),
            ..Observed::default()
        }
    }

    fn compute_at(catalog: &Catalog, observed: &Observed, now: i64) -> Statuses {
        compute(
            catalog,
            &check(catalog),
            &render(catalog),
            observed,
            &at(now),
        )
    }

    fn guild<'a>(statuses: &'a Statuses, name: &str) -> &'a GuildConfigStatus {
        &statuses
            .guilds
            .iter()
            .find(|(k, _)| k.name == name)
            .unwrap()
            .1
    }

    fn condition<'a>(conditions: &'a [Condition], type_: &str) -> (&'a str, &'a str) {
        let c = conditions.iter().find(|c| c.type_ == type_).unwrap();
        (c.status.as_str(), c.reason.as_str())
    }

    #[test]
    fn a_running_bot_makes_guilds_ready_with_the_command_set_version() {
        let catalog = examples();
        let rendered = render(&catalog).remove(0);
        let revision = rendered.config.revision.clone();
        let statuses = compute_at(
            &catalog,
            &running(&catalog, report(&rendered, &revision)),
            100,
        );
        let physics = guild(&statuses, "physics-101");
        assert_eq!(
            condition(&physics.conditions, types::READY),
            ("True", reasons::READY)
        );
        assert_eq!(
            condition(&physics.conditions, types::COMMANDS_REGISTERED),
            ("True", reasons::REGISTERED)
        );
        assert_eq!(
            physics.command_set_version.as_deref(),
            Some(kd_core::command::COMMAND_SET_VERSION)
        );
        assert_eq!(
            physics.config_revision,
            Some(rendered.config.guild_revision(PHYSICS))
        );
        assert_eq!(
            physics.observed_generation,
            catalog.guilds[0].metadata.generation
        );
        let (_, app) = &statuses.applications[0];
        assert_eq!(
            condition(&app.conditions, types::READY),
            ("True", reasons::RUNNING)
        );
        assert_eq!(app.guild_count, Some(2));
        assert_eq!(app.running_revision.as_deref(), Some(revision.as_str()));
        assert_eq!(app.shards.as_deref(), Some("1/1"));
        assert!(app.shard_holders.is_empty(), "one process, no leases");
    }

    #[test]
    fn replicas_sharing_the_shards_show_who_holds_which() {
        let catalog = examples();
        let rendered = render(&catalog).remove(0);
        let revision = rendered.config.revision.clone();
        let replica = |name: &str, shards: Vec<u32>, connected| {
            Arc::new(BotReport {
                shards: 12,
                shards_connected: connected,
                holders: BTreeMap::from([(name.to_string(), shards)]),
                ..report(&rendered, &revision)
            })
        };
        let merged = merge(&[
            replica("bot-7d9f-1", vec![0, 1, 2, 3, 8], 5),
            replica("bot-c2a1-1", vec![4, 5, 6, 7], 3),
        ])
        .unwrap();
        let mut observed = running(&catalog, BotReport::default());
        observed.bots.insert(app_key(&catalog), Ok(merged));
        let statuses = compute_at(&catalog, &observed, 100);
        let (_, app) = &statuses.applications[0];
        assert_eq!(app.shards.as_deref(), Some("8/12"));
        let holders: Vec<(&str, &str)> = app
            .shard_holders
            .iter()
            .map(|h| (h.replica.as_str(), h.shards.as_str()))
            .collect();
        assert_eq!(holders, [("bot-7d9f-1", "0-3,8"), ("bot-c2a1-1", "4-7")]);
        assert_eq!(
            condition(&app.conditions, types::BOT_CONNECTED),
            ("False", reasons::CONNECTING),
            "shards 9-11 are held by nobody yet"
        );
    }

    #[test]
    fn an_edit_to_one_guild_moves_that_guilds_status_alone() {
        let before = examples();
        let rendered = render(&before).remove(0);
        let bot = running(&before, report(&rendered, &rendered.config.revision));
        let mut after = before.clone();
        let film = after
            .role_mappings
            .iter_mut()
            .find(|m| m.metadata.name.as_deref() == Some("film-club"))
            .unwrap();
        Arc::make_mut(film).spec.default = "moderator".into();
        let (was, now) = (
            compute_at(&before, &bot, 100),
            compute_at(&after, &bot, 100),
        );
        assert_eq!(
            guild(&was, "physics-101"),
            guild(&now, "physics-101"),
            "an untouched guild's status is unchanged, so nothing is written"
        );
        assert_eq!(
            condition(&guild(&now, "film-club").conditions, types::READY),
            ("False", reasons::ROLLING_OUT)
        );
    }

    #[test]
    fn without_a_report_nothing_claims_to_be_ready() {
        let catalog = examples();
        let statuses = compute_at(&catalog, &Observed::default(), 100);
        let physics = guild(&statuses, "physics-101");
        assert_eq!(
            condition(&physics.conditions, types::READY),
            ("False", reasons::BOT_NOT_REPORTING)
        );
        assert_eq!(
            condition(&physics.conditions, types::COMMANDS_REGISTERED),
            ("Unknown", reasons::BOT_NOT_REPORTING)
        );
        assert_eq!(physics.command_set_version, None);
        let (_, app) = &statuses.applications[0];
        assert_eq!(
            condition(&app.conditions, types::DEPLOYED),
            ("Unknown", reasons::NOT_APPLIED)
        );
        assert_eq!(condition(&app.conditions, types::READY).0, "False");
    }

    #[test]
    fn an_older_revision_is_rolling_out_and_a_refusal_is_quoted() {
        let catalog = examples();
        let rendered = render(&catalog).remove(0);
        let mut old = report(&rendered, "0ld");
        let statuses = compute_at(&catalog, &running(&catalog, old.clone()), 100);
        assert_eq!(
            condition(&guild(&statuses, "physics-101").conditions, types::READY),
            ("False", reasons::ROLLING_OUT)
        );
        assert_eq!(
            condition(&statuses.applications[0].1.conditions, types::READY),
            ("False", reasons::ROLLING_OUT)
        );
        old.revision = rendered.config.revision.clone();
        old.guilds.insert(
            PHYSICS.into(),
            Registration::Failed {
                error: "Missing Access (50001)".into(),
                revision: old.revision.clone(),
            },
        );
        let statuses = compute_at(&catalog, &running(&catalog, old), 100);
        let physics = guild(&statuses, "physics-101");
        let registered = physics
            .conditions
            .iter()
            .find(|c| c.type_ == types::COMMANDS_REGISTERED)
            .unwrap();
        assert_eq!(registered.reason, reasons::REGISTRATION_FAILED);
        assert!(registered.message.contains("Missing Access (50001)"));
        assert_eq!(physics.command_set_version, None);
    }

    #[test]
    fn a_broken_guild_says_which_field_and_the_others_stay_ready() {
        let mut catalog = examples();
        Arc::make_mut(&mut catalog.guilds[0])
            .spec
            .application_ref
            .name = "nobody".into();
        let broken = catalog.guilds[0].metadata.name.clone().unwrap();
        let rendered = render(&catalog).remove(0);
        let revision = rendered.config.revision.clone();
        let statuses = compute_at(
            &catalog,
            &running(&catalog, report(&rendered, &revision)),
            100,
        );
        let status = guild(&statuses, &broken);
        let ready = status
            .conditions
            .iter()
            .find(|c| c.type_ == types::READY)
            .unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", reasons::INVALID_SPEC)
        );
        assert!(
            ready.message.contains("spec.applicationRef"),
            "{}",
            ready.message
        );
        let other = &catalog.guilds[1].metadata.name.clone().unwrap();
        assert_eq!(
            condition(&guild(&statuses, other).conditions, types::READY),
            ("True", reasons::READY)
        );
    }

    #[test]
    fn recomputing_an_unchanged_world_gives_the_same_status() {
        let mut catalog = examples();
        let rendered = render(&catalog).remove(0);
        let revision = rendered.config.revision.clone();
        let observed = running(&catalog, report(&rendered, &revision));
        let first = compute_at(&catalog, &observed, 100);
        for (guild, (_, status)) in catalog.guilds.iter_mut().zip(&first.guilds) {
            Arc::make_mut(guild).status = Some(status.clone());
        }
        for (app, (_, status)) in catalog.applications.iter_mut().zip(&first.applications) {
            Arc::make_mut(app).status = Some(status.clone());
        }
        let again = compute_at(&catalog, &observed, 500);
        assert_eq!(again.guilds, first.guilds, "no write when nothing changed");
        assert_eq!(again.applications, first.applications);
    }

    #[test]
    fn notification_rules_show_what_the_bot_delivered() {
        let catalog = examples();
        let rendered = render(&catalog).remove(0);
        let revision = rendered.config.revision.clone();
        let mut report = report(&rendered, &revision);
        report.notifications.insert(
            "kaltura/physics-101-recordings".into(),
            kd_core::report::RuleDelivery {
                delivered: 7,
                failed: 1,
                pending: 2,
                last_delivery: Some(1_700_000_000_000),
                last_error: Some("Discord answered 403: Missing Permissions (50013)".into()),
            },
        );
        let statuses = compute_at(&catalog, &running(&catalog, report), 100);
        let rule = |name: &str| {
            statuses
                .notification_rules
                .iter()
                .find(|(k, _)| k.name == name)
                .unwrap()
                .1
                .clone()
        };
        let recordings = rule("physics-101-recordings");
        assert_eq!((recordings.delivered, recordings.failed), (7, 1));
        assert_eq!(recordings.last_delivery_time, Some(at(1_700_000_000)));
        assert_eq!(
            recordings.last_error.as_deref(),
            Some("Discord answered 403: Missing Permissions (50013)")
        );
        let meetings = rule("physics-101-meetings");
        assert_eq!((meetings.delivered, meetings.last_error), (0, None));
    }

    #[test]
    fn replicas_merge_into_the_furthest_behind_view() {
        let pending = BotReport {
            revision: "a".into(),
            shards: 2,
            shards_connected: 1,
            holders: BTreeMap::from([("bot-a".into(), vec![0])]),
            guilds: BTreeMap::from([("1".into(), Registration::Pending)]),
            ..BotReport::default()
        };
        let done = Registration::Registered {
            commands: 1,
            fingerprint: "f".into(),
            revision: "b".into(),
            scope: CommandScope::Guild,
        };
        let registered = BotReport {
            revision: "b".into(),
            shards: 2,
            shards_connected: 0,
            holders: BTreeMap::from([("bot-b".into(), vec![1])]),
            guilds: BTreeMap::from([("1".into(), done.clone())]),
            ..BotReport::default()
        };
        // Guild 2 is on bot-a's shard alone: reported by it, as it stands there.
        let mut pending = pending;
        pending.guilds.insert("2".into(), done.clone());
        let merged = merge(&[registered.into(), pending.into()]).unwrap();
        assert_eq!(merged.guilds["2"], done);
        assert_eq!(merged.revision, "", "mixed revisions have no single one");
        assert_eq!((merged.shards, merged.shards_connected), (2, 1));
        assert_eq!(
            merged.holders,
            BTreeMap::from([("bot-a".into(), vec![0]), ("bot-b".into(), vec![1])])
        );
        assert_eq!(merged.guilds["1"], Registration::Pending);
        assert_eq!(merge(&[]), None);
    }

    /// The examples with their application in `Global` scope, and a bot running them whose
    /// guilds hold none of their own and whose global set is `global`.
    fn served_globally(global: impl FnOnce(&Rendered) -> Registration) -> (Catalog, Observed) {
        let mut catalog = examples();
        Arc::make_mut(&mut catalog.applications[0])
            .spec
            .bot
            .command_scope = CommandScope::Global;
        let rendered = render(&catalog).remove(0);
        let mut bot = report(&rendered, &rendered.config.revision);
        for (id, state) in bot.guilds.iter_mut() {
            *state = Registration::Registered {
                commands: 0,
                fingerprint: "e".into(),
                revision: rendered.config.guild_revision(id),
                scope: CommandScope::Global,
            };
        }
        bot.global = global(&rendered);
        let observed = running(&catalog, bot);
        (catalog, observed)
    }

    #[test]
    fn in_global_scope_guilds_are_ready_once_the_global_set_is_registered() {
        let (catalog, observed) = served_globally(|rendered| Registration::Registered {
            commands: 8,
            fingerprint: "all".into(),
            revision: rendered.config.global_revision(),
            scope: CommandScope::Global,
        });
        let statuses = compute_at(&catalog, &observed, 100);
        for (_, status) in &statuses.guilds {
            assert_eq!(
                condition(&status.conditions, types::READY),
                ("True", reasons::READY)
            );
            let registered = status
                .conditions
                .iter()
                .find(|c| c.type_ == types::COMMANDS_REGISTERED)
                .unwrap();
            assert_eq!(
                registered.message,
                "served by the application's 8 global commands (command set version 1)"
            );
            assert_eq!(status.command_set_version.as_deref(), Some("1"));
        }
        let (_, app) = &statuses.applications[0];
        assert_eq!(
            condition(&app.conditions, types::COMMANDS_REGISTERED),
            ("True", reasons::REGISTERED)
        );
        assert_eq!(
            condition(&app.conditions, types::READY),
            ("True", reasons::RUNNING)
        );
        assert_eq!(app.global_commands, Some(8));
    }

    #[test]
    fn a_refused_global_set_is_quoted_by_every_guild_and_one_not_sent_yet_is_pending() {
        let (catalog, observed) = served_globally(|rendered| Registration::Failed {
            error: "Missing Access (50001)".into(),
            revision: rendered.config.global_revision(),
        });
        let statuses = compute_at(&catalog, &observed, 100);
        for (_, status) in &statuses.guilds {
            let ready = status
                .conditions
                .iter()
                .find(|c| c.type_ == types::READY)
                .unwrap();
            assert_eq!(ready.reason, reasons::REGISTRATION_FAILED);
            assert_eq!(
                ready.message,
                "Discord refused the application's global command set: Missing Access (50001)"
            );
            assert_eq!(status.command_set_version, None);
        }
        let (_, app) = &statuses.applications[0];
        assert_eq!(
            condition(&app.conditions, types::READY),
            ("False", reasons::REGISTRATION_FAILED)
        );
        // A global set of the Guild scope's revision (the bot has not switched yet) is no answer.
        let (catalog, observed) = served_globally(|_| Registration::Cleared {
            revision: render(&examples()).remove(0).config.global_revision(),
        });
        let statuses = compute_at(&catalog, &observed, 100);
        assert_eq!(
            condition(&guild(&statuses, "physics-101").conditions, types::READY),
            ("False", reasons::PENDING)
        );
        assert_eq!(
            condition(
                &statuses.applications[0].1.conditions,
                types::COMMANDS_REGISTERED
            ),
            ("False", reasons::PENDING)
        );
    }

    #[test]
    fn the_global_command_count_follows_the_bot_and_outlives_its_silence() {
        let (mut catalog, observed) = served_globally(|rendered| Registration::Registered {
            commands: 8,
            fingerprint: "all".into(),
            revision: rendered.config.global_revision(),
            scope: CommandScope::Global,
        });
        let first = compute_at(&catalog, &observed, 100);
        Arc::make_mut(&mut catalog.applications[0]).status = Some(first.applications[0].1.clone());
        let silent = compute_at(&catalog, &Observed::default(), 200);
        assert_eq!(silent.applications[0].1.global_commands, Some(8));
        let (_, cleared) = served_globally(|rendered| Registration::Cleared {
            revision: rendered.config.global_revision(),
        });
        assert_eq!(
            compute_at(&catalog, &cleared, 300).applications[0]
                .1
                .global_commands,
            None
        );
        // In Guild scope, no global set of ours is what the condition wants.
        let statuses = compute_at(
            &examples(),
            &running(&examples(), {
                let rendered = render(&examples()).remove(0);
                report(&rendered, &rendered.config.revision)
            }),
            100,
        );
        assert_eq!(
            condition(
                &statuses.applications[0].1.conditions,
                types::COMMANDS_REGISTERED
            ),
            ("True", reasons::GUILD_SCOPE)
        );
        let rendered = render(&examples()).remove(0);
        let mut older = report(&rendered, &rendered.config.revision);
        older.global = Registration::Pending;
        let statuses = compute_at(&examples(), &running(&examples(), older), 100);
        let (_, app) = &statuses.applications[0];
        assert_eq!(
            condition(&app.conditions, types::COMMANDS_REGISTERED),
            ("False", reasons::PENDING)
        );
        assert_eq!(
            condition(&app.conditions, types::READY),
            ("True", reasons::RUNNING),
            "no global set to wait for in Guild scope"
        );
    }

    #[test]
    fn an_application_being_deleted_says_so() {
        let (mut catalog, observed) = served_globally(|rendered| Registration::Registered {
            commands: 8,
            fingerprint: "all".into(),
            revision: rendered.config.global_revision(),
            scope: CommandScope::Global,
        });
        Arc::make_mut(&mut catalog.applications[0])
            .metadata
            .deletion_timestamp = Some(at(50));
        let statuses = compute_at(&catalog, &observed, 100);
        let (_, app) = &statuses.applications[0];
        assert_eq!(
            condition(&app.conditions, types::READY),
            ("False", reasons::DELETING)
        );
        assert_eq!(app.global_commands, Some(8), "still there until cleared");
    }

    #[test]
    fn a_partner_kaltura_refuses_is_not_ready_and_keeps_kalturas_code() {
        let catalog = examples();
        let partner = key("KalturaPartner", &*catalog.partners[0]);
        let verified = |outcome| Observed {
            credentials: BTreeMap::from([(
                partner.clone(),
                Verification {
                    at: at(50),
                    outcome,
                },
            )]),
            ..Observed::default()
        };
        let valid = compute_at(
            &catalog,
            &verified(Outcome::Valid {
                partner_name: "Campus Video".into(),
            }),
            100,
        );
        let (_, status) = &valid.partners[0];
        assert_eq!(
            condition(&status.conditions, types::CREDENTIALS_VALID),
            ("True", reasons::VERIFIED)
        );
        assert_eq!(condition(&status.conditions, types::READY).0, "True");
        assert_eq!(status.partner_name.as_deref(), Some("Campus Video"));
        assert_eq!(status.last_verified_time, Some(at(50)));

        let refused = compute_at(
            &catalog,
            &verified(Outcome::Refused {
                code: "START_SESSION_ERROR".into(),
                message: "Error while starting session for partner [1]".into(),
            }),
            100,
        );
        let (_, status) = &refused.partners[0];
        assert_eq!(
            condition(&status.conditions, types::READY),
            ("False", reasons::CREDENTIALS_REFUSED)
        );
        let message = &status.conditions[0].message;
        assert!(message.contains("START_SESSION_ERROR"), "{message}");
        assert_eq!(status.partner_name, None);

        // Kaltura down: nothing learnt, the last verdict's fields stay.
        let mut catalog = catalog;
        Arc::make_mut(&mut catalog.partners[0]).status = Some(status.clone());
        let down = compute_at(
            &catalog,
            &verified(Outcome::Unreachable("timeout".into())),
            200,
        );
        let (_, status) = &down.partners[0];
        assert_eq!(
            condition(&status.conditions, types::CREDENTIALS_VALID),
            ("Unknown", reasons::KALTURA_UNREACHABLE)
        );
        assert_eq!(status.last_verified_time, Some(at(50)));
    }

    #[test]
    fn role_mapping_rules_resolve_against_the_roles_the_bot_reports() {
        let catalog = examples();
        let rendered = render(&catalog).remove(0);
        let physics = catalog
            .guilds
            .iter()
            .find(|g| g.name_any() == "physics-101")
            .unwrap();
        let mut report = report(&rendered, &rendered.config.revision);
        report.roles.insert(
            physics.spec.guild_id.clone(),
            vec![
                kd_core::roles::GuildRole {
                    id: "1283874310720716001".into(),
                    name: "Teacher".into(),
                },
                kd_core::roles::GuildRole {
                    id: "1283874310720716999".into(),
                    name: "Tutors".into(),
                },
            ],
        );
        let statuses = compute_at(&catalog, &running(&catalog, report), 100);
        let (_, mapping) = statuses
            .role_mappings
            .iter()
            .find(|(k, _)| k.name == "physics-101")
            .unwrap();
        let resolved: Vec<(&str, &str, &str)> = mapping
            .resolved_roles
            .iter()
            .map(|r| (r.name.as_str(), r.id.as_str(), r.kaltura_role.as_str()))
            .collect();
        assert_eq!(
            resolved,
            [
                ("Teacher", "1283874310720716001", "admin"),
                ("Tutors", "1283874310720716999", "moderator"),
            ]
        );
        assert_eq!(mapping.unmatched_rules, ["name TA"]);
        // A guild whose roles are not reported yet keeps what was there (here: nothing).
        let (_, film) = statuses
            .role_mappings
            .iter()
            .find(|(k, _)| k.name == "film-club")
            .unwrap();
        assert!(film.resolved_roles.is_empty() && film.unmatched_rules.is_empty());
    }
}

//! The CPU cost of the operator's reconcile passes, without I/O: N GuildConfigs with a
//! RoleMapping and a NotificationRule each, and a bot report registering every guild. Prints
//! JSON, one entry per size (`KD_BENCH_SIZES`, default `100,1000,10000`), in milliseconds, the
//! least of the repetitions (on a machine shared with other work, the others are that work's
//! preemptions):
//! - `cold_ms`: the first pass, every unit checked, rendered and given statuses;
//! - `quiet_ms`: a pass in which nothing changed (a timer's);
//! - `edit_ms`: a pass after one RoleMapping's edit, then the pass that sees its statuses
//!   written (`edit_us` is the same in microseconds);
//! - `report_ms`: a pass after the bot's report changed for one guild;
//! - `whole_world_ms`: the same edit through the whole-world functions (`kaltura-discord
//!   validate`, the folder backend), which look at every guild.
//!
//! Each pass is given the objects that changed since the last, as the operator's caches
//! note them from the watch events.
//!
//! `operator_scale` measures the passes in the Kubernetes sandbox, I/O included.
//!
//! `cargo bench -p kd-controller --bench pass_cost` (release build).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kd_controller::reconcile::incremental::Incremental;
use kd_controller::reconcile::render::{self, Rendered};
use kd_controller::reconcile::status::{self, Observed, Statuses};
use kd_core::report::{BotReport, Registration};
use kd_crds::references::{Catalog, Changes, Delta, ObjectKey, SecretKeys, check};
use kd_crds::{NotificationRule, RoleMapping};
use kd_testing::fixtures::{self, Fixture, NAMESPACE as NS};
use kube::ResourceExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Passes timed per size.
const REPEAT: u32 = 9;

fn main() {
    let sizes = kd_testing::bench::sizes("100,1000,10000");
    let runs: Vec<Value> = sizes.into_iter().map(measure).collect();
    println!("{}", json!({ "pass_cost": runs }));
}

fn typed<K: serde::de::DeserializeOwned>(value: Value) -> Arc<K> {
    Arc::new(serde_json::from_value(value).unwrap())
}

fn catalog(guilds: usize) -> Catalog {
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
        catalog.role_mappings.push(typed::<RoleMapping>(json!({
            "apiVersion": "kaltura-discord.io/v1alpha1", "kind": "RoleMapping",
            "metadata": {"name": name, "namespace": NS, "generation": 1},
            "spec": {"guildConfigRef": {"name": name},
                     "rules": [{"discordRole": {"name": "Teacher"}, "kalturaRole": "admin", "priority": 10}]},
        })));
        catalog.notification_rules.push(typed::<NotificationRule>(json!({
            "apiVersion": "kaltura-discord.io/v1alpha1", "kind": "NotificationRule",
            "metadata": {"name": name, "namespace": NS, "generation": 1},
            "spec": {"guildConfigRef": {"name": name}, "events": ["entryReady"], "channel": "general"},
        })));
    }
    catalog
}

/// The bot's report of `rendered` running, every guild registered.
fn report(rendered: &Rendered) -> BotReport {
    let config = &rendered.config;
    BotReport {
        application_id: config.application.application_id.clone(),
        revision: config.revision.clone(),
        command_set_version: kd_core::command::COMMAND_SET_VERSION.into(),
        shards: 1,
        shards_connected: 1,
        guilds: config
            .guilds
            .keys()
            .map(|id| {
                let registered = Registration::Registered {
                    commands: 7,
                    fingerprint: "f".into(),
                    revision: rendered.pieces.guild_revisions[id].clone(),
                    scope: Default::default(),
                };
                (id.clone(), registered)
            })
            .collect(),
        global: Registration::Cleared {
            revision: config.global_revision(),
        },
        ..BotReport::default()
    }
}

/// The bot running what was rendered. Its report is the one in `last` while it says the same,
/// as the operator's report cache keeps it (a new one only when the bot's changed).
fn bot(rendered: &[Rendered], last: &mut BTreeMap<ObjectKey, Arc<BotReport>>) -> Observed {
    let mut observed = Observed::default();
    for r in rendered {
        let report = report(r);
        let kept = last.get(&r.application).filter(|l| ***l == report);
        let report = kept.cloned().unwrap_or_else(|| Arc::new(report));
        last.insert(r.application.clone(), report.clone());
        observed.bots.insert(r.application.clone(), Ok(report));
        observed.applied.insert(r.application.clone(), Ok(()));
        observed.activity_ready.insert(r.application.clone(), true);
    }
    observed
}

/// Notes a changed object as the operator's caches do.
fn note<K: ResourceExt>(delta: &mut Delta<K>, object: &Arc<K>) {
    if let Delta::Some(changes) = delta {
        changes.push(((NS.into(), object.name_any()), Some(object.clone())));
    }
}

/// Writes the statuses that differ into the catalog, as the caches would see them written,
/// noting each object in `changes`.
fn write_back(catalog: &mut Catalog, changes: &mut Changes, statuses: Statuses) {
    let guilds: std::collections::HashMap<String, _> = statuses
        .guilds
        .into_iter()
        .map(|(k, s)| (k.name, s))
        .collect();
    let mappings: std::collections::HashMap<String, _> = statuses
        .role_mappings
        .into_iter()
        .map(|(k, s)| (k.name, s))
        .collect();
    let rules: std::collections::HashMap<String, _> = statuses
        .notification_rules
        .into_iter()
        .map(|(k, s)| (k.name, s))
        .collect();
    for g in &mut catalog.guilds {
        if let Some(s) = guilds.get(&g.name_any())
            && g.status.as_ref() != Some(s)
        {
            Arc::make_mut(g).status = Some(s.clone());
            note(&mut changes.guilds, g);
        }
    }
    for m in &mut catalog.role_mappings {
        if let Some(s) = mappings.get(&m.name_any())
            && m.status.as_ref() != Some(s)
        {
            Arc::make_mut(m).status = Some(s.clone());
            note(&mut changes.role_mappings, m);
        }
    }
    for r in &mut catalog.notification_rules {
        if let Some(s) = rules.get(&r.name_any())
            && r.status.as_ref() != Some(s)
        {
            Arc::make_mut(r).status = Some(s.clone());
            note(&mut changes.notification_rules, r);
        }
    }
}

/// One pass as the operator runs it: the shared objects' copy and the changed ones, the
/// checks and rendering, the bot's report (that of the rendered config unless given) and
/// the statuses due.
fn pass(
    memo: &mut Incremental,
    catalog: &Catalog,
    changes: &mut Changes,
    reports: &mut BTreeMap<ObjectKey, Arc<BotReport>>,
    observed: Option<&Observed>,
    now: &Time,
) -> (Duration, Statuses) {
    let at = Instant::now();
    // What the operator's `Index::shared` and `Index::changes` give.
    let shared = catalog.shared();
    memo.prepare(&shared, std::mem::take(changes));
    let prepared = at.elapsed();
    // The bot's report comes over the network in the operator: not timed here.
    let own;
    let observed = match observed {
        Some(given) => given,
        None => {
            own = bot(memo.rendered(), reports);
            &own
        }
    };
    let at = Instant::now();
    let statuses = memo.statuses(&shared, observed, now);
    (prepared + at.elapsed(), statuses)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e5).round() / 100.0
}

fn measure(guilds: usize) -> Value {
    let mut catalog = catalog(guilds);
    let now = Time(Timestamp::now());
    let mut memo = Incremental::new();
    let mut changes = Changes::all(&catalog);
    let mut reports = BTreeMap::new();
    let (cold, statuses) = pass(&mut memo, &catalog, &mut changes, &mut reports, None, &now);
    write_back(&mut catalog, &mut changes, statuses);
    // Settled: the pass that sees the statuses written, and one more.
    for _ in 0..2 {
        let (_, statuses) = pass(&mut memo, &catalog, &mut changes, &mut reports, None, &now);
        write_back(&mut catalog, &mut changes, statuses);
    }
    let mut quiet = Duration::MAX;
    for _ in 0..REPEAT {
        quiet = quiet.min(pass(&mut memo, &catalog, &mut changes, &mut reports, None, &now).0);
    }
    let (mut edit, mut whole) = (Duration::MAX, Duration::MAX);
    for n in 0..REPEAT {
        let name = format!("g{}", (n as usize * 7919) % guilds);
        let mapping = catalog
            .role_mappings
            .iter_mut()
            .find(|m| m.name_any() == name)
            .unwrap();
        Arc::make_mut(mapping).spec.default = format!("host-{n}");
        note(&mut changes.role_mappings, mapping);
        let (took, statuses) = pass(&mut memo, &catalog, &mut changes, &mut reports, None, &now);
        assert_eq!(statuses.role_mappings.len(), 1, "one unit looked at");
        write_back(&mut catalog, &mut changes, statuses);
        let (settled, statuses) = pass(&mut memo, &catalog, &mut changes, &mut reports, None, &now);
        write_back(&mut catalog, &mut changes, statuses);
        edit = edit.min(took + settled);
        let at = Instant::now();
        let copy = catalog.clone();
        let findings = check(&copy);
        let rendered = render::render_checked(&copy, &findings);
        let observed = bot(&rendered, &mut BTreeMap::new());
        status::compute(&copy, &findings, &rendered, &observed, &now);
        whole = whole.min(at.elapsed());
    }
    let mut reported = Duration::MAX;
    for n in 0..REPEAT {
        let mut observed = bot(memo.rendered(), &mut BTreeMap::new());
        let app = memo.rendered()[0].application.clone();
        if let Some(Ok(report)) = observed.bots.get_mut(&app) {
            let (_, state) = Arc::make_mut(report)
                .guilds
                .iter_mut()
                .nth(n as usize * 13 % guilds)
                .unwrap();
            *state = Registration::Failed {
                error: "Missing Access".into(),
                revision: String::new(),
            };
        }
        let (took, statuses) = pass(
            &mut memo,
            &catalog,
            &mut changes,
            &mut reports,
            Some(&observed),
            &now,
        );
        assert_eq!(statuses.guilds.len(), 1, "one guild's report changed");
        write_back(&mut catalog, &mut changes, statuses);
        reported = reported.min(took);
        // The report back to normal, and the pass that sees those statuses written.
        for _ in 0..2 {
            let (_, statuses) = pass(&mut memo, &catalog, &mut changes, &mut reports, None, &now);
            write_back(&mut catalog, &mut changes, statuses);
        }
    }
    json!({
        "guilds": guilds,
        "cold_ms": ms(cold),
        "quiet_ms": ms(quiet),
        "edit_ms": ms(edit),
        "edit_us": (edit.as_secs_f64() * 1e7).round() / 10.0,
        "report_ms": ms(reported),
        "whole_world_ms": ms(whole),
    })
}

//! The CPU cost of one reconcile pass, stage by stage, without I/O: N GuildConfigs with a
//! RoleMapping and a NotificationRule each, their statuses as the last pass wrote them, and a
//! bot report registering every guild. Prints JSON, one entry per size (`KD_BENCH_SIZES`,
//! default `100,1000,10000`): the mean of each stage over the repetitions, in milliseconds,
//! and the whole pass per guild in microseconds. `operator_scale` measures the same passes in
//! the Kubernetes sandbox, I/O included.
//!
//! `cargo bench -p kd-controller --bench pass_cost` (release build).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kd_controller::reconcile::status::{self, Observed};
use kd_controller::reconcile::{render, workloads};
use kd_core::report::{BotReport, Registration};
use kd_crds::references::{Catalog, SecretKeys, check};
use kd_crds::{NotificationRule, RoleMapping};
use kd_testing::fixtures::{self, Fixture, NAMESPACE as NS};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Passes timed per size.
const REPEAT: u32 = 5;

fn main() {
    let sizes = kd_testing::bench::sizes("100,1000,10000");
    let runs: Vec<Value> = sizes.into_iter().map(measure).collect();
    println!("{}", json!({ "pass_cost": runs }));
}

fn typed<K: serde::de::DeserializeOwned>(value: Value) -> K {
    serde_json::from_value(value).unwrap()
}

fn catalog(guilds: usize) -> Catalog {
    let mut catalog = Catalog {
        partners: vec![fixtures::partner("campus")],
        applications: vec![fixtures::application("campus-bot")],
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
        catalog.guilds.push(fixtures::guild(&name, &id).with(|g| {
            g.spec.features.notifications = true;
        }));
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

/// The bot's report of `config` running, every guild registered.
fn report(config: &kd_core::config::RuntimeConfig) -> BotReport {
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
                    revision: config.guild_revision(id),
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

#[derive(Default)]
struct Stages {
    copy: Duration,
    check: Duration,
    render: Duration,
    workloads: Duration,
    status: Duration,
}

fn measure(guilds: usize) -> Value {
    let mut catalog = catalog(guilds);
    let now = Time(Timestamp::now());
    let observe = |catalog: &Catalog| {
        let rendered = render::render(catalog);
        let mut observed = Observed::default();
        for r in &rendered {
            observed
                .bots
                .insert(r.application.clone(), Ok(report(&r.config)));
            observed.applied.insert(r.application.clone(), Ok(()));
            observed.activity_ready.insert(r.application.clone(), true);
        }
        observed
    };
    // Two passes settle the statuses, as the operator's first passes would write them.
    for _ in 0..2 {
        let observed = observe(&catalog);
        let statuses = status::compute(
            &catalog,
            &check(&catalog),
            &render::render(&catalog),
            &observed,
            &now,
        );
        for (guild, (_, s)) in catalog.guilds.iter_mut().zip(statuses.guilds) {
            guild.status = Some(s);
        }
        for (mapping, (_, s)) in catalog.role_mappings.iter_mut().zip(statuses.role_mappings) {
            mapping.status = Some(s);
        }
        for (rule, (_, s)) in catalog
            .notification_rules
            .iter_mut()
            .zip(statuses.notification_rules)
        {
            rule.status = Some(s);
        }
    }
    let observed = observe(&catalog);
    let mut stages = Stages::default();
    let mut objects = 0;
    for _ in 0..REPEAT {
        let at = Instant::now();
        // What `Index::catalog` does: a copy of the caches.
        let copy = catalog.clone();
        stages.copy += at.elapsed();
        let at = Instant::now();
        let findings = check(&copy);
        stages.check += at.elapsed();
        let at = Instant::now();
        let rendered = render::render_checked(&copy, &findings);
        stages.render += at.elapsed();
        let at = Instant::now();
        for r in &rendered {
            objects += workloads::objects(&workloads::Inputs {
                app: &copy.applications[0],
                rendered: r,
                default_image: "kaltura-discord:bench",
                credentials: "c",
            })
            .len();
        }
        stages.workloads += at.elapsed();
        let at = Instant::now();
        let statuses = status::compute(&copy, &findings, &rendered, &observed, &now);
        stages.status += at.elapsed();
        assert_eq!(statuses.guilds.len(), guilds);
    }
    assert!(objects > 0);
    let ms = |d: Duration| ((d / REPEAT).as_secs_f64() * 1e5).round() / 100.0;
    let total = stages.copy + stages.check + stages.render + stages.workloads + stages.status;
    json!({
        "guilds": guilds,
        "copy_ms": ms(stages.copy),
        "check_ms": ms(stages.check),
        "render_ms": ms(stages.render),
        "workloads_ms": ms(stages.workloads),
        "status_ms": ms(stages.status),
        "pass_ms": ms(total),
        "pass_us_per_guild": ((total / REPEAT).as_secs_f64() * 1e6 / guilds as f64 * 100.0).round() / 100.0,
    })
}

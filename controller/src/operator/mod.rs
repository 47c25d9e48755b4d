//! The Kubernetes backend: watches the resources, runs the reconcile core, applies each
//! application's workloads, reads what the bots report and writes every resource's status.
//!
//! References cross resources (a GuildConfig names an application, a partner, Secrets), so one
//! reconcile looks at the whole catalog, like the folder backend. It runs on every watched
//! change, on every change of a bot's report (followed by long polls, see [`reports`]), when an
//! application's apply backoff ends, and on a slow timer for what only time changes (credential
//! checks, finalizer deadlines).

mod apply;
mod backoff;
mod credentials;
pub mod events;
mod finalizers;
mod index;
pub mod leader;
pub mod metrics;
mod reports;
mod status_writer;
#[cfg(test)]
mod stub;

use crate::error::{Error, Result};
use crate::reconcile::conditions::reasons;
use crate::reconcile::incremental::Incremental;
use crate::reconcile::status::Observed;
use crate::reconcile::workloads::{self, BOT_PORT, Inputs, bot_service_name};
use apply::{Applier, Outcome, Work};
use index::Index;
use kube::{Client, Resource, ResourceExt};
use metrics::Metrics;
use reports::Reports;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub struct Options {
    /// Watch one namespace; all when None.
    pub namespace: Option<String>,
    /// Image of bot and Activity pods when an application names none.
    pub workload_image: String,
    /// How often to reconcile without a change (for credential checks and finalizer deadlines;
    /// bot reports and apply retries wake the loop by themselves).
    pub resync: Duration,
    /// How often each KalturaPartner's credentials are checked against Kaltura (besides on
    /// create and on a change of its Secret).
    pub verify_every: Duration,
    /// How long a deleted GuildConfig waits for the bot to clear its commands.
    pub finalizer_timeout: Duration,
    /// Reconcile only while holding this Lease; always when None (a single replica).
    pub election: Option<leader::Election>,
}

/// Runs until the process stops. `ready` turns true after the first full reconcile.
pub async fn run(
    client: Client,
    options: Options,
    metrics: Arc<Metrics>,
    ready: watch::Sender<bool>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(stop);
    let index = Index::start(&client, options.namespace.as_deref());
    index.ready().await?;
    tracing::info!(
        namespace = options.namespace.as_deref().unwrap_or("(all)"),
        "caches ready"
    );
    let mut reports = Reports::new()?;
    let mut report_changes = reports.changes();
    let mut applier = Applier::new(client.clone());
    let events = events::Events::new(
        client.clone(),
        options.election.as_ref().map(|e| e.identity.clone()),
    );
    let mut writer = status_writer::StatusWriter::new(client.clone(), events, metrics.clone());
    let mut memory = Memory {
        verifier: credentials::Verifier::new(options.verify_every),
        incremental: Incremental::new(),
    };
    let mut leadership = match options.election.clone() {
        Some(election) => Some(leader::Leadership::start(&client, election).await?),
        None => None,
    };
    // A stand-by is ready once its caches are: it takes over without a cold start.
    ready.send_replace(leadership.is_some());
    let mut leading = leadership.is_none();
    loop {
        if let Some(election) = &mut leadership {
            if !election.confirmed().await {
                if leading {
                    tracing::warn!(
                        identity = election.identity(),
                        "lost the leader Lease; standing by"
                    );
                }
                leading = false;
                metrics.set_leader(false);
                // Stop the attempts under way: only the leader writes.
                applier.reset();
                tokio::select! {
                    () = election.acquired() => {}
                    () = &mut stop => break,
                }
                // Held by the manager but not (yet) confirmed by the API server: look again shortly.
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
            if !leading {
                tracing::info!(
                    identity = election.identity(),
                    "holding the leader Lease; reconciling"
                );
                // Another replica may have changed anything meanwhile: apply everything afresh.
                applier.reset();
                leading = true;
            }
        }
        metrics.set_leader(true);
        let started = Instant::now();
        let pass = reconcile(
            &client,
            &index,
            &options,
            &mut reports,
            &mut applier,
            &mut writer,
            &mut memory,
        );
        // A stop cuts a pass short (a cold start's pass writes for many seconds): every write
        // is idempotent, and the next leader does the rest.
        let errors = tokio::select! {
            errors = pass => errors,
            () = &mut stop => break,
        };
        metrics.observe(started.elapsed(), &errors);
        ready.send_replace(true);
        let retry = applier.next_retry();
        let woken_by = tokio::select! {
            _ = index.changed() => {
                // Let a burst of events (an `kubectl apply -f folder/`) settle into one pass.
                tokio::time::sleep(DEBOUNCE).await;
                "a watched change"
            }
            _ = report_changes.changed() => {
                // Replicas of one bot report a new revision at nearly the same time.
                tokio::time::sleep(DEBOUNCE).await;
                "a bot report"
            }
            _ = applier.ended() => "an apply that outlasted its pass",
            _ = async { match retry { Some(at) => tokio::time::sleep_until(at.into()).await, None => std::future::pending().await } } => "an apply retry",
            _ = tokio::time::sleep(options.resync) => "the resync timer",
            _ = async { match &mut leadership { Some(l) => l.changed().await, None => std::future::pending().await } } => "the leader Lease",
            () = &mut stop => break,
        };
        tracing::debug!(woken_by, "reconciling");
    }
    // Applies still under way are cut short; the next leader applies everything afresh.
    applier.reset();
    if let Some(election) = leadership {
        election.release().await;
    }
    Ok(())
}

/// How long a wake-up waits for more changes to come with it.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// What passes remember of each other: the last credential checks, and what was checked,
/// rendered and given a status (so a pass does again only what changed).
struct Memory {
    verifier: credentials::Verifier,
    incremental: Incremental,
}

/// One pass; returns the steps that failed (each is logged and in status).
async fn reconcile(
    client: &Client,
    index: &Index,
    options: &Options,
    reports: &mut Reports,
    applier: &mut Applier,
    writer: &mut status_writer::StatusWriter,
    memory: &mut Memory,
) -> Vec<Error> {
    let Memory {
        verifier,
        incremental: memo,
    } = memory;
    let changes = index.changes();
    let shared = index.shared();
    memo.prepare(&shared, changes);
    let mut observed = Observed {
        credentials: verifier
            .verify(credential_subjects(index, &shared, memo.shared_findings()))
            .await,
        ..Observed::default()
    };
    let rendered = memo.rendered();
    let mut work = Vec::new();
    let mut endpoints = Vec::new();
    let mut object_refs = std::collections::BTreeMap::new();
    for r in rendered {
        let Some(app) = shared.applications.iter().find(|a| {
            a.name_any() == r.application.name
                && a.namespace().as_deref() == Some(&r.application.namespace)
        }) else {
            continue;
        };
        let namespace = &r.application.namespace;
        let credentials =
            credentials_digest(index, namespace, &workloads::referenced_secrets(app, r));
        let objects = workloads::objects(&Inputs {
            app,
            rendered: r,
            default_image: &options.workload_image,
            credentials: &credentials,
        });
        work.push(Work {
            app: r.application.clone(),
            objects,
        });
        object_refs.insert(r.application.clone(), app.object_ref(&()));
        let urls = index.status_urls(namespace, &bot_service_name(&r.application.name), BOT_PORT);
        endpoints.push((r.application.clone(), urls));
        observed.activity_ready.insert(
            r.application.clone(),
            index.activity_available(namespace, &r.application.name),
        );
    }
    reports.follow(
        &endpoints
            .iter()
            .flat_map(|(_, urls)| urls.clone())
            .collect::<Vec<_>>(),
    );
    // Endpoints that just appeared get their first answer in while the applies run.
    let (outcomes, ()) = tokio::join!(applier.apply(work), reports.first_answers());
    // Fresh failures are in status as conditions and counted as errors; reports are only status.
    let mut errors = Vec::new();
    for (key, outcome) in outcomes {
        let applied = match outcome {
            Outcome::Applied => Ok(()),
            Outcome::Failed(error) => {
                tracing::error!(application = %key.name, %error, "applying workloads failed");
                writer.events().publish(
                    &object_refs[&key],
                    vec![events::failed(reasons::APPLY_FAILED, &error)],
                );
                errors.push(Error::Shared(error.clone()));
                Err(Error::Shared(error))
            }
            Outcome::Waiting(error) => Err(Error::Shared(error)),
        };
        observed.applied.insert(key, applied);
    }
    for (key, urls) in endpoints {
        if let Some(report) = reports.collect(&urls) {
            observed.bots.insert(key, report);
        }
    }
    let now = crate::reconcile::conditions::api_now();
    let statuses = memo.statuses(&shared, &observed, &now);
    writer.metrics().observe_reports(&observed.bots);
    writer
        .metrics()
        .observe_statuses(&statuses.applications, memo.ready_reasons());
    for (object, error) in writer.write(&shared, memo, statuses).await {
        memo.retry(&object);
        errors.push(error);
    }
    // After the statuses: a GuildConfig let go here is gone before its status could be written.
    errors.extend(
        finalizers::settle(
            client,
            writer.events(),
            &shared,
            memo,
            &observed,
            options.finalizer_timeout,
        )
        .await,
    );
    errors
}

/// Changes whenever one of the Secrets changes; made of names and versions, never values.
fn credentials_digest(index: &Index, namespace: &str, refs: &[kd_crds::SecretKeyRef]) -> String {
    let mut hash = Sha256::new();
    for r in refs {
        let version = index.secret_version(namespace, &r.name).unwrap_or_default();
        hash.update(format!("{}/{}@{version}\n", r.name, r.key));
    }
    hex::encode(&hash.finalize()[..8])
}

/// The partners whose references resolve, with their admin secrets, for the credential check.
fn credential_subjects(
    index: &Index,
    shared: &kd_crds::references::Shared,
    findings: &[kd_crds::references::Finding],
) -> Vec<credentials::Subject> {
    shared
        .partners
        .iter()
        .filter_map(|partner| {
            let namespace = partner.namespace().unwrap_or_else(|| "default".into());
            let name = partner.name_any();
            let broken = findings.iter().any(|f| {
                f.object.kind == "KalturaPartner"
                    && f.object.namespace == namespace
                    && f.object.name == name
                    && f.severity == kd_crds::references::Severity::Error
            });
            let reference = &partner.spec.admin_secret_ref;
            let (secret, version) = (!broken)
                .then(|| index.secret_value(&namespace, &reference.name, &reference.key))??;
            Some(credentials::Subject::new(partner, secret.into(), &version))
        })
        .collect()
}

//! Carries out the finalizer decisions of `reconcile::finalizer` on the GuildConfigs and the
//! DiscordApplications: JSON patches with a test precondition, and an Event when one is let go.

use super::events::{Events, Notice};
use crate::error::{Error, Result};
use crate::reconcile::conditions::reasons;
use crate::reconcile::finalizer::{self, Application, Decision};
use crate::reconcile::incremental::Incremental;
use crate::reconcile::status::Observed;
use futures_util::{StreamExt, stream};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::jiff::Timestamp;
use kd_crds::references::Shared;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use std::time::Duration;

/// Finalizer patches sent at once.
const PATCHES_IN_FLIGHT: usize = 16;

/// GuildConfig finalizer decisions carried out per pass: a first start adds the finalizer to
/// every GuildConfig (10,000 patches are 7 s), and a pass that did them all would hold an edit
/// arriving meanwhile that long. The rest go in the next passes, which their echoes wake.
const GUILDS_PER_PASS: usize = 500;

/// Decides for every GuildConfig and DiscordApplication and patches those whose finalizer
/// changes; returns the patches that failed (tried again next pass).
pub async fn settle(
    client: &Client,
    events: &Events,
    shared: &Shared,
    memo: &Incremental,
    observed: &Observed,
    timeout: Duration,
) -> Vec<Error> {
    let now = Timestamp::now();
    let rendered = memo.rendered();
    let known = |namespace: &str, app_name: &str| {
        let rendered = rendered
            .iter()
            .find(|r| r.application.namespace == namespace && r.application.name == app_name);
        Application {
            exists: shared
                .applications
                .iter()
                .any(|a| a.namespace().as_deref() == Some(namespace) && a.name_any() == app_name),
            rendered,
            report: rendered.and_then(|r| observed.bots.get(&r.application)),
        }
    };
    // A GuildConfig holding the finalizer and not being deleted has nothing to decide. Side by
    // side, and a bounded number per pass: a first start adds the finalizer to thousands.
    // Those still waiting for the bot take no place among them.
    let patches = memo
        .undecided()
        .filter_map(|guild| {
            let app = known(&namespace(guild), &guild.spec.application_ref.name);
            let decision = finalizer::decide_guild(guild, &app, now, timeout);
            (!matches!(decision, None | Some(Decision::Wait))).then_some((guild, decision))
        })
        .take(GUILDS_PER_PASS)
        .map(|(guild, decision)| carry_out(client, events, guild, decision));
    let mut failed: Vec<Error> = stream::iter(patches)
        .buffer_unordered(PATCHES_IN_FLIGHT)
        .filter_map(std::future::ready)
        .collect()
        .await;
    for app in shared.applications.iter().map(|a| &**a) {
        let decision = finalizer::decide_application(
            app,
            &known(&namespace(app), &app.name_any()),
            now,
            timeout,
        );
        failed.extend(carry_out(client, events, app, decision).await);
    }
    failed
}

fn namespace<K: ResourceExt>(object: &K) -> String {
    object.namespace().unwrap_or_else(|| "default".into())
}

/// Patches `object`'s finalizer as `decision` says, with an Event when it is let go.
async fn carry_out<K>(
    client: &Client,
    events: &Events,
    object: &K,
    decision: Option<Decision>,
) -> Option<Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let notice = |warning, reason: &str, note| Notice {
        warning,
        reason: reason.into(),
        action: "Finalize",
        note,
    };
    let meta = object.meta();
    let (patch, notice) = match decision? {
        Decision::Wait => return None,
        Decision::Add => (finalizer::add_patch(meta), None),
        Decision::Drop => (remove(meta), None),
        Decision::Release(note) => (
            remove(meta),
            Some(notice(false, reasons::COMMANDS_CLEARED, note)),
        ),
        Decision::Abandon(note) => {
            tracing::warn!(kind = K::kind(&()).as_ref(), name = %object.name_any(), %note, "releasing the finalizer anyway");
            (
                remove(meta),
                Some(notice(true, reasons::COMMANDS_LEFT_BEHIND, note)),
            )
        }
    };
    match send(client, object, patch).await {
        Ok(()) => {
            let (kind, name) = (K::kind(&()), object.name_any());
            match &notice {
                // Routine, once per object: a first start adds thousands.
                None => tracing::debug!(kind = kind.as_ref(), %name, "finalizer patched"),
                Some(_) => tracing::info!(kind = kind.as_ref(), %name, "finalizer released"),
            }
            if let Some(notice) = notice {
                events.publish(&object.object_ref(&()), vec![notice]);
            }
            None
        }
        Err(error) => Some(error),
    }
}

/// `decide_*` takes off only a finalizer that is held.
fn remove(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> serde_json::Value {
    finalizer::remove_patch(meta).expect("the finalizer is held")
}

async fn send<K>(client: &Client, object: &K, patch: serde_json::Value) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let name = object.name_any();
    let failed = |error| Error::Finalizer {
        kind: K::kind(&()).into_owned(),
        name: name.clone(),
        error,
    };
    let patch = serde_json::from_value(patch).map_err(|e| failed(kube::Error::SerdeError(e)))?;
    Api::<K>::namespaced(client.clone(), &namespace(object))
        .patch(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
        .map_err(failed)?;
    Ok(())
}

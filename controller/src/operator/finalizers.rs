//! Carries out the finalizer decisions of `reconcile::finalizer` on the GuildConfigs: JSON
//! patches with a test precondition, and an Event when one is let go.

use super::events::{Events, Notice};
use crate::error::{Error, Result};
use crate::reconcile::conditions::reasons;
use crate::reconcile::finalizer::{self, Application, Decision};
use crate::reconcile::render::Rendered;
use crate::reconcile::status::Observed;
use k8s_openapi::jiff::Timestamp;
use kd_crds::GuildConfig;
use kd_crds::references::Catalog;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use std::time::Duration;

/// Decides for every GuildConfig and patches those whose finalizer changes; returns the
/// patches that failed (tried again next pass).
pub async fn settle(
    client: &Client,
    events: &Events,
    catalog: &Catalog,
    rendered: &[Rendered],
    observed: &Observed,
    timeout: Duration,
) -> Vec<Error> {
    let now = Timestamp::now();
    let mut failed = Vec::new();
    for guild in &catalog.guilds {
        let namespace = guild.namespace().unwrap_or_else(|| "default".into());
        let app_name = &guild.spec.application_ref.name;
        let rendered = rendered
            .iter()
            .find(|r| r.application.namespace == namespace && &r.application.name == app_name);
        let app = Application {
            exists: catalog
                .applications
                .iter()
                .any(|a| a.namespace().as_deref() == Some(&namespace) && &a.name_any() == app_name),
            rendered,
            report: rendered.and_then(|r| observed.bots.get(&r.application)),
        };
        let Some(decision) = finalizer::decide(guild, &app, now, timeout) else {
            continue;
        };
        let (patch, notice) = match decision {
            Decision::Wait => continue,
            Decision::Add => (finalizer::add_patch(guild), None),
            Decision::Release => (
                remove(guild),
                Some(Notice {
                    warning: false,
                    reason: reasons::COMMANDS_CLEARED.into(),
                    action: "Finalize",
                    note: format!(
                        "the bot removed the slash commands of guild {}",
                        guild.spec.guild_id
                    ),
                }),
            ),
            Decision::Abandon(note) => {
                tracing::warn!(guild = %guild.name_any(), %note, "releasing the finalizer anyway");
                (
                    remove(guild),
                    Some(Notice {
                        warning: true,
                        reason: reasons::COMMANDS_LEFT_BEHIND.into(),
                        action: "Finalize",
                        note,
                    }),
                )
            }
        };
        match send(client, guild, &namespace, patch).await {
            Ok(()) => {
                tracing::info!(guild = %guild.name_any(), namespace, added = notice.is_none(), "finalizer patched");
                if let Some(notice) = notice {
                    events.publish(&guild.object_ref(&()), vec![notice]);
                }
            }
            Err(error) => failed.push(error),
        }
    }
    failed
}

/// `decide` releases only a GuildConfig that holds the finalizer.
fn remove(guild: &GuildConfig) -> serde_json::Value {
    finalizer::remove_patch(guild).expect("the finalizer is held")
}

async fn send(
    client: &Client,
    guild: &GuildConfig,
    namespace: &str,
    patch: serde_json::Value,
) -> Result<()> {
    let name = guild.name_any();
    let failed = |error| Error::Finalizer {
        name: name.clone(),
        error,
    };
    let patch = serde_json::from_value(patch).map_err(|e| failed(kube::Error::SerdeError(e)))?;
    Api::<GuildConfig>::namespaced(client.clone(), namespace)
        .patch(&name, &PatchParams::default(), &Patch::<()>::Json(patch))
        .await
        .map_err(failed)?;
    Ok(())
}

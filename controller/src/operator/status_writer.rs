//! Writes computed statuses through the status subresource, only where they changed, and an
//! Event for each condition that flipped.

use crate::error::Error;
use crate::reconcile::status::{Common, Statuses};
use futures_util::{StreamExt, stream};
use kd_crds::references::{Catalog, ObjectKey};
use kd_crds::{DiscordApplication, GuildConfig, KalturaPartner, NotificationRule, RoleMapping};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::fmt::Debug;

use super::apply::FIELD_MANAGER;
use super::events::{self, Events};
use super::metrics::Metrics;
use std::sync::Arc;

/// Status patches in flight at once: enough to hide the round trip, few enough to stay well
/// inside client-go-style API priority and fairness limits.
const WRITES_IN_FLIGHT: usize = 16;

pub struct StatusWriter {
    client: Client,
    events: Events,
    metrics: Arc<Metrics>,
}

impl StatusWriter {
    pub fn new(client: Client, events: Events, metrics: Arc<Metrics>) -> Self {
        Self {
            client,
            events,
            metrics,
        }
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn events(&self) -> &Events {
        &self.events
    }

    /// Writes every changed status; returns the writes that failed, by object.
    pub async fn write(
        &mut self,
        catalog: &Catalog,
        statuses: Statuses,
    ) -> Vec<(ObjectKey, Error)> {
        let mut failed = Vec::new();
        failed.extend(
            self.kind::<KalturaPartner, _>(&catalog.partners, statuses.partners, |o| {
                o.status.as_ref()
            })
            .await,
        );
        failed.extend(
            self.kind::<DiscordApplication, _>(&catalog.applications, statuses.applications, |o| {
                o.status.as_ref()
            })
            .await,
        );
        failed.extend(
            self.kind::<GuildConfig, _>(&catalog.guilds, statuses.guilds, |o| o.status.as_ref())
                .await,
        );
        failed.extend(
            self.kind::<RoleMapping, _>(&catalog.role_mappings, statuses.role_mappings, |o| {
                o.status.as_ref()
            })
            .await,
        );
        failed.extend(
            self.kind::<NotificationRule, _>(
                &catalog.notification_rules,
                statuses.notification_rules,
                |o| o.status.as_ref(),
            )
            .await,
        );
        failed
    }

    async fn kind<K, S>(
        &self,
        current: &[Arc<K>],
        statuses: Vec<(ObjectKey, S)>,
        status_of: impl Fn(&K) -> Option<&S>,
    ) -> Vec<(ObjectKey, Error)>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + Clone
            + DeserializeOwned
            + Debug,
        S: Serialize + PartialEq + Common,
    {
        let mut failed = Vec::new();
        // By name, once: a find per status would make a pass quadratic in the resources.
        let by_name: HashMap<(&str, &str), &K> = current
            .iter()
            .map(|o| {
                let o = &**o;
                let meta = o.meta();
                let at = (
                    meta.namespace.as_deref().unwrap_or("default"),
                    meta.name.as_deref().unwrap_or_default(),
                );
                (at, o)
            })
            .collect();
        let changed = statuses.into_iter().filter_map(|(key, status)| {
            let object = by_name
                .get(&(key.namespace.as_str(), key.name.as_str()))
                .copied();
            let previous = object.and_then(&status_of);
            (previous != Some(&status)).then(|| {
                let flips = events::flips(
                    previous.map(Common::conditions).unwrap_or_default(),
                    status.conditions(),
                );
                (key, status, object, flips)
            })
        });
        // Side by side: after a cold start every status is new, and one at a time a round trip
        // each would take minutes for thousands of guilds.
        let mut writes = stream::iter(changed)
            .map(|(key, status, object, flips)| async move {
                let api: Api<K> = Api::namespaced(self.client.clone(), &key.namespace);
                let patch = serde_json::json!({
                    "apiVersion": K::api_version(&()),
                    "kind": K::kind(&()),
                    "metadata": {"name": key.name, "namespace": key.namespace},
                    "status": status,
                });
                let params = PatchParams::apply(FIELD_MANAGER).force();
                let written = api
                    .patch_status(&key.name, &params, &Patch::Apply(&patch))
                    .await;
                (key, object, flips, written)
            })
            .buffer_unordered(WRITES_IN_FLIGHT);
        while let Some((key, object, flips, written)) = writes.next().await {
            match written {
                Ok(_) => {
                    tracing::debug!(kind = key.kind, name = %key.name, "status written");
                    if let Some(object) = object {
                        self.events.publish(&object.object_ref(&()), flips);
                    }
                }
                Err(error) => {
                    let error = Error::Status {
                        kind: key.kind,
                        name: key.name.clone(),
                        error,
                    };
                    tracing::warn!(%error, "writing status failed");
                    failed.push((key, error));
                }
            }
        }
        failed
    }
}

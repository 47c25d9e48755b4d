//! Writes computed statuses through the status subresource, only where they changed, and an
//! Event for each condition that flipped.

use crate::error::Error;
use crate::reconcile::incremental::Incremental;
use crate::reconcile::status::{Common, Statuses};
use futures_util::{StreamExt, stream};
use kd_crds::references::{ObjectKey, Shared};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
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

    /// Writes every changed status; returns the writes that failed, by object. `memo` has the
    /// guild-scoped objects as the pass saw them, `shared` the few others.
    pub async fn write(
        &mut self,
        shared: &Shared,
        memo: &Incremental,
        statuses: Statuses,
    ) -> Vec<(ObjectKey, Error)> {
        fn among<'c, K: Resource>(items: &'c [Arc<K>], key: &ObjectKey) -> Option<&'c K> {
            items.iter().map(|o| &**o).find(|o| {
                let meta = o.meta();
                meta.name.as_deref() == Some(key.name.as_str())
                    && meta.namespace.as_deref().unwrap_or("default") == key.namespace
            })
        }
        let mut failed = Vec::new();
        let partners = |k: &ObjectKey| among(&shared.partners, k);
        failed.extend(
            self.kind(partners, statuses.partners, |o| o.status.as_ref())
                .await,
        );
        let applications = |k: &ObjectKey| among(&shared.applications, k);
        failed.extend(
            self.kind(applications, statuses.applications, |o| o.status.as_ref())
                .await,
        );
        let guilds = |k: &ObjectKey| memo.guild(k);
        failed.extend(
            self.kind(guilds, statuses.guilds, |o| o.status.as_ref())
                .await,
        );
        let mappings = |k: &ObjectKey| memo.role_mapping(k);
        failed.extend(
            self.kind(mappings, statuses.role_mappings, |o| o.status.as_ref())
                .await,
        );
        let rules = |k: &ObjectKey| memo.notification_rule(k);
        failed.extend(
            self.kind(rules, statuses.notification_rules, |o| o.status.as_ref())
                .await,
        );
        failed
    }

    async fn kind<'c, K, S>(
        &self,
        current: impl Fn(&ObjectKey) -> Option<&'c K>,
        statuses: Vec<(ObjectKey, S)>,
        status_of: impl Fn(&K) -> Option<&S>,
    ) -> Vec<(ObjectKey, Error)>
    where
        K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
            + 'c
            + Clone
            + DeserializeOwned
            + Debug,
        S: Serialize + PartialEq + Common,
    {
        let mut failed = Vec::new();
        let changed = statuses.into_iter().filter_map(|(key, status)| {
            let object = current(&key);
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

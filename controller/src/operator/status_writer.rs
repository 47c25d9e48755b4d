//! Writes computed statuses through the status subresource, only where they changed, and an
//! Event for each condition that flipped.

use crate::error::Error;
use crate::reconcile::status::{Common, Statuses};
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

    /// Writes every changed status; returns the writes that failed.
    pub async fn write(&mut self, catalog: &Catalog, statuses: Statuses) -> Vec<Error> {
        self.metrics.observe_statuses(catalog, &statuses);
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
        current: &[K],
        statuses: Vec<(ObjectKey, S)>,
        status_of: impl Fn(&K) -> Option<&S>,
    ) -> Vec<Error>
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
                let meta = o.meta();
                let at = (
                    meta.namespace.as_deref().unwrap_or("default"),
                    meta.name.as_deref().unwrap_or_default(),
                );
                (at, o)
            })
            .collect();
        for (key, status) in statuses {
            let object = by_name
                .get(&(key.namespace.as_str(), key.name.as_str()))
                .copied();
            let previous = object.and_then(&status_of);
            if previous == Some(&status) {
                continue;
            }
            let flips = events::flips(
                previous.map(Common::conditions).unwrap_or_default(),
                status.conditions(),
            );
            let api: Api<K> = Api::namespaced(self.client.clone(), &key.namespace);
            let patch = serde_json::json!({
                "apiVersion": K::api_version(&()),
                "kind": K::kind(&()),
                "metadata": {"name": key.name, "namespace": key.namespace},
                "status": status,
            });
            let params = PatchParams::apply(FIELD_MANAGER).force();
            match api
                .patch_status(&key.name, &params, &Patch::Apply(&patch))
                .await
            {
                Ok(_) => {
                    tracing::debug!(kind = key.kind, name = %key.name, "status written");
                    if let Some(object) = object {
                        self.events.publish(&object.object_ref(&()), flips);
                    }
                }
                Err(error) => {
                    let error = Error::Status {
                        kind: key.kind,
                        name: key.name,
                        error,
                    };
                    tracing::warn!(%error, "writing status failed");
                    failed.push(error);
                }
            }
        }
        failed
    }
}

//! Server-side apply of an application's workload objects, and pruning of the ones it no
//! longer wants. Applying skips objects whose content was applied recently unchanged, so a
//! reconcile woken by our own status writes costs no API calls.

use crate::error::{Error, Result};
use crate::reconcile::workloads::{INSTANCE_LABEL, MANAGED_BY, Workload};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use kube::{Api, Client};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

pub const FIELD_MANAGER: &str = "kaltura-discord-operator";
/// Re-apply unchanged objects this often, to repair hand edits and deletions.
const REAPPLY: Duration = Duration::from_secs(300);

/// Kinds the operator creates and prunes. Volume claims are never pruned: they hold data.
fn pruned() -> [ApiResource; 7] {
    [
        ApiResource::erase::<ServiceAccount>(&()),
        ApiResource::erase::<Role>(&()),
        ApiResource::erase::<RoleBinding>(&()),
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<Deployment>(&()),
        ApiResource::erase::<PodDisruptionBudget>(&()),
    ]
}

#[derive(Default)]
pub struct Applier {
    applied: HashMap<String, (String, Instant)>,
}

impl Applier {
    /// Applies `objects` (all in `namespace`, of application `app`) and deletes the operator's
    /// other objects of that application.
    pub async fn apply(
        &mut self,
        client: &Client,
        namespace: &str,
        app: &str,
        objects: &[Workload],
    ) -> Result<()> {
        let mut wanted = BTreeSet::new();
        for object in objects {
            let (resource, meta, body) = object.erased();
            let (kind, name) = (
                resource.kind.as_str(),
                meta.name.as_deref().unwrap_or_default(),
            );
            let id = format!("{namespace}/{kind}/{name}");
            wanted.insert((kind.to_string(), name.to_string()));
            let digest = hex::encode(Sha256::digest(body.to_string()));
            if self
                .applied
                .get(&id)
                .is_some_and(|(d, at)| *d == digest && at.elapsed() < REAPPLY)
            {
                continue;
            }
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &resource);
            let params = PatchParams::apply(FIELD_MANAGER).force();
            if let Err(error) = api.patch(name, &params, &Patch::Apply(&body)).await {
                self.applied.remove(&id);
                return Err(Error::Apply {
                    kind: kind.to_string(),
                    name: name.to_string(),
                    error,
                });
            }
            tracing::info!(namespace, kind, name, "applied");
            self.applied.insert(id, (digest, Instant::now()));
        }
        self.prune(client, namespace, app, &wanted).await
    }

    async fn prune(
        &mut self,
        client: &Client,
        namespace: &str,
        app: &str,
        wanted: &BTreeSet<(String, String)>,
    ) -> Result<()> {
        let selector = format!("{}={},{INSTANCE_LABEL}={app}", MANAGED_BY.0, MANAGED_BY.1);
        for resource in pruned() {
            let kind = resource.kind.as_str();
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &resource);
            let existing = api
                .list_metadata(&ListParams::default().labels(&selector))
                .await
                .map_err(|error| Error::Prune {
                    kind: kind.to_string(),
                    name: "*".into(),
                    error,
                })?;
            for object in existing {
                let Some(name) = object.metadata.name else {
                    continue;
                };
                if wanted.contains(&(kind.to_string(), name.clone())) {
                    continue;
                }
                api.delete(&name, &DeleteParams::background())
                    .await
                    .map_err(|error| Error::Prune {
                        kind: kind.to_string(),
                        name: name.clone(),
                        error,
                    })?;
                self.applied.remove(&format!("{namespace}/{kind}/{name}"));
                tracing::info!(namespace, kind, name, "pruned");
            }
        }
        Ok(())
    }
}

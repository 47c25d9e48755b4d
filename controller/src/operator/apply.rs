//! Server-side apply of each application's workload objects, and pruning of the ones it no
//! longer wants. Applying skips objects whose content was applied recently unchanged, so a
//! reconcile woken by our own status writes costs no API calls.
//!
//! Applications are applied side by side, each within a bounded time, so one application's
//! slow or failing API calls never hold up the others; one that failed waits out an
//! exponential backoff ([`backoff::APPLY`]) before it is tried again, unless what it would
//! apply changes meanwhile.

use super::backoff::{self, APPLY};
use crate::error::{Error, Result};
use crate::reconcile::workloads::{INSTANCE_LABEL, MANAGED_BY, Workload};
use futures_util::future::join_all;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kd_crds::references::ObjectKey;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use kube::{Api, Client};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const FIELD_MANAGER: &str = "kaltura-discord-operator";
/// Re-apply unchanged objects this often, to repair hand edits and deletions.
const REAPPLY: Duration = Duration::from_secs(300);
/// How long one application's apply and prune may take in a pass: an API server that hangs on
/// one of its objects delays the pass by this much at most, and the others not at all.
const BOUND: Duration = Duration::from_secs(15);

/// Kinds the operator creates and prunes. Volume claims are never pruned: they hold data.
fn pruned() -> [ApiResource; 4] {
    [
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<Deployment>(&()),
        ApiResource::erase::<PodDisruptionBudget>(&()),
    ]
}

/// One application's objects for this pass.
pub struct Work {
    pub app: ObjectKey,
    pub objects: Vec<Workload>,
}

/// What one application's apply came to in a pass.
pub enum Outcome {
    Applied,
    /// It failed in this pass (counted, logged, an Event).
    Failed(Arc<Error>),
    /// It failed earlier and its retry is not due: the status keeps the earlier error.
    Waiting(Arc<Error>),
}

/// The last failure of an application's apply, and when to try again.
#[derive(Debug)]
struct Failure {
    /// Failures in a row of the same objects.
    count: u32,
    retry_at: Instant,
    /// Digest of the objects that failed: other objects are tried at once.
    input: String,
    error: Arc<Error>,
}

impl Failure {
    /// Whether objects with digest `input` should be applied at `now`.
    fn due(&self, input: &str, now: Instant) -> bool {
        self.input != input || now >= self.retry_at
    }

    /// The failure after `previous` (the count restarts when the objects changed).
    fn after(
        previous: Option<&Failure>,
        input: String,
        error: Arc<Error>,
        now: Instant,
        jitter: f64,
    ) -> Failure {
        let count = previous.filter(|p| p.input == input).map_or(0, |p| p.count) + 1;
        Failure {
            count,
            retry_at: now + APPLY.jittered(count, jitter),
            input,
            error,
        }
    }
}

/// What the operator applied for one application, and its backoff.
#[derive(Default)]
struct Application {
    applied: HashMap<String, (String, Instant)>,
    failure: Option<Failure>,
}

#[derive(Default)]
pub struct Applier {
    applications: BTreeMap<ObjectKey, Application>,
}

impl Applier {
    /// Applies every application's objects, concurrently, and prunes the operator's other
    /// objects of each; forgets applications no longer in `work`.
    pub async fn apply(&mut self, client: &Client, work: &[Work]) -> Vec<(ObjectKey, Outcome)> {
        self.applications
            .retain(|app, _| work.iter().any(|w| &w.app == app));
        for w in work {
            self.applications.entry(w.app.clone()).or_default();
        }
        let now = Instant::now();
        let steps = self.applications.iter_mut().filter_map(|(app, state)| {
            let objects = &work.iter().find(|w| &w.app == app)?.objects;
            Some(async move { (app.clone(), state.step(client, app, objects, now).await) })
        });
        join_all(steps).await
    }

    /// When the earliest backoff ends: a pass is due then even without a change.
    pub fn next_retry(&self) -> Option<Instant> {
        self.applications
            .values()
            .filter_map(|a| a.failure.as_ref().map(|f| f.retry_at))
            .min()
    }
}

impl Application {
    async fn step(
        &mut self,
        client: &Client,
        app: &ObjectKey,
        objects: &[Workload],
        now: Instant,
    ) -> Outcome {
        let input = digest(objects);
        if let Some(failure) = &self.failure
            && !failure.due(&input, now)
        {
            return Outcome::Waiting(failure.error.clone());
        }
        let attempt = self.apply(client, &app.namespace, &app.name, objects);
        let result = tokio::time::timeout(BOUND, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(Error::ApplyTimedOut {
                    application: app.name.clone(),
                    after: BOUND,
                })
            });
        match result {
            Ok(()) => {
                self.failure = None;
                Outcome::Applied
            }
            Err(error) => {
                let error = Arc::new(error);
                let failure = Failure::after(
                    self.failure.as_ref(),
                    input,
                    error.clone(),
                    now,
                    backoff::jitter(),
                );
                tracing::info!(
                    application = %app.name,
                    failures = failure.count,
                    retry_in_ms = failure.retry_at.saturating_duration_since(now).as_millis() as u64,
                    "backing off"
                );
                self.failure = Some(failure);
                Outcome::Failed(error)
            }
        }
    }

    /// Applies `objects` (all in `namespace`, of application `app`) and deletes the operator's
    /// other objects of that application.
    async fn apply(
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

/// Digest of everything an application's objects say: a change retries at once.
fn digest(objects: &[Workload]) -> String {
    let mut hash = Sha256::new();
    for object in objects {
        hash.update(object.erased().2.to_string());
    }
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed() -> Arc<Error> {
        Arc::new(Error::NoBotPod)
    }

    #[test]
    fn a_failure_waits_its_backoff_unless_the_objects_change() {
        let now = Instant::now();
        let first = Failure::after(None, "a".into(), failed(), now, 0.0);
        assert_eq!(
            (first.count, first.retry_at - now),
            (1, Duration::from_secs(1))
        );
        assert!(!first.due("a", now + Duration::from_millis(999)));
        assert!(first.due("a", now + Duration::from_secs(1)));
        assert!(first.due("b", now), "other objects are tried at once");

        let later = now + Duration::from_secs(1);
        let second = Failure::after(Some(&first), "a".into(), failed(), later, 0.0);
        assert_eq!(
            (second.count, second.retry_at - later),
            (2, Duration::from_secs(2))
        );
        let changed = Failure::after(Some(&second), "b".into(), failed(), later, 0.0);
        assert_eq!(changed.count, 1, "new objects start the schedule over");
    }
}

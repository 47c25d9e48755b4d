//! What the operator knows of the cluster: reflector caches of the five kinds, the Secrets
//! they name, the bot Services' EndpointSlices and our Deployments, fed by watches. Any change
//! wakes the reconcile loop. Each pass takes the few shared objects whole ([`Shared`]) and,
//! of the guild-scoped kinds (thousands of objects), only those that changed since the last
//! pass ([`Changes`]): a pass costs what changed, not what there is.

use crate::reconcile::workloads::{ACTIVITY_LABEL, INSTANCE_LABEL, MANAGED_BY};
use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kd_crds::references::{Changes, Delta, SecretKeys, Shared};
use kd_crds::{DiscordApplication, GuildConfig, KalturaPartner, NotificationRule, RoleMapping};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

pub struct Index {
    partners: Store<KalturaPartner>,
    applications: Store<DiscordApplication>,
    guilds: Tracked<GuildConfig>,
    role_mappings: Tracked<RoleMapping>,
    notification_rules: Tracked<NotificationRule>,
    secrets: Store<Secret>,
    endpoint_slices: Store<EndpointSlice>,
    deployments: Store<Deployment>,
    changed: Arc<Notify>,
}

/// The objects of one kind that changed since they were last taken, by namespace and name.
#[derive(Default)]
struct Dirty {
    /// After a relist: objects may have gone without a delete event.
    all: bool,
    keys: HashSet<(String, String)>,
}

impl Dirty {
    fn note<K: Resource>(&mut self, event: &watcher::Event<K>) {
        match event {
            watcher::Event::Apply(o) | watcher::Event::Delete(o) => {
                let meta = o.meta();
                self.keys.insert((
                    meta.namespace.clone().unwrap_or_else(|| "default".into()),
                    meta.name.clone().unwrap_or_default(),
                ));
            }
            // The cache swaps in a relist's objects at its end: what it dropped had no event.
            watcher::Event::InitDone => self.all = true,
            watcher::Event::Init | watcher::Event::InitApply(_) => {}
        }
    }
}

/// A cache that also notes which objects changed.
struct Tracked<K: Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    dirty: Arc<Mutex<Dirty>>,
}

impl<K> Tracked<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    /// What changed since the last call, as the cache has it now (the cache may be newer
    /// than an event: the next call then sees that object again, unchanged).
    fn take(&self) -> Delta<K> {
        let dirty = std::mem::take(&mut *self.dirty.lock().expect("dirty keys"));
        if dirty.all {
            return Delta::All(self.store.state());
        }
        let changes = dirty
            .keys
            .into_iter()
            .map(|(namespace, name)| {
                let object = self.store.get(&ObjectRef::new(&name).within(&namespace));
                ((namespace, name), object)
            })
            .collect();
        Delta::Some(changes)
    }
}

/// Watches `K` into a cache, waking `changed` on every event (and noting the object in
/// `dirty` when given); retries with backoff.
fn reflect<K>(
    client: &Client,
    namespace: Option<&str>,
    labels: Option<&str>,
    changed: &Arc<Notify>,
    dirty: Option<Arc<Mutex<Dirty>>>,
) -> Store<K>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let api: Api<K> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let mut config = watcher::Config::default();
    if let Some(labels) = labels {
        config = config.labels(labels);
    }
    let (reader, writer) = reflector::store();
    // Field-manager bookkeeping is nothing the operator reads, and for thousands of objects
    // it would be most of the cache (and of each pass's copy of it).
    let events = watcher(api, config).modify(|object: &mut K| object.managed_fields_mut().clear());
    // The reflector has applied an event to the cache by the time it hands it on.
    let stream = reflector::reflector(writer, events).default_backoff();
    let changed = changed.clone();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(event) => {
                    if let Some(dirty) = &dirty {
                        dirty.lock().expect("dirty keys").note(&event);
                    }
                    changed.notify_one()
                }
                Err(err) => {
                    tracing::warn!(kind = %K::kind(&()), error = %err, "watch failed; retrying")
                }
            }
        }
    });
    reader
}

/// Watches a guild-scoped kind, noting what changes.
fn track<K>(client: &Client, namespace: Option<&str>, changed: &Arc<Notify>) -> Tracked<K>
where
    K: Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Debug
        + Send
        + Sync
        + 'static,
{
    let dirty = Arc::new(Mutex::new(Dirty::default()));
    Tracked {
        store: reflect(client, namespace, None, changed, Some(dirty.clone())),
        dirty,
    }
}

impl Index {
    /// Starts the watches; `namespace` limits them to one namespace.
    pub fn start(client: &Client, namespace: Option<&str>) -> Self {
        let changed = Arc::new(Notify::new());
        let managed = format!("{}={}", MANAGED_BY.0, MANAGED_BY.1);
        Self {
            partners: reflect(client, namespace, None, &changed, None),
            applications: reflect(client, namespace, None, &changed, None),
            guilds: track(client, namespace, &changed),
            role_mappings: track(client, namespace, &changed),
            notification_rules: track(client, namespace, &changed),
            secrets: reflect(client, namespace, None, &changed, None),
            endpoint_slices: reflect(
                client,
                namespace,
                Some("kubernetes.io/service-name"),
                &changed,
                None,
            ),
            deployments: reflect(client, namespace, Some(&managed), &changed, None),
            changed,
        }
    }

    /// Waits until every cache has its first complete list.
    pub async fn ready(&self) -> crate::error::Result<()> {
        let waits = [
            self.partners.wait_until_ready().await,
            self.applications.wait_until_ready().await,
            self.guilds.store.wait_until_ready().await,
            self.role_mappings.store.wait_until_ready().await,
            self.notification_rules.store.wait_until_ready().await,
            self.secrets.wait_until_ready().await,
            self.endpoint_slices.wait_until_ready().await,
            self.deployments.wait_until_ready().await,
        ];
        for wait in waits {
            wait?;
        }
        Ok(())
    }

    /// Resolves after the next change of anything watched.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// The guild-scoped objects that changed since the last call (all of them at first).
    pub fn changes(&self) -> Changes {
        Changes {
            guilds: self.guilds.take(),
            role_mappings: self.role_mappings.take(),
            notification_rules: self.notification_rules.take(),
        }
    }

    /// The shared resources as the reconcile core sees them (Secret *keys* only, never values).
    pub fn shared(&self) -> Shared {
        Shared {
            partners: self.partners.state(),
            applications: self.applications.state(),
            secrets: self
                .secrets
                .state()
                .iter()
                .map(|s| SecretKeys {
                    namespace: s.namespace().unwrap_or_default(),
                    name: s.name_any(),
                    keys: s
                        .data
                        .iter()
                        .flat_map(|d| d.keys())
                        .chain(s.string_data.iter().flat_map(|d| d.keys()))
                        .cloned()
                        .collect(),
                })
                .collect(),
        }
    }

    /// The version of each named Secret, to notice credential changes (values are never read).
    pub fn secret_version(&self, namespace: &str, name: &str) -> Option<String> {
        self.secrets
            .state()
            .iter()
            .find(|s| s.namespace().as_deref() == Some(namespace) && s.name_any() == name)
            .and_then(|s| s.resource_version())
    }

    /// The value of one key of a Secret and the Secret's version: only for the credential check
    /// of a KalturaPartner (the value goes to Kaltura and nowhere else).
    pub fn secret_value(&self, namespace: &str, name: &str, key: &str) -> Option<(String, String)> {
        let secret = self
            .secrets
            .state()
            .into_iter()
            .find(|s| s.namespace().as_deref() == Some(namespace) && s.name_any() == name)?;
        let value = match secret.data.as_ref().and_then(|d| d.get(key)) {
            Some(bytes) => String::from_utf8(bytes.0.clone()).ok()?,
            None => secret.string_data.as_ref()?.get(key)?.clone(),
        };
        Some((
            value.trim_end().to_string(),
            secret.resource_version().unwrap_or_default(),
        ))
    }

    /// `http://address:port/status` of every ready endpoint of a Service.
    pub fn status_urls(&self, namespace: &str, service: &str, default_port: u16) -> Vec<String> {
        self.endpoint_slices
            .state()
            .iter()
            .filter(|s| {
                s.namespace().as_deref() == Some(namespace)
                    && s.labels()
                        .get("kubernetes.io/service-name")
                        .map(String::as_str)
                        == Some(service)
            })
            .flat_map(|slice| {
                let port = slice
                    .ports
                    .iter()
                    .flatten()
                    .find(|p| p.name.as_deref() == Some("http"))
                    .and_then(|p| p.port)
                    .map_or(default_port, |p| p as u16);
                slice
                    .endpoints
                    .iter()
                    .flatten()
                    .filter(|e| e.conditions.as_ref().and_then(|c| c.ready) != Some(false))
                    .flat_map(|e| e.addresses.clone())
                    .map(move |address| {
                        let host = if address.contains(':') {
                            format!("[{address}]")
                        } else {
                            address
                        };
                        format!("http://{host}:{port}/status")
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Whether one of the application's Deployments that serve the Activity has an available replica.
    pub fn activity_available(&self, namespace: &str, app: &str) -> bool {
        self.deployments.state().iter().any(|d| {
            d.namespace().as_deref() == Some(namespace)
                && d.labels().get(INSTANCE_LABEL).map(String::as_str) == Some(app)
                && d.spec
                    .template
                    .metadata
                    .as_ref()
                    .and_then(|m| m.labels.as_ref())
                    .is_some_and(|l| l.contains_key(ACTIVITY_LABEL))
                && d.status
                    .as_ref()
                    .and_then(|s| s.available_replicas)
                    .unwrap_or(0)
                    > 0
        })
    }
}

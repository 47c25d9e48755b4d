//! The runtime config of a workload pod, read from the Kubernetes API: the index ConfigMap is
//! watched by name (all the workload's Role allows: get, list and watch of its application's
//! config ConfigMaps), and on each change the parts whose digest moved are fetched, checked
//! and assembled. A new revision thus reaches the pod as soon as the operator writes it; a
//! mounted ConfigMap would take the kubelet's sync period, a minute or more.
//!
//! The operator writes the parts before the index, so a reader that sees a new index finds its
//! parts. A part of a newer revision than the index it was fetched for (an edit landing while
//! the reader fetches) is refused by its digest, and the read is tried again shortly: the newer
//! index is on its way. A config that cannot be read keeps the running one, with a warning.
//!
//! A bot replica keeps only the guilds of its shards ([`Served`]): when its shards change,
//! every part is read again for the new set.

use crate::reconcile::workloads::{INDEX_KEY, PART_KEY, part_name};
use futures_util::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::ConfigMap;
use kd_core::config::parts::{Index, Kept, PartText};
use kd_core::config::{RuntimeConfig, Served};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Parts fetched at once on a change (a cold start reads them all).
const FETCHES: usize = 8;
/// How soon a read that met a part of another revision is tried again.
const RETRY: Duration = Duration::from_millis(300);

/// Reads the config whose index is the ConfigMap `name` now, keeping the guilds `served`
/// names, and follows both.
pub async fn watch(
    client: Client,
    namespace: &str,
    name: &str,
    served: watch::Receiver<Served>,
) -> Result<watch::Receiver<Arc<RuntimeConfig>>, String> {
    let mut reader = Reader {
        api: Api::namespaced(client, namespace),
        name: name.to_string(),
        parts: HashMap::new(),
        served,
        kept_for: Served::All,
    };
    let first = reader.read_now().await?;
    tracing::info!(
        configmap = name,
        namespace,
        revision = %first.revision,
        guilds = first.guilds.len(),
        "runtime config read from the Kubernetes API"
    );
    let (tx, rx) = watch::channel(Arc::new(first));
    tokio::spawn(reader.follow(tx));
    Ok(rx)
}

struct Reader {
    api: Api<ConfigMap>,
    name: String,
    /// What was kept of the parts read so far, by index, with the digest they were read at.
    parts: HashMap<usize, (String, Arc<Kept>)>,
    served: watch::Receiver<Served>,
    /// The guilds `parts` were kept for.
    kept_for: Served,
}

impl Reader {
    /// GETs the index and assembles it, trying again while parts are of another revision.
    async fn read_now(&mut self) -> Result<RuntimeConfig, String> {
        let mut attempts = 0;
        loop {
            let index = self.api.get(&self.name).await.map_err(|e| self.failed(e))?;
            match self.assemble(&index).await {
                Err(Problem::Stale(why)) if attempts < 20 => {
                    tracing::debug!(%why, "a part moved on while reading; reading again");
                    attempts += 1;
                    tokio::time::sleep(RETRY).await;
                }
                result => return result.map_err(Problem::into_message),
            }
        }
    }

    fn failed(&self, error: kube::Error) -> String {
        let hint = match &error {
            kube::Error::Api(s) if s.code == 403 => {
                " (the pod's ServiceAccount needs get, list and watch on it: the operator's Role `<app>-config-reader`)"
            }
            kube::Error::Api(s) if s.code == 404 => " (the operator writes it; is it running?)",
            _ => "",
        };
        format!("reading ConfigMap {}: {error}{hint}", self.name)
    }

    /// The config of this index ConfigMap, fetching the parts it does not hold yet.
    async fn assemble(&mut self, index: &ConfigMap) -> Result<RuntimeConfig, Problem> {
        let text = index
            .data
            .as_ref()
            .and_then(|d| d.get(INDEX_KEY))
            .ok_or_else(|| {
                Problem::Invalid(format!("ConfigMap {} has no {INDEX_KEY}", self.name))
            })?;
        let index = Index::from_json(text).map_err(Problem::Invalid)?;
        let served = self.served.borrow_and_update().clone();
        if served != self.kept_for {
            self.parts.clear();
            self.kept_for = served.clone();
        }
        let missing: Vec<usize> = (0..index.parts.len())
            .filter(|k| {
                self.parts
                    .get(k)
                    .is_none_or(|(digest, _)| *digest != index.parts[*k].digest)
            })
            .collect();
        let fetched: Vec<(usize, Kept)> = stream::iter(missing)
            .map(|k| {
                let (api, name, expected) = (&self.api, part_name(&self.name, k), &index.parts[k]);
                let served = &served;
                async move {
                    let object = api
                        .get(&name)
                        .await
                        .map_err(|e| Problem::Stale(format!("reading ConfigMap {name}: {e}")))?;
                    let text = object
                        .data
                        .as_ref()
                        .and_then(|d| d.get(PART_KEY))
                        .ok_or_else(|| {
                            Problem::Stale(format!("ConfigMap {name} has no {PART_KEY}"))
                        })?;
                    let part = PartText::parse(text, expected, served)
                        .map_err(|e| Problem::Stale(format!("ConfigMap {name}: {e}")))?;
                    Ok((k, part))
                }
            })
            .buffer_unordered(FETCHES)
            .try_collect()
            .await?;
        for (k, part) in fetched {
            self.parts
                .insert(k, (index.parts[k].digest.clone(), Arc::new(part)));
        }
        self.parts.retain(|k, _| *k < index.parts.len());
        let parts: Vec<Arc<Kept>> = (0..index.parts.len())
            .map(|k| self.parts[&k].1.clone())
            .collect();
        index.assemble(&parts, &served).map_err(Problem::Invalid)
    }

    async fn follow(mut self, tx: watch::Sender<Arc<RuntimeConfig>>) {
        let config = watcher::Config::default().fields(&format!("metadata.name={}", self.name));
        let mut events = watcher::watcher(self.api.clone(), config)
            .default_backoff()
            .boxed();
        // Why the watch or the last read failed, while it does: warned once per problem.
        let mut problem: Option<String> = None;
        // Set when a read met a part of another revision: read the index again then.
        let mut again: Option<tokio::time::Instant> = None;
        let mut served = self.served.clone();
        // A process that never changes what it keeps drops the sender: nothing to follow.
        let mut follows_served = true;
        loop {
            let retry = async {
                match again {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let index = tokio::select! {
                event = events.next() => match event {
                    Some(Ok(Event::Apply(index) | Event::InitApply(index))) => index,
                    Some(Ok(Event::Delete(_))) => {
                        tracing::warn!(configmap = %self.name, "the runtime config ConfigMap was deleted; keeping the running config");
                        continue;
                    }
                    Some(Ok(Event::Init | Event::InitDone)) => continue,
                    Some(Err(error)) => {
                        let why = error.to_string();
                        if problem.as_deref() != Some(why.as_str()) {
                            tracing::warn!(configmap = %self.name, problem = %why, "cannot watch the runtime config; keeping the running config");
                        }
                        problem = Some(why);
                        continue;
                    }
                    None => return,
                },
                changed = served.changed(), if follows_served => {
                    if changed.is_err() {
                        follows_served = false;
                        continue;
                    }
                    again = Some(tokio::time::Instant::now());
                    continue;
                }
                _ = retry => match self.api.get(&self.name).await {
                    Ok(index) => index,
                    Err(error) => {
                        again = Some(tokio::time::Instant::now() + RETRY);
                        tracing::debug!(%error, "reading the runtime config index again failed");
                        continue;
                    }
                },
            };
            again = None;
            if tx.is_closed() {
                return;
            }
            let started = Instant::now();
            match self.assemble(&index).await {
                Ok(config) => {
                    if let Some(was) = problem.take() {
                        tracing::info!(configmap = %self.name, %was, "the runtime config is readable again");
                    }
                    let current = tx.borrow().clone();
                    let millis = started.elapsed().as_millis() as u64;
                    let guilds = config.guilds.len();
                    if config.revision != current.revision {
                        tracing::info!(revision = %config.revision, guilds, millis, "runtime config changed");
                    } else if config.served != current.served {
                        tracing::info!(
                            guilds,
                            millis,
                            "runtime config read again for the shards held"
                        );
                    }
                    if config.revision != current.revision || config.served != current.served {
                        tx.send_replace(Arc::new(config));
                    }
                }
                Err(Problem::Stale(why)) => {
                    tracing::debug!(%why, "a part moved on while reading; reading again");
                    again = Some(tokio::time::Instant::now() + RETRY);
                }
                Err(Problem::Invalid(why)) => {
                    if problem.as_deref() != Some(why.as_str()) {
                        tracing::error!(configmap = %self.name, error = %why, "refusing the new runtime config; keeping the running one");
                    }
                    problem = Some(why);
                }
            }
        }
    }
}

/// Why an index could not be assembled.
enum Problem {
    /// A part is missing or of another revision: a newer index follows, so read again.
    Stale(String),
    /// The index itself is not a config (hand-edited, truncated): wait for another one.
    Invalid(String),
}

impl Problem {
    fn into_message(self) -> String {
        match self {
            Problem::Stale(m) | Problem::Invalid(m) => m,
        }
    }
}

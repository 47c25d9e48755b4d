//! In-memory state: served types, objects, the global resourceVersion counter and the
//! recent change history watches resume from.

use crate::resource::ResourceType;
use axum::body::Bytes;
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// How many past changes a watch can resume from before it gets `410 Gone`.
const HISTORY: usize = 4096;

/// Where an object lives: `(group, plural, namespace, name)`; cluster-scoped objects have `""`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub group: String,
    pub plural: String,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(rt: &ResourceType, namespace: &str, name: &str) -> Self {
        Self {
            group: rt.storage_group().to_string(),
            plural: rt.plural.clone(),
            namespace: if rt.namespaced {
                namespace.to_string()
            } else {
                String::new()
            },
            name: name.to_string(),
        }
    }
}

/// A change, as watches see it. Cheap to clone: the history and every watch share one copy.
#[derive(Clone, Debug)]
pub struct Event {
    pub revision: u64,
    pub kind: EventKind,
    pub key: Key,
    pub object: Arc<Value>,
    /// The state before a `Modified` change: a watch with a selector needs both sides.
    pub previous: Option<Arc<Value>>,
    pub lines: Arc<Lines>,
}

/// The watch lines of one change, each encoded once and sent as is by every watch that sends
/// the same (the same event type at the same API version).
#[derive(Debug, Default)]
pub struct Lines(Mutex<Vec<(&'static str, String, Bytes)>>);

impl Lines {
    /// The line of `event_type` at `api_version`, encoded by `encode` if no watch has yet.
    pub fn get_or_encode(
        &self,
        event_type: &'static str,
        api_version: &str,
        encode: impl FnOnce() -> Bytes,
    ) -> Bytes {
        let mut lines = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, _, line)) = lines
            .iter()
            .find(|(t, v, _)| *t == event_type && v == api_version)
        {
            return line.clone();
        }
        let line = encode();
        lines.push((event_type, api_version.to_string(), line.clone()));
        line
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Added,
    Modified,
    Deleted,
}

pub struct Store {
    revision: u64,
    types: Vec<Arc<ResourceType>>,
    objects: BTreeMap<Key, Arc<Value>>,
    history: VecDeque<Event>,
    /// The newest revision no longer in `history`: resuming from before it is `Gone`.
    forgotten: u64,
    changes: broadcast::Sender<Event>,
}

impl Store {
    pub fn new(types: Vec<Arc<ResourceType>>) -> Self {
        Self {
            revision: 1,
            types,
            objects: BTreeMap::new(),
            history: VecDeque::new(),
            forgotten: 0,
            changes: broadcast::channel(HISTORY).0,
        }
    }

    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The next resourceVersion, for an object about to be written.
    pub fn next_revision(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }

    pub fn types(&self) -> &[Arc<ResourceType>] {
        &self.types
    }

    pub fn set_types(&mut self, types: Vec<Arc<ResourceType>>) {
        self.types = types;
    }

    /// The type served at `group/version` under `plural`.
    pub fn find_type(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceType>> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.plural == plural)
            .cloned()
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.objects.get(key).map(|v| &**v)
    }

    /// The object at `key`, shared with the store (for a write that reads it while it writes).
    pub fn get_shared(&self, key: &Key) -> Option<Arc<Value>> {
        self.objects.get(key).cloned()
    }

    /// Objects of one type, in one namespace or (`None`) all.
    pub fn list(&self, group: &str, plural: &str, namespace: Option<&str>) -> Vec<(&Key, &Value)> {
        self.list_shared(group, plural, namespace)
            .into_iter()
            .map(|(k, v)| (k, &**v))
            .collect()
    }

    /// [`Self::list`], the objects shared with the store.
    pub fn list_shared(
        &self,
        group: &str,
        plural: &str,
        namespace: Option<&str>,
    ) -> Vec<(&Key, &Arc<Value>)> {
        self.objects
            .iter()
            .filter(|(k, _)| {
                k.group == group
                    && k.plural == plural
                    && namespace.is_none_or(|ns| k.namespace == ns)
            })
            .collect()
    }

    /// Every object (for garbage collection and namespace cleanup).
    pub fn all(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.objects.iter().map(|(k, v)| (k, &**v))
    }

    /// Stores `object` (already carrying its new resourceVersion) and tells the watches.
    pub fn put(&mut self, key: Key, object: Value) {
        let object = Arc::new(object);
        let previous = self.objects.insert(key.clone(), object.clone());
        let kind = if previous.is_some() {
            EventKind::Modified
        } else {
            EventKind::Added
        };
        self.record(kind, key, object, previous);
    }

    /// Removes the object; `object` is its last state, with a fresh resourceVersion.
    pub fn remove(&mut self, key: &Key, object: Value) {
        if self.objects.remove(key).is_some() {
            self.record(EventKind::Deleted, key.clone(), Arc::new(object), None);
        }
    }

    fn record(
        &mut self,
        kind: EventKind,
        key: Key,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) {
        let event = Event {
            revision: self.revision,
            kind,
            key,
            object,
            previous,
            lines: Arc::default(),
        };
        if self.history.len() == HISTORY
            && let Some(old) = self.history.pop_front()
        {
            self.forgotten = old.revision;
        }
        self.history.push_back(event.clone());
        // No receiver is fine: nobody watches.
        let _ = self.changes.send(event);
    }

    /// The changes after `revision` plus a receiver for those to come, taken together so
    /// none is missed or seen twice; `None` when `revision` is older than the history.
    pub fn changes_since(&self, revision: u64) -> Option<(Vec<Event>, broadcast::Receiver<Event>)> {
        if revision < self.forgotten {
            return None;
        }
        let past = self
            .history
            .iter()
            .filter(|e| e.revision > revision)
            .cloned()
            .collect();
        Some((past, self.changes.subscribe()))
    }
}

//! Deletion as the API server and its garbage collector do it: `DeleteOptions` (checked, from
//! the body or else the query), preconditions, finalizers holding an object with its
//! `deletionTimestamp`, the `orphan` and `foregroundDeletion` finalizers of the `Orphan` and
//! `Foreground` policies, owner-reference collection (`blockOwnerDeletion` holding a foreground
//! owner), and namespaces emptied before they go. The collector's work, asynchronous in a
//! cluster, happens here right after the request, which answers with the object as the request
//! left it.

use crate::objects::{at_version, existing, meta_mut, meta_str, refresh_types};
use crate::resource::ResourceType;
use crate::status::{ApiError, ApiResult, Cause};
use crate::store::{Key, Store};
use serde_json::{Value, json};
use std::sync::Arc;

const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Propagation {
    Orphan,
    Background,
    Foreground,
}

/// `DeleteOptions`, checked as `ValidateDeleteOptions` does.
#[derive(Default)]
pub struct DeleteOptions {
    pub dry_run: bool,
    pub propagation: Option<Propagation>,
    /// The deprecated `orphanDependents`.
    pub orphan_dependents: Option<bool>,
    pub precondition_uid: Option<String>,
    pub precondition_version: Option<String>,
    pub now: String,
}

fn invalid_options(causes: Vec<Cause>) -> ApiError {
    ApiError::invalid("meta.k8s.io", "DeleteOptions", "", causes)
}

impl DeleteOptions {
    /// From the request body when there is one, else from the query (as the API server does:
    /// never both).
    pub fn parse(
        body: Option<&Value>,
        param: impl Fn(&str) -> Option<String>,
        now: String,
    ) -> ApiResult<Self> {
        let field = |name: &str| -> Option<Value> {
            match body {
                Some(body) => body.get(name).filter(|v| !v.is_null()).cloned(),
                None => param(name).map(Value::String),
            }
        };
        let propagation = match field("propagationPolicy") {
            None => None,
            Some(v) => Some(match v.as_str().unwrap_or_default() {
                "Orphan" => Propagation::Orphan,
                "Background" => Propagation::Background,
                "Foreground" => Propagation::Foreground,
                other => {
                    return Err(invalid_options(vec![Cause::new(
                        "FieldValueNotSupported",
                        "propagationPolicy",
                        format!(
                            "Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                        ),
                    )]));
                }
            }),
        };
        let orphan_dependents = field("orphanDependents").map(|v| v == true || v == "true");
        if let (Some(_), Some(policy)) = (orphan_dependents, propagation) {
            return Err(invalid_options(vec![Cause::new(
                "FieldValueInvalid",
                "propagationPolicy",
                format!(
                    "Invalid value: \"{policy:?}\": orphanDependents and deletionPropagation cannot be both set"
                ),
            )]));
        }
        let dry_run = match field("dryRun") {
            Some(Value::Array(values)) => values.iter().any(|v| v == "All"),
            Some(v) => v == "All",
            None => false,
        };
        let precondition = |name: &str| match body {
            Some(body) => body["preconditions"][name].as_str().map(String::from),
            None => None,
        };
        Ok(Self {
            dry_run,
            propagation,
            orphan_dependents,
            precondition_uid: precondition("uid"),
            precondition_version: precondition("resourceVersion"),
            now,
        })
    }

    /// `shouldOrphanDependents` / `shouldDeleteDependentsInForeground`: the options, else the
    /// finalizers the object already has, else background.
    fn policy(&self, finalizers: &[String]) -> Propagation {
        if let Some(orphan) = self.orphan_dependents {
            return if orphan {
                Propagation::Orphan
            } else {
                Propagation::Background
            };
        }
        if let Some(policy) = self.propagation {
            return policy;
        }
        for f in finalizers {
            match f.as_str() {
                ORPHAN => return Propagation::Orphan,
                FOREGROUND => return Propagation::Foreground,
                _ => {}
            }
        }
        Propagation::Background
    }
}

/// What a DELETE answers.
pub struct Deleted {
    /// The object as the request left it (for an immediate deletion, its last state).
    pub object: Value,
    /// `false` while finalizers hold it.
    pub gone: bool,
    /// The HTTP status: 200, or 202 for a pending delete that set `orphanDependents: false`.
    pub code: u16,
}

impl Deleted {
    /// The body: the object, or for a deleted object of most types a `Success` Status naming it
    /// (only pods, services, service accounts and namespaces return the deleted object).
    pub fn body(&self, rt: &ResourceType) -> Value {
        let returns_object = rt.group.is_empty()
            && matches!(
                rt.plural.as_str(),
                "pods" | "services" | "serviceaccounts" | "namespaces"
            );
        if !self.gone || returns_object {
            return at_version(rt, self.object.clone());
        }
        json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": meta_str(&self.object, "name"),
                "group": rt.group,
                "kind": rt.plural,
                "uid": meta_str(&self.object, "uid"),
            },
        })
    }
}

pub fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// The finalizers an update adds to an object being deleted (which the API server refuses).
pub fn new_finalizers(old: &Value, new: &Value) -> Vec<String> {
    if !deleting(old) {
        return Vec::new();
    }
    let before = finalizers(old);
    let mut added: Vec<String> = finalizers(new)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    added.sort();
    added.dedup();
    added
}

/// `Operation cannot be fulfilled on Widget.test.kd.io "x": ...`: the precondition check of
/// `BeforeDelete`, which names the kind.
fn precondition_failed(rt: &ResourceType, name: &str, why: String) -> ApiError {
    let what = if rt.group.is_empty() {
        rt.kind.clone()
    } else {
        format!("{}.{}", rt.kind, rt.group)
    };
    let mut err = ApiError::new(
        409,
        "Conflict",
        format!("Operation cannot be fulfilled on {what} \"{name}\": {why}"),
    );
    err.details = Some(json!({"name": name, "group": rt.group, "kind": rt.kind}));
    err
}

fn type_of(store: &Store, key: &Key) -> Option<Arc<ResourceType>> {
    store
        .types()
        .iter()
        .find(|t| t.storage_group() == key.group && t.plural == key.plural)
        .cloned()
}

/// Writes `obj` back under a new resourceVersion.
fn put(store: &mut Store, key: &Key, mut obj: Value) {
    let revision = store.next_revision();
    meta_mut(&mut obj).insert("resourceVersion".into(), json!(revision.to_string()));
    store.put(key.clone(), obj);
}

/// `DELETE` of one object.
pub fn delete(
    store: &mut Store,
    rt: &Arc<ResourceType>,
    namespace: &str,
    name: &str,
    options: &DeleteOptions,
) -> ApiResult<Deleted> {
    let key = Key::new(rt, namespace, name);
    let mut obj = existing(store, rt, namespace, name)?;
    if let Some(uid) = &options.precondition_uid
        && uid != meta_str(&obj, "uid")
    {
        let why = format!(
            "the UID in the precondition ({uid}) does not match the UID in record ({}). The object might have been deleted and then recreated",
            meta_str(&obj, "uid")
        );
        return Err(precondition_failed(rt, name, why));
    }
    if let Some(version) = &options.precondition_version
        && version != meta_str(&obj, "resourceVersion")
    {
        let why = format!(
            "the ResourceVersion in the precondition ({version}) does not match the ResourceVersion in record ({}). The object might have been modified",
            meta_str(&obj, "resourceVersion")
        );
        return Err(precondition_failed(rt, name, why));
    }
    let is_namespace = rt.group.is_empty() && rt.plural == "namespaces";
    let mut wanted: Vec<String> = finalizers(&obj)
        .into_iter()
        .filter(|f| f != ORPHAN && f != FOREGROUND)
        .collect();
    let policy = options.policy(&finalizers(&obj));
    match policy {
        Propagation::Orphan => wanted.push(ORPHAN.into()),
        Propagation::Foreground => wanted.push(FOREGROUND.into()),
        Propagation::Background => {}
    }
    let pending = !wanted.is_empty() || is_namespace;
    let code = if pending && options.orphan_dependents == Some(false) {
        202
    } else {
        200
    };
    if !pending {
        if !options.dry_run {
            let revision = store.next_revision();
            meta_mut(&mut obj).insert("resourceVersion".into(), json!(revision.to_string()));
            remove(store, rt, &key, obj.clone(), &options.now);
        }
        return Ok(Deleted {
            object: obj,
            gone: true,
            code,
        });
    }
    // markAsDeleting: the first request sets the timestamp (and moves generation); later ones
    // keep it and may only change the collector's finalizers.
    let before = obj.clone();
    if !deleting(&obj) {
        let generation = obj["metadata"]["generation"].as_i64().unwrap_or(0);
        let meta = meta_mut(&mut obj);
        meta.insert("deletionTimestamp".into(), json!(options.now));
        if generation > 0 {
            meta.insert("generation".into(), json!(generation + 1));
        }
        if is_namespace {
            obj["status"]["phase"] = json!("Terminating");
        }
    }
    meta_mut(&mut obj).insert("deletionGracePeriodSeconds".into(), json!(0));
    if wanted.is_empty() {
        meta_mut(&mut obj).remove("finalizers");
    } else {
        meta_mut(&mut obj).insert("finalizers".into(), json!(wanted));
    }
    if options.dry_run {
        return Ok(Deleted {
            object: obj,
            gone: false,
            code,
        });
    }
    if obj != before {
        put(store, &key, obj.clone());
    }
    let answer = store.get(&key).cloned().unwrap_or(obj);
    match policy {
        Propagation::Orphan => orphan(store, &key),
        Propagation::Foreground => foreground(store, &key),
        Propagation::Background => {}
    }
    if is_namespace {
        empty_namespace(store, name, &options.now);
        finish_namespace(store, name);
    }
    Ok(Deleted {
        object: answer,
        gone: false,
        code,
    })
}

/// Removes an object for good, then what followed from it: its dependents are collected, a
/// foreground owner it was holding may go, a CRD takes its objects, a terminating namespace
/// that is now empty goes.
pub fn remove(store: &mut Store, rt: &ResourceType, key: &Key, obj: Value, now: &str) {
    store.remove(key, obj.clone());
    if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
        let group = obj["spec"]["group"].as_str().unwrap_or_default();
        let plural = obj["spec"]["names"]["plural"].as_str().unwrap_or_default();
        let owned: Vec<(Key, Value)> = store
            .list(group, plural, None)
            .into_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in owned {
            store.next_revision();
            store.remove(&k, v);
        }
        refresh_types(store);
    }
    collect_garbage(store, meta_str(&obj, "uid"), now);
    for owner in owner_refs(&obj) {
        if let Some(owner_key) = key_of_uid(store, owner["uid"].as_str().unwrap_or_default()) {
            release_foreground(store, &owner_key);
        }
    }
    if rt.namespaced && !key.namespace.is_empty() {
        finish_namespace(store, &key.namespace);
    }
}

fn owner_refs(obj: &Value) -> Vec<Value> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn key_of_uid(store: &Store, uid: &str) -> Option<Key> {
    if uid.is_empty() {
        return None;
    }
    store
        .all()
        .find(|(_, o)| meta_str(o, "uid") == uid)
        .map(|(k, _)| k.clone())
}

fn dependents(store: &Store, owner_uid: &str) -> Vec<Key> {
    store
        .all()
        .filter(|(_, v)| owner_refs(v).iter().any(|r| r["uid"] == owner_uid))
        .map(|(k, _)| k.clone())
        .collect()
}

/// An owner deleting its dependents first.
fn waiting_for_dependents(owner: &Value) -> bool {
    deleting(owner) && finalizers(owner).iter().any(|f| f == FOREGROUND)
}

/// The collector's `attemptToDeleteItem` for one dependent: kept (minus its references to
/// owners gone or deleting in the foreground) while another owner stands, else deleted.
fn attempt_to_delete(store: &mut Store, key: &Key, now: &str) {
    let Some(obj) = store.get(key).cloned() else {
        return;
    };
    let Some(rt) = type_of(store, key) else {
        return;
    };
    let refs = owner_refs(&obj);
    let (mut solid, mut dropped, mut waiting) = (false, Vec::new(), false);
    for r in &refs {
        let uid = r["uid"].as_str().unwrap_or_default();
        match key_of_uid(store, uid).and_then(|k| store.get(&k)) {
            None => dropped.push(uid.to_string()),
            Some(owner) if waiting_for_dependents(owner) => {
                waiting = true;
                dropped.push(uid.to_string());
            }
            Some(_) => solid = true,
        }
    }
    if solid {
        if dropped.is_empty() {
            return;
        }
        let mut obj = obj;
        let kept: Vec<Value> = refs
            .into_iter()
            .filter(|r| !dropped.iter().any(|d| r["uid"] == d.as_str()))
            .collect();
        meta_mut(&mut obj).insert("ownerReferences".into(), Value::Array(kept));
        put(store, key, obj);
        return;
    }
    if deleting(&obj) {
        // Already going; its own finalizers decide when.
        return;
    }
    let has_dependents = !dependents(store, meta_str(&obj, "uid")).is_empty();
    let propagation = if waiting && has_dependents {
        Some(Propagation::Foreground)
    } else {
        None
    };
    let options = DeleteOptions {
        propagation,
        now: now.to_string(),
        ..DeleteOptions::default()
    };
    let _ = delete(store, &rt, &key.namespace, &key.name, &options);
}

/// Background collection once an owner is gone.
fn collect_garbage(store: &mut Store, owner_uid: &str, now: &str) {
    if owner_uid.is_empty() {
        return;
    }
    for key in dependents(store, owner_uid) {
        attempt_to_delete(store, &key, now);
    }
}

/// `Orphan`: dependents lose their reference to the owner, then the `orphan` finalizer goes.
fn orphan(store: &mut Store, owner: &Key) {
    let Some(obj) = store.get(owner).cloned() else {
        return;
    };
    let uid = meta_str(&obj, "uid").to_string();
    for key in dependents(store, &uid) {
        if let Some(mut dependent) = store.get(&key).cloned() {
            let kept: Vec<Value> = owner_refs(&dependent)
                .into_iter()
                .filter(|r| r["uid"] != uid.as_str())
                .collect();
            meta_mut(&mut dependent).insert("ownerReferences".into(), Value::Array(kept));
            put(store, &key, dependent);
        }
    }
    drop_finalizer(store, owner, ORPHAN);
}

/// `Foreground`: every dependent is deleted; the owner goes once none that blocks it is left.
fn foreground(store: &mut Store, owner: &Key) {
    let Some(obj) = store.get(owner).cloned() else {
        return;
    };
    let now = meta_str(&obj, "deletionTimestamp").to_string();
    for key in dependents(store, meta_str(&obj, "uid")) {
        attempt_to_delete(store, &key, &now);
    }
    release_foreground(store, owner);
}

/// Removes a foreground owner's finalizer when no dependent with `blockOwnerDeletion` is left.
fn release_foreground(store: &mut Store, owner: &Key) {
    let Some(obj) = store.get(owner) else {
        return;
    };
    if !waiting_for_dependents(obj) {
        return;
    }
    let uid = meta_str(obj, "uid").to_string();
    let blocked = store.all().any(|(_, dependent)| {
        owner_refs(dependent)
            .iter()
            .any(|r| r["uid"] == uid.as_str() && r["blockOwnerDeletion"] == true)
    });
    if !blocked {
        drop_finalizer(store, owner, FOREGROUND);
    }
}

/// The collector removing its finalizer; the last one gone completes the deletion.
fn drop_finalizer(store: &mut Store, key: &Key, finalizer: &str) {
    let (Some(mut obj), Some(rt)) = (store.get(key).cloned(), type_of(store, key)) else {
        return;
    };
    let left: Vec<String> = finalizers(&obj)
        .into_iter()
        .filter(|f| f != finalizer)
        .collect();
    if left.is_empty() {
        meta_mut(&mut obj).remove("finalizers");
    } else {
        meta_mut(&mut obj).insert("finalizers".into(), json!(left));
    }
    let revision = store.next_revision();
    meta_mut(&mut obj).insert("resourceVersion".into(), json!(revision.to_string()));
    if left.is_empty() && deleting(&obj) {
        let now = meta_str(&obj, "deletionTimestamp").to_string();
        remove(store, &rt, key, obj, &now);
    } else {
        store.put(key.clone(), obj);
    }
}

/// Deletes everything in a terminating namespace (the namespace controller's job).
fn empty_namespace(store: &mut Store, namespace: &str, now: &str) {
    let contents: Vec<Key> = store
        .all()
        .filter(|(k, _)| k.namespace == namespace)
        .map(|(k, _)| k.clone())
        .collect();
    for key in contents {
        if let Some(rt) = type_of(store, &key) {
            let options = DeleteOptions {
                now: now.to_string(),
                ..DeleteOptions::default()
            };
            let _ = delete(store, &rt, &key.namespace, &key.name, &options);
        }
    }
}

/// Removes a terminating namespace once nothing is left in it (its `kubernetes` finalizer,
/// in `spec`, is the namespace controller's to drop), or says what is left in its conditions.
fn finish_namespace(store: &mut Store, namespace: &str) {
    let ns_type = store
        .find_type("", "v1", "namespaces")
        .expect("namespaces are built in");
    let key = Key::new(&ns_type, "", namespace);
    let Some(ns) = store.get(&key).cloned() else {
        return;
    };
    if !deleting(&ns) {
        return;
    }
    let left: Vec<Value> = store
        .all()
        .filter(|(k, _)| k.namespace == namespace)
        .map(|(_, v)| v.clone())
        .collect();
    if !left.is_empty() {
        let held: Vec<String> = left.iter().flat_map(finalizers).collect();
        let mut conditions = vec![json!({
            "type": "NamespaceContentRemaining", "status": "True",
            "reason": "SomeResourcesRemain",
            "message": format!("Some resources are remaining: {} resource instances", left.len()),
        })];
        if !held.is_empty() {
            let mut names = held.clone();
            names.sort();
            names.dedup();
            conditions.push(json!({
                "type": "NamespaceFinalizersRemaining", "status": "True",
                "reason": "SomeFinalizersRemain",
                "message": format!("Some content in the namespace has finalizers remaining: {}", names.join(", ")),
            }));
        }
        if ns["status"]["conditions"] != json!(conditions) {
            let mut ns = ns;
            ns["status"]["conditions"] = json!(conditions);
            put(store, &key, ns);
        }
        return;
    }
    let mut ns = ns;
    let controller_done = ns["spec"]["finalizers"]
        .as_array()
        .is_none_or(Vec::is_empty);
    ns["spec"]["finalizers"] = json!([]);
    if finalizers(&ns).is_empty() {
        let revision = store.next_revision();
        meta_mut(&mut ns).insert("resourceVersion".into(), json!(revision.to_string()));
        store.remove(&key, ns);
    } else if !controller_done {
        put(store, &key, ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> ApiResult<DeleteOptions> {
        DeleteOptions::parse(Some(&body), |_| None, "now".into())
    }

    #[test]
    fn options_are_checked_as_the_api_server_does() {
        let err = parse(json!({"propagationPolicy": "Later"})).err().unwrap();
        assert_eq!(
            err.message,
            "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"Later\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
        );
        assert!(parse(json!({"propagationPolicy": "Orphan", "orphanDependents": true})).is_err());
        let query = DeleteOptions::parse(
            None,
            |name| (name == "propagationPolicy").then(|| "Foreground".into()),
            "now".into(),
        )
        .unwrap();
        assert_eq!(query.propagation, Some(Propagation::Foreground));
    }

    #[test]
    fn the_policy_follows_options_then_existing_finalizers() {
        let none = parse(json!({})).unwrap();
        assert_eq!(none.policy(&[]), Propagation::Background);
        assert_eq!(none.policy(&[FOREGROUND.into()]), Propagation::Foreground);
        let orphan = parse(json!({"orphanDependents": true})).unwrap();
        assert_eq!(orphan.policy(&[FOREGROUND.into()]), Propagation::Orphan);
        let background = parse(json!({"propagationPolicy": "Background"})).unwrap();
        assert_eq!(background.policy(&[ORPHAN.into()]), Propagation::Background);
    }

    #[test]
    fn only_an_object_being_deleted_refuses_new_finalizers() {
        let live = json!({"metadata": {"finalizers": ["a"]}});
        let more = json!({"metadata": {"finalizers": ["a", "b"]}});
        assert!(new_finalizers(&live, &more).is_empty());
        let going = json!({"metadata": {"finalizers": ["a"], "deletionTimestamp": "t"}});
        assert_eq!(new_finalizers(&going, &more), ["b"]);
        assert!(new_finalizers(&going, &json!({"metadata": {}})).is_empty());
    }
}

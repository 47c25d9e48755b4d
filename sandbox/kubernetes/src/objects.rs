//! The write verbs on stored objects (create, update, patch, apply, delete) with the API
//! server's metadata rules: uid, generation, resourceVersion, finalizers, status subresource,
//! admission against CRD schemas, and owner-reference garbage collection.

use crate::apply::{self, Writer};
use crate::crd;
use crate::deletion;
use crate::events;
use crate::limits;
use crate::patch;
use crate::resource::{self, ResourceType};
use crate::status::{ApiError, ApiResult, Cause, qualified};
use crate::store::{Key, Store};
use base64::Engine;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The patch formats custom resources take.
pub const PATCH_TYPES: &str =
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";

/// `fieldValidation`: what to do with fields the schema does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

/// Per-request options of a write.
#[derive(Clone)]
pub struct WriteContext {
    pub dry_run: bool,
    pub validation: FieldValidation,
    pub manager: String,
    pub now: String,
    /// `true` for writes to the `/status` subresource.
    pub status: bool,
}

/// The object as stored (or, with dry run, as it would be) and the warnings to send.
pub struct Written {
    pub object: Value,
    pub warnings: Vec<String>,
    pub created: bool,
}

/// Which patch format a `PATCH` carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply { force: bool },
}

fn list_keys(rt: &ResourceType) -> impl Fn(&[String]) -> Option<Vec<String>> + '_ {
    move |fields: &[String]| match &rt.schema {
        Some(schema) => schema.list_keys(fields),
        None => apply::builtin_list_keys(fields),
    }
}

pub(crate) fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

pub(crate) fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .expect("just made an object")
}

fn new_uid() -> String {
    let bytes: [u8; 16] = rand::random();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

fn random_suffix() -> String {
    // The API server's alphabet for generated names (no vowels, no look-alikes).
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn valid_name(name: &str) -> bool {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    name.len() <= 253 && name.split('.').all(label_ok)
}

/// Sets `apiVersion`/`kind` to the type's, refusing a body of another kind.
fn check_type(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be an object",
        ));
    }
    let kind = obj["kind"].as_str().unwrap_or_default();
    if !kind.is_empty() && kind != rt.kind {
        return Err(ApiError::bad_request(format!(
            "the kind of the object ({kind}) does not match the kind of the request ({})",
            rt.kind
        )));
    }
    let api_version = obj["apiVersion"].as_str().unwrap_or_default();
    if !api_version.is_empty() && api_version != rt.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            rt.api_version()
        )));
    }
    obj["kind"] = json!(rt.kind);
    obj["apiVersion"] = json!(rt.api_version());
    Ok(())
}

fn check_namespace(rt: &ResourceType, namespace: &str, obj: &mut Value) -> ApiResult<()> {
    if !rt.namespaced {
        meta_mut(obj).remove("namespace");
        return Ok(());
    }
    let given = meta_str(obj, "namespace");
    if !given.is_empty() && given != namespace {
        return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        ));
    }
    meta_mut(obj).insert("namespace".into(), json!(namespace));
    Ok(())
}

fn namespace_open(store: &Store, rt: &ResourceType, namespace: &str) -> ApiResult<()> {
    if !rt.namespaced {
        return Ok(());
    }
    let ns_type = store
        .find_type("", "v1", "namespaces")
        .expect("namespaces are built in");
    match store.get(&Key::new(&ns_type, "", namespace)) {
        None => Err(ApiError::not_found("", "namespaces", namespace)),
        Some(ns) if !ns["metadata"]["deletionTimestamp"].is_null() => Err(ApiError::new(
            403,
            "Forbidden",
            format!(
                "{} is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                qualified(&rt.group, &rt.plural)
            ),
        )),
        Some(_) => Ok(()),
    }
}

/// `fieldValidation=Strict` refusing unknown fields, worded like the API server's decoder.
fn strict_decoding_error(rt: &ResourceType, pruned: &[String]) -> ApiError {
    let unknown: Vec<String> = pruned
        .iter()
        .map(|p| format!("unknown field \"{p}\""))
        .collect();
    ApiError::bad_request(format!(
        "{} in version \"{}\" cannot be handled as a {}: strict decoding error: {}",
        rt.kind,
        rt.version,
        rt.kind,
        unknown.join(", ")
    ))
}

/// Type-specific admission: CRD schemas (prune, default, validate), CRD definitions, Secrets.
fn admit(
    rt: &ResourceType,
    old: Option<&Value>,
    obj: &mut Value,
    ctx: &WriteContext,
) -> ApiResult<Vec<String>> {
    let name = meta_str(obj, "name").to_string();
    let mut warnings = Vec::new();
    if let Some(schema) = &rt.schema {
        let pruned = schema.prune(obj);
        if !pruned.is_empty() {
            let unknown: Vec<String> = pruned
                .iter()
                .map(|p| format!("unknown field \"{p}\""))
                .collect();
            match ctx.validation {
                FieldValidation::Strict => return Err(strict_decoding_error(rt, &pruned)),
                FieldValidation::Warn => warnings.extend(unknown),
                FieldValidation::Ignore => {}
            }
        }
        schema.apply_defaults(obj);
        let causes = if ctx.status {
            schema.validate_status(obj, old)
        } else {
            schema.validate(obj, old)
        };
        if !causes.is_empty() {
            return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
        }
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("apiextensions.k8s.io", "customresourcedefinitions") if !ctx.status => {
            crd::apply_defaults(obj);
            if let Err(causes) = crd::served_types(obj) {
                return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
            }
            obj["status"] = crd::accepted_status(old.unwrap_or(obj), &ctx.now);
        }
        ("", "secrets") => {
            // stringData is write-only: the API server folds it into data.
            if let Some(Value::Object(strings)) =
                obj.as_object_mut().and_then(|o| o.remove("stringData"))
            {
                let data = obj["data"].as_object().cloned().unwrap_or_default();
                let mut data = data;
                for (key, value) in strings {
                    let text = value.as_str().unwrap_or_default();
                    data.insert(
                        key,
                        json!(base64::engine::general_purpose::STANDARD.encode(text)),
                    );
                }
                obj["data"] = Value::Object(data);
            }
            if obj["type"].as_str().is_none_or(str::is_empty) {
                obj["type"] = json!("Opaque");
            }
        }
        ("", "namespaces") if obj["status"]["phase"].is_null() => {
            obj["status"] = json!({"phase": "Active"});
            // The namespace controller's finalizer, which it removes once the namespace is empty.
            if old.is_none() && obj["spec"]["finalizers"].is_null() {
                obj["spec"]["finalizers"] = json!(["kubernetes"]);
            }
            meta_mut(obj)
                .entry("labels")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .map(|l| l.insert("kubernetes.io/metadata.name".into(), json!(name)));
        }
        _ => {}
    }
    let mut causes = limits::annotation_causes(obj);
    causes.extend(limits::data_causes(rt, obj));
    if !causes.is_empty() {
        return Err(ApiError::invalid(&rt.group, &rt.kind, &name, causes));
    }
    Ok(warnings)
}

/// etcd's limit on one write; like kube-apiserver, a write over it is retried without
/// `managedFields` (which can be large) before it is refused.
fn fit_in_storage(rt: &ResourceType, obj: &mut Value) -> ApiResult<()> {
    if limits::stored_size(rt, obj) <= limits::MAX_STORED {
        return Ok(());
    }
    meta_mut(obj).remove("managedFields");
    if limits::stored_size(rt, obj) <= limits::MAX_STORED {
        Ok(())
    } else {
        Err(limits::stored_too_large())
    }
}

/// Whether two states of an object are the same but for what the server rewrites on every
/// write (the resourceVersion, the time of each managedFields entry): a write from one to the
/// other changes nothing. Compared in place, the objects are large and writes many.
fn unchanged(old: &Value, new: &Value) -> bool {
    let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
        return old == new;
    };
    if !same_except(old, new, &["metadata"]) {
        return false;
    }
    let (old, new) = match (old.get("metadata"), new.get("metadata")) {
        (Some(Value::Object(old)), Some(Value::Object(new))) => (old, new),
        (old, new) => return old == new,
    };
    if !same_except(old, new, &["resourceVersion", "managedFields"]) {
        return false;
    }
    // Ownership changes count, the time of a repeated write does not.
    match (old.get("managedFields"), new.get("managedFields")) {
        (Some(Value::Array(old)), Some(Value::Array(new))) => {
            old.len() == new.len()
                && old.iter().zip(new).all(|entries| match entries {
                    (Value::Object(old), Value::Object(new)) => same_except(old, new, &["time"]),
                    (old, new) => old == new,
                })
        }
        (old, new) => old == new,
    }
}

/// Whether two maps agree on every field but `skipped`.
fn same_except(a: &Map<String, Value>, b: &Map<String, Value>, skipped: &[&str]) -> bool {
    let kept = |m: &Map<String, Value>| m.keys().filter(|k| !skipped.contains(&k.as_str())).count();
    kept(a) == kept(b)
        && a.iter()
            .filter(|(k, _)| !skipped.contains(&k.as_str()))
            .all(|(k, v)| b.get(k) == Some(v))
}

/// Whether a change touches more than metadata and status (which bumps `generation`).
fn spec_changed(old: &Value, new: &Value) -> bool {
    match (old.as_object(), new.as_object()) {
        (Some(old), Some(new)) => !same_except(old, new, &["metadata", "status"]),
        _ => old != new,
    }
}

fn writer<'a>(rt_version: &'a str, ctx: &'a WriteContext) -> Writer<'a> {
    Writer {
        manager: &ctx.manager,
        subresource: if ctx.status { "status" } else { "" },
        api_version: rt_version,
        now: &ctx.now,
    }
}

/// `POST` to a collection.
pub fn create(
    store: &mut Store,
    rt: &Arc<ResourceType>,
    namespace: &str,
    mut obj: Value,
    ctx: &WriteContext,
) -> ApiResult<Written> {
    check_type(rt, &mut obj)?;
    let (rt, mut obj) = stored_form(store, rt, obj);
    let rt = &rt;
    check_namespace(rt, namespace, &mut obj)?;
    let mut name = meta_str(&obj, "name").to_string();
    if name.is_empty() {
        let prefix = meta_str(&obj, "generateName");
        if prefix.is_empty() {
            return Err(ApiError::invalid(
                &rt.group,
                &rt.kind,
                "",
                vec![Cause::new(
                    "FieldValueRequired",
                    "metadata.name",
                    "Required value: name or generateName is required",
                )],
            ));
        }
        name = format!("{prefix}{}", random_suffix());
        meta_mut(&mut obj).insert("name".into(), json!(name));
    }
    let version = rt.api_version();
    let keys = list_keys(rt);
    apply::record_update(
        None,
        &mut obj,
        &writer(&version, ctx),
        &keys,
        !rt.status_subresource,
    );
    insert(store, rt, namespace, &name, obj, ctx)
}

/// Stores a new object: admission, server-set metadata, and the `AlreadyExists` check.
fn insert(
    store: &mut Store,
    rt: &Arc<ResourceType>,
    namespace: &str,
    name: &str,
    mut obj: Value,
    ctx: &WriteContext,
) -> ApiResult<Written> {
    if !valid_name(name) {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            name,
            vec![Cause::new(
                "FieldValueInvalid",
                "metadata.name",
                format!(
                    "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
                ),
            )],
        ));
    }
    namespace_open(store, rt, namespace)?;
    let key = Key::new(rt, namespace, name);
    if store.get(&key).is_some() {
        return Err(ApiError::already_exists(&rt.group, &rt.plural, name));
    }
    if rt.status_subresource && rt.custom {
        // A new custom object starts without status; only /status writes it.
        if let Some(map) = obj.as_object_mut() {
            map.remove("status");
        }
    }
    let warnings = admit(rt, None, &mut obj, ctx)?;
    let meta = meta_mut(&mut obj);
    meta.remove("deletionTimestamp");
    meta.remove("deletionGracePeriodSeconds");
    meta.insert("uid".into(), json!(new_uid()));
    meta.insert("creationTimestamp".into(), json!(ctx.now));
    meta.insert("generation".into(), json!(1));
    if ctx.dry_run {
        meta.insert("resourceVersion".into(), json!(""));
        return Ok(Written {
            object: obj,
            warnings,
            created: true,
        });
    }
    fit_in_storage(rt, &mut obj)?;
    let revision = store.next_revision();
    meta_mut(&mut obj).insert("resourceVersion".into(), json!(revision.to_string()));
    store.put(key, obj.clone());
    after_write(store, rt);
    Ok(Written {
        object: obj,
        warnings,
        created: true,
    })
}

/// Replaces a stored object with `new` (already merged from the request): the common tail of
/// update, patch and apply.
fn replace(
    store: &mut Store,
    rt: &Arc<ResourceType>,
    old: &Value,
    mut new: Value,
    ctx: &WriteContext,
) -> ApiResult<Written> {
    let name = meta_str(old, "name").to_string();
    let namespace = meta_str(old, "namespace").to_string();
    let wanted = meta_str(&new, "resourceVersion");
    if !wanted.is_empty() && wanted != meta_str(old, "resourceVersion") {
        return Err(ApiError::conflict(
            &rt.group,
            &rt.plural,
            &name,
            "the object has been modified; please apply your changes to the latest version and try again",
        ));
    }
    if meta_str(&new, "name") != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta_str(&new, "name")
        )));
    }
    check_type(rt, &mut new)?;
    if rt.namespaced {
        meta_mut(&mut new).insert("namespace".into(), json!(namespace));
    }
    if rt.status_subresource {
        // Each half of the object is written only through its own endpoint.
        let mut merged = if ctx.status { old.clone() } else { new.clone() };
        let status = if ctx.status {
            new["status"].clone()
        } else {
            old["status"].clone()
        };
        match merged.as_object_mut() {
            Some(map) if status.is_null() => {
                map.remove("status");
            }
            Some(map) => {
                map.insert("status".into(), status);
            }
            None => {}
        }
        if ctx.status {
            merged["metadata"]["managedFields"] = new["metadata"]["managedFields"].clone();
        }
        new = merged;
    }
    let added = deletion::new_finalizers(old, &new);
    if !added.is_empty() {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            &name,
            vec![Cause::new(
                "FieldValueForbidden",
                "metadata.finalizers",
                format!(
                    "Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{{{}}}",
                    added
                        .iter()
                        .map(|f| format!("{f:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )],
        ));
    }
    let warnings = admit(rt, Some(old), &mut new, ctx)?;
    {
        let meta = meta_mut(&mut new);
        for kept in [
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ] {
            match old["metadata"].get(kept) {
                Some(v) => meta.insert(kept.into(), v.clone()),
                None => meta.remove(kept),
            };
        }
        if meta.get("managedFields").is_none_or(Value::is_null) {
            meta.remove("managedFields");
        }
    }
    if unchanged(old, &new) {
        // A write that changes nothing does not move the resourceVersion or wake watches.
        return Ok(Written {
            object: old.clone(),
            warnings,
            created: false,
        });
    }
    if spec_changed(old, &new) {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(0) + 1;
        meta_mut(&mut new).insert("generation".into(), json!(generation));
    }
    if ctx.dry_run {
        return Ok(Written {
            object: new,
            warnings,
            created: false,
        });
    }
    fit_in_storage(rt, &mut new)?;
    let revision = store.next_revision();
    meta_mut(&mut new).insert("resourceVersion".into(), json!(revision.to_string()));
    let key = Key::new(rt, &namespace, &name);
    let finished = !new["metadata"]["deletionTimestamp"].is_null()
        && new["metadata"]["finalizers"]
            .as_array()
            .is_none_or(Vec::is_empty);
    if finished {
        // The last finalizer is gone: the pending delete completes now.
        deletion::remove(store, rt, &key, new.clone(), &ctx.now);
    } else {
        store.put(key, new.clone());
        after_write(store, rt);
    }
    Ok(Written {
        object: new,
        warnings,
        created: false,
    })
}

pub(crate) fn existing(
    store: &Store,
    rt: &ResourceType,
    namespace: &str,
    name: &str,
) -> ApiResult<Value> {
    store
        .get(&Key::new(rt, namespace, name))
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))
}

/// `PUT` of an object (or of its `/status`).
pub fn update(
    store: &mut Store,
    rt: &Arc<ResourceType>,
    namespace: &str,
    name: &str,
    mut obj: Value,
    ctx: &WriteContext,
) -> ApiResult<Written> {
    check_type(rt, &mut obj)?;
    let (rt, mut obj) = stored_form(store, rt, obj);
    let rt = &rt;
    let old = existing(store, rt, namespace, name)?;
    if rt.custom && meta_str(&obj, "resourceVersion").is_empty() {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            name,
            vec![Cause::new(
                "FieldValueInvalid",
                "metadata.resourceVersion",
                "Invalid value: 0x0: must be specified for an update",
            )],
        ));
    }
    let version = rt.api_version();
    let keys = list_keys(rt);
    if obj["metadata"]["managedFields"].is_null() {
        obj["metadata"]["managedFields"] = old["metadata"]["managedFields"].clone();
    }
    apply::record_update(
        Some(&old),
        &mut obj,
        &writer(&version, ctx),
        &keys,
        ctx.status || !rt.status_subresource,
    );
    replace(store, rt, &old, obj, ctx)
}

/// `PATCH` of an object (or of its `/status`); server-side apply may create it.
pub fn patch(
    store: &mut Store,
    rt: &Arc<ResourceType>,
    namespace: &str,
    name: &str,
    kind: PatchKind,
    body: &Value,
    ctx: &WriteContext,
) -> ApiResult<Written> {
    // Shared with the store, not copied: the patch works on `served`, its own copy.
    let current = store.get_shared(&Key::new(rt, namespace, name));
    // Patches apply to the object as the request's API serves it.
    let served = current.as_deref().map(|c| at_version(rt, c.clone()));
    let version = rt.api_version();
    let keys = list_keys(rt);
    let with_status = ctx.status || !rt.status_subresource;
    if let PatchKind::Apply { force } = kind {
        let mut config = body.clone();
        check_type(rt, &mut config)?;
        // The API server checks the name of the merged object: a configuration that names no
        // object applies to the existing one on the URL (kube-lease-manager sends such), but
        // cannot create one.
        if meta_str(&config, "name").is_empty() && current.is_some() && config.is_object() {
            meta_mut(&mut config).insert("name".into(), json!(name));
        }
        if meta_str(&config, "name") != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&config, "name")
            )));
        }
        let Some(config_map) = config.as_object_mut() else {
            return Err(ApiError::bad_request(
                "apply configuration must be an object",
            ));
        };
        if !with_status {
            config_map.remove("status");
        }
        let mut warnings = Vec::new();
        if let Some(schema) = &rt.schema {
            // Unknown fields are refused or dropped before anyone can own them.
            let pruned = schema.prune(&mut config);
            match ctx.validation {
                _ if pruned.is_empty() => {}
                FieldValidation::Strict => return Err(strict_decoding_error(rt, &pruned)),
                FieldValidation::Warn => {
                    warnings.extend(pruned.iter().map(|p| format!("unknown field \"{p}\"")))
                }
                FieldValidation::Ignore => {}
            }
        }
        let merged = apply::apply(
            served,
            &config,
            &writer(&version, ctx),
            force,
            &keys,
            with_status,
        )
        .map_err(|conflicts| {
            let mut err = ApiError::new(409, "Conflict", apply::conflict_message(&conflicts));
            err.details = Some(json!({
                "name": name, "group": rt.group, "kind": rt.plural,
                "causes": conflicts.iter().map(|c| json!({
                    "reason": "FieldManagerConflict",
                    "message": format!("conflict with \"{}\" using {}", c.manager, c.api_version),
                    "field": c.field,
                })).collect::<Vec<_>>(),
            }));
            err
        })?;
        let (stored_rt, merged) = stored_form(store, rt, merged);
        let written = match current {
            Some(old) => replace(store, &stored_rt, &old, merged, ctx),
            None if ctx.status => Err(ApiError::not_found(&rt.group, &rt.plural, name)),
            None => {
                let mut obj = merged;
                check_namespace(&stored_rt, namespace, &mut obj)?;
                insert(store, &stored_rt, namespace, name, obj, ctx)
            }
        };
        return written.map(|mut w| {
            w.warnings.splice(0..0, warnings);
            w
        });
    }
    let (Some(old), Some(served)) = (current, served) else {
        return Err(ApiError::not_found(&rt.group, &rt.plural, name));
    };
    let mut new = served.clone();
    match kind {
        PatchKind::Merge => patch::merge_patch(&mut new, body),
        PatchKind::Json => patch::json_patch(&mut new, body).map_err(|e| {
            ApiError::new(
                422,
                "Invalid",
                format!("the server rejected our request due to an error in our request: {e}"),
            )
        })?,
        PatchKind::Strategic if rt.custom => {
            return Err(ApiError::unsupported_media_type(
                "application/strategic-merge-patch+json",
                PATCH_TYPES,
            ));
        }
        PatchKind::Strategic => patch::strategic_merge_patch(&mut new, body),
        PatchKind::Apply { .. } => unreachable!("handled above"),
    }
    // A patch may carry a precondition; without one it applies to whatever is stored.
    if body["metadata"]["resourceVersion"].is_null() {
        meta_mut(&mut new).insert(
            "resourceVersion".into(),
            old["metadata"]["resourceVersion"].clone(),
        );
    }
    apply::record_update(
        Some(&served),
        &mut new,
        &writer(&version, ctx),
        &keys,
        with_status,
    );
    let (stored_rt, new) = stored_form(store, rt, new);
    replace(store, &stored_rt, &old, new, ctx)
}

/// After a CRD write, the served types follow the stored CRDs.
fn after_write(store: &mut Store, rt: &ResourceType) {
    if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
        refresh_types(store);
    }
}

/// Built-ins plus the types of every stored CRD.
pub fn refresh_types(store: &mut Store) {
    let mut types = resource::builtins();
    let crds: Vec<Value> = store
        .list("apiextensions.k8s.io", "customresourcedefinitions", None)
        .into_iter()
        .map(|(_, v)| v.clone())
        .filter(|v| v["metadata"]["deletionTimestamp"].is_null())
        .collect();
    for crd in crds {
        if let Ok(served) = crd::served_types(&crd) {
            types.extend(served.into_iter().map(Arc::new));
        }
    }
    store.set_types(types);
}

/// A stored object as served at `rt`'s version (objects of a CRD are shared by its versions).
pub fn at_version(rt: &ResourceType, mut obj: Value) -> Value {
    if rt.storage_group() != rt.group {
        return events::to_events_v1(obj);
    }
    obj["apiVersion"] = json!(rt.api_version());
    obj
}

/// A stored object as served at its type's version, written out as [`at_version`] makes it
/// but without copying it (for lists and watches, which write many).
pub struct Served<'a> {
    fields: &'a Map<String, Value>,
    api_version: &'a str,
}

impl<'a> Served<'a> {
    /// `obj` served at `api_version` (`rt.api_version()`); `None` where serving takes more than
    /// setting the apiVersion (`events.k8s.io` Events), which [`at_version`] does.
    pub fn of(rt: &ResourceType, api_version: &'a str, obj: &'a Value) -> Option<Self> {
        let fields = obj
            .as_object()
            .filter(|o| rt.storage_group() == rt.group && o.contains_key("apiVersion"))?;
        Some(Self {
            fields,
            api_version,
        })
    }
}

impl serde::Serialize for Served<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (key, value) in self.fields {
            if key == "apiVersion" {
                map.serialize_entry(key, self.api_version)?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// The type and body a write stores: `events.k8s.io` Events are kept as core Events.
fn stored_form(store: &Store, rt: &Arc<ResourceType>, obj: Value) -> (Arc<ResourceType>, Value) {
    if rt.storage_group() == rt.group {
        return (rt.clone(), obj);
    }
    let core = store
        .find_type("", "v1", &rt.plural)
        .expect("core events are built in");
    (core, events::to_core_v1(obj))
}

/// Seeds a fresh store with the namespaces every cluster has.
pub fn seed(store: &mut Store, now: &str) {
    let ns_type = store
        .find_type("", "v1", "namespaces")
        .expect("namespaces are built in");
    for ns in resource::initial_namespaces() {
        let ctx = WriteContext {
            dry_run: false,
            validation: FieldValidation::Ignore,
            manager: "kube-apiserver".into(),
            now: now.into(),
            status: false,
        };
        create(store, &ns_type, "", ns, &ctx).expect("seed namespaces are valid");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(rv: &str, time: &str, data: &str) -> Value {
        json!({
            "metadata": {"name": "c", "resourceVersion": rv, "managedFields": [
                {"manager": "a", "operation": "Update", "time": time, "fieldsV1": {"f:data": {}}},
            ]},
            "data": {"k": data},
        })
    }

    #[test]
    fn a_write_that_moves_only_the_resource_version_and_times_changes_nothing() {
        let old = object("1", "2026-01-01T00:00:00Z", "v");
        assert!(unchanged(&old, &object("2", "2026-01-02T00:00:00Z", "v")));
        assert!(!unchanged(&old, &object("1", "2026-01-01T00:00:00Z", "w")));
        let mut owner = old.clone();
        owner["metadata"]["managedFields"][0]["manager"] = json!("b");
        assert!(!unchanged(&old, &owner), "ownership changes count");
        let mut labeled = old.clone();
        labeled["metadata"]["labels"] = json!({"x": "y"});
        assert!(!unchanged(&old, &labeled));
        assert!(!unchanged(
            &json!({"a": 1}),
            &json!({"a": 1, "metadata": {}})
        ));
    }

    #[test]
    fn only_changes_outside_metadata_and_status_move_the_generation() {
        let old = json!({"metadata": {"name": "c"}, "spec": {"n": 1}});
        let status =
            json!({"metadata": {"name": "c", "labels": {}}, "spec": {"n": 1}, "status": {}});
        assert!(!spec_changed(&old, &status));
        assert!(spec_changed(
            &old,
            &json!({"metadata": {"name": "c"}, "spec": {"n": 2}})
        ));
        assert!(spec_changed(
            &old,
            &json!({"metadata": {"name": "c"}, "spec": {"n": 1}, "data": {}})
        ));
    }
}

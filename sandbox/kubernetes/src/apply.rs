//! Server-side apply: `managedFields` tracking per manager, conflicts, and removal of the
//! fields a manager stops applying.
//!
//! Field sets use the `FieldsV1` vocabulary: `f:<field>` for a map field, `k:{"name":"x"}` for
//! an element of a keyed list, `v:<json>` for an element of a set, and `.` for "this element".

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

/// Merge keys of the list at a field path (from the object root): `Some(keys)` for a keyed
/// list, `Some([])` for a set, `None` for an atomic list.
pub type ListKeys<'a> = &'a dyn Fn(&[String]) -> Option<Vec<String>>;

type Path = Vec<String>;
pub type FieldSet = BTreeSet<Path>;

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    subresource: String,
    api_version: String,
    time: String,
    fields: FieldSet,
}

/// Metadata fields a manager can own; the rest the server sets.
const OWNED_METADATA: [&str; 4] = ["labels", "annotations", "finalizers", "ownerReferences"];

/// The fields `value` sets. `status` is included only when `with_status`.
pub fn fields_of(value: &Value, keys: ListKeys, with_status: bool) -> FieldSet {
    let mut out = FieldSet::new();
    if let Value::Object(map) = value {
        for (field, child) in map {
            match field.as_str() {
                "apiVersion" | "kind" => {}
                "status" if !with_status => {}
                "metadata" => {
                    for meta in OWNED_METADATA {
                        if let Some(v) = child.get(meta) {
                            let mut path = vec!["f:metadata".to_string(), format!("f:{meta}")];
                            collect(
                                v,
                                &mut vec!["metadata".into(), meta.into()],
                                &mut path,
                                keys,
                                &mut out,
                            );
                        }
                    }
                }
                _ => collect(
                    child,
                    &mut vec![field.clone()],
                    &mut vec![format!("f:{field}")],
                    keys,
                    &mut out,
                ),
            }
        }
    }
    out
}

fn element_key(item: &Value, keys: &[String]) -> Option<String> {
    let mut key = Map::new();
    for k in keys {
        key.insert(k.clone(), item.get(k)?.clone());
    }
    Some(format!("k:{}", Value::Object(key)))
}

fn collect(
    value: &Value,
    fields: &mut Vec<String>,
    path: &mut Path,
    keys: ListKeys,
    out: &mut FieldSet,
) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (field, child) in map {
                fields.push(field.clone());
                path.push(format!("f:{field}"));
                collect(child, fields, path, keys, out);
                path.pop();
                fields.pop();
            }
        }
        Value::Array(items) => match keys(fields) {
            Some(list_keys) if list_keys.is_empty() => {
                for item in items {
                    let mut p = path.clone();
                    p.push(format!("v:{item}"));
                    out.insert(p);
                }
            }
            Some(list_keys) if items.iter().all(|i| element_key(i, &list_keys).is_some()) => {
                for item in items {
                    path.push(element_key(item, &list_keys).unwrap_or_default());
                    let mut marker = path.clone();
                    marker.push(".".into());
                    out.insert(marker);
                    if let Value::Object(map) = item {
                        for (field, child) in map {
                            fields.push(field.clone());
                            path.push(format!("f:{field}"));
                            collect(child, fields, path, keys, out);
                            path.pop();
                            fields.pop();
                        }
                    }
                    path.pop();
                }
            }
            _ => {
                out.insert(path.clone());
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

/// The `FieldsV1` tree of a set.
pub fn to_tree(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for segment in path {
            node = node
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .expect("field set nodes are objects");
        }
    }
    Value::Object(root)
}

/// The set a `FieldsV1` tree describes.
pub fn from_tree(tree: &Value) -> FieldSet {
    fn walk(node: &Map<String, Value>, path: &mut Path, out: &mut FieldSet) {
        for (segment, child) in node {
            path.push(segment.clone());
            match child.as_object() {
                Some(map) if !map.is_empty() => walk(map, path, out),
                _ => {
                    out.insert(path.clone());
                }
            }
            path.pop();
        }
    }
    let mut out = FieldSet::new();
    if let Some(map) = tree.as_object() {
        walk(map, &mut Vec::new(), &mut out);
    }
    out
}

/// The value at a field-set path, if present.
fn value_at<'a>(value: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut current = value;
    for segment in path {
        if segment == "." {
            return Some(current);
        }
        current = step(current, segment)?;
    }
    Some(current)
}

/// Whether two objects agree at a path. For a list element itself (`.`) that means both have
/// it; what is in it is compared field by field.
fn same_at(a: &Value, b: &Value, path: &[String]) -> bool {
    if path.last().is_some_and(|s| s == ".") {
        value_at(a, path).is_some() == value_at(b, path).is_some()
    } else {
        value_at(a, path) == value_at(b, path)
    }
}

fn matches_element(item: &Value, segment: &str) -> bool {
    if let Some(key) = segment.strip_prefix("k:") {
        let Ok(Value::Object(key)) = serde_json::from_str::<Value>(key) else {
            return false;
        };
        key.iter().all(|(k, v)| item.get(k) == Some(v))
    } else if let Some(v) = segment.strip_prefix("v:") {
        serde_json::from_str::<Value>(v).is_ok_and(|v| &v == item)
    } else {
        false
    }
}

fn step<'a>(value: &'a Value, segment: &str) -> Option<&'a Value> {
    if let Some(field) = segment.strip_prefix("f:") {
        value.get(field)
    } else {
        value
            .as_array()?
            .iter()
            .find(|item| matches_element(item, segment))
    }
}

/// Removes the field (or list element) at `path`; empty parents it leaves are removed too.
fn remove_path(value: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    if last == "." {
        remove_path(value, parents);
        return;
    }
    let mut current = &mut *value;
    for segment in parents {
        let next = if let Some(field) = segment.strip_prefix("f:") {
            current.get_mut(field)
        } else {
            current
                .as_array_mut()
                .and_then(|items| items.iter_mut().find(|i| matches_element(i, segment)))
        };
        match next {
            Some(next) => current = next,
            None => return,
        }
    }
    if let Some(field) = last.strip_prefix("f:") {
        if let Some(map) = current.as_object_mut() {
            map.remove(field);
        }
    } else if let Some(items) = current.as_array_mut() {
        items.retain(|i| !matches_element(i, last));
    }
}

/// Merges an applied configuration into the live object: maps field by field, keyed lists
/// element by element, anything else replaced.
pub fn merge(live: &mut Value, config: &Value, fields: &mut Vec<String>, keys: ListKeys) {
    match (live, config) {
        (Value::Object(live), Value::Object(config)) => {
            for (field, value) in config {
                fields.push(field.clone());
                match live.get_mut(field) {
                    Some(existing) => merge(existing, value, fields, keys),
                    None => {
                        live.insert(field.clone(), value.clone());
                    }
                }
                fields.pop();
            }
        }
        (Value::Array(live), Value::Array(config)) => match keys(fields) {
            Some(list_keys) if list_keys.is_empty() => {
                for item in config {
                    if !live.contains(item) {
                        live.push(item.clone());
                    }
                }
            }
            Some(list_keys) => {
                for item in config {
                    let key = element_key(item, &list_keys);
                    let existing = key
                        .as_ref()
                        .and_then(|k| live.iter_mut().find(|l| matches_element(l, k)));
                    match existing {
                        Some(existing) => merge(existing, item, fields, keys),
                        None => live.push(item.clone()),
                    }
                }
            }
            None => *live = config.clone(),
        },
        (live, config) => *live = config.clone(),
    }
}

fn read_entries(object: &Value) -> Vec<Entry> {
    object["metadata"]["managedFields"]
        .as_array()
        .map(|entries| {
            entries
                .iter()
                .map(|e| Entry {
                    manager: e["manager"].as_str().unwrap_or_default().into(),
                    operation: e["operation"].as_str().unwrap_or("Update").into(),
                    subresource: e["subresource"].as_str().unwrap_or_default().into(),
                    api_version: e["apiVersion"].as_str().unwrap_or_default().into(),
                    time: e["time"].as_str().unwrap_or_default().into(),
                    fields: from_tree(&e["fieldsV1"]),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn write_entries(object: &mut Value, entries: Vec<Entry>) {
    let entries: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut entry = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_tree(&e.fields),
            });
            if !e.subresource.is_empty() {
                entry["subresource"] = json!(e.subresource);
            }
            entry
        })
        .collect();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        if entries.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(entries));
        }
    }
}

/// Who is writing, and how.
pub struct Writer<'a> {
    pub manager: &'a str,
    /// `""` for the main resource, `"status"` for the status subresource.
    pub subresource: &'a str,
    pub api_version: &'a str,
    pub now: &'a str,
}

/// A field another manager owns with a different value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub api_version: String,
    pub field: String,
}

/// `.spec.containers[name="bot"].image`: how conflicts name a field.
fn display(path: &[String]) -> String {
    let mut out = String::new();
    for segment in path {
        if let Some(field) = segment.strip_prefix("f:") {
            out.push('.');
            out.push_str(field);
        } else if let Some(key) = segment.strip_prefix("k:") {
            let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(key)
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = segment.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        }
    }
    out
}

/// Server-side apply of `config` onto `live` (`None`: the object is created). Returns the new
/// object with `managedFields` updated, or the conflicts when not forced.
pub fn apply(
    live: Option<Value>,
    config: &Value,
    writer: &Writer,
    force: bool,
    keys: ListKeys,
    with_status: bool,
) -> Result<Value, Vec<Conflict>> {
    // Taken, not borrowed: the result is the live object changed, and objects are large.
    let mut object = live.unwrap_or_else(|| json!({}));
    let applied = fields_of(config, keys, with_status);
    let mut entries = read_entries(&object);
    let is_mine = |e: &Entry| {
        e.manager == writer.manager && e.operation == "Apply" && e.subresource == writer.subresource
    };
    let previous = entries
        .iter()
        .find(|e| is_mine(e))
        .map(|e| e.fields.clone())
        .unwrap_or_default();

    let mut conflicts = Vec::new();
    for entry in entries
        .iter_mut()
        .filter(|e| !is_mine(e) && e.subresource == writer.subresource)
    {
        let contested: Vec<Path> = entry
            .fields
            .intersection(&applied)
            .filter(|p| !same_at(&object, config, p))
            .cloned()
            .collect();
        if force {
            for path in &contested {
                entry.fields.remove(path);
            }
        } else {
            conflicts.extend(contested.iter().map(|p| Conflict {
                manager: entry.manager.clone(),
                api_version: entry.api_version.clone(),
                field: display(p),
            }));
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }

    let others: FieldSet = entries
        .iter()
        .filter(|e| !is_mine(e))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    // Deepest first, so a dropped element goes after its own fields.
    let mut dropped: Vec<&Path> = previous
        .difference(&applied)
        .filter(|p| !others.contains(*p))
        .collect();
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for path in dropped {
        remove_path(&mut object, path);
    }
    merge(&mut object, config, &mut Vec::new(), keys);

    entries.retain(|e| !is_mine(e));
    entries.push(Entry {
        manager: writer.manager.into(),
        operation: "Apply".into(),
        subresource: writer.subresource.into(),
        api_version: writer.api_version.into(),
        time: writer.now.into(),
        fields: applied,
    });
    write_entries(&mut object, entries);
    Ok(object)
}

/// Records a non-apply write (create, update, patch): the manager takes the fields whose value
/// it changed; fields the write removed leave every manager.
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    writer: &Writer,
    keys: ListKeys,
    with_status: bool,
) {
    let empty = json!({});
    let old_object = old.unwrap_or(&empty);
    // A write that sets managedFields itself (kubectl does when it moves from client-side to
    // server-side apply) is taken as given.
    let given = &new["metadata"]["managedFields"];
    let mut entries = if given.is_array() && given != &old_object["metadata"]["managedFields"] {
        read_entries(new)
    } else {
        read_entries(old_object)
    };
    let before = fields_of(old_object, keys, with_status);
    let after = fields_of(new, keys, with_status);
    let changed: FieldSet = after
        .iter()
        .filter(|p| !before.contains(*p) || !same_at(old_object, new, p))
        .cloned()
        .collect();
    for entry in &mut entries {
        entry.fields.retain(|p| {
            after.contains(p) && (!changed.contains(p) || entry.subresource != writer.subresource)
        });
    }
    if !changed.is_empty() {
        let position = entries.iter().position(|e| {
            e.manager == writer.manager
                && e.operation == "Update"
                && e.subresource == writer.subresource
        });
        let entry = match position {
            Some(i) => &mut entries[i],
            None => {
                entries.push(Entry {
                    manager: writer.manager.into(),
                    operation: "Update".into(),
                    subresource: writer.subresource.into(),
                    api_version: writer.api_version.into(),
                    time: String::new(),
                    fields: FieldSet::new(),
                });
                entries.last_mut().expect("just pushed")
            }
        };
        entry.time = writer.now.into();
        entry.api_version = writer.api_version.into();
        entry.fields.extend(changed);
    }
    write_entries(new, entries);
}

/// List keys of built-in types (their strategic-merge keys); CRs take theirs from the schema.
pub fn builtin_list_keys(fields: &[String]) -> Option<Vec<String>> {
    let last = fields.last()?.as_str();
    let key = match last {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "ownerReferences" => "name",
        "volumeMounts" => "mountPath",
        "ports"
            if fields
                .iter()
                .any(|f| f == "containers" || f == "initContainers") =>
        {
            "containerPort"
        }
        "ports" => "port",
        "conditions" => "type",
        "finalizers" => return Some(Vec::new()),
        _ => return None,
    };
    Some(vec![if last == "ownerReferences" {
        "uid".into()
    } else {
        key.into()
    }])
}

/// Conflicts grouped per manager, worded like the API server.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    let mut by_manager: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for c in conflicts {
        by_manager
            .entry((&c.manager, &c.api_version))
            .or_default()
            .push(&c.field);
    }
    let count = conflicts.len();
    let plural = if count == 1 { "conflict" } else { "conflicts" };
    let parts: Vec<String> = by_manager
        .iter()
        .map(|((manager, version), fields)| {
            if fields.len() == 1 {
                format!("conflict with \"{manager}\" using {version}: {}", fields[0])
            } else {
                let listed: Vec<String> = fields.iter().map(|f| format!("- {f}")).collect();
                format!(
                    "conflicts with \"{manager}\" using {version}:\n{}",
                    listed.join("\n")
                )
            }
        })
        .collect();
    format!("Apply failed with {count} {plural}: {}", parts.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(fields: &[String]) -> Option<Vec<String>> {
        builtin_list_keys(fields)
    }

    fn writer(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            subresource: "",
            api_version: "apps/v1",
            now: "2026-01-01T00:00:00Z",
        }
    }

    fn deployment(replicas: Option<i64>, env: &[(&str, &str)]) -> Value {
        let mut spec = json!({"template": {"spec": {"containers": [{
            "name": "bot", "image": "bot:1",
            "env": env.iter().map(|(n, v)| json!({"name": n, "value": v})).collect::<Vec<_>>(),
        }]}}});
        if let Some(r) = replicas {
            spec["replicas"] = json!(r);
        }
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "1"}}, "spec": spec})
    }

    #[test]
    fn field_sets_round_trip_through_fields_v1() {
        let set = fields_of(&deployment(Some(2), &[("A", "1")]), &keys, false);
        assert!(set.contains(&vec!["f:spec".to_string(), "f:replicas".to_string()]));
        assert!(set.contains(&vec![
            "f:spec".into(),
            "f:template".into(),
            "f:spec".into(),
            "f:containers".into(),
            "k:{\"name\":\"bot\"}".into(),
            ".".into()
        ]));
        assert_eq!(from_tree(&to_tree(&set)), set);
    }

    #[test]
    fn reapplying_less_removes_what_the_manager_owned() {
        let first = apply(
            None,
            &deployment(Some(2), &[("A", "1"), ("B", "2")]),
            &writer("ci"),
            false,
            &keys,
            false,
        )
        .unwrap();
        let second = apply(
            Some(first.clone()),
            &deployment(None, &[("A", "1")]),
            &writer("ci"),
            false,
            &keys,
            false,
        )
        .unwrap();
        assert!(second["spec"].get("replicas").is_none());
        let env = &second["spec"]["template"]["spec"]["containers"][0]["env"];
        assert_eq!(env, &json!([{"name": "A", "value": "1"}]));
        assert_eq!(
            second["metadata"]["managedFields"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn a_changed_list_element_conflicts_on_its_field_only() {
        let first = apply(
            None,
            &deployment(None, &[]),
            &writer("ci"),
            false,
            &keys,
            false,
        )
        .unwrap();
        let mut config = deployment(None, &[]);
        config["spec"]["template"]["spec"]["containers"][0]["image"] = json!("bot:2");
        let err = apply(
            Some(first.clone()),
            &config,
            &writer("cd"),
            false,
            &keys,
            false,
        )
        .unwrap_err();
        let fields: Vec<&str> = err.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            [".spec.template.spec.containers[name=\"bot\"].image"]
        );
    }

    #[test]
    fn other_managers_conflict_unless_forced() {
        let first = apply(
            None,
            &deployment(Some(2), &[]),
            &writer("ci"),
            false,
            &keys,
            false,
        )
        .unwrap();
        let err = apply(
            Some(first.clone()),
            &deployment(Some(3), &[]),
            &writer("hpa"),
            false,
            &keys,
            false,
        )
        .unwrap_err();
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"ci\" using apps/v1: .spec.replicas"
        );
        // The same value is shared ownership, not a conflict.
        assert!(
            apply(
                Some(first.clone()),
                &deployment(Some(2), &[]),
                &writer("hpa"),
                false,
                &keys,
                false
            )
            .is_ok()
        );
        let forced = apply(
            Some(first.clone()),
            &deployment(Some(3), &[]),
            &writer("hpa"),
            true,
            &keys,
            false,
        )
        .unwrap();
        assert_eq!(forced["spec"]["replicas"], 3);
        // ci lost .spec.replicas: applying without it no longer removes it.
        let again = apply(
            Some(forced.clone()),
            &deployment(None, &[]),
            &writer("ci"),
            false,
            &keys,
            false,
        )
        .unwrap();
        assert_eq!(again["spec"]["replicas"], 3);
    }

    #[test]
    fn updates_take_ownership_of_changed_fields() {
        let first = apply(
            None,
            &deployment(Some(2), &[]),
            &writer("ci"),
            false,
            &keys,
            false,
        )
        .unwrap();
        let mut edited = first.clone();
        edited["spec"]["replicas"] = json!(5);
        record_update(
            Some(&first),
            &mut edited,
            &writer("kubectl-edit"),
            &keys,
            false,
        );
        let managers: Vec<&str> = edited["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].as_str().unwrap())
            .collect();
        assert_eq!(managers, vec!["ci", "kubectl-edit"]);
        let err = apply(
            Some(edited.clone()),
            &deployment(Some(2), &[]),
            &writer("ci"),
            false,
            &keys,
            false,
        )
        .unwrap_err();
        assert_eq!(err[0].manager, "kubectl-edit");
    }
}

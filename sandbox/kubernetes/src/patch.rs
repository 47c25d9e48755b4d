//! The patch formats of `PATCH`: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and, for
//! built-in types, strategic merge patch with the common list merge keys.

use crate::apply::builtin_list_keys;
use serde_json::{Map, Value};

/// RFC 7386: objects merge, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(patch) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let map = target.as_object_mut().expect("made an object above");
            for (key, value) in patch {
                if value.is_null() {
                    map.remove(key);
                } else {
                    merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// RFC 6901 pointer segments (`~1` is `/`, `~0` is `~`).
fn pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok(rest
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn parent<'a>(target: &'a mut Value, segments: &[String]) -> Result<&'a mut Value, String> {
    let mut current = target;
    for segment in segments {
        current = match current {
            Value::Object(map) => map.get_mut(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        }
        .ok_or_else(|| format!("doc is missing path: /{}", segments.join("/")))?;
    }
    Ok(current)
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let segments = pointer(path)?;
    let Some((last, parents)) = segments.split_last() else {
        *target = value;
        return Ok(());
    };
    match parent(target, parents)? {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(items) => {
            let index = if last == "-" {
                items.len()
            } else {
                last.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= items.len())
                    .ok_or_else(|| format!("invalid index {last:?} in {path}"))?
            };
            items.insert(index, value);
            Ok(())
        }
        _ => Err(format!("doc is missing path: {path}")),
    }
}

fn remove(target: &mut Value, path: &str) -> Result<Value, String> {
    let segments = pointer(path)?;
    let (last, parents) = segments
        .split_last()
        .ok_or("cannot remove the whole document")?;
    let missing = || format!("doc is missing key: {path}");
    match parent(target, parents)? {
        Value::Object(map) => map.remove(last).ok_or_else(missing),
        Value::Array(items) => {
            let index = last
                .parse::<usize>()
                .ok()
                .filter(|i| *i < items.len())
                .ok_or_else(missing)?;
            Ok(items.remove(index))
        }
        _ => Err(missing()),
    }
}

/// RFC 6902 operations, all or nothing.
pub fn json_patch(target: &mut Value, patch: &Value) -> Result<(), String> {
    let operations = patch
        .as_array()
        .ok_or("json patch must be an array of operations")?;
    let mut result = target.clone();
    for op in operations {
        let path = op["path"].as_str().ok_or("operation has no path")?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or(format!("operation on {path} has no value"))
        };
        match op["op"].as_str().unwrap_or_default() {
            "add" => add(&mut result, path, value()?)?,
            "remove" => {
                remove(&mut result, path)?;
            }
            "replace" => {
                remove(&mut result, path)?;
                add(&mut result, path, value()?)?;
            }
            "move" => {
                let from = op["from"].as_str().ok_or("move has no from")?;
                let moved = remove(&mut result, from)?;
                add(&mut result, path, moved)?;
            }
            "copy" => {
                let from = op["from"].as_str().ok_or("copy has no from")?;
                let copied = parent(&mut result, &pointer(from)?)?.clone();
                add(&mut result, path, copied)?;
            }
            "test" => {
                let actual = parent(&mut result, &pointer(path)?)?;
                if *actual != value()? {
                    return Err(format!("testing value {path} failed"));
                }
            }
            other => return Err(format!("Unexpected kind: {other}")),
        }
    }
    *target = result;
    Ok(())
}

/// Strategic merge patch for built-in types: like a merge patch, but lists with a merge key
/// (containers, env, ports, volumes, ...) merge element by element, and the `$patch`,
/// `$setElementOrder/...`, `$retainKeys` and `$deleteFromPrimitiveList/...` directives kubectl
/// sends are honoured.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    smp(target, patch, &mut Vec::new());
}

fn smp(target: &mut Value, patch: &Value, fields: &mut Vec<String>) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    match patch.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = patch.clone();
            replaced.remove("$patch");
            *target = Value::Object(replaced);
            return;
        }
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().expect("made an object above");
    if let Some(retain) = patch.get("$retainKeys").and_then(Value::as_array) {
        map.retain(|k, _| retain.iter().any(|r| r.as_str() == Some(k)));
    }
    for (key, value) in patch {
        if key.starts_with("$setElementOrder/") || key == "$retainKeys" || key == "$patch" {
            continue;
        }
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(gone)) = (map.get_mut(field), value.as_array())
            {
                items.retain(|i| !gone.contains(i));
            }
            continue;
        }
        if value.is_null() {
            map.remove(key);
            continue;
        }
        fields.push(key.clone());
        let keys = builtin_list_keys(fields).filter(|k| !k.is_empty());
        match (map.get_mut(key), value, keys) {
            (Some(Value::Array(live)), Value::Array(items), Some(keys)) => {
                merge_keyed_list(live, items, &keys[0], fields);
            }
            (Some(existing), _, _) if value.is_object() => smp(existing, value, fields),
            _ => {
                let mut fresh = Value::Null;
                smp_fresh(&mut fresh, value, fields);
                map.insert(key.clone(), fresh);
            }
        }
        fields.pop();
    }
}

/// A new value from a patch: directives still have to be stripped.
fn smp_fresh(target: &mut Value, value: &Value, fields: &mut Vec<String>) {
    match value {
        Value::Object(_) => smp(target, value, fields),
        Value::Array(items) => {
            *target = Value::Array(
                items
                    .iter()
                    .filter(|i| i.get("$patch").is_none())
                    .map(|i| {
                        let mut fresh = Value::Null;
                        smp_fresh(&mut fresh, i, fields);
                        fresh
                    })
                    .collect(),
            );
        }
        other => *target = other.clone(),
    }
}

fn merge_keyed_list(live: &mut Vec<Value>, items: &[Value], key: &str, fields: &mut Vec<String>) {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *live = items
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .cloned()
            .collect();
        return;
    }
    for item in items {
        let id = item.get(key);
        let position = id.and_then(|id| live.iter().position(|l| l.get(key) == Some(id)));
        match (position, item.get("$patch").and_then(Value::as_str)) {
            (Some(i), Some("delete")) => {
                live.remove(i);
            }
            (None, Some("delete")) => {}
            (Some(i), _) => smp(&mut live[i], item, fields),
            (None, _) => {
                let mut fresh = Value::Null;
                smp_fresh(&mut fresh, item, fields);
                live.push(fresh);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_deletes_with_null() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "l": [1, 2]});
        merge_patch(&mut doc, &json!({"a": {"b": null, "d": 3}, "l": [3]}));
        assert_eq!(doc, json!({"a": {"c": 2, "d": 3}, "l": [3]}));
    }

    #[test]
    fn json_patch_is_all_or_nothing() {
        let mut doc = json!({"spec": {"list": ["a"]}});
        json_patch(
            &mut doc,
            &json!([
                {"op": "add", "path": "/spec/list/-", "value": "b"},
                {"op": "replace", "path": "/spec/list/0", "value": "z"},
                {"op": "add", "path": "/metadata", "value": {"labels": {"a/b": "1"}}},
                {"op": "test", "path": "/metadata/labels/a~1b", "value": "1"},
            ]),
        )
        .unwrap();
        assert_eq!(doc["spec"]["list"], json!(["z", "b"]));
        let before = doc.clone();
        let failed = json_patch(
            &mut doc,
            &json!([{"op": "remove", "path": "/spec"}, {"op": "remove", "path": "/nope"}]),
        );
        assert!(failed.is_err());
        assert_eq!(doc, before);
    }

    #[test]
    fn strategic_merge_merges_containers_by_name() {
        let mut doc = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "bot", "image": "bot:1", "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "side:1"},
        ]}}}});
        strategic_merge_patch(
            &mut doc,
            &json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "bot"}, {"name": "side"}],
                "containers": [
                    {"name": "bot", "image": "bot:2", "env": [{"name": "B", "value": "2"}]},
                    {"name": "side", "$patch": "delete"},
                ]
            }}}}),
        );
        assert_eq!(
            doc["spec"]["template"]["spec"]["containers"],
            json!([{"name": "bot", "image": "bot:2", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}])
        );
    }
}

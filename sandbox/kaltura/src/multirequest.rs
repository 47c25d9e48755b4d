//! `service/multirequest`: calls keyed by index, shared params copied down, and `{N:result:path}`
//! references to earlier results (N is 1-based, in call order).

use crate::services::dispatch;
use crate::state::Sandbox;
use crate::wire::CallResult;
use serde_json::{Map, Value};

/// Parameters every call inherits from the top level unless it sets its own.
const SHARED: &[&str] = &["ks", "partnerId", "clientTag", "apiVersion", "language"];

pub fn run(sandbox: &Sandbox, params: &Map<String, Value>, now: i64) -> Vec<CallResult> {
    let mut calls: Vec<(u64, &Value)> = params
        .iter()
        .filter_map(|(key, value)| key.parse::<u64>().ok().map(|i| (i, value)))
        .collect();
    calls.sort_by_key(|(i, _)| *i);
    let mut results: Vec<CallResult> = Vec::with_capacity(calls.len());
    for (_, call) in calls {
        let mut call = match call {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        for key in SHARED {
            if !call.contains_key(*key)
                && let Some(value) = params.get(*key)
            {
                call.insert((*key).to_string(), value.clone());
            }
        }
        let resolved = resolve(Value::Object(call), &results);
        let service = resolved["service"].as_str().unwrap_or_default().to_string();
        let action = resolved["action"].as_str().unwrap_or_default().to_string();
        results.push(dispatch(sandbox, &service, &action, &resolved, now));
    }
    results
}

/// Replace references in every string of `value`. A string that is exactly one reference takes
/// the referenced value with its type; references inside longer strings are spliced in as text.
fn resolve(value: Value, results: &[CallResult]) -> Value {
    match value {
        Value::String(text) => resolve_str(&text, results),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| resolve(v, results)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, resolve(v, results)))
                .collect(),
        ),
        other => other,
    }
}

fn resolve_str(text: &str, results: &[CallResult]) -> Value {
    if let Some((value, consumed)) = reference_at(text, results)
        && consumed == text.len()
    {
        return value;
    }
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        match reference_at(&rest[start..], results) {
            Some((value, consumed)) => {
                match value {
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                }
                rest = &rest[start + consumed..];
            }
            None => {
                out.push('{');
                rest = &rest[start + 1..];
            }
        }
    }
    out.push_str(rest);
    Value::String(out)
}

/// Parse `{N:result[:path...]}` at the start of `text` and look it up.
fn reference_at(text: &str, results: &[CallResult]) -> Option<(Value, usize)> {
    let end = text.find('}')?;
    let inner = text.strip_prefix('{')?.get(..end - 1)?;
    let mut parts = inner.split(':');
    let index: usize = parts.next()?.parse().ok()?;
    if parts.next()? != "result" {
        return None;
    }
    let mut current = results.get(index.checked_sub(1)?)?.as_ref().ok()?;
    for segment in parts {
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some((current.clone(), end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_resolve_typed_and_spliced() {
        let results: Vec<CallResult> = vec![
            Ok(json!({"id": 42, "objects": [{"id": "0_abc"}]})),
            Ok(Value::String("KS".into())),
        ];
        assert_eq!(resolve_str("{1:result:id}", &results), json!(42));
        assert_eq!(
            resolve_str("{1:result:objects:0:id}", &results),
            json!("0_abc")
        );
        assert_eq!(resolve_str("{2:result}", &results), json!("KS"));
        assert_eq!(
            resolve_str("id={1:result:id}, {x}", &results),
            json!("id=42, {x}")
        );
        assert_eq!(
            resolve_str("{3:result:id}", &results),
            json!("{3:result:id}")
        );
        assert_eq!(resolve_str("{0:result}", &results), json!("{0:result}"));
    }
}

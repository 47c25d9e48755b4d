//! `events.k8s.io/v1` Events are stored as core `v1` Events, as in the API server: an event
//! kube-runtime's recorder writes through the new API is what `kubectl get events` and
//! `kubectl describe` (core API, `involvedObject` field selectors) show, and the other way round.

use serde_json::{Map, Value};

/// Fields the two APIs name differently: (core `v1`, `events.k8s.io/v1`).
const RENAMED: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
];

fn rename(
    obj: Value,
    from: fn(&(&'static str, &'static str)) -> &'static str,
    to: fn(&(&'static str, &'static str)) -> &'static str,
    api_version: &str,
) -> Value {
    let Value::Object(fields) = obj else {
        return obj;
    };
    let mut out = Map::new();
    for (key, value) in fields {
        let key = RENAMED
            .iter()
            .find(|pair| from(pair) == key)
            .map_or(key, |pair| to(pair).to_string());
        out.insert(key, value);
    }
    out.insert("apiVersion".into(), Value::from(api_version));
    Value::Object(out)
}

/// A core `v1` Event as `events.k8s.io/v1` serves it.
pub fn to_events_v1(obj: Value) -> Value {
    rename(obj, |p| p.0, |p| p.1, "events.k8s.io/v1")
}

/// An `events.k8s.io/v1` Event in its stored (core `v1`) form.
pub fn to_core_v1(obj: Value) -> Value {
    rename(obj, |p| p.1, |p| p.0, "v1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_two_forms_convert_both_ways() {
        let new = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "regarding": {"kind": "Pod", "name": "p"}, "note": "Started",
            "reportingController": "kd", "reason": "Up", "deprecatedCount": 2,
        });
        let core = to_core_v1(new.clone());
        assert_eq!(core["apiVersion"], "v1");
        assert_eq!(core["involvedObject"]["name"], "p");
        assert_eq!(core["message"], "Started");
        assert_eq!(core["reportingComponent"], "kd");
        assert_eq!(core["count"], 2);
        assert_eq!(core["reason"], "Up");
        assert!(core.get("note").is_none());
        assert_eq!(to_events_v1(core), new);
    }
}

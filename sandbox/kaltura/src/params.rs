//! Request parameters as api_v3 accepts them: a JSON body, form fields with bracket keys
//! (`filter[objectType]`) or colon keys (`filter:objectType`), and the query string, merged into one
//! JSON tree. `key__null` means null and `{"-": ""}` an empty array, as the official clients send.

use serde_json::{Map, Value};

/// Merge flat `(key, value)` pairs into `tree`, splitting keys on `[`, `]` and `:`.
pub fn merge_flat(
    tree: &mut Map<String, Value>,
    pairs: impl IntoIterator<Item = (String, String)>,
) {
    for (key, value) in pairs {
        let path: Vec<&str> = key
            .split(['[', ']', ':'])
            .filter(|segment| !segment.is_empty())
            .collect();
        if path.is_empty() {
            continue;
        }
        insert_path(tree, &path, Value::String(value));
    }
}

fn insert_path(tree: &mut Map<String, Value>, path: &[&str], value: Value) {
    let (head, rest) = (path[0], &path[1..]);
    if rest.is_empty() {
        tree.insert(head.to_string(), value);
        return;
    }
    let slot = tree
        .entry(head.to_string())
        .or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    if let Value::Object(child) = slot {
        insert_path(child, rest, value);
    }
}

/// Apply the clients' conventions for null and empty arrays, recursively.
pub fn normalize(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            if map.len() == 1 && map.contains_key("-") {
                return Value::Array(Vec::new());
            }
            let mut out = Map::new();
            for (key, value) in map {
                match key.strip_suffix("__null") {
                    Some(name) => {
                        out.insert(name.to_string(), Value::Null);
                    }
                    None => {
                        out.insert(key, normalize(value));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        other => other,
    }
}

/// Typed reads over a parameter object that accept both JSON types and the strings form
/// fields and the Python client send.
pub struct Params<'a>(pub &'a Value);

impl<'a> Params<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    pub fn str(&self, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    /// A non-empty string.
    pub fn text(&self, key: &str) -> Option<String> {
        self.str(key).filter(|s| !s.is_empty())
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            Value::String(s) => s.trim().parse().ok(),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => Some(n.as_i64() != Some(0)),
            Value::String(s) => match s.to_ascii_lowercase().as_str() {
                "1" | "true" => Some(true),
                "0" | "false" | "" => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    pub fn obj(&self, key: &str) -> Option<Params<'a>> {
        self.get(key).filter(|v| v.is_object()).map(Params)
    }

    /// An array, also when it arrived as an object keyed "0", "1", ... (form fields).
    pub fn list(&self, key: &str) -> Vec<&'a Value> {
        match self.get(key) {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(Value::Object(map)) => {
                let mut keyed: Vec<(usize, &Value)> = map
                    .iter()
                    .filter_map(|(k, v)| k.parse().ok().map(|i| (i, v)))
                    .collect();
                keyed.sort_by_key(|(i, _)| *i);
                keyed.into_iter().map(|(_, v)| v).collect()
            }
            _ => Vec::new(),
        }
    }

    pub fn object_type(&self) -> Option<String> {
        self.str("objectType")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Nested parameter objects as clients build them: string leaves under alphanumeric keys.
    fn tree() -> impl Strategy<Value = Value> {
        let leaf = "[a-zA-Z0-9 :,*{}-]{0,12}".prop_map(Value::String);
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop::collection::btree_map("[a-zA-Z][a-zA-Z0-9]{0,6}", inner, 1..4)
                .prop_map(|m| Value::Object(m.into_iter().collect()))
        })
        .prop_filter("top level is an object", Value::is_object)
    }

    /// Flatten like a form client, choosing bracket or colon notation per level.
    fn flatten(
        value: &Value,
        prefix: &str,
        colon: &mut impl Iterator<Item = bool>,
        out: &mut Vec<(String, String)>,
    ) {
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let name = match (prefix.is_empty(), colon.next().unwrap_or(false)) {
                        (true, _) => key.clone(),
                        (false, true) => format!("{prefix}:{key}"),
                        (false, false) => format!("{prefix}[{key}]"),
                    };
                    flatten(child, &name, colon, out);
                }
            }
            Value::String(s) => out.push((prefix.to_string(), s.clone())),
            _ => unreachable!("strategy makes objects and strings only"),
        }
    }

    proptest! {
        #[test]
        fn flat_keys_rebuild_the_tree(value in tree(), choices in prop::collection::vec(any::<bool>(), 64)) {
            let mut pairs = Vec::new();
            flatten(&value, "", &mut choices.into_iter().cycle(), &mut pairs);
            let mut rebuilt = Map::new();
            merge_flat(&mut rebuilt, pairs);
            prop_assert_eq!(normalize(Value::Object(rebuilt)), value);
        }
    }

    #[test]
    fn bracket_and_colon_keys_nest() {
        let mut tree = Map::new();
        merge_flat(
            &mut tree,
            [
                (
                    "filter[objectType]".to_string(),
                    "KalturaMediaEntryFilter".to_string(),
                ),
                ("filter:freeText".to_string(), "physics".to_string()),
                ("1:service".to_string(), "media".to_string()),
                ("items[0][name]".to_string(), "a".to_string()),
                ("pager__null".to_string(), String::new()),
            ],
        );
        let value = normalize(Value::Object(tree));
        assert_eq!(value["filter"]["freeText"], "physics");
        assert_eq!(value["filter"]["objectType"], "KalturaMediaEntryFilter");
        assert_eq!(value["1"]["service"], "media");
        assert!(value["pager"].is_null());
        let items = Params(&value).list("items");
        assert_eq!(items[0]["name"], "a");
    }

    #[test]
    fn empty_array_marker_and_typed_reads() {
        let value = normalize(json!({"ids": {"-": ""}, "n": "12", "b": "True", "f": false}));
        assert_eq!(value["ids"], json!([]));
        let p = Params(&value);
        assert_eq!(p.int("n"), Some(12));
        assert_eq!(p.bool("b"), Some(true));
        assert_eq!(p.bool("f"), Some(false));
        assert_eq!(p.text("missing"), None);
    }
}

//! A CRD version's `openAPIV3Schema` applied as the API server applies it: prune unknown fields,
//! default, validate structurally, then run the `x-kubernetes-validations` CEL rules.

use crate::status::Cause;
use kube_cel::{CompiledSchema, Validator, compile_schema};
use regex::Regex;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The schema's `pattern`s, compiled once: compiling one costs far more than matching it, and
/// every write of the kind checks them. A pattern that does not compile is absent (and every
/// value checked against it is refused, as before).
type Patterns = HashMap<String, Regex>;

/// A compiled structural schema.
pub struct Schema {
    root: Value,
    cel: CompiledSchema,
    patterns: Patterns,
    /// Made once: a validator registers every Kubernetes CEL function when made.
    validator: Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").finish_non_exhaustive()
    }
}

/// Fields at the root every object has whatever its schema says.
const ROOT_FIELDS: [&str; 3] = ["apiVersion", "kind", "metadata"];

impl Schema {
    /// Compiles `schema`; a CEL rule that does not compile is an error of the CRD.
    pub fn compile(schema: &Value) -> Result<Self, String> {
        let cel = compile_schema(schema);
        if let Some(err) = cel.compilation_errors().first() {
            return Err(err.to_string());
        }
        let mut patterns = Patterns::new();
        collect_patterns(schema, &mut patterns);
        Ok(Self {
            root: schema.clone(),
            cel,
            patterns,
            validator: Validator::new(),
        })
    }

    /// The raw schema (for OpenAPI documents).
    pub fn raw(&self) -> &Value {
        &self.root
    }

    /// Drops fields the schema does not know (and non-nullable nulls) and returns their paths,
    /// for `fieldValidation` to report.
    pub fn prune(&self, object: &mut Value) -> Vec<String> {
        let mut pruned = Vec::new();
        if let Value::Object(map) = object {
            let properties = self.root.get("properties").and_then(Value::as_object);
            map.retain(|key, value| {
                if ROOT_FIELDS.contains(&key.as_str()) {
                    return true;
                }
                match properties.and_then(|p| p.get(key)) {
                    Some(schema) => {
                        prune_value(schema, value, key, &mut pruned);
                        !value.is_null() || nullable(schema)
                    }
                    None => {
                        pruned.push(key.clone());
                        false
                    }
                }
            });
        }
        pruned
    }

    /// Fills in schema defaults, recursively (a defaulted object gets its fields' defaults too).
    pub fn apply_defaults(&self, object: &mut Value) {
        *object = kube_cel::apply_defaults(&self.root, object);
    }

    /// Every reason the API server would refuse `object` (`old` on update, for transition rules).
    pub fn validate(&self, object: &Value, old: Option<&Value>) -> Vec<Cause> {
        let mut causes = Vec::new();
        if let (Some(props), Value::Object(map)) = (
            self.root.get("properties").and_then(Value::as_object),
            object,
        ) {
            for (key, schema) in props {
                if ROOT_FIELDS.contains(&key.as_str()) {
                    continue;
                }
                if let Some(value) = map.get(key) {
                    check(&self.patterns, schema, value, key, &mut causes);
                }
            }
            for required in strings(self.root.get("required")) {
                if !ROOT_FIELDS.contains(&required) && !map.contains_key(required) {
                    causes.push(Cause::new("FieldValueRequired", required, "Required value"));
                }
            }
        }
        // CEL rules see a structurally valid object, as in the API server.
        if causes.is_empty() {
            self.run_rules(&self.cel, object, old, "", &mut causes);
        }
        causes
    }

    /// What a write through the `/status` subresource is refused for: the API server's status
    /// strategy checks `status` against its schema, and its CEL rules ratchet, so rules on the
    /// rest of the object (the stored one, which a status write cannot change) find nothing
    /// new. Rules at the root see the whole object, so with any there the whole object is
    /// checked, as [`Self::validate`] does.
    pub fn validate_status(&self, object: &Value, old: Option<&Value>) -> Vec<Cause> {
        let root_rules = ["x-kubernetes-validations", "allOf", "oneOf", "anyOf"]
            .iter()
            .any(|k| self.root.get(k).is_some());
        let status_schema = self.root.get("properties").and_then(|p| p.get("status"));
        let (false, Some(schema), Some(compiled)) =
            (root_rules, status_schema, self.cel.properties.get("status"))
        else {
            return self.validate(object, old);
        };
        let mut causes = Vec::new();
        let Some(status) = object.get("status") else {
            return causes;
        };
        check(&self.patterns, schema, status, "status", &mut causes);
        if causes.is_empty() {
            let old = old.and_then(|o| o.get("status"));
            self.run_rules(compiled, status, old, "status", &mut causes);
        }
        causes
    }

    /// The CEL rules of `compiled` (the node at field path `at`) on `value`.
    fn run_rules(
        &self,
        compiled: &CompiledSchema,
        value: &Value,
        old: Option<&Value>,
        at: &str,
        causes: &mut Vec<Cause>,
    ) {
        // Without rules the validator finds nothing, but it would still convert every value
        // (a schema too deep for it does not compile, so that error cannot come either).
        if !has_rules(compiled) {
            return;
        }
        let Err(errors) = self.validator.validate_compiled(compiled, value, old) else {
            return;
        };
        for error in errors.iter() {
            let type_ = rule_type(&self.root, &error.rule).unwrap_or("object");
            let field = match (at, error.field_path.as_str()) {
                ("", path) => path.to_string(),
                (at, "") => at.to_string(),
                (at, path) if path.starts_with('[') => format!("{at}{path}"),
                (at, path) => format!("{at}.{path}"),
            };
            causes.push(cel_cause(
                error.reason.as_deref(),
                &field,
                type_,
                &error.message,
            ));
        }
    }

    /// The merge keys of the list at `path` (field names from the root), when it is
    /// `x-kubernetes-list-type: map`; `Some(vec![])` for `set`; `None` for atomic lists.
    pub fn list_keys(&self, path: &[String]) -> Option<Vec<String>> {
        let mut node = &self.root;
        for field in path {
            node = if node.get("type").and_then(Value::as_str) == Some("array") {
                node.get("items")?.get("properties")?.get(field)?
            } else {
                node.get("properties")?.get(field)?
            };
        }
        match node.get("x-kubernetes-list-type").and_then(Value::as_str) {
            Some("map") => Some(
                strings(node.get("x-kubernetes-list-map-keys"))
                    .into_iter()
                    .map(String::from)
                    .collect(),
            ),
            Some("set") => Some(Vec::new()),
            _ => None,
        }
    }
}

/// Whether any node of `compiled` has a CEL rule.
fn has_rules(compiled: &CompiledSchema) -> bool {
    !compiled.validations.is_empty()
        || compiled.properties.values().any(has_rules)
        || compiled.items.as_deref().is_some_and(has_rules)
        || compiled
            .additional_properties
            .as_deref()
            .is_some_and(has_rules)
        || compiled
            .all_of
            .iter()
            .chain(&compiled.one_of)
            .chain(&compiled.any_of)
            .any(has_rules)
}

fn cel_cause(reason: Option<&str>, field: &str, type_: &str, message: &str) -> Cause {
    match reason {
        Some("FieldValueForbidden") => Cause::new(
            "FieldValueForbidden",
            field,
            format!("Forbidden: {message}"),
        ),
        Some("FieldValueRequired") => Cause::new(
            "FieldValueRequired",
            field,
            format!("Required value: {message}"),
        ),
        Some("FieldValueDuplicate") => Cause::new(
            "FieldValueDuplicate",
            field,
            format!("Duplicate value: {message}"),
        ),
        _ => Cause::new(
            "FieldValueInvalid",
            field,
            format!("Invalid value: \"{type_}\": {message}"),
        ),
    }
}

/// The type of the schema node that declares `rule`: CEL errors name it as the value.
fn rule_type<'a>(schema: &'a Value, rule: &str) -> Option<&'a str> {
    let declares = schema
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
        .is_some_and(|rules| {
            rules
                .iter()
                .any(|r| r.get("rule").and_then(Value::as_str) == Some(rule))
        });
    if declares {
        return schema.get("type").and_then(Value::as_str);
    }
    let children = schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values())
        .chain(schema.get("items"))
        .chain(schema.get("additionalProperties").filter(|v| v.is_object()));
    for child in children {
        if let Some(found) = rule_type(child, rule) {
            return Some(found);
        }
    }
    None
}

/// Every `pattern` in the schema, however deep.
fn collect_patterns(schema: &Value, out: &mut Patterns) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(pattern)) = map.get("pattern")
                && !out.contains_key(pattern)
                && let Ok(re) = Regex::new(pattern)
            {
                out.insert(pattern.clone(), re);
            }
            map.values().for_each(|child| collect_patterns(child, out));
        }
        Value::Array(items) => items.iter().for_each(|child| collect_patterns(child, out)),
        _ => {}
    }
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn nullable(schema: &Value) -> bool {
    schema.get("nullable") == Some(&Value::Bool(true))
}

fn preserves_unknown(schema: &Value) -> bool {
    schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        || schema.get("x-kubernetes-embedded-resource") == Some(&Value::Bool(true))
}

fn child_path(path: &str, key: &str) -> String {
    format!("{path}.{key}")
}

fn prune_value(schema: &Value, value: &mut Value, path: &str, pruned: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            if let Some(properties) = properties {
                let keep_unknown = preserves_unknown(schema);
                map.retain(|key, child| match properties.get(key) {
                    Some(child_schema) => {
                        prune_value(child_schema, child, &child_path(path, key), pruned);
                        !child.is_null() || nullable(child_schema)
                    }
                    None if keep_unknown => true,
                    None => {
                        pruned.push(child_path(path, key));
                        false
                    }
                });
            } else if let Some(additional) = additional {
                for (key, child) in map.iter_mut() {
                    prune_value(additional, child, &child_path(path, key), pruned);
                }
            } else if !preserves_unknown(schema) && schema.get("type").is_some() {
                // An object without properties that does not preserve unknown fields keeps nothing.
                for key in map.keys() {
                    pruned.push(child_path(path, key));
                }
                map.clear();
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_value(item_schema, item, &format!("{path}[{i}]"), pruned);
                }
            }
        }
        _ => {}
    }
}

/// Go's rendering of a value in `Invalid value: ...`.
fn shown(value: &Value) -> String {
    match value {
        Value::Object(_) => "\"object\"".into(),
        Value::Array(_) => "\"array\"".into(),
        other => other.to_string(),
    }
}

/// A bound as Go prints a float64: `10`, not `10.0` (clients send bounds as either).
fn go_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, value: &Value) -> bool {
    match (expected, value) {
        ("number", Value::Number(_)) => true,
        ("integer", Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        (expected, value) => expected == json_type(value),
    }
}

/// Structural checks of one value, with the messages of the API server's schema validator.
fn check(patterns: &Patterns, schema: &Value, value: &Value, path: &str, causes: &mut Vec<Cause>) {
    if value.is_null() {
        if !nullable(schema) {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                path,
                format!(
                    "Invalid value: \"null\": {path} in body must be of type {}: \"null\"",
                    schema
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("object")
                ),
            ));
        }
        return;
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if int_or_string {
        if !matches!(value, Value::String(_) | Value::Number(_)) {
            causes.push(Cause::new(
                "FieldValueTypeInvalid",
                path,
                format!(
                    "Invalid value: \"{}\": {path} in body must be of type integer,string: \"{}\"",
                    json_type(value),
                    json_type(value)
                ),
            ));
            return;
        }
    } else if let Some(expected) = schema.get("type").and_then(Value::as_str)
        && !type_matches(expected, value)
    {
        let actual = json_type(value);
        causes.push(Cause::new(
            "FieldValueTypeInvalid",
            path,
            format!("Invalid value: \"{actual}\": {path} in body must be of type {expected}: \"{actual}\""),
        ));
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let listed: Vec<String> = allowed.iter().map(Value::to_string).collect();
        causes.push(Cause::new(
            "FieldValueNotSupported",
            path,
            format!(
                "Unsupported value: {}: supported values: {}",
                value,
                listed.join(", ")
            ),
        ));
    }
    match value {
        Value::String(s) => check_string(patterns, schema, s, value, path, causes),
        Value::Number(n) => {
            check_number(schema, n.as_f64().unwrap_or_default(), value, path, causes)
        }
        Value::Array(items) => check_array(patterns, schema, items, path, causes),
        Value::Object(map) => check_object(patterns, schema, map, path, causes),
        _ => {}
    }
}

fn check_string(
    patterns: &Patterns,
    schema: &Value,
    s: &str,
    value: &Value,
    path: &str,
    causes: &mut Vec<Cause>,
) {
    let len = s.chars().count() as u64;
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && len > max
    {
        causes.push(Cause::new(
            "FieldValueTooLong",
            path,
            format!("Too long: may not be more than {max} bytes"),
        ));
    }
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && len < min
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!(
                "Invalid value: {}: {path} in body should be at least {min} chars long",
                shown(value)
            ),
        ));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
        let matches = patterns.get(pattern).map(|re| re.is_match(s));
        if matches != Some(true) {
            causes.push(Cause::new(
                "FieldValueInvalid",
                path,
                format!(
                    "Invalid value: {}: {path} in body should match '{pattern}'",
                    shown(value)
                ),
            ));
        }
    }
}

fn check_number(schema: &Value, n: f64, value: &Value, path: &str, causes: &mut Vec<Cause>) {
    let exclusive = |key| schema.get(key) == Some(&Value::Bool(true));
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        let (bad, words) = if exclusive("exclusiveMinimum") {
            (n <= min, "greater than")
        } else {
            (n < min, "greater than or equal to")
        };
        if bad {
            causes.push(Cause::new(
                "FieldValueInvalid",
                path,
                format!(
                    "Invalid value: {}: {path} in body should be {words} {}",
                    shown(value),
                    go_number(min)
                ),
            ));
        }
    }
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        let (bad, words) = if exclusive("exclusiveMaximum") {
            (n >= max, "less than")
        } else {
            (n > max, "less than or equal to")
        };
        if bad {
            causes.push(Cause::new(
                "FieldValueInvalid",
                path,
                format!(
                    "Invalid value: {}: {path} in body should be {words} {}",
                    shown(value),
                    go_number(max)
                ),
            ));
        }
    }
    if let Some(step) = schema.get("multipleOf").and_then(Value::as_f64)
        && step != 0.0
        && (n / step).fract() != 0.0
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!(
                "Invalid value: {}: {path} in body should be a multiple of {}",
                shown(value),
                go_number(step)
            ),
        ));
    }
}

fn check_array(
    patterns: &Patterns,
    schema: &Value,
    items: &[Value],
    path: &str,
    causes: &mut Vec<Cause>,
) {
    let len = items.len() as u64;
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && len > max
    {
        causes.push(Cause::new(
            "FieldValueTooMany",
            path,
            format!("Too many: {len}: must have at most {max} items"),
        ));
    }
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && len < min
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!("Invalid value: {len}: {path} in body should have at least {min} items"),
        ));
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(patterns, item_schema, item, &format!("{path}[{i}]"), causes);
        }
    }
    let list_type = schema.get("x-kubernetes-list-type").and_then(Value::as_str);
    let unique = schema.get("uniqueItems") == Some(&Value::Bool(true));
    match list_type {
        Some("set") => duplicates(items, path, causes, |item| item.clone()),
        Some("map") => {
            let keys: Vec<&str> = strings(schema.get("x-kubernetes-list-map-keys"));
            duplicates(items, path, causes, |item| {
                Value::Array(
                    keys.iter()
                        .map(|k| item.get(*k).cloned().unwrap_or(Value::Null))
                        .collect(),
                )
            });
        }
        _ if unique => duplicates(items, path, causes, |item| item.clone()),
        _ => {}
    }
}

fn duplicates(items: &[Value], path: &str, causes: &mut Vec<Cause>, key: impl Fn(&Value) -> Value) {
    let mut seen = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let k = key(item);
        if seen.contains(&k) {
            let shown = match &k {
                Value::Array(parts) if parts.len() == 1 => parts[0].to_string(),
                other => shown(other),
            };
            causes.push(Cause::new(
                "FieldValueDuplicate",
                format!("{path}[{i}]"),
                format!("Duplicate value: {shown}"),
            ));
        } else {
            seen.push(k);
        }
    }
}

fn check_object(
    patterns: &Patterns,
    schema: &Value,
    map: &Map<String, Value>,
    path: &str,
    causes: &mut Vec<Cause>,
) {
    let count = map.len() as u64;
    if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
        && count > max
    {
        causes.push(Cause::new(
            "FieldValueTooMany",
            path,
            format!("Too many: {count}: must have at most {max} items"),
        ));
    }
    if let Some(min) = schema.get("minProperties").and_then(Value::as_u64)
        && count < min
    {
        causes.push(Cause::new(
            "FieldValueInvalid",
            path,
            format!("Invalid value: {count}: {path} in body should have at least {min} properties"),
        ));
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (key, child_schema) in properties {
            if let Some(child) = map.get(key) {
                check(
                    patterns,
                    child_schema,
                    child,
                    &child_path(path, key),
                    causes,
                );
            }
        }
    }
    if let Some(additional) = schema.get("additionalProperties").filter(|a| a.is_object()) {
        for (key, child) in map {
            check(
                patterns,
                additional,
                child,
                &format!("{path}[{key}]"),
                causes,
            );
        }
    }
    for required in strings(schema.get("required")) {
        if !map.contains_key(required) {
            causes.push(Cause::new(
                "FieldValueRequired",
                child_path(path, required),
                "Required value",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::compile(&json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["guildId"],
                    "properties": {
                        "guildId": {"type": "string", "pattern": "^[0-9]{17,20}$",
                            "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "guildId is immutable"}]},
                        "replicas": {"type": "integer", "minimum": 1, "maximum": 5, "default": 1},
                        "role": {"type": "string", "enum": ["viewer", "admin"]},
                        "tags": {"type": "array", "maxItems": 2, "items": {"type": "string", "maxLength": 3}},
                        "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                    }
                }
            }
        }))
        .unwrap()
    }

    fn fields(causes: &[Cause]) -> Vec<String> {
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn structural_errors_read_like_the_api_server() {
        let s = schema();
        let obj = json!({"spec": {"guildId": "abc", "replicas": 9, "role": "root", "tags": ["a", "b", "long"]}});
        assert_eq!(
            fields(&s.validate(&obj, None)),
            vec![
                "spec.guildId: Invalid value: \"abc\": spec.guildId in body should match '^[0-9]{17,20}$'",
                "spec.replicas: Invalid value: 9: spec.replicas in body should be less than or equal to 5",
                "spec.role: Unsupported value: \"root\": supported values: \"viewer\", \"admin\"",
                "spec.tags: Too many: 3: must have at most 2 items",
                "spec.tags[2]: Too long: may not be more than 3 bytes",
            ]
        );
        let missing = json!({"spec": {"replicas": "x"}});
        assert_eq!(
            fields(&s.validate(&missing, None)),
            vec![
                "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\"",
                "spec.guildId: Required value",
            ]
        );
    }

    #[test]
    fn transition_rules_see_the_old_object() {
        let s = schema();
        let old = json!({"spec": {"guildId": "12345678901234567"}});
        let new = json!({"spec": {"guildId": "12345678901234568"}});
        assert!(s.validate(&new, None).is_empty());
        assert_eq!(
            fields(&s.validate(&new, Some(&old))),
            vec!["spec.guildId: Invalid value: \"string\": guildId is immutable"]
        );
    }

    fn with_status() -> Schema {
        Schema::compile(&json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "properties": {"size": {"type": "integer", "maximum": 5,
                        "x-kubernetes-validations": [{"rule": "self >= oldSelf", "message": "size may not shrink"}]}},
                },
                "status": {
                    "type": "object",
                    "properties": {
                        "phase": {"type": "string", "pattern": "^[A-Z][a-z]+$"},
                        "ready": {"type": "integer",
                            "x-kubernetes-validations": [{"rule": "self <= 3", "message": "at most 3"}]},
                    },
                },
            }
        }))
        .unwrap()
    }

    #[test]
    fn a_status_write_checks_the_status_with_the_paths_of_the_whole_object() {
        let s = with_status();
        let old = json!({"spec": {"size": 2}});
        let bad = json!({"spec": {"size": 2}, "status": {"phase": "running", "ready": 4}});
        let expected = vec![
            "status.phase: Invalid value: \"running\": status.phase in body should match '^[A-Z][a-z]+$'",
        ];
        assert_eq!(fields(&s.validate_status(&bad, Some(&old))), expected);
        assert_eq!(fields(&s.validate(&bad, Some(&old))), expected);
        let over = json!({"spec": {"size": 2}, "status": {"phase": "Running", "ready": 4}});
        let expected = vec!["status.ready: Invalid value: \"integer\": at most 3"];
        assert_eq!(fields(&s.validate_status(&over, Some(&old))), expected);
        assert_eq!(fields(&s.validate(&over, Some(&old))), expected);
    }

    #[test]
    fn a_status_write_does_not_recheck_the_stored_spec() {
        let s = with_status();
        // A stored spec the rules would now refuse (say the CRD changed): the API server's
        // ratcheting lets a status write through, as a status write cannot change the spec.
        let old = json!({"spec": {"size": 9}});
        let new = json!({"spec": {"size": 9}, "status": {"phase": "Running"}});
        assert!(s.validate_status(&new, Some(&old)).is_empty());
        assert!(!s.validate(&new, Some(&old)).is_empty());
    }

    #[test]
    fn rules_at_the_root_see_the_whole_object_on_a_status_write() {
        let s = Schema::compile(&json!({
            "type": "object",
            "x-kubernetes-validations": [{"rule": "!has(self.status) || self.status.n <= self.spec.max", "message": "n over max"}],
            "properties": {
                "spec": {"type": "object", "properties": {"max": {"type": "integer"}}},
                "status": {"type": "object", "properties": {"n": {"type": "integer"}}},
            }
        }))
        .unwrap();
        let old = json!({"spec": {"max": 2}});
        let new = json!({"spec": {"max": 2}, "status": {"n": 3}});
        assert_eq!(
            fields(&s.validate_status(&new, Some(&old))),
            vec![": Invalid value: \"object\": n over max"]
        );
    }

    #[test]
    fn prunes_unknown_fields_and_applies_defaults() {
        let s = schema();
        let mut obj = json!({"metadata": {"name": "a"}, "spec": {"guildId": "1", "bogus": 1, "free": {"x": 1}}, "extra": true});
        let pruned = s.prune(&mut obj);
        assert_eq!(pruned, vec!["extra".to_string(), "spec.bogus".to_string()]);
        s.apply_defaults(&mut obj);
        assert_eq!(
            obj["spec"],
            json!({"guildId": "1", "free": {"x": 1}, "replicas": 1})
        );
    }
}

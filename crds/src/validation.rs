//! Offline admission: what the API server would say of a manifest, without a cluster.
//!
//! Each object is checked against its kind's generated OpenAPI schema (types, required fields,
//! patterns, ranges and unknown fields, as with `kubectl apply --validate=strict`), then against
//! the schema's CEL rules with defaults applied, as the API server does.

use crate::common::{GROUP, VERSION};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::cel::{CompiledSchema, Validator, compile_schema};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// One reason an object is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Field path in Kubernetes notation (`spec.rules[0].discordRole`); empty for the whole object.
    pub path: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

struct KindSchema {
    structural: jsonschema::Validator,
    cel: CompiledSchema,
}

/// Validators of every kind of the API, compiled once.
pub struct SchemaValidator {
    kinds: BTreeMap<String, KindSchema>,
}

impl SchemaValidator {
    /// Compiles the schemas of the given CRDs (normally [`crate::crds`]).
    pub fn new(crds: &[CustomResourceDefinition]) -> Result<Self, String> {
        let mut kinds = BTreeMap::new();
        for crd in crds {
            let version = crd
                .spec
                .versions
                .iter()
                .find(|v| v.name == VERSION)
                .ok_or_else(|| format!("{} has no version {VERSION}", crd.spec.names.kind))?;
            let schema = version
                .schema
                .as_ref()
                .and_then(|s| s.open_api_v3_schema.as_ref())
                .ok_or_else(|| format!("{} has no schema", crd.spec.names.kind))?;
            let schema = serde_json::to_value(schema).map_err(|e| e.to_string())?;
            let cel = compile_schema(&schema);
            if let Some(err) = cel.compilation_errors().first() {
                return Err(format!(
                    "{}: CEL rule does not compile: {err}",
                    crd.spec.names.kind
                ));
            }
            let structural = jsonschema::draft4::new(&strict(&with_object_meta(schema.clone())))
                .map_err(|e| format!("{}: schema does not compile: {e}", crd.spec.names.kind))?;
            kinds.insert(crd.spec.names.kind.clone(), KindSchema { structural, cel });
        }
        Ok(Self { kinds })
    }

    /// Whether `kind` is one of ours.
    pub fn knows(&self, kind: &str) -> bool {
        self.kinds.contains_key(kind)
    }

    /// Every problem the API server would report for `object` (a whole resource, as parsed
    /// from YAML). An empty list means it would be admitted.
    pub fn validate(&self, object: &Value) -> Vec<Problem> {
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let Some(schema) = self.kinds.get(kind) else {
            return vec![Problem::new(
                "kind",
                format!("unknown kind {kind:?} in {GROUP}"),
            )];
        };
        let mut problems = Vec::new();
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if api_version != format!("{GROUP}/{VERSION}") {
            problems.push(Problem::new(
                "apiVersion",
                format!("must be {GROUP}/{VERSION}, not {api_version:?}"),
            ));
        }
        problems.extend(metadata_problems(object.get("metadata")));
        for error in schema.structural.iter_errors(object) {
            let path = k8s_path(error.instance_path().as_str(), object);
            match error.kind() {
                jsonschema::error::ValidationErrorKind::Required { property } => {
                    let field = property.as_str().unwrap_or_default();
                    problems.push(Problem::new(join(&path, field), "Required value"));
                }
                jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
                    problems.extend(
                        unexpected
                            .iter()
                            .map(|f| Problem::new(join(&path, f), "unknown field")),
                    );
                }
                // A value of the wrong type may be a credential pasted inline: never echo it.
                jsonschema::error::ValidationErrorKind::Type { .. } => {
                    problems.push(Problem::new(path, error.masked().to_string()))
                }
                _ => problems.push(Problem::new(path, error.to_string())),
            }
        }
        // CEL rules assume a structurally valid object, as they do in the API server.
        if problems.is_empty()
            && let Err(errors) = Validator::new().validate_compiled(&schema.cel, object, None)
        {
            problems.extend(
                errors
                    .iter()
                    .map(|e| Problem::new(e.field_path.clone(), e.message.clone())),
            );
        }
        problems
    }
}

/// The schema as `kubectl apply --validate=strict` applies it: unknown fields are errors, and
/// OpenAPI's `nullable` becomes JSON Schema's null type.
fn strict(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: Map<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), strict(v))).collect();
            let preserves =
                map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if map.contains_key("properties")
                && !map.contains_key("additionalProperties")
                && !preserves
            {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            if map.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(t)) = map.get("type")
            {
                out.insert("type".into(), serde_json::json!([t, "null"]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(strict).collect()),
        other => other.clone(),
    }
}

/// The API server knows `apiVersion`, `kind` and `metadata` of every object; CRD schemas
/// leave them out.
fn with_object_meta(mut schema: Value) -> Value {
    if let Some(Value::Object(props)) = schema.get_mut("properties") {
        props
            .entry("apiVersion")
            .or_insert(serde_json::json!({"type": "string"}));
        props
            .entry("kind")
            .or_insert(serde_json::json!({"type": "string"}));
        props.insert("metadata".into(), serde_json::json!({"type": "object"}));
    }
    schema
}

/// RFC 1123 subdomain, as Kubernetes requires of object names.
fn metadata_problems(metadata: Option<&Value>) -> Vec<Problem> {
    let name = metadata.and_then(|m| m.get("name")).and_then(Value::as_str);
    let Some(name) = name else {
        return vec![Problem::new("metadata.name", "Required value")];
    };
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if valid {
        Vec::new()
    } else {
        vec![Problem::new(
            "metadata.name",
            format!(
                "{name:?} is not a lowercase RFC 1123 subdomain (a-z, 0-9, '-' and '.', at most 253)"
            ),
        )]
    }
}

/// JSON pointer -> `spec.rules[0].discordRole`, using the object to tell indexes from keys.
fn k8s_path(pointer: &str, object: &Value) -> String {
    let mut path = String::new();
    let mut node = Some(object);
    for raw in pointer.split('/').skip(1) {
        let segment = raw.replace("~1", "/").replace("~0", "~");
        match node {
            Some(Value::Array(items)) => {
                path.push_str(&format!("[{segment}]"));
                node = segment.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            other => {
                path = join(&path, &segment);
                node = other.and_then(|n| n.get(&segment));
            }
        }
    }
    path
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

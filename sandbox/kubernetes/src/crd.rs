//! CustomResourceDefinitions: checking one, its status conditions, and the types it serves.

use crate::resource::{PrinterColumn, ResourceType};
use crate::schema::Schema;
use crate::status::Cause;
use serde_json::{Value, json};
use std::sync::Arc;

fn text<'a>(value: &'a Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn strings(value: &Value, pointer: &str) -> Vec<String> {
    value
        .pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The types `crd` serves (one per served version), or why the CRD is invalid.
pub fn served_types(crd: &Value) -> Result<Vec<ResourceType>, Vec<Cause>> {
    let mut causes = Vec::new();
    let group = text(crd, "/spec/group");
    let plural = text(crd, "/spec/names/plural");
    let kind = text(crd, "/spec/names/kind");
    let scope = text(crd, "/spec/scope");
    for (field, value) in [
        ("spec.group", group),
        ("spec.names.plural", plural),
        ("spec.names.kind", kind),
        ("spec.scope", scope),
    ] {
        if value.is_empty() {
            causes.push(Cause::new("FieldValueRequired", field, "Required value"));
        }
    }
    if !scope.is_empty() && scope != "Namespaced" && scope != "Cluster" {
        causes.push(Cause::new(
            "FieldValueNotSupported",
            "spec.scope",
            format!(
                "Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""
            ),
        ));
    }
    let name = text(crd, "/metadata/name");
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "metadata.name",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.versions",
            "Invalid value: null: must have exactly one version marked as storage version",
        ));
    } else if versions.iter().filter(|v| v["storage"] == true).count() != 1 {
        causes.push(Cause::new(
            "FieldValueInvalid",
            "spec.versions",
            format!(
                "Invalid value: {}: must have exactly one version marked as storage version",
                Value::Array(versions.clone())
            ),
        ));
    }
    let mut types = Vec::new();
    for (i, version) in versions.iter().enumerate() {
        let schema = match version.pointer("/schema/openAPIV3Schema") {
            Some(raw) => match Schema::compile(raw) {
                Ok(schema) => Some(Arc::new(schema)),
                Err(err) => {
                    causes.push(Cause::new(
                        "FieldValueInvalid",
                        format!(
                            "spec.validation.openAPIV3Schema.x-kubernetes-validations[{i}].rule"
                        ),
                        format!("Invalid value: \"object\": compilation failed: {err}"),
                    ));
                    None
                }
            },
            None => {
                causes.push(Cause::new(
                    "FieldValueRequired",
                    format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    "Required value: schemas are required",
                ));
                None
            }
        };
        if version["served"] != true {
            continue;
        }
        let columns = match version
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
        {
            Some(columns) => columns
                .iter()
                .map(|c| PrinterColumn {
                    name: text(c, "/name").into(),
                    type_: text(c, "/type").into(),
                    format: text(c, "/format").into(),
                    description: text(c, "/description").into(),
                    priority: c["priority"].as_i64().unwrap_or(0),
                    json_path: text(c, "/jsonPath").into(),
                })
                .collect(),
            // What the API server shows for a CRD without columns.
            None => vec![PrinterColumn {
                name: "Age".into(),
                type_: "date".into(),
                format: String::new(),
                description: String::new(),
                priority: 0,
                json_path: ".metadata.creationTimestamp".into(),
            }],
        };
        types.push(ResourceType {
            group: group.into(),
            version: text(version, "/name").into(),
            kind: kind.into(),
            plural: plural.into(),
            singular: Some(text(crd, "/spec/names/singular"))
                .filter(|s| !s.is_empty())
                .map(String::from)
                .unwrap_or_else(|| kind.to_ascii_lowercase()),
            namespaced: scope == "Namespaced",
            short_names: strings(crd, "/spec/names/shortNames"),
            categories: strings(crd, "/spec/names/categories"),
            status_subresource: version.pointer("/subresources/status").is_some(),
            columns,
            schema,
            custom: true,
        });
    }
    if causes.is_empty() {
        Ok(types)
    } else {
        Err(causes)
    }
}

/// The status the API server gives an accepted CRD: names accepted, established at once.
pub fn accepted_status(crd: &Value, now: &str) -> Value {
    let mut names = crd["spec"]["names"].clone();
    if names.get("singular").is_none_or(Value::is_null) {
        names["singular"] = json!(text(crd, "/spec/names/kind").to_ascii_lowercase());
    }
    if names.get("listKind").is_none_or(Value::is_null) {
        names["listKind"] = json!(format!("{}List", text(crd, "/spec/names/kind")));
    }
    let condition = |type_: &str, reason: &str, message: &str| {
        let since = crd
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|c| c["type"] == type_))
            .and_then(|c| c["lastTransitionTime"].as_str())
            .unwrap_or(now)
            .to_string();
        json!({"type": type_, "status": "True", "reason": reason, "message": message, "lastTransitionTime": since})
    };
    let stored: Vec<Value> = crd["spec"]["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["storage"] == true)
        .map(|v| v["name"].clone())
        .collect();
    json!({
        "acceptedNames": names,
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition("Established", "InitialNamesAccepted", "the initial names have been accepted"),
        ],
        "storedVersions": stored,
    })
}

/// Fills what the API server defaults in a CRD (`listKind`, `singular`, conversion strategy).
pub fn apply_defaults(crd: &mut Value) {
    let kind = text(crd, "/spec/names/kind").to_string();
    if let Some(names) = crd
        .pointer_mut("/spec/names")
        .and_then(Value::as_object_mut)
    {
        names
            .entry("singular")
            .or_insert_with(|| json!(kind.to_ascii_lowercase()));
        names
            .entry("listKind")
            .or_insert_with(|| json!(format!("{kind}List")));
    }
    if let Some(spec) = crd.get_mut("spec").and_then(Value::as_object_mut) {
        spec.entry("conversion")
            .or_insert_with(|| json!({"strategy": "None"}));
    }
}

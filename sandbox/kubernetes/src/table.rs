//! `meta.k8s.io/v1 Table` answers (`Accept: ...;as=Table;v=v1;g=meta.k8s.io`), which is what
//! `kubectl get` prints.

use crate::jsonpath::JsonPath;
use crate::resource::ResourceType;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// What each row carries besides its cells (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Include {
    None,
    Metadata,
    Object,
}

impl Include {
    pub fn parse(value: Option<&str>) -> Self {
        match value {
            Some("None") => Self::None,
            Some("Object") => Self::Object,
            _ => Self::Metadata,
        }
    }
}

struct Column {
    name: String,
    type_: String,
    format: String,
    description: String,
    priority: i64,
    cell: Cell,
}

enum Cell {
    Path(Option<JsonPath>),
    Computed(fn(&Value) -> Value),
}

fn computed(name: &str, type_: &str, cell: fn(&Value) -> Value) -> Column {
    Column {
        name: name.into(),
        type_: type_.into(),
        format: String::new(),
        description: String::new(),
        priority: 0,
        cell: Cell::Computed(cell),
    }
}

fn count_keys(obj: &Value) -> Value {
    let count = |field: &str| obj[field].as_object().map_or(0, |m| m.len());
    json!(count("data") + count("binaryData"))
}

fn age(obj: &Value) -> Value {
    json!(
        obj["metadata"]["creationTimestamp"]
            .as_str()
            .map(age_of)
            .unwrap_or_else(|| "<unknown>".into())
    )
}

/// The columns of built-in types, as the API server prints them.
fn builtin_columns(rt: &ResourceType) -> Vec<Column> {
    match rt.plural.as_str() {
        "namespaces" => vec![computed("Status", "string", |o| {
            o["status"]["phase"].clone()
        })],
        "secrets" => vec![
            computed("Type", "string", |o| o["type"].clone()),
            computed("Data", "string", count_keys),
        ],
        "configmaps" => vec![computed("Data", "string", count_keys)],
        "services" => vec![
            computed("Type", "string", |o| {
                json!(o["spec"]["type"].as_str().unwrap_or("ClusterIP"))
            }),
            computed("Cluster-IP", "string", |o| {
                json!(o["spec"]["clusterIP"].as_str().unwrap_or("<none>"))
            }),
            computed("External-IP", "string", |_| json!("<none>")),
            computed("Port(s)", "string", |o| {
                let ports: Vec<String> = o["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP")))
                    .collect();
                json!(if ports.is_empty() {
                    "<none>".into()
                } else {
                    ports.join(",")
                })
            }),
        ],
        "pods" => vec![computed("Status", "string", |o| {
            o["status"]["phase"].clone()
        })],
        "deployments" => vec![
            computed("Ready", "string", |o| {
                json!(format!(
                    "{}/{}",
                    o["status"]["readyReplicas"].as_i64().unwrap_or(0),
                    o["spec"]["replicas"].as_i64().unwrap_or(1)
                ))
            }),
            computed("Up-to-date", "integer", |o| {
                json!(o["status"]["updatedReplicas"].as_i64().unwrap_or(0))
            }),
            computed("Available", "integer", |o| {
                json!(o["status"]["availableReplicas"].as_i64().unwrap_or(0))
            }),
        ],
        "leases" => vec![computed("Holder", "string", |o| {
            o["spec"]["holderIdentity"].clone()
        })],
        "endpointslices" => vec![computed("AddressType", "string", |o| {
            o["addressType"].clone()
        })],
        "events" if rt.group.is_empty() => vec![
            computed("Type", "string", |o| o["type"].clone()),
            computed("Reason", "string", |o| o["reason"].clone()),
            computed("Message", "string", |o| o["message"].clone()),
        ],
        "customresourcedefinitions" => vec![computed("Created At", "date", |o| {
            o["metadata"]["creationTimestamp"].clone()
        })],
        _ => Vec::new(),
    }
}

fn columns(rt: &ResourceType) -> Vec<Column> {
    let mut columns = vec![Column {
        name: "Name".into(),
        type_: "string".into(),
        format: "name".into(),
        description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names".into(),
        priority: 0,
        cell: Cell::Computed(|o| o["metadata"]["name"].clone()),
    }];
    if rt.custom {
        columns.extend(rt.columns.iter().map(|c| Column {
            name: c.name.clone(),
            type_: c.type_.clone(),
            format: c.format.clone(),
            description: c.description.clone(),
            priority: c.priority,
            cell: Cell::Path(JsonPath::parse(&c.json_path).ok()),
        }));
    } else {
        columns.extend(builtin_columns(rt));
        if rt.plural != "customresourcedefinitions" {
            columns.push(computed("Age", "string", age));
        }
    }
    columns
}

/// A CRD column's cell: the first match, converted as the API server converts it.
fn path_cell(column: &Column, path: &JsonPath, obj: &Value) -> Value {
    let Some(value) = path.find(obj).into_iter().next() else {
        return Value::Null;
    };
    match (column.type_.as_str(), value) {
        ("date", Value::String(ts)) => json!(age_of(ts)),
        ("string", Value::String(s)) => json!(s),
        ("string", other) => json!(other.to_string()),
        ("integer", Value::Number(n)) => json!(n.as_i64()),
        ("number", Value::Number(n)) => json!(n),
        ("boolean", Value::Bool(b)) => json!(b),
        _ => Value::Null,
    }
}

fn row(columns: &[Column], obj: &Value, include: Include) -> Value {
    let cells: Vec<Value> = columns
        .iter()
        .map(|c| match &c.cell {
            Cell::Computed(f) => f(obj),
            Cell::Path(Some(path)) => path_cell(c, path, obj),
            Cell::Path(None) => Value::Null,
        })
        .collect();
    let mut row = json!({"cells": cells});
    match include {
        Include::None => {}
        Include::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            });
        }
        Include::Object => row["object"] = obj.clone(),
    }
    row
}

/// A Table of `objects` (all of type `rt`); `list_meta` is the list's metadata.
pub fn table(rt: &ResourceType, objects: &[Value], include: Include, list_meta: Value) -> Value {
    let columns = columns(rt);
    let definitions: Vec<Value> = columns
        .iter()
        .map(|c| {
            json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority})
        })
        .collect();
    let rows: Vec<Value> = objects.iter().map(|o| row(&columns, o, include)).collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": definitions,
        "rows": rows,
    })
}

/// How long ago `timestamp` was, the way `kubectl` prints ages (`5s`, `3m20s`, `2d3h`).
pub fn age_of(timestamp: &str) -> String {
    let Ok(then) = OffsetDateTime::parse(timestamp, &Rfc3339) else {
        return "<unknown>".into();
    };
    human_duration((OffsetDateTime::now_utc() - then).whole_seconds())
}

fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    let (m, h) = (s / 60, s / 3600);
    let (d, y) = (h / 24, h / (24 * 365));
    match () {
        _ if s < 120 => format!("{s}s"),
        _ if m < 10 && s % 60 == 0 => format!("{m}m"),
        _ if m < 10 => format!("{m}m{}s", s % 60),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 && m % 60 == 0 => format!("{h}h"),
        _ if h < 8 => format!("{h}h{}m", m % 60),
        _ if h < 48 => format!("{h}h"),
        _ if h < 192 && h % 24 == 0 => format!("{d}d"),
        _ if h < 192 => format!("{d}d{}h", h % 24),
        _ if y < 2 => format!("{d}d"),
        _ if y < 8 && d % 365 == 0 => format!("{y}y"),
        _ if y < 8 => format!("{y}y{}d", d % 365),
        _ => format!("{y}y"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(3600), "60m");
        assert_eq!(human_duration(4 * 3600 + 120), "4h2m");
        assert_eq!(human_duration(50 * 3600), "2d2h");
        assert_eq!(human_duration(30 * 86400), "30d");
    }
}

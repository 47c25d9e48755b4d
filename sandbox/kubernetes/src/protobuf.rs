//! Just enough of the Kubernetes protobuf encoding to read the bodies kubectl's typed clients
//! send (`kubectl create namespace|secret|configmap|serviceaccount|token`, `kubectl auth can-i`,
//! and the `DeleteOptions` of client-go's typed deletes, e.g. helm's): the `k8s\0` envelope
//! around `runtime.Unknown`, and those types' fields. Other protobuf bodies are refused (415).

use base64::Engine;
use serde_json::{Map, Value, json};

const MAGIC: &[u8] = b"k8s\0";

/// How a protobuf field becomes JSON.
enum Field {
    Str(&'static str),
    Bool(&'static str),
    Int(&'static str),
    RepeatedStr(&'static str),
    MapStr(&'static str),
    MapBytes(&'static str),
    Message(&'static str, &'static [(u64, Field)]),
}

const OBJECT_META: &[(u64, Field)] = &[
    (1, Field::Str("name")),
    (2, Field::Str("generateName")),
    (3, Field::Str("namespace")),
    (11, Field::MapStr("labels")),
    (12, Field::MapStr("annotations")),
    (14, Field::RepeatedStr("finalizers")),
];

const NAMESPACE: &[(u64, Field)] = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (
        2,
        Field::Message("spec", &[(1, Field::RepeatedStr("finalizers"))]),
    ),
];

const SECRET: &[(u64, Field)] = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (2, Field::MapBytes("data")),
    (3, Field::Str("type")),
    (4, Field::MapStr("stringData")),
    (5, Field::Bool("immutable")),
];

const CONFIG_MAP: &[(u64, Field)] = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (2, Field::MapStr("data")),
    (3, Field::MapBytes("binaryData")),
    (4, Field::Bool("immutable")),
];

const SERVICE_ACCOUNT: &[(u64, Field)] = &[(1, Field::Message("metadata", OBJECT_META))];

const TOKEN_REQUEST: &[(u64, Field)] = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (
        2,
        Field::Message(
            "spec",
            &[
                (1, Field::RepeatedStr("audiences")),
                (4, Field::Int("expirationSeconds")),
                (
                    3,
                    Field::Message(
                        "boundObjectRef",
                        &[
                            (1, Field::Str("kind")),
                            (2, Field::Str("apiVersion")),
                            (3, Field::Str("name")),
                            (4, Field::Str("uid")),
                        ],
                    ),
                ),
            ],
        ),
    ),
];

const RESOURCE_ATTRIBUTES: &[(u64, Field)] = &[
    (1, Field::Str("namespace")),
    (2, Field::Str("verb")),
    (3, Field::Str("group")),
    (4, Field::Str("version")),
    (5, Field::Str("resource")),
    (6, Field::Str("subresource")),
    (7, Field::Str("name")),
];

const SELF_SUBJECT_ACCESS_REVIEW: &[(u64, Field)] = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (
        2,
        Field::Message(
            "spec",
            &[
                (1, Field::Message("resourceAttributes", RESOURCE_ATTRIBUTES)),
                (
                    2,
                    Field::Message(
                        "nonResourceAttributes",
                        &[(1, Field::Str("path")), (2, Field::Str("verb"))],
                    ),
                ),
            ],
        ),
    ),
];

const SELF_SUBJECT_RULES_REVIEW: &[(u64, Field)] = &[
    (1, Field::Message("metadata", OBJECT_META)),
    (2, Field::Message("spec", &[(1, Field::Str("namespace"))])),
];

const DELETE_OPTIONS: &[(u64, Field)] = &[
    (1, Field::Int("gracePeriodSeconds")),
    (
        2,
        Field::Message(
            "preconditions",
            &[(1, Field::Str("uid")), (2, Field::Str("resourceVersion"))],
        ),
    ),
    (3, Field::Bool("orphanDependents")),
    (4, Field::Str("propagationPolicy")),
    (5, Field::RepeatedStr("dryRun")),
];

/// A field's raw value (fixed-width fields are skipped: none of these types has one).
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(bytes: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first().ok_or("truncated varint")?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}

fn fields(mut bytes: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, String> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let key = varint(&mut bytes)?;
        let wire = match key & 7 {
            0 => Wire::Varint(varint(&mut bytes)?),
            2 => {
                let len = usize::try_from(varint(&mut bytes)?).map_err(|e| e.to_string())?;
                if len > bytes.len() {
                    return Err("truncated field".into());
                }
                let (value, rest) = bytes.split_at(len);
                bytes = rest;
                Wire::Bytes(value)
            }
            1 => {
                bytes = bytes.get(8..).ok_or("truncated fixed64")?;
                continue;
            }
            5 => {
                bytes = bytes.get(4..).ok_or("truncated fixed32")?;
                continue;
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        out.push((key >> 3, wire));
    }
    Ok(out)
}

fn text(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string())
}

fn map_entry(bytes: &[u8]) -> Result<(String, &[u8]), String> {
    let (mut key, mut value) = (String::new(), &[][..]);
    for (number, wire) in fields(bytes)? {
        match (number, wire) {
            (1, Wire::Bytes(b)) => key = text(b)?,
            (2, Wire::Bytes(b)) => value = b,
            _ => {}
        }
    }
    Ok((key, value))
}

fn message(bytes: &[u8], schema: &[(u64, Field)]) -> Result<Value, String> {
    let mut out = Map::new();
    for (number, wire) in fields(bytes)? {
        let Some((_, field)) = schema.iter().find(|(n, _)| *n == number) else {
            continue;
        };
        match (field, wire) {
            (Field::Str(name), Wire::Bytes(b)) => {
                out.insert((*name).into(), json!(text(b)?));
            }
            (Field::Bool(name), Wire::Varint(v)) => {
                out.insert((*name).into(), json!(v != 0));
            }
            (Field::Int(name), Wire::Varint(v)) => {
                // int64 is two's complement in a varint.
                out.insert((*name).into(), json!(v as i64));
            }
            (Field::RepeatedStr(name), Wire::Bytes(b)) => {
                let item = json!(text(b)?);
                let list = out.entry(*name).or_insert_with(|| json!([]));
                list.as_array_mut().ok_or("not a list")?.push(item);
            }
            (Field::MapStr(name) | Field::MapBytes(name), Wire::Bytes(b)) => {
                let (key, value) = map_entry(b)?;
                let value = match field {
                    Field::MapBytes(_) => {
                        json!(base64::engine::general_purpose::STANDARD.encode(value))
                    }
                    _ => json!(text(value)?),
                };
                let map = out.entry(*name).or_insert_with(|| json!({}));
                map.as_object_mut()
                    .map(|m| m.insert(key, value))
                    .ok_or("not a map")?;
            }
            (Field::Message(name, inner), Wire::Bytes(b)) => {
                out.insert((*name).into(), message(b, inner)?);
            }
            _ => return Err(format!("field {number} has an unexpected wire type")),
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a protobuf request body into the JSON object it stands for.
pub fn decode(body: &[u8]) -> Result<Value, String> {
    let unknown = body
        .strip_prefix(MAGIC)
        .ok_or("missing the k8s protobuf envelope")?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    for (number, wire) in fields(unknown)? {
        match (number, wire) {
            (1, Wire::Bytes(type_meta)) => {
                for (n, w) in fields(type_meta)? {
                    match (n, w) {
                        (1, Wire::Bytes(b)) => api_version = text(b)?,
                        (2, Wire::Bytes(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "Secret") => SECRET,
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        ("v1" | "meta.k8s.io/v1", "DeleteOptions") => DELETE_OPTIONS,
        ("authentication.k8s.io/v1", "TokenRequest") => TOKEN_REQUEST,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => SELF_SUBJECT_ACCESS_REVIEW,
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => SELF_SUBJECT_RULES_REVIEW,
        _ => {
            return Err(format!(
                "protobuf is not supported for {api_version} {kind}; send JSON"
            ));
        }
    };
    let mut object = message(raw, schema)?;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_a_secret_in_its_envelope() {
        let meta = [
            field(1, b"creds"),
            field(11, &[field(1, b"app"), field(2, b"bot")].concat()),
        ]
        .concat();
        let secret = [
            field(1, &meta),
            field(2, &[field(1, b"token"), field(2, b"\x00\x01")].concat()),
            field(3, b"Opaque"),
        ]
        .concat();
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &secret)].concat();
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": "creds", "labels": {"app": "bot"}}, "data": {"token": "AAE="}})
        );
        assert!(decode(b"{}").is_err());
    }

    #[test]
    fn decodes_delete_options() {
        let options = [
            vec![1 << 3, 0],
            field(2, &field(1, b"u-1")),
            field(4, b"Foreground"),
        ]
        .concat();
        let type_meta = [field(1, b"meta.k8s.io/v1"), field(2, b"DeleteOptions")].concat();
        let body = [MAGIC.to_vec(), field(1, &type_meta), field(2, &options)].concat();
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": "u-1"}, "propagationPolicy": "Foreground"})
        );
    }
}

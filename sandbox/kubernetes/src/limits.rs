//! The API server's size limits, with its answers: a request body over 3 MiB is `413`, the data
//! of a ConfigMap or Secret over 1 MiB and annotations over 256 KiB (which client-side apply's
//! `last-applied-configuration` reaches first) are `422 Invalid`, and an object whose stored form is over
//! etcd's 1.5 MiB request limit is etcd's `request is too large` (a `500`, as kube-apiserver
//! passes it on).

use crate::resource::ResourceType;
use crate::status::{ApiError, Cause};
use base64::Engine;
use serde_json::Value;

/// kube-apiserver's `MaxRequestBodyBytes` (twice etcd's limit: JSON shrinks into protobuf).
pub const MAX_REQUEST_BODY: usize = 3 * 1024 * 1024;

/// `core.MaxSecretSize`: the data of one ConfigMap or Secret.
pub const MAX_DATA: usize = 1024 * 1024;

/// `TotalAnnotationSizeLimitB`: keys and values of one object's annotations.
pub const MAX_ANNOTATIONS: usize = 256 * 1024;

/// etcd's default `--max-request-bytes`: what one write of an object may carry.
pub const MAX_STORED: usize = 1536 * 1024;

pub fn body_too_large() -> ApiError {
    ApiError::new(
        413,
        "RequestEntityTooLarge",
        format!("Request entity too large: limit is {MAX_REQUEST_BODY}"),
    )
}

/// etcd refusing the write; kube-apiserver answers it as an unknown error.
pub fn stored_too_large() -> ApiError {
    ApiError::new(500, "", "etcdserver: request is too large")
}

fn decoded_len(value: &Value) -> usize {
    let text = value.as_str().unwrap_or_default();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_or(text.len(), |bytes| bytes.len())
}

fn sum(map: &Value, len: impl Fn(&Value) -> usize) -> usize {
    map.as_object()
        .map_or(0, |entries| entries.values().map(len).sum())
}

/// `ValidateAnnotations`' size rule, for every kind.
pub fn annotation_causes(obj: &Value) -> Vec<Cause> {
    let size: usize = obj["metadata"]["annotations"].as_object().map_or(0, |a| {
        a.iter()
            .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
            .sum()
    });
    if size <= MAX_ANNOTATIONS {
        return Vec::new();
    }
    vec![Cause::new(
        "FieldValueTooLong",
        "metadata.annotations",
        format!("Too long: may not be more than {MAX_ANNOTATIONS} bytes"),
    )]
}

/// `ValidateConfigMap` / `ValidateSecret`'s size rule: the bytes of `data` plus `binaryData`
/// (decoded), over 1 MiB. A ConfigMap names the whole object (`[]`), a Secret its `data`.
pub fn data_causes(rt: &ResourceType, obj: &Value) -> Vec<Cause> {
    let (size, field) = match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "configmaps") => (
            sum(&obj["data"], |v| v.as_str().map_or(0, str::len))
                + sum(&obj["binaryData"], decoded_len),
            "[]",
        ),
        ("", "secrets") => (sum(&obj["data"], decoded_len), "data"),
        _ => return Vec::new(),
    };
    if size <= MAX_DATA {
        return Vec::new();
    }
    vec![Cause::new(
        "FieldValueTooLong",
        field,
        format!("Too long: may not be more than {MAX_DATA} bytes"),
    )]
}

/// About how many bytes the object takes in etcd: custom objects are stored as JSON, built-ins
/// as protobuf (strings and bytes as they are, a few bytes of tag and length per field).
pub fn stored_size(rt: &ResourceType, obj: &Value) -> usize {
    if rt.custom {
        return json_len(obj);
    }
    let binary = matches!(
        (rt.group.as_str(), rt.plural.as_str()),
        ("", "secrets") | ("", "configmaps")
    );
    obj.as_object().map_or(0, |fields| {
        fields
            .iter()
            .map(|(key, value)| {
                let bytes =
                    binary && (key == "binaryData" || (key == "data" && rt.plural == "secrets"));
                if bytes {
                    sum(value, |v| decoded_len(v) + 4)
                } else {
                    protobuf_size(value)
                }
            })
            .sum()
    })
}

/// The length of `value` as JSON, counted as it is written rather than kept.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).map_or(0, |()| count.0)
}

fn protobuf_size(value: &Value) -> usize {
    const TAG_AND_LENGTH: usize = 3;
    match value {
        Value::Null => 0,
        Value::Bool(_) => 2,
        Value::Number(_) => 1 + 9,
        Value::String(s) => s.len() + TAG_AND_LENGTH,
        Value::Array(items) => items.iter().map(protobuf_size).sum(),
        // Map keys are stored, field names are not: count the key, which errs on the large side.
        Value::Object(fields) => fields
            .iter()
            .map(|(k, v)| k.len() + TAG_AND_LENGTH + protobuf_size(v))
            .sum(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::builtins;
    use serde_json::json;

    fn builtin(plural: &str) -> ResourceType {
        (*builtins().into_iter().find(|t| t.plural == plural).unwrap()).clone()
    }

    #[test]
    fn configmap_data_and_binary_data_count_together() {
        let cm = builtin("configmaps");
        let half = "x".repeat(MAX_DATA / 2);
        let binary = base64::engine::general_purpose::STANDARD.encode(vec![0u8; MAX_DATA / 2]);
        let at_limit = json!({"data": {"a": half}, "binaryData": {"b": binary}});
        assert!(data_causes(&cm, &at_limit).is_empty());
        let mut over = at_limit.clone();
        over["data"]["c"] = json!("y");
        let causes = data_causes(&cm, &over);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "[]");
        assert_eq!(
            causes[0].message,
            "Too long: may not be more than 1048576 bytes"
        );
    }

    #[test]
    fn secret_data_counts_decoded_bytes() {
        let secret = builtin("secrets");
        // 1 MiB of bytes is 1.33 MiB of base64: still within the limit.
        let full = base64::engine::general_purpose::STANDARD.encode(vec![7u8; MAX_DATA]);
        assert!(data_causes(&secret, &json!({"data": {"k": full}})).is_empty());
        let over = base64::engine::general_purpose::STANDARD.encode(vec![7u8; MAX_DATA + 1]);
        let causes = data_causes(&secret, &json!({"data": {"k": over}}));
        assert_eq!(causes[0].field, "data");
    }

    #[test]
    fn a_full_configmap_fits_in_etcd_and_a_large_custom_object_does_not() {
        let cm = builtin("configmaps");
        let full = json!({"metadata": {"name": "m"}, "data": {"a": "\"".repeat(MAX_DATA)}});
        // JSON would escape every quote (2 MiB); protobuf stores the bytes as they are.
        assert!(stored_size(&cm, &full) < MAX_STORED);
        let mut custom = builtin("configmaps");
        custom.custom = true;
        let big = json!({"spec": {"blob": "a".repeat(MAX_STORED)}});
        assert!(stored_size(&custom, &big) > MAX_STORED);
    }

    #[test]
    fn a_custom_object_counts_as_its_json() {
        let obj = json!({"metadata": {"name": "é\"x"}, "spec": {"n": [1, 2.5, null, true]}});
        assert_eq!(json_len(&obj), serde_json::to_vec(&obj).unwrap().len());
    }
}

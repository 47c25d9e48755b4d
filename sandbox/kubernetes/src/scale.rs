//! The `/scale` subresource of deployments (`kubectl scale`): an `autoscaling/v1 Scale` view of
//! `spec.replicas`.

use serde_json::{Value, json};

/// The Scale a deployment shows.
pub fn to_scale(deployment: &Value) -> Value {
    let meta = &deployment["metadata"];
    let selector: Vec<String> = deployment["spec"]["selector"]["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": deployment["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {
            "replicas": deployment["status"]["replicas"].as_i64().unwrap_or(0),
            "selector": selector.join(","),
        },
    })
}

/// The merge patch of the deployment that a written Scale stands for.
pub fn deployment_patch(scale: &Value) -> Result<Value, String> {
    let replicas = scale["spec"]["replicas"]
        .as_i64()
        .filter(|r| *r >= 0)
        .ok_or("spec.replicas: Invalid value: must be greater than or equal to 0")?;
    let mut patch = json!({"spec": {"replicas": replicas}});
    if let Some(version) = scale["metadata"]["resourceVersion"].as_str() {
        patch["metadata"] = json!({"resourceVersion": version});
    }
    Ok(patch)
}

//! The Services in front of the bot pods (`/status`, `/metrics`) and the Activity pods.

use super::{INSTANCE_LABEL, Inputs, Role, metadata};
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;
use std::collections::BTreeMap;

pub fn service(inputs: &Inputs, name: &str, role: Role) -> Service {
    Service {
        metadata: metadata(inputs, name, role.component()),
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([
                (INSTANCE_LABEL.to_string(), inputs.app.name_any()),
                (role.label().to_string(), "true".to_string()),
            ])),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: role.port().into(),
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            // The operator reads every bot pod's report, a connecting (unready) one's too.
            publish_not_ready_addresses: (role == Role::Bot).then_some(true),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

//! kube-rs 5 (client and runtime) against the sandbox.
use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kd_sandbox_kubernetes::{Config, KubernetesSandbox};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::{conditions, wait::await_condition, watcher};
use kube::{Client, CustomResource, Resource, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "test.kd.io",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus"
)]
pub struct WidgetSpec {
    size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    color: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct WidgetStatus {
    phase: String,
}

/// The CRD as a user would write it: bounds, an enum, a default and a transition rule.
fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.test.kd.io"},
        "spec": {
            "group": "test.kd.io",
            "names": {"kind": "Widget", "plural": "widgets", "shortNames": ["wd"]},
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {
                            "type": "object",
                            "required": ["size"],
                            "properties": {
                                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                                "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
                            },
                            "x-kubernetes-validations": [
                                {"rule": "self.size >= oldSelf.size", "message": "size may not shrink"},
                            ],
                        },
                        "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                    },
                }},
            }],
        },
    }))
    .expect("a valid CRD")
}

async fn client(sandbox: &KubernetesSandbox, token: Option<&str>) -> Client {
    let mut kubeconfig =
        Kubeconfig::from_yaml(&sandbox.kubeconfig_yaml()).expect("kubeconfig parses");
    if let Some(token) = token {
        kubeconfig.auth_infos[0].auth_info.as_mut().unwrap().token = Some(token.to_string().into());
    }
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kube config");
    Client::try_from(config).expect("client")
}

async fn cluster_with_widgets() -> (KubernetesSandbox, Client) {
    let sandbox = KubernetesSandbox::start(Config::default()).await.unwrap();
    let client = client(&sandbox, None).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &widget_crd())
        .await
        .unwrap();
    let established = await_condition(crds, "widgets.test.kd.io", conditions::is_crd_established());
    tokio::time::timeout(Duration::from_secs(30), established)
        .await
        .unwrap()
        .unwrap();
    (sandbox, client)
}

fn widget(name: &str, size: i64) -> Widget {
    Widget::new(name, WidgetSpec { size, color: None })
}

fn api_error(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn crud_patch_and_status() {
    let (_sandbox, client) = cluster_with_widgets().await;
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());

    let created = widgets
        .create(&PostParams::default(), &widget("a", 2))
        .await
        .unwrap();
    assert_eq!(
        created.spec.color.as_deref(),
        Some("red"),
        "schema default applied"
    );
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.uid().is_some() && created.creation_timestamp().is_some());
    let err = api_error(
        widgets
            .create(&PostParams::default(), &widget("a", 2))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "AlreadyExists"));

    let applied = widgets
        .patch("a", &PatchParams::apply("x").force(), &Patch::Apply(json!({
            "apiVersion": "test.kd.io/v1", "kind": "Widget", "metadata": {"name": "a", "labels": {"team": "blue"}},
            "spec": {"size": 3, "color": "blue"},
        })))
        .await
        .unwrap();
    assert_eq!(
        (applied.spec.size, applied.metadata.generation),
        (3, Some(2))
    );
    assert!(
        applied
            .managed_fields()
            .iter()
            .any(|m| m.manager.as_deref() == Some("x"))
    );

    let merged = widgets
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(
        (merged.spec.size, merged.spec.color.as_deref()),
        (4, Some("blue"))
    );

    let status = widgets
        .patch_status(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready"}})),
        )
        .await
        .unwrap();
    assert_eq!(
        status.status,
        Some(WidgetStatus {
            phase: "Ready".into()
        })
    );
    assert_eq!(
        status.metadata.generation,
        Some(3),
        "status writes keep the generation"
    );
    // Writes to the main resource ignore status.
    let mut replaced = status.clone();
    replaced.status = Some(WidgetStatus {
        phase: "Ignored".into(),
    });
    let replaced = widgets
        .replace("a", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(replaced.status.unwrap().phase, "Ready");

    // A stale resourceVersion is a conflict.
    let mut stale = created.clone();
    stale.spec.size = 9;
    let err = api_error(
        widgets
            .replace("a", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(
        err.message.contains("the object has been modified"),
        "{}",
        err.message
    );

    let list = widgets
        .list(&ListParams::default().labels("team=blue"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(
        widgets
            .list(&ListParams::default().labels("team=red"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    widgets.delete("a", &DeleteParams::default()).await.unwrap();
    assert!(widgets.get_opt("a").await.unwrap().is_none());
}

#[tokio::test]
async fn invalid_objects_are_422_with_causes() {
    let (_sandbox, client) = cluster_with_widgets().await;
    let widgets: Api<Widget> = Api::default_namespaced(client);
    let err = api_error(
        widgets
            .create(&PostParams::default(), &widget("big", 99))
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        err.message,
        "Widget.test.kd.io \"big\" is invalid: spec.size: Invalid value: 99: spec.size in body should be less than or equal to 10"
    );
    let causes = err.details.unwrap().causes;
    assert_eq!(causes[0].field, "spec.size");
    assert_eq!(causes[0].reason, "FieldValueInvalid");

    widgets
        .create(&PostParams::default(), &widget("w", 5))
        .await
        .unwrap();
    let err = api_error(
        widgets
            .patch(
                "w",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"size": 2}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message
            .ends_with("spec: Invalid value: \"object\": size may not shrink"),
        "{}",
        err.message
    );

    // Dry run validates without storing.
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    widgets.create(&dry, &widget("dry", 1)).await.unwrap();
    assert!(widgets.get_opt("dry").await.unwrap().is_none());
    // Custom resources refuse strategic merge patches, as the API server does.
    let err = api_error(
        widgets
            .patch(
                "w",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"size": 6}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 415);
}

#[tokio::test]
async fn status_writes_validate_the_status_and_keep_the_rest() {
    let (_sandbox, client) = cluster_with_widgets().await;
    let widgets: Api<Widget> = Api::default_namespaced(client);
    let created = widgets
        .create(&PostParams::default(), &widget("s", 2))
        .await
        .unwrap();
    // The spec a status write carries is ignored, not validated: 99 is over the maximum.
    let written = widgets
        .patch_status(
            "s",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 99}, "status": {"phase": "Ready"}})),
        )
        .await
        .unwrap();
    assert_eq!(written.spec, created.spec);
    assert_eq!(written.status.as_ref().unwrap().phase, "Ready");
    assert_eq!(written.metadata.generation, Some(1));
    assert_ne!(written.resource_version(), created.resource_version());
    let applied = widgets
        .patch_status(
            "s",
            &PatchParams::apply("op").force(),
            &Patch::Apply(json!({
                "apiVersion": "test.kd.io/v1", "kind": "Widget", "metadata": {"name": "s"},
                "spec": {"size": 1}, "status": {"phase": "Done"},
            })),
        )
        .await
        .unwrap();
    assert_eq!(
        (
            applied.spec.size,
            applied.status.as_ref().unwrap().phase.as_str()
        ),
        (2, "Done")
    );
    assert!(applied.managed_fields().iter().any(|m| {
        m.manager.as_deref() == Some("op") && m.subresource.as_deref() == Some("status")
    }));
    // An invalid status is refused, by merge patch and by apply alike.
    let err = api_error(
        widgets
            .patch_status(
                "s",
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"phase": 7}})),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!((err.code, err.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        err.message,
        "Widget.test.kd.io \"s\" is invalid: status.phase: Invalid value: \"integer\": status.phase in body must be of type string: \"integer\""
    );
    assert_eq!(err.details.unwrap().causes[0].field, "status.phase");
    let err = api_error(
        widgets
            .patch_status(
                "s",
                &PatchParams::apply("op").force(),
                &Patch::Apply(json!({
                    "apiVersion": "test.kd.io/v1", "kind": "Widget", "metadata": {"name": "s"},
                    "status": {"phase": ["Done"]},
                })),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    let stored = widgets.get("s").await.unwrap();
    assert_eq!(stored.status.as_ref().unwrap().phase, "Done");
    assert_eq!(stored.resource_version(), applied.metadata.resource_version);
}

#[tokio::test]
async fn metadata_lists_and_gets_carry_only_metadata() {
    let (_sandbox, client) = cluster_with_widgets().await;
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    for name in ["a", "b"] {
        widgets
            .create(&PostParams::default(), &widget(name, 2))
            .await
            .unwrap();
    }
    let get = |path: &str, accept: &str| {
        let request = axum::http::Request::get(path)
            .header("Accept", accept)
            .body(Vec::new())
            .unwrap();
        let client = client.clone();
        async move {
            let text = client.request_text(request).await.unwrap();
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        }
    };
    let base = "/apis/test.kd.io/v1/namespaces/default/widgets";
    let list = get(
        base,
        "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json",
    )
    .await;
    assert_eq!(list["kind"], "PartialObjectMetadataList");
    assert_eq!(list["apiVersion"], "meta.k8s.io/v1");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        assert_eq!(item["kind"], "PartialObjectMetadata");
        assert!(item.get("spec").is_none(), "metadata only: {item}");
        assert!(item["metadata"]["resourceVersion"].is_string());
    }
    let one = get(
        &format!("{base}/a"),
        "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json",
    )
    .await;
    assert_eq!(one["kind"], "PartialObjectMetadata");
    assert_eq!(one["metadata"]["name"], "a");
    assert!(one.get("spec").is_none());
    // kube-rs reads them as it reads the API server's.
    let names: Vec<String> = widgets
        .list_metadata(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|m| m.metadata.name.unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(
        widgets
            .get_metadata("b")
            .await
            .unwrap()
            .metadata
            .name
            .as_deref(),
        Some("b")
    );
}

#[tokio::test]
async fn a_list_is_the_objects_as_served() {
    let (_sandbox, client) = cluster_with_widgets().await;
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    for name in ["a", "b"] {
        widgets
            .create(&PostParams::default(), &widget(name, 2))
            .await
            .unwrap();
    }
    let get = |path: &str| {
        let request = axum::http::Request::get(path).body(Vec::new()).unwrap();
        let client = client.clone();
        async move {
            let text = client.request_text(request).await.unwrap();
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        }
    };
    let base = "/apis/test.kd.io/v1/namespaces/default/widgets";
    let list = get(base).await;
    let a = get(&format!("{base}/a")).await;
    let b = get(&format!("{base}/b")).await;
    let revision = list["metadata"]["resourceVersion"].clone();
    assert_eq!(
        list,
        json!({"kind": "WidgetList", "apiVersion": "test.kd.io/v1",
               "metadata": {"resourceVersion": revision}, "items": [a, b]})
    );
    let page = get(&format!("{base}?limit=1")).await;
    assert_eq!(page["items"], json!([a]));
    assert_eq!(page["metadata"]["remainingItemCount"], 1);
}

async fn watch_events(
    api: Api<Widget>,
    config: watcher::Config,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut stream = watcher(api, config).boxed();
        while let Ok(Some(event)) = stream.try_next().await {
            let line = match event {
                watcher::Event::Init => "init".to_string(),
                watcher::Event::InitApply(w) => format!("init-apply {}", w.name_any()),
                watcher::Event::InitDone => "init-done".to_string(),
                watcher::Event::Apply(w) => format!("apply {} {}", w.name_any(), w.spec.size),
                watcher::Event::Delete(w) => format!("delete {}", w.name_any()),
            };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

async fn expect(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>, wanted: &str) {
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = rx.recv().await {
            if line == wanted {
                return;
            }
        }
        panic!("watch ended before {wanted:?}");
    })
    .await;
    assert!(found.is_ok(), "no {wanted:?} within 30 s");
}

#[tokio::test]
async fn watcher_sees_added_modified_deleted() {
    let (_sandbox, client) = cluster_with_widgets().await;
    let widgets: Api<Widget> = Api::default_namespaced(client);
    widgets
        .create(&PostParams::default(), &widget("before", 1))
        .await
        .unwrap();
    for config in [
        watcher::Config::default(),
        watcher::Config::default().streaming_lists(),
    ] {
        let mut events = watch_events(widgets.clone(), config).await;
        expect(&mut events, "init-apply before").await;
        expect(&mut events, "init-done").await;
        widgets
            .create(&PostParams::default(), &widget("new", 1))
            .await
            .unwrap();
        expect(&mut events, "apply new 1").await;
        widgets
            .patch(
                "new",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"size": 2}})),
            )
            .await
            .unwrap();
        expect(&mut events, "apply new 2").await;
        widgets
            .delete("new", &DeleteParams::default())
            .await
            .unwrap();
        expect(&mut events, "delete new").await;
    }
}

#[tokio::test]
async fn a_selector_watch_sees_objects_enter_and_leave() {
    let (_sandbox, client) = cluster_with_widgets().await;
    let widgets: Api<Widget> = Api::default_namespaced(client);
    widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .unwrap();
    let mut events = watch_events(
        widgets.clone(),
        watcher::Config::default().labels("shown=yes"),
    )
    .await;
    expect(&mut events, "init-done").await;
    let label = |value: &str| Patch::Merge(json!({"metadata": {"labels": {"shown": value}}}));
    widgets
        .patch("w", &PatchParams::default(), &label("yes"))
        .await
        .unwrap();
    expect(&mut events, "apply w 1").await;
    widgets
        .patch("w", &PatchParams::default(), &label("no"))
        .await
        .unwrap();
    expect(&mut events, "delete w").await;
}

#[tokio::test]
async fn finalizers_and_garbage_collection() {
    let (_sandbox, client) = cluster_with_widgets().await;
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    let maps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let mut held = widget("held", 1);
    held.metadata.finalizers = Some(vec!["test.kd.io/cleanup".into()]);
    let held = widgets.create(&PostParams::default(), &held).await.unwrap();
    let owned = ConfigMap {
        metadata: kube::core::ObjectMeta {
            name: Some("held-config".into()),
            owner_references: Some(vec![held.controller_owner_ref(&()).unwrap()]),
            ..Default::default()
        },
        ..Default::default()
    };
    maps.create(&PostParams::default(), &owned).await.unwrap();

    widgets
        .delete("held", &DeleteParams::default())
        .await
        .unwrap();
    let pending = widgets.get("held").await.unwrap();
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert!(
        maps.get_opt("held-config").await.unwrap().is_some(),
        "owner still exists"
    );
    widgets
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    assert!(widgets.get_opt("held").await.unwrap().is_none());
    assert!(
        maps.get_opt("held-config").await.unwrap().is_none(),
        "dependent collected"
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused() {
    let sandbox = KubernetesSandbox::start(Config::default()).await.unwrap();
    let good = client(&sandbox, None).await;
    let maps: Api<ConfigMap> = Api::default_namespaced(good);
    assert!(
        maps.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let bad = client(&sandbox, Some("not-the-token")).await;
    let err = Api::<ConfigMap>::default_namespaced(bad)
        .list(&ListParams::default())
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (401, "Unauthorized"))
        }
        other => panic!("expected 401, got {other:?}"),
    }
    assert_eq!(Widget::kind(&()), "Widget");
}

#[tokio::test]
async fn recorder_events_are_the_core_events_kubectl_describe_lists() {
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let sandbox = KubernetesSandbox::start(Config::default()).await.unwrap();
    let client = client(&sandbox, None).await;
    let maps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let map = ConfigMap {
        metadata: kube::core::ObjectMeta {
            name: Some("cfg".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let map = maps.create(&PostParams::default(), &map).await.unwrap();
    let reporter = Reporter {
        controller: "kd-test".into(),
        instance: Some("kd-test-0".into()),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let event = Event {
        type_: EventType::Warning,
        reason: "SecretMissing".into(),
        note: Some("Secret x is missing".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    // The second publish patches the first event's series, through events.k8s.io/v1.
    for _ in 0..2 {
        recorder
            .publish(&event, &map.object_ref(&()))
            .await
            .unwrap();
    }
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::default_namespaced(client.clone());
    let selector = format!("involvedObject.uid={}", map.uid().unwrap());
    let listed = core
        .list(&ListParams::default().fields(&selector))
        .await
        .unwrap()
        .items;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let seen = &listed[0];
    assert_eq!(seen.message.as_deref(), Some("Secret x is missing"));
    assert_eq!(seen.reason.as_deref(), Some("SecretMissing"));
    assert_eq!(seen.type_.as_deref(), Some("Warning"));
    assert_eq!(seen.reporting_component.as_deref(), Some("kd-test"));
    assert_eq!(seen.involved_object.name.as_deref(), Some("cfg"));
    assert_eq!(seen.series.as_ref().and_then(|s| s.count), Some(2));
    let new_api: Api<k8s_openapi::api::events::v1::Event> = Api::default_namespaced(client);
    let same = new_api.get(&seen.name_any()).await.unwrap();
    assert_eq!(same.note.as_deref(), Some("Secret x is missing"));
    assert_eq!(same.regarding.unwrap().uid, map.uid());
}

#[tokio::test]
async fn size_limits_are_the_api_servers() {
    use k8s_openapi::ByteString;
    use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
    use k8s_openapi::api::core::v1::Secret;
    const MIB: usize = 1024 * 1024;
    let sandbox = KubernetesSandbox::start(Config::default()).await.unwrap();
    let client = client(&sandbox, None).await;
    let maps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let map = |name: &str, sizes: &[usize]| ConfigMap {
        metadata: kube::core::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            sizes
                .iter()
                .enumerate()
                .map(|(i, n)| (format!("part-{i}"), "x".repeat(*n)))
                .collect(),
        ),
        ..Default::default()
    };

    // Exactly 1 MiB of data, over two keys, is accepted; one byte more is not.
    maps.create(&PostParams::default(), &map("full", &[MIB / 2, MIB / 2]))
        .await
        .unwrap();
    let refused = api_error(
        maps.create(
            &PostParams::default(),
            &map("over", &[MIB / 2, MIB / 2 + 1]),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!((refused.code, refused.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        refused.message,
        "ConfigMap \"over\" is invalid: []: Too long: may not be more than 1048576 bytes"
    );
    assert!(maps.get_opt("over").await.unwrap().is_none());
    // Growing past it by a patch changes nothing.
    let grown = api_error(
        maps.patch(
            "full",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"more": "y"}})),
        )
        .await
        .unwrap_err(),
    );
    assert_eq!(grown.code, 422);
    assert!(
        !maps
            .get("full")
            .await
            .unwrap()
            .data
            .unwrap()
            .contains_key("more")
    );

    // Secrets count the decoded bytes, and name `data`.
    let secrets: Api<Secret> = Api::default_namespaced(client.clone());
    let secret = |name: &str, n: usize| Secret {
        metadata: kube::core::ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some([("blob".to_string(), ByteString(vec![1; n]))].into()),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret("full", MIB))
        .await
        .unwrap();
    let refused = api_error(
        secrets
            .create(&PostParams::default(), &secret("over", MIB + 1))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        refused.message,
        "Secret \"over\" is invalid: data: Too long: may not be more than 1048576 bytes"
    );

    // A body over 3 MiB is refused before it is read as an object.
    let huge = api_error(
        maps.create(&PostParams::default(), &map("huge", &[3 * MIB]))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (huge.code, huge.reason.as_str(), huge.message.as_str()),
        (
            413,
            "RequestEntityTooLarge",
            "Request entity too large: limit is 3145728"
        )
    );

    // Within the body limit but over etcd's 1.5 MiB: etcd's own refusal, as a 500.
    let leases: Api<Lease> = Api::default_namespaced(client);
    let lease = Lease {
        metadata: kube::core::ObjectMeta {
            name: Some("big".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("h".repeat(2 * MIB)),
            ..Default::default()
        }),
    };
    let etcd = api_error(
        leases
            .create(&PostParams::default(), &lease)
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (etcd.code, etcd.message.as_str()),
        (500, "etcdserver: request is too large")
    );
    assert!(leases.get_opt("big").await.unwrap().is_none());
}

fn owned_map(
    name: &str,
    owner: k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference,
    finalizer: Option<&str>,
) -> ConfigMap {
    ConfigMap {
        metadata: kube::core::ObjectMeta {
            name: Some(name.into()),
            owner_references: Some(vec![owner]),
            finalizers: finalizer.map(|f| vec![f.to_string()]),
            ..Default::default()
        },
        ..Default::default()
    }
}

#[tokio::test]
async fn deletion_follows_the_api_server() {
    use kube::api::Preconditions;
    let (_sandbox, client) = cluster_with_widgets().await;
    let widgets: Api<Widget> = Api::default_namespaced(client.clone());
    let maps: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let pp = PostParams::default();

    // Deleted at once: a Success Status naming it, not the object.
    widgets.create(&pp, &widget("plain", 1)).await.unwrap();
    let status = widgets
        .delete("plain", &DeleteParams::default())
        .await
        .unwrap()
        .right()
        .expect("a Status");
    assert_eq!(status.details.unwrap().name, "plain");

    // Preconditions are checked first, worded as BeforeDelete words them.
    let mut held = widget("held", 1);
    held.metadata.finalizers = Some(vec!["test.kd.io/cleanup".into()]);
    let held = widgets.create(&pp, &held).await.unwrap();
    let wrong = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some("not-its-uid".into()),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let err = api_error(widgets.delete("held", &wrong).await.unwrap_err());
    assert_eq!(err.code, 409);
    assert_eq!(
        err.message,
        format!(
            "Operation cannot be fulfilled on Widget.test.kd.io \"held\": the UID in the precondition (not-its-uid) does not match the UID in record ({}). The object might have been deleted and then recreated",
            held.uid().unwrap()
        )
    );
    // Finalizers keep it, marked; deleting it again returns it unchanged.
    let first = widgets
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("the object, still there");
    assert!(first.metadata.deletion_timestamp.is_some());
    assert_eq!(
        first.metadata.generation,
        Some(2),
        "deletion moves generation"
    );
    let again = widgets
        .delete("held", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(again.resource_version(), first.resource_version());
    // Finalizers may go but not come once deletion started.
    let err = api_error(
        widgets
            .patch(
                "held",
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"finalizers": ["test.kd.io/cleanup", "test.kd.io/more"]}}),
                ),
            )
            .await
            .unwrap_err(),
    );
    assert_eq!(err.code, 422);
    assert!(
        err.message.ends_with(r#"metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{"test.kd.io/more"}"#),
        "{}",
        err.message
    );

    // Foreground: dependents go first; the owner waits for those that block it.
    let owner = widgets.create(&pp, &widget("owner", 1)).await.unwrap();
    let mut blocking = owner.controller_owner_ref(&()).unwrap();
    blocking.block_owner_deletion = Some(true);
    let loose = owner.object_ref(&());
    let loose = k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: "test.kd.io/v1".into(),
        kind: "Widget".into(),
        name: "owner".into(),
        uid: loose.uid.unwrap(),
        ..Default::default()
    };
    maps.create(
        &pp,
        &owned_map("blocker", blocking, Some("test.kd.io/hold")),
    )
    .await
    .unwrap();
    maps.create(&pp, &owned_map("loose", loose, None))
        .await
        .unwrap();
    let marked = widgets
        .delete("owner", &DeleteParams::foreground())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert!(
        marked
            .finalizers()
            .contains(&"foregroundDeletion".to_string())
    );
    assert!(maps.get_opt("loose").await.unwrap().is_none());
    let blocker = maps.get("blocker").await.unwrap();
    assert!(blocker.metadata.deletion_timestamp.is_some());
    assert!(
        widgets.get_opt("owner").await.unwrap().is_some(),
        "held by blocker"
    );
    maps.patch(
        "blocker",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(maps.get_opt("blocker").await.unwrap().is_none());
    assert!(widgets.get_opt("owner").await.unwrap().is_none());

    // Orphan: the dependent stays, without its reference.
    let parent = widgets.create(&pp, &widget("parent", 1)).await.unwrap();
    let child = owned_map("child", parent.controller_owner_ref(&()).unwrap(), None);
    maps.create(&pp, &child).await.unwrap();
    widgets
        .delete("parent", &DeleteParams::orphan())
        .await
        .unwrap();
    assert!(widgets.get_opt("parent").await.unwrap().is_none());
    let child = maps.get("child").await.unwrap();
    assert!(
        child
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );

    // Background (the default): a dependent goes with its owner.
    let boss = widgets.create(&pp, &widget("boss", 1)).await.unwrap();
    let report = owned_map("report", boss.controller_owner_ref(&()).unwrap(), None);
    maps.create(&pp, &report).await.unwrap();
    widgets
        .delete("boss", &DeleteParams::background())
        .await
        .unwrap();
    assert!(maps.get_opt("report").await.unwrap().is_none());
}

#[tokio::test]
async fn an_apply_naming_no_object_applies_to_the_one_on_the_url_but_creates_none() {
    let sandbox = KubernetesSandbox::start(Config::default()).await.unwrap();
    let client = client(&sandbox, None).await;
    let maps: Api<ConfigMap> = Api::namespaced(client, "default");
    let params = PatchParams::apply("first");
    let unnamed = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}});
    let err = maps
        .patch("lease-like", &params, &Patch::Apply(&unnamed))
        .await
        .unwrap_err();
    assert_eq!(api_error(err).code, 400);
    maps.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "lease-like"}})).unwrap(),
    )
    .await
    .unwrap();
    let applied = maps
        .patch("lease-like", &params, &Patch::Apply(&unnamed))
        .await
        .unwrap();
    assert_eq!(applied.name_any(), "lease-like");
    assert_eq!(applied.data.unwrap()["k"], "v");
}

//! ServiceAccount tokens and RBAC: kube-rs 5 with a ServiceAccount's token (as a workload pod
//! would run), and the real kubectl through `create token`, `--as` and `auth can-i`.
mod common;

use common::Cluster;
use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kd_sandbox_kubernetes::{Config, KubernetesSandbox};
use kube::api::{Api, DeleteParams, ListParams, PostParams, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::Status;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::time::Duration;

const BOT: &str = "system:serviceaccount:app:bot";

async fn client(kubeconfig: &str) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(kubeconfig).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kube config");
    Client::try_from(config).expect("client")
}

/// A client with the ServiceAccount `app/bot`'s token, as its pod would have it.
async fn bot(sandbox: &KubernetesSandbox) -> Client {
    let token = sandbox
        .service_account_token("app", "bot")
        .expect("the ServiceAccount exists");
    client(&sandbox.kubeconfig_yaml_for_token(&token)).await
}

/// Creates an object through `api` (the admin's, in the tests' setup).
async fn create<K>(api: Api<K>, object: Value) -> K
where
    K: Clone + DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object).expect("a valid object");
    api.create(&PostParams::default(), &object)
        .await
        .expect("created")
}

/// Namespace `app` with the ServiceAccount `bot` and ConfigMaps `app-config`, `app-config-0`
/// and `other`; returns the admin's client.
async fn app(sandbox: &KubernetesSandbox) -> Client {
    use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
    let admin = client(&sandbox.kubeconfig_yaml()).await;
    create(
        Api::<Namespace>::all(admin.clone()),
        json!({"metadata": {"name": "app"}}),
    )
    .await;
    create(
        Api::<ServiceAccount>::namespaced(admin.clone(), "app"),
        json!({"metadata": {"name": "bot"}}),
    )
    .await;
    for name in ["app-config", "app-config-0", "other"] {
        create(
            Api::<ConfigMap>::namespaced(admin.clone(), "app"),
            json!({"metadata": {"name": name}, "data": {"k": name}}),
        )
        .await;
    }
    admin
}

/// What the operator will give the workload: its own ConfigMaps, by name.
async fn config_reader_role(admin: &Client) {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    create(Api::<Role>::namespaced(admin.clone(), "app"),
        json!({
            "metadata": {"name": "bot-config"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list", "watch"],
                "resourceNames": ["app-config", "app-config-0"]}],
        }),
    )
    .await;
    create(Api::<RoleBinding>::namespaced(admin.clone(), "app"),
        json!({
            "metadata": {"name": "bot-config"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "bot-config"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "app"}],
        }),
    )
    .await;
}

fn api_error(err: kube::Error) -> Status {
    match err {
        kube::Error::Api(status) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Asserts a 403 with the API server's message; returns its details.
fn assert_forbidden(err: kube::Error, message: &str) -> kube::core::response::StatusDetails {
    let status = api_error(err);
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (403, "Forbidden", message)
    );
    status.details.expect("details")
}

#[tokio::test]
async fn a_role_with_resource_names_allows_only_its_config_maps() {
    let sandbox = KubernetesSandbox::start(Config::default()).await.unwrap();
    let admin = app(&sandbox).await;
    let bot = bot(&sandbox).await;
    let maps: Api<ConfigMap> = Api::namespaced(bot.clone(), "app");
    // No binding yet: nothing at all.
    assert_forbidden(
        maps.get("app-config").await.unwrap_err(),
        &format!(
            r#"configmaps "app-config" is forbidden: User "{BOT}" cannot get resource "configmaps" in API group "" in the namespace "app""#
        ),
    );
    config_reader_role(&admin).await;
    assert_eq!(
        maps.get("app-config").await.unwrap().data.unwrap()["k"],
        "app-config"
    );
    maps.get("app-config-0").await.unwrap();
    let details = assert_forbidden(
        maps.get("other").await.unwrap_err(),
        &format!(
            r#"configmaps "other" is forbidden: User "{BOT}" cannot get resource "configmaps" in API group "" in the namespace "app""#
        ),
    );
    assert_eq!(
        (
            details.name.as_str(),
            details.group.as_str(),
            details.kind.as_str()
        ),
        ("other", "", "configmaps")
    );
    // list and watch name an object only through the field selector.
    assert_forbidden(
        maps.list(&ListParams::default()).await.unwrap_err(),
        &format!(
            r#"configmaps is forbidden: User "{BOT}" cannot list resource "configmaps" in API group "" in the namespace "app""#
        ),
    );
    let one = maps
        .list(&ListParams::default().fields("metadata.name=app-config"))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 1);
    assert_forbidden(
        maps.watch(&WatchParams::default(), "0")
            .await
            .err()
            .unwrap(),
        &format!(
            r#"configmaps is forbidden: User "{BOT}" cannot watch resource "configmaps" in API group "" in the namespace "app""#
        ),
    );
    assert_forbidden(
        maps.watch(&WatchParams::default().fields("metadata.name=other"), "0")
            .await
            .err()
            .unwrap(),
        &format!(
            r#"configmaps "other" is forbidden: User "{BOT}" cannot watch resource "configmaps" in API group "" in the namespace "app""#
        ),
    );
    // The workload's watcher, as kube-runtime runs it: list then watch, both by name.
    let mut events = watcher(
        maps.clone(),
        watcher::Config::default().fields("metadata.name=app-config"),
    )
    .boxed();
    let admin_maps: Api<ConfigMap> = Api::namespaced(admin.clone(), "app");
    let mut seen = Vec::new();
    let changed = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.next().await {
            match event.expect("the watch is allowed") {
                watcher::Event::InitDone => {
                    let patch = json!({"data": {"k": "changed"}});
                    admin_maps
                        .patch(
                            "app-config",
                            &kube::api::PatchParams::default(),
                            &kube::api::Patch::Merge(&patch),
                        )
                        .await
                        .unwrap();
                }
                watcher::Event::InitApply(cm) | watcher::Event::Apply(cm) => {
                    seen.push(cm.name_any());
                    if cm.data.unwrap_or_default()["k"] == "changed" {
                        return;
                    }
                }
                _ => {}
            }
        }
    })
    .await;
    assert!(changed.is_ok(), "the change never came: {seen:?}");
    assert!(seen.iter().all(|n| n == "app-config"), "{seen:?}");
    // Never create, nor anything in another namespace.
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "app-config-1"}})).unwrap();
    assert_forbidden(
        maps.create(&PostParams::default(), &cm).await.unwrap_err(),
        &format!(
            r#"configmaps is forbidden: User "{BOT}" cannot create resource "configmaps" in API group "" in the namespace "app""#
        ),
    );
    let elsewhere: Api<ConfigMap> = Api::namespaced(bot.clone(), "default");
    assert_eq!(
        api_error(elsewhere.get("app-config").await.unwrap_err()).code,
        403
    );
    // Without its binding, the role grants nothing any more.
    let bindings: Api<k8s_openapi::api::rbac::v1::RoleBinding> =
        Api::namespaced(admin.clone(), "app");
    bindings
        .delete("bot-config", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(
        api_error(maps.get("app-config").await.unwrap_err()).code,
        403
    );
}

#[tokio::test]
async fn a_role_binding_to_a_cluster_role_grants_it_in_its_namespace_only() {
    use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, RoleBinding};
    let sandbox = KubernetesSandbox::start(Config::default()).await.unwrap();
    let admin = app(&sandbox).await;
    let bot = bot(&sandbox).await;
    create(
        Api::<ClusterRole>::all(admin.clone()),
        json!({
            "metadata": {"name": "config-lister"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
        }),
    )
    .await;
    // Bound to the group of the namespace's ServiceAccounts, in `app` only.
    create(Api::<RoleBinding>::namespaced(admin.clone(), "app"),
        json!({
            "metadata": {"name": "list-configs"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "config-lister"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:serviceaccounts:app"}],
        }),
    )
    .await;
    let in_app: Api<ConfigMap> = Api::namespaced(bot.clone(), "app");
    assert_eq!(
        in_app
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    let in_default: Api<ConfigMap> = Api::namespaced(bot.clone(), "default");
    assert_eq!(
        api_error(in_default.list(&ListParams::default()).await.unwrap_err()).code,
        403
    );
    let everywhere: Api<ConfigMap> = Api::all(bot.clone());
    assert_forbidden(
        everywhere.list(&ListParams::default()).await.unwrap_err(),
        &format!(
            r#"configmaps is forbidden: User "{BOT}" cannot list resource "configmaps" in API group "" at the cluster scope"#
        ),
    );
    // A binding whose role is missing: the API server says so in the refusal.
    create(Api::<ClusterRoleBinding>::all(admin.clone()),
        json!({
            "metadata": {"name": "list-everywhere"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "missing"},
            "subjects": [{"kind": "User", "name": BOT}],
        }),
    )
    .await;
    assert_forbidden(
        everywhere.list(&ListParams::default()).await.unwrap_err(),
        &format!(
            r#"configmaps is forbidden: User "{BOT}" cannot list resource "configmaps" in API group "" at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found"#
        ),
    );
    create(Api::<ClusterRoleBinding>::all(admin.clone()),
        json!({
            "metadata": {"name": "list-configs"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "config-lister"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "app"}],
        }),
    )
    .await;
    assert_eq!(
        everywhere
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    // list is not get.
    assert_eq!(api_error(in_app.get("other").await.unwrap_err()).code, 403);
    // A ServiceAccount may not impersonate without `impersonate`.
    let mut kubeconfig = Kubeconfig::from_yaml(
        &sandbox.kubeconfig_yaml_for_token(&sandbox.service_account_token("app", "bot").unwrap()),
    )
    .unwrap();
    kubeconfig.auth_infos[0]
        .auth_info
        .as_mut()
        .unwrap()
        .impersonate = Some("someone".into());
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    let impersonating: Api<ConfigMap> = Api::namespaced(Client::try_from(config).unwrap(), "app");
    assert_forbidden(
        impersonating
            .list(&ListParams::default())
            .await
            .unwrap_err(),
        &format!(
            r#"users "someone" is forbidden: User "{BOT}" cannot impersonate resource "users" in API group "" at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io "missing" not found"#
        ),
    );
}

#[tokio::test]
async fn a_token_dies_with_its_service_account() {
    use k8s_openapi::api::core::v1::ServiceAccount;
    let sandbox = KubernetesSandbox::start(Config::default()).await.unwrap();
    let admin = app(&sandbox).await;
    config_reader_role(&admin).await;
    let bot = bot(&sandbox).await;
    let maps: Api<ConfigMap> = Api::namespaced(bot, "app");
    maps.get("app-config").await.unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), "app");
    accounts
        .delete("bot", &DeleteParams::default())
        .await
        .unwrap();
    let unauthorized = |err: kube::Error| {
        let status = api_error(err);
        (status.code, status.reason)
    };
    assert_eq!(
        unauthorized(maps.get("app-config").await.unwrap_err()),
        (401, "Unauthorized".to_string())
    );
    // Another ServiceAccount of the same name is not the one the token was for.
    create(
        Api::<ServiceAccount>::namespaced(admin.clone(), "app"),
        json!({"metadata": {"name": "bot"}}),
    )
    .await;
    assert_eq!(
        unauthorized(maps.get("app-config").await.unwrap_err()),
        (401, "Unauthorized".to_string())
    );
    assert!(sandbox.service_account_token("app", "nobody").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_token_issues_the_service_accounts_token() {
    let cluster = Cluster::start().await;
    cluster.ok(&["create", "namespace", "app"]).await;
    cluster
        .ok(&["create", "serviceaccount", "bot", "-n", "app"])
        .await;
    let token = cluster
        .ok(&["create", "token", "bot", "-n", "app", "--duration=20m"])
        .await;
    let token = token.trim();
    assert!(token.len() >= 32, "{token}");
    // The token is the ServiceAccount's: authenticated, and refused what RBAC does not grant.
    let bot = client(&cluster.sandbox.kubeconfig_yaml_for_token(token)).await;
    assert_forbidden(
        Api::<ConfigMap>::namespaced(bot, "app")
            .list(&ListParams::default())
            .await
            .unwrap_err(),
        &format!(
            r#"configmaps is forbidden: User "{BOT}" cannot list resource "configmaps" in API group "" in the namespace "app""#
        ),
    );
    let request = cluster
        .ok(&["create", "token", "bot", "-n", "app", "-o", "json"])
        .await;
    let request: Value = serde_json::from_str(&request).unwrap();
    assert_eq!(request["kind"], "TokenRequest");
    assert_eq!(request["spec"]["expirationSeconds"], 3600);
    let asked = cluster
        .ok(&[
            "create",
            "token",
            "bot",
            "-n",
            "app",
            "--duration=20m",
            "-o",
            "jsonpath={.spec.expirationSeconds}",
        ])
        .await;
    assert_eq!(asked, "1200");
    let expires = request["status"]["expirationTimestamp"].as_str().unwrap();
    let expires =
        time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
            .unwrap();
    let left = expires - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::minutes(59) && left <= time::Duration::hours(1),
        "{left}"
    );
    let missing = cluster
        .fails(&["create", "token", "nobody", "-n", "app"])
        .await;
    assert!(
        missing.contains(r#"serviceaccounts "nobody" not found"#),
        "{missing}"
    );
    let short = cluster
        .fails(&["create", "token", "bot", "-n", "app", "--duration=5m"])
        .await;
    assert!(
        short.contains("spec.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes"),
        "{short}"
    );
    let core = cluster.ok(&["get", "--raw", "/api/v1"]).await;
    let core: Value = serde_json::from_str(&core).unwrap();
    let token_resource = core["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "serviceaccounts/token")
        .expect("the token subresource in discovery");
    assert_eq!(token_resource["verbs"], json!(["create"]));
    assert_eq!(token_resource["kind"], "TokenRequest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_as_and_auth_can_i_see_the_roles_rules() {
    let cluster = Cluster::start().await;
    let admin = app(&cluster.sandbox).await;
    config_reader_role(&admin).await;
    let as_bot = format!("--as={BOT}");
    let got = cluster
        .ok(&[
            "get",
            "configmap",
            "app-config",
            "-n",
            "app",
            &as_bot,
            "-o",
            "name",
        ])
        .await;
    assert_eq!(got.trim(), "configmap/app-config");
    let refused = cluster
        .fails(&["get", "configmap", "other", "-n", "app", &as_bot])
        .await;
    assert_eq!(
        refused.trim(),
        format!(
            r#"Error from server (Forbidden): configmaps "other" is forbidden: User "{BOT}" cannot get resource "configmaps" in API group "" in the namespace "app""#
        )
    );
    let listing = cluster
        .fails(&["get", "configmaps", "-n", "app", &as_bot])
        .await;
    assert!(
        listing.contains(&format!(
            r#"configmaps is forbidden: User "{BOT}" cannot list resource "configmaps" in API group "" in the namespace "app""#
        )),
        "{listing}"
    );
    let wider = cluster
        .ok(&[
            "get",
            "configmaps",
            "-n",
            "app",
            &as_bot,
            "--as-group=system:masters",
            "-o",
            "name",
        ])
        .await;
    assert_eq!(wider.lines().count(), 3, "{wider}");
    let can_i = |what: &'static str| {
        let args = ["auth", "can-i", "get", what, "-n", "app", as_bot.as_str()];
        let cluster = &cluster;
        async move {
            let out = cluster.kubectl(&args).await;
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stdout).trim().to_string(),
            )
        }
    };
    assert_eq!(can_i("configmap/app-config").await, (true, "yes".into()));
    assert_eq!(can_i("configmap/app-config-0").await, (true, "yes".into()));
    assert_eq!(can_i("configmap/other").await, (false, "no".into()));
    assert_eq!(can_i("secret/app-config").await, (false, "no".into()));
    let list = cluster
        .kubectl(&["auth", "can-i", "list", "configmaps", "-n", "app", &as_bot])
        .await;
    assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "no");
    let rules = cluster
        .ok(&["auth", "can-i", "--list", "-n", "app", &as_bot])
        .await;
    // kubectl prints a line per resource name.
    let configmaps: Vec<&str> = rules
        .lines()
        .filter(|l| l.starts_with("configmaps ") && l.ends_with("[get list watch]"))
        .collect();
    assert_eq!(configmaps.len(), 2, "{rules}");
    for name in ["[app-config]", "[app-config-0]"] {
        assert!(configmaps.iter().any(|l| l.contains(name)), "{rules}");
    }
    assert!(
        rules.contains("selfsubjectaccessreviews.authorization.k8s.io"),
        "{rules}"
    );
    // Without --as, the sandbox's own identity may do anything.
    assert_eq!(
        String::from_utf8_lossy(
            &cluster
                .kubectl(&["auth", "can-i", "delete", "configmap/other", "-n", "app"])
                .await
                .stdout
        )
        .trim(),
        "yes"
    );
}

#[tokio::test]
async fn a_service_account_grants_only_what_it_holds() {
    use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
    let sandbox = KubernetesSandbox::start(Config::default()).await.unwrap();
    let admin = app(&sandbox).await;
    create(
        Api::<Role>::namespaced(admin.clone(), "app"),
        json!({
            "metadata": {"name": "delegate"},
            "rules": [
                {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles", "rolebindings"], "verbs": ["create", "patch"]},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["app-config"]},
            ],
        }),
    )
    .await;
    create(
        Api::<RoleBinding>::namespaced(admin.clone(), "app"),
        json!({
            "metadata": {"name": "delegate"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "delegate"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "app"}],
        }),
    )
    .await;
    let bot = bot(&sandbox).await;
    let roles: Api<Role> = Api::namespaced(bot.clone(), "app");
    let bindings: Api<RoleBinding> = Api::namespaced(bot.clone(), "app");
    let role = |name: &str, rule: Value| -> Role {
        serde_json::from_value(json!({"metadata": {"name": name}, "rules": [rule]})).unwrap()
    };
    // What it holds, it may pass on.
    roles
        .create(
            &PostParams::default(),
            &role(
                "read-config",
                json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["app-config"]}),
            ),
        )
        .await
        .unwrap();
    let groups =
        r#"["system:serviceaccounts" "system:serviceaccounts:app" "system:authenticated"]"#;
    let secrets = role(
        "read-secrets",
        json!({"apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "list"]}),
    );
    let details = assert_forbidden(
        roles
            .create(&PostParams::default(), &secrets)
            .await
            .unwrap_err(),
        &format!(
            "roles.rbac.authorization.k8s.io \"read-secrets\" is forbidden: user \"{BOT}\" (groups={groups}) is attempting to grant RBAC permissions not currently held:\n{{APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"get\" \"list\"]}}\n{{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\" \"list\"]}}"
        ),
    );
    assert_eq!(
        (details.group.as_str(), details.kind.as_str()),
        ("rbac.authorization.k8s.io", "roles")
    );
    // Nor by patching a role it made.
    let widen =
        json!({"rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]});
    let err = roles
        .patch(
            "read-config",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&widen),
        )
        .await
        .unwrap_err();
    assert!(api_error(err).message.ends_with(
        "not currently held:\n{APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"get\"]}"
    ));
    // A binding to a role it holds the rules of is fine; to cluster-admin, not.
    let binding = |name: &str, kind: &str, role: &str| -> RoleBinding {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role},
            "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "app"}],
        }))
        .unwrap()
    };
    bindings
        .create(
            &PostParams::default(),
            &binding("read-config", "Role", "read-config"),
        )
        .await
        .unwrap();
    let take_over = binding("take-over", "ClusterRole", "cluster-admin");
    assert_forbidden(
        bindings
            .create(&PostParams::default(), &take_over)
            .await
            .unwrap_err(),
        &format!(
            "rolebindings.rbac.authorization.k8s.io \"take-over\" is forbidden: user \"{BOT}\" (groups={groups}) is attempting to grant RBAC permissions not currently held:\n{{APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}}\n{{NonResourceURLs:[\"*\"], Verbs:[\"*\"]}}"
        ),
    );
    // `escalate` and `bind` lift the checks.
    create(
        Api::<Role>::namespaced(admin.clone(), "app"),
        json!({
            "metadata": {"name": "escalate"},
            "rules": [
                {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["escalate"]},
                {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["cluster-admin"]},
            ],
        }),
    )
    .await;
    create(
        Api::<RoleBinding>::namespaced(admin.clone(), "app"),
        json!({
            "metadata": {"name": "escalate"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "escalate"},
            "subjects": [{"kind": "ServiceAccount", "name": "bot", "namespace": "app"}],
        }),
    )
    .await;
    roles
        .create(&PostParams::default(), &secrets)
        .await
        .unwrap();
    bindings
        .create(&PostParams::default(), &take_over)
        .await
        .unwrap();
}

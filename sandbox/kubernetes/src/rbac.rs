//! RBAC authorization as kube-apiserver does it: a request's attributes read from its URL
//! (the API server's `RequestInfo`), the rules of the Roles and ClusterRoles bound to the user,
//! the API server's wording of a refusal, and the access and rules reviews built on them.

use crate::selector::FieldSelector;
use crate::status::{ApiError, ApiResult, Cause};
use crate::store::{Key, Store};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::LazyLock;

pub const GROUP: &str = "rbac.authorization.k8s.io";

/// Who a request is evaluated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

/// The groups every ServiceAccount is in, besides `system:authenticated`.
pub fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".into(),
        format!("system:serviceaccounts:{namespace}"),
    ]
}

pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// `(namespace, name)` of a `system:serviceaccount:<ns>:<name>` user name.
pub fn split_service_account(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix("system:serviceaccount:")?;
    let (namespace, name) = rest.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

impl UserInfo {
    pub fn service_account(namespace: &str, name: &str) -> Self {
        let mut groups = service_account_groups(namespace);
        groups.push("system:authenticated".into());
        Self {
            name: service_account_username(namespace, name),
            groups,
        }
    }
}

/// What a request asks to do (the API server's `authorizer.Attributes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub resource_request: bool,
    /// The URL path of a non-resource request.
    pub path: String,
    pub group: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

impl Attributes {
    /// Reads a request as kube-apiserver's `RequestInfoFactory` does: `/api/<v>/...` and
    /// `/apis/<g>/<v>/...` are resource requests, the verb comes from the method (`get` without a
    /// name is `list`, or `watch` with `?watch=true`; `delete` without one is `deletecollection`),
    /// and a list or watch with `fieldSelector=metadata.name=<x>` names `x`.
    pub fn of_request(method: &str, path: &str, query: &HashMap<String, String>) -> Self {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let non_resource = || Self {
            verb: method.to_ascii_lowercase(),
            path: path.to_string(),
            ..Self::default()
        };
        if parts.len() < 3 {
            return non_resource();
        }
        let (group, mut rest) = match parts[0] {
            "api" => ("", &parts[2..]),
            "apis" if parts.len() >= 4 => (parts[1], &parts[3..]),
            _ => return non_resource(),
        };
        let mut verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        };
        let via_path = matches!(rest[0], "watch" | "proxy");
        if via_path {
            if rest.len() < 2 {
                return non_resource();
            }
            verb = rest[0];
            rest = &rest[1..];
        }
        let mut namespace = "";
        if rest[0] == "namespaces" && rest.len() > 1 {
            namespace = rest[1];
            if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        let mut attributes = Self {
            verb: verb.to_string(),
            resource_request: true,
            path: path.to_string(),
            group: group.to_string(),
            namespace: namespace.to_string(),
            resource: rest[0].to_string(),
            subresource: match rest.get(2) {
                Some(sub) if verb != "proxy" => sub.to_string(),
                _ => String::new(),
            },
            name: rest.get(1).map(|n| n.to_string()).unwrap_or_default(),
        };
        if attributes.name.is_empty() && attributes.verb == "get" {
            let watch = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));
            attributes.verb = if watch { "watch" } else { "list" }.into();
            let selector = query.get("fieldSelector").map(String::as_str);
            if let Some(name) = selector
                .and_then(|s| FieldSelector::parse(s).ok())
                .and_then(|s| s.required("metadata.name").map(String::from))
                .filter(|n| n != "." && n != ".." && !n.contains(['/', '%']))
            {
                attributes.name = name;
            }
        }
        if attributes.name.is_empty() && attributes.verb == "delete" {
            attributes.verb = "deletecollection".into();
        }
        attributes
    }
}

pub fn strings<'a>(rule: &'a Value, field: &str) -> impl Iterator<Item = &'a str> {
    rule[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// Whether one PolicyRule allows the request (the API server's `RuleAllows`).
fn rule_allows(attributes: &Attributes, rule: &Value) -> bool {
    let verb = strings(rule, "verbs").any(|v| v == "*" || v == attributes.verb);
    if !attributes.resource_request {
        return verb
            && strings(rule, "nonResourceURLs").any(|url| {
                url == "*"
                    || url == attributes.path
                    || url
                        .strip_suffix('*')
                        .is_some_and(|prefix| attributes.path.starts_with(prefix))
            });
    }
    let sub = &attributes.subresource;
    let combined = if sub.is_empty() {
        attributes.resource.clone()
    } else {
        format!("{}/{sub}", attributes.resource)
    };
    let group = strings(rule, "apiGroups").any(|g| g == "*" || g == attributes.group);
    let resource = strings(rule, "resources").any(|r| {
        r == "*" || r == combined || (!sub.is_empty() && r.strip_prefix("*/") == Some(sub.as_str()))
    });
    let mut names = strings(rule, "resourceNames").peekable();
    let name = names.peek().is_none() || names.any(|n| n == attributes.name);
    verb && group && resource && name
}

/// The bootstrap policy every cluster has (kube-apiserver reconciles it at start): discovery
/// and the self reviews for every authenticated identity, everything for `system:masters`.
/// Built in rather than stored, so listing ClusterRoles shows only what clients created.
struct Bootstrap {
    roles: Vec<Value>,
    bindings: Vec<Value>,
}

static BOOTSTRAP: LazyLock<Bootstrap> = LazyLock::new(|| {
    let role = |name: &str, rules: Value| json!({"metadata": {"name": name}, "rules": rules});
    let binding = |name: &str, groups: &[&str]| {
        let subjects: Vec<Value> = groups
            .iter()
            .map(|g| json!({"apiGroup": GROUP, "kind": "Group", "name": g}))
            .collect();
        json!({
            "metadata": {"name": name},
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
            "subjects": subjects,
        })
    };
    let public_urls = json!(["/healthz", "/livez", "/readyz", "/version", "/version/"]);
    Bootstrap {
        roles: vec![
            role(
                "cluster-admin",
                json!([
                    {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                    {"nonResourceURLs": ["*"], "verbs": ["*"]},
                ]),
            ),
            role(
                "system:discovery",
                json!([{"nonResourceURLs": [
                    "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                    "/openapi/*", "/readyz", "/version", "/version/",
                ], "verbs": ["get"]}]),
            ),
            role(
                "system:basic-user",
                json!([
                    {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                    {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
                ]),
            ),
            role(
                "system:public-info-viewer",
                json!([{"nonResourceURLs": public_urls, "verbs": ["get"]}]),
            ),
        ],
        bindings: vec![
            binding("cluster-admin", &["system:masters"]),
            binding("system:discovery", &["system:authenticated"]),
            binding("system:basic-user", &["system:authenticated"]),
            binding(
                "system:public-info-viewer",
                &["system:authenticated", "system:unauthenticated"],
            ),
        ],
    }
});

fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

/// The first subject of a binding that is the user (`namespace`: a RoleBinding's own, which an
/// unqualified ServiceAccount subject is in).
fn applies_to<'a>(user: &UserInfo, binding: &'a Value, namespace: &str) -> Option<&'a Value> {
    binding["subjects"].as_array()?.iter().find(|subject| {
        let name = subject["name"].as_str().unwrap_or_default();
        match subject["kind"].as_str() {
            Some("User") => user.name == name,
            Some("Group") => user.groups.iter().any(|g| g == name),
            Some("ServiceAccount") => {
                let sa_namespace = subject["namespace"]
                    .as_str()
                    .filter(|ns| !ns.is_empty())
                    .unwrap_or(namespace);
                !sa_namespace.is_empty()
                    && user.name == service_account_username(sa_namespace, name)
            }
            _ => false,
        }
    })
}

/// `ServiceAccount "sa/ns"`, `User "x"`: how the API server names the subject that matched.
fn describe_subject(subject: &Value, binding_namespace: &str) -> String {
    let kind = subject["kind"].as_str().unwrap_or_default();
    let name = subject["name"].as_str().unwrap_or_default();
    if kind == "ServiceAccount" {
        let namespace = subject["namespace"]
            .as_str()
            .filter(|ns| !ns.is_empty())
            .unwrap_or(binding_namespace);
        format!("{kind} {:?}", format!("{name}/{namespace}"))
    } else {
        format!("{kind} {name:?}")
    }
}

/// The Role or ClusterRole a roleRef points at (`Err`: an unsupported kind).
pub fn find_role<'a>(
    store: &'a Store,
    role_ref: &Value,
    namespace: &str,
) -> Result<Option<&'a Value>, String> {
    let name = role_ref["name"].as_str().unwrap_or_default();
    let key = |plural: &str, namespace: &str| Key {
        group: GROUP.into(),
        plural: plural.into(),
        namespace: namespace.into(),
        name: name.into(),
    };
    match role_ref["kind"].as_str().unwrap_or_default() {
        "Role" => Ok(store.get(&key("roles", namespace))),
        "ClusterRole" => Ok(store
            .get(&key("clusterroles", ""))
            .or_else(|| BOOTSTRAP.roles.iter().find(|r| name_of(r) == name))),
        other => Err(format!("unsupported role reference kind: {other:?}")),
    }
}

/// The rules a roleRef points at, or the API server's error when the role is missing.
pub fn role_rules<'a>(
    store: &'a Store,
    role_ref: &Value,
    namespace: &str,
) -> Result<Vec<&'a Value>, String> {
    let role = find_role(store, role_ref, namespace)?.ok_or_else(|| {
        format!(
            "{}.{GROUP} {:?} not found",
            role_ref["kind"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase(),
            role_ref["name"].as_str().unwrap_or_default()
        )
    })?;
    Ok(role["rules"].as_array().into_iter().flatten().collect())
}

/// One step of walking a user's rules: a rule and the binding that grants it, or an error.
pub enum Visit<'a> {
    Rule(&'a Value, &'a dyn Fn() -> String),
    Error(String),
}

/// Walks the rules bound to `user` in `namespace` (ClusterRoleBindings first, then the
/// namespace's RoleBindings), until `visitor` returns false.
pub fn visit_rules(
    store: &Store,
    user: &UserInfo,
    namespace: &str,
    visitor: &mut dyn FnMut(Visit) -> bool,
) {
    let stored = store.list(GROUP, "clusterrolebindings", None);
    let cluster_bindings = BOOTSTRAP
        .bindings
        .iter()
        .chain(stored.into_iter().map(|(_, b)| b));
    for binding in cluster_bindings {
        let Some(subject) = applies_to(user, binding, "") else {
            continue;
        };
        let role_ref = &binding["roleRef"];
        let source = || {
            format!(
                "ClusterRoleBinding {:?} of {} {:?} to {}",
                name_of(binding),
                role_ref["kind"].as_str().unwrap_or_default(),
                role_ref["name"].as_str().unwrap_or_default(),
                describe_subject(subject, "")
            )
        };
        if !visit_binding(store, role_ref, "", &source, visitor) {
            return;
        }
    }
    if namespace.is_empty() {
        return;
    }
    for (_, binding) in store.list(GROUP, "rolebindings", Some(namespace)) {
        let Some(subject) = applies_to(user, binding, namespace) else {
            continue;
        };
        let role_ref = &binding["roleRef"];
        let source = || {
            format!(
                "RoleBinding {:?} of {} {:?} to {}",
                format!("{}/{namespace}", name_of(binding)),
                role_ref["kind"].as_str().unwrap_or_default(),
                role_ref["name"].as_str().unwrap_or_default(),
                describe_subject(subject, namespace)
            )
        };
        if !visit_binding(store, role_ref, namespace, &source, visitor) {
            return;
        }
    }
}

fn visit_binding(
    store: &Store,
    role_ref: &Value,
    namespace: &str,
    source: &dyn Fn() -> String,
    visitor: &mut dyn FnMut(Visit) -> bool,
) -> bool {
    match role_rules(store, role_ref, namespace) {
        Err(err) => visitor(Visit::Error(err)),
        Ok(rules) => rules
            .into_iter()
            .all(|rule| visitor(Visit::Rule(rule, source))),
    }
}

/// Errors as `utilerrors.NewAggregate` prints them: one alone, several deduplicated in brackets.
pub fn aggregate(errors: &[String]) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for err in errors {
        if !seen.contains(&err.as_str()) {
            seen.push(err);
        }
    }
    match seen.as_slice() {
        [one] => one.to_string(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// An authorization decision and the API server's reason for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `RBAC: allowed by RoleBinding "b/ns" of Role "r" to ServiceAccount "sa/ns"`, or on a
    /// refusal the roles that could not be found (empty when none).
    pub reason: String,
}

pub fn authorize(store: &Store, user: &UserInfo, attributes: &Attributes) -> Decision {
    let mut errors = Vec::new();
    let mut allowed_by = None;
    visit_rules(
        store,
        user,
        &attributes.namespace,
        &mut |visit| match visit {
            Visit::Rule(rule, source) if rule_allows(attributes, rule) => {
                allowed_by = Some(source());
                false
            }
            Visit::Rule(..) => true,
            Visit::Error(err) => {
                errors.push(err);
                true
            }
        },
    );
    match allowed_by {
        Some(source) => Decision {
            allowed: true,
            reason: format!("RBAC: allowed by {source}"),
        },
        None if errors.is_empty() => Decision {
            allowed: false,
            reason: String::new(),
        },
        None => Decision {
            allowed: false,
            reason: format!("RBAC: {}", aggregate(&errors)),
        },
    }
}

/// The refusal, in the API server's words (`responsewriters.Forbidden`):
/// `configmaps "x" is forbidden: User "u" cannot get resource "configmaps" in API group "" in
/// the namespace "ns"`, with the authorizer's reason appended when it gave one.
pub fn forbidden(username: &str, attributes: &Attributes, reason: &str) -> ApiError {
    let verb = &attributes.verb;
    let message = if !attributes.resource_request {
        format!("User {username:?} cannot {verb} path {:?}", attributes.path)
    } else {
        let mut resource = attributes.resource.clone();
        if !attributes.subresource.is_empty() {
            resource = format!("{resource}/{}", attributes.subresource);
        }
        let group = &attributes.group;
        if attributes.namespace.is_empty() {
            format!(
                "User {username:?} cannot {verb} resource {resource:?} in API group {group:?} at the cluster scope"
            )
        } else {
            format!(
                "User {username:?} cannot {verb} resource {resource:?} in API group {group:?} in the namespace {:?}",
                attributes.namespace
            )
        }
    };
    let message = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let message = if reason.is_empty() {
        message
    } else {
        format!("{message}: {reason}")
    };
    ApiError::forbidden(
        &attributes.group,
        if attributes.resource_request {
            &attributes.resource
        } else {
            ""
        },
        &attributes.name,
        &message,
    )
}

/// What a SelfSubjectAccessReview's `spec` asks about: `resourceAttributes` or
/// `nonResourceAttributes`, exactly one (else `422` as the API server's validation says).
pub fn review_attributes(spec: &Value) -> ApiResult<Attributes> {
    let text = |v: &Value, field: &str| v[field].as_str().unwrap_or_default().to_string();
    let (resource, non_resource) = (&spec["resourceAttributes"], &spec["nonResourceAttributes"]);
    let invalid = |field: &str, message: String| {
        ApiError::invalid(
            "authorization.k8s.io",
            "SelfSubjectAccessReview",
            "",
            vec![Cause::new("FieldValueInvalid", field, message)],
        )
    };
    match (resource.is_object(), non_resource.is_object()) {
        (true, false) => Ok(Attributes {
            verb: text(resource, "verb"),
            resource_request: true,
            path: String::new(),
            group: text(resource, "group"),
            namespace: text(resource, "namespace"),
            resource: text(resource, "resource"),
            subresource: text(resource, "subresource"),
            name: text(resource, "name"),
        }),
        (false, true) => Ok(Attributes {
            verb: text(non_resource, "verb"),
            path: text(non_resource, "path"),
            ..Attributes::default()
        }),
        (true, true) => Err(invalid(
            "spec.nonResourceAttributes",
            format!(
                "Invalid value: authorization.NonResourceAttributes{{Path:{:?}, Verb:{:?}}}: cannot be specified in combination with resourceAttributes",
                text(non_resource, "path"),
                text(non_resource, "verb")
            ),
        )),
        (false, false) => Err(invalid(
            "spec.resourceAttributes",
            "Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified".into(),
        )),
    }
}

/// `status` of a SelfSubjectAccessReview of `user` (`None`: an identity with full access).
pub fn access_review_status(
    store: &Store,
    user: Option<&UserInfo>,
    attributes: &Attributes,
) -> Value {
    let Some(user) = user else {
        return json!({"allowed": true});
    };
    let decision = authorize(store, user, attributes);
    let mut status = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    status
}

/// `status` of a SelfSubjectRulesReview: every rule bound to `user` in `namespace` (`None`:
/// an identity with full access, shown as cluster-admin's rules).
pub fn rules_review_status(store: &Store, user: Option<&UserInfo>, namespace: &str) -> Value {
    let Some(user) = user else {
        return json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        });
    };
    let (mut resource_rules, mut non_resource_rules, mut errors) = (vec![], vec![], vec![]);
    visit_rules(store, user, namespace, &mut |visit| {
        match visit {
            Visit::Rule(rule, _) => {
                let listed = |field: &str| json!(strings(rule, field).collect::<Vec<_>>());
                if strings(rule, "resources").next().is_some() {
                    let mut entry = json!({"verbs": listed("verbs"), "apiGroups": listed("apiGroups"), "resources": listed("resources")});
                    if strings(rule, "resourceNames").next().is_some() {
                        entry["resourceNames"] = listed("resourceNames");
                    }
                    resource_rules.push(entry);
                }
                if strings(rule, "nonResourceURLs").next().is_some() {
                    non_resource_rules.push(json!({"verbs": listed("verbs"), "nonResourceURLs": listed("nonResourceURLs")}));
                }
            }
            Visit::Error(err) => errors.push(err),
        }
        true
    });
    let mut status = json!({
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": !errors.is_empty(),
    });
    if !errors.is_empty() {
        status["evaluationError"] = json!(aggregate(&errors));
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes(method: &str, path: &str, query: &[(&str, &str)]) -> Attributes {
        let query = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Attributes::of_request(method, path, &query)
    }

    #[test]
    fn request_info_as_the_api_server_reads_it() {
        let get = attributes("GET", "/api/v1/namespaces/ns/configmaps/x", &[]);
        assert_eq!(
            (
                get.verb.as_str(),
                get.namespace.as_str(),
                get.resource.as_str(),
                get.name.as_str()
            ),
            ("get", "ns", "configmaps", "x")
        );
        let watch = attributes(
            "GET",
            "/api/v1/namespaces/ns/configmaps",
            &[("watch", "true"), ("fieldSelector", "metadata.name=x")],
        );
        assert_eq!((watch.verb.as_str(), watch.name.as_str()), ("watch", "x"));
        let list = attributes("GET", "/api/v1/configmaps", &[]);
        assert_eq!((list.verb.as_str(), list.namespace.as_str()), ("list", ""));
        let status = attributes(
            "PUT",
            "/apis/apps/v1/namespaces/ns/deployments/d/status",
            &[],
        );
        assert_eq!(
            (status.group.as_str(), status.subresource.as_str()),
            ("apps", "status")
        );
        let namespace = attributes("GET", "/api/v1/namespaces/ns", &[]);
        assert_eq!(
            (namespace.resource.as_str(), namespace.namespace.as_str()),
            ("namespaces", "ns")
        );
        let collection = attributes("DELETE", "/api/v1/namespaces/ns/secrets", &[]);
        assert_eq!(collection.verb, "deletecollection");
        let legacy = attributes("GET", "/api/v1/watch/namespaces/ns/configmaps/x", &[]);
        assert_eq!((legacy.verb.as_str(), legacy.name.as_str()), ("watch", "x"));
        for path in ["/version", "/apis/apps/v1", "/api/v1", "/openapi/v3/api/v1"] {
            let discovery = attributes("GET", path, &[]);
            assert!(!discovery.resource_request, "{path}");
            assert_eq!(discovery.verb, "get");
        }
    }

    #[test]
    fn rules_match_verbs_groups_resources_subresources_and_names() {
        let rule = json!({"apiGroups": [""], "resources": ["configmaps", "*/status"], "verbs": ["get", "watch"], "resourceNames": ["a"]});
        let yes = |method, path, query: &[(&str, &str)]| {
            rule_allows(&attributes(method, path, query), &rule)
        };
        assert!(yes("GET", "/api/v1/namespaces/ns/configmaps/a", &[]));
        assert!(!yes("GET", "/api/v1/namespaces/ns/configmaps/b", &[]));
        assert!(!yes("GET", "/api/v1/namespaces/ns/configmaps", &[]));
        assert!(yes(
            "GET",
            "/api/v1/namespaces/ns/configmaps",
            &[("watch", "1"), ("fieldSelector", "metadata.name==a")]
        ));
        assert!(!yes(
            "GET",
            "/api/v1/namespaces/ns/configmaps",
            &[("fieldSelector", "metadata.name=a")]
        ));
        assert!(yes("GET", "/api/v1/namespaces/ns/pods/a/status", &[]));
        assert!(!yes("GET", "/apis/apps/v1/namespaces/ns/configmaps/a", &[]));
        assert!(!yes("POST", "/api/v1/namespaces/ns/configmaps", &[]));
        let urls = json!({"nonResourceURLs": ["/apis/*", "/version"], "verbs": ["get"]});
        assert!(rule_allows(&attributes("GET", "/apis/apps", &[]), &urls));
        assert!(rule_allows(&attributes("GET", "/version", &[]), &urls));
        assert!(!rule_allows(&attributes("GET", "/versions", &[]), &urls));
        assert!(!rule_allows(&attributes("GET", "/version", &[]), &rule));
    }

    #[test]
    fn refusals_are_worded_as_the_api_servers() {
        let err = forbidden(
            "system:serviceaccount:ns:sa",
            &attributes("GET", "/api/v1/namespaces/ns/configmaps", &[]),
            "",
        );
        assert_eq!(
            err.message,
            r#"configmaps is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "configmaps" in API group "" in the namespace "ns""#
        );
        let err = forbidden(
            "u",
            &attributes(
                "POST",
                "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                &[],
            ),
            r#"RBAC: clusterrole.rbac.authorization.k8s.io "x" not found"#,
        );
        assert_eq!(
            err.message,
            r#"clusterroles.rbac.authorization.k8s.io is forbidden: User "u" cannot create resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope: RBAC: clusterrole.rbac.authorization.k8s.io "x" not found"#
        );
        let err = forbidden("u", &attributes("GET", "/metrics", &[]), "");
        assert_eq!(
            err.message,
            r#"forbidden: User "u" cannot get path "/metrics""#
        );
        assert_eq!(aggregate(&["a".into(), "b".into(), "a".into()]), "[a, b]");
    }
}

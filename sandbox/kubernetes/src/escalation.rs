//! RBAC escalation prevention, as the API server's rbac storage does it: a user may write a
//! Role or ClusterRole only with rules it holds itself (or `escalate` on it), and a binding
//! only to a role whose rules it holds (or `bind` on it). `system:masters` is exempt.

use crate::rbac::{self, Attributes, UserInfo, Visit};
use crate::status::{ApiError, ApiResult};
use crate::store::Store;
use serde_json::Value;

/// A PolicyRule's lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Rule {
    api_groups: Vec<String>,
    resources: Vec<String>,
    non_resource_urls: Vec<String>,
    resource_names: Vec<String>,
    verbs: Vec<String>,
}

impl Rule {
    fn of(rule: &Value) -> Self {
        let list = |field: &str| rbac::strings(rule, field).map(String::from).collect();
        Self {
            api_groups: list("apiGroups"),
            resources: list("resources"),
            non_resource_urls: list("nonResourceURLs"),
            resource_names: list("resourceNames"),
            verbs: list("verbs"),
        }
    }

    /// Rules of one verb, group, resource and name each, granting together what `self` does.
    fn breakdown(&self) -> Vec<Rule> {
        let one = |s: &String| vec![s.clone()];
        let mut out = Vec::new();
        for group in &self.api_groups {
            for resource in &self.resources {
                for verb in &self.verbs {
                    let simple = Rule {
                        api_groups: one(group),
                        resources: one(resource),
                        verbs: one(verb),
                        ..Rule::default()
                    };
                    if self.resource_names.is_empty() {
                        out.push(simple);
                    } else {
                        out.extend(self.resource_names.iter().map(|name| Rule {
                            resource_names: one(name),
                            ..simple.clone()
                        }));
                    }
                }
            }
        }
        for url in &self.non_resource_urls {
            for verb in &self.verbs {
                out.push(Rule {
                    non_resource_urls: one(url),
                    verbs: one(verb),
                    ..Rule::default()
                });
            }
        }
        out
    }

    /// Whether `self` grants all of `sub` (one broken-down rule): `ruleCovers`.
    fn covers(&self, sub: &Rule) -> bool {
        let has_all = |set: &[String], wanted: &[String]| wanted.iter().all(|w| set.contains(w));
        let star = |set: &[String]| set.iter().any(|s| s == "*");
        let verbs = star(&self.verbs) || has_all(&self.verbs, &sub.verbs);
        let groups = star(&self.api_groups) || has_all(&self.api_groups, &sub.api_groups);
        let resources = star(&self.resources)
            || sub.resources.iter().all(|r| {
                self.resources.contains(r)
                    || r.split_once('/').is_some_and(|(_, sub)| {
                        self.resources
                            .iter()
                            .any(|o| o.strip_prefix("*/") == Some(sub))
                    })
            });
        let urls = sub.non_resource_urls.iter().all(|url| {
            self.non_resource_urls.iter().any(|owner| {
                owner == url
                    || owner
                        .strip_suffix('*')
                        .is_some_and(|prefix| url.starts_with(prefix))
            })
        });
        let names = self.resource_names.is_empty()
            || (!sub.resource_names.is_empty()
                && has_all(&self.resource_names, &sub.resource_names));
        verbs && groups && resources && urls && names
    }

    /// `{APIGroups:[""], Resources:["configmaps"], Verbs:["get" "list"]}` (`CompactString`).
    fn compact_string(&self) -> String {
        let parts: Vec<String> = [
            ("APIGroups", &self.api_groups),
            ("Resources", &self.resources),
            ("NonResourceURLs", &self.non_resource_urls),
            ("ResourceNames", &self.resource_names),
            ("Verbs", &self.verbs),
        ]
        .into_iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(name, list)| format!("{name}:{}", quoted(list)))
        .collect();
        format!("{{{}}}", parts.join(", "))
    }
}

/// A list as Go's `%q` prints it: `["a" "b"]`.
fn quoted(list: &[String]) -> String {
    let items: Vec<String> = list.iter().map(|s| format!("{s:?}")).collect();
    format!("[{}]", items.join(" "))
}

/// Joins broken-down rules that differ only by verb (`CompactRules`).
fn compact(rules: Vec<Rule>) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    for rule in rules {
        let simple = rule.non_resource_urls.is_empty()
            && rule.resource_names.len() <= 1
            && rule.api_groups.len() == 1
            && rule.resources.len() == 1;
        let same = |r: &Rule| {
            r.api_groups == rule.api_groups
                && r.resources == rule.resources
                && r.resource_names == rule.resource_names
                && r.non_resource_urls.is_empty()
        };
        match out.iter_mut().find(|r| simple && same(r)) {
            Some(existing) => existing.verbs.extend(rule.verbs),
            None => out.push(rule),
        }
    }
    out
}

/// `Err` with the API server's explanation when `rules` grant what `user` does not hold in
/// `namespace` (`ConfirmNoEscalation`).
fn confirm_no_escalation(
    store: &Store,
    user: &UserInfo,
    namespace: &str,
    rules: &[&Value],
) -> Result<(), String> {
    let (mut owned, mut errors) = (Vec::new(), Vec::new());
    rbac::visit_rules(store, user, namespace, &mut |visit| {
        match visit {
            Visit::Rule(rule, _) => owned.push(Rule::of(rule)),
            Visit::Error(err) => errors.push(err),
        }
        true
    });
    let missing: Vec<Rule> = rules
        .iter()
        .flat_map(|r| Rule::of(r).breakdown())
        .filter(|sub| !owned.iter().any(|o| o.covers(sub)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut described: Vec<String> = compact(missing).iter().map(Rule::compact_string).collect();
    described.sort();
    described.dedup();
    let mut message = format!(
        "user {:?} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        quoted(&user.groups),
        described.join("\n")
    );
    if !errors.is_empty() {
        message.push_str(&format!("; resolution errors: [{}]", errors.join(" ")));
    }
    Err(message)
}

/// Whether writes of this type are checked.
pub fn guarded(group: &str, plural: &str) -> bool {
    group == rbac::GROUP
        && matches!(
            plural,
            "roles" | "clusterroles" | "rolebindings" | "clusterrolebindings"
        )
}

/// Only what the garbage collector touches changed (`IsOnlyMutatingGCFields`), or nothing:
/// ownerReferences, finalizers, deletion marks; server-set fields are not compared.
fn only_gc_fields(new: &Value, old: &Value) -> bool {
    let strip = |obj: &Value| {
        let mut obj = obj.clone();
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            for field in [
                "ownerReferences",
                "finalizers",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "resourceVersion",
                "managedFields",
                "generation",
            ] {
                meta.remove(field);
            }
        }
        obj
    };
    strip(new) == strip(old)
}

/// Refuses writing `object` (a Role, ClusterRole or binding, as the write would store it) in
/// `namespace` ("" for cluster-scoped ones) when it grants `user` more than it holds.
/// `name` is the one on the URL ("" for a create), `old` the object before an update.
pub fn check(
    store: &Store,
    user: &UserInfo,
    plural: &str,
    namespace: &str,
    name: &str,
    object: &Value,
    old: Option<&Value>,
) -> ApiResult<()> {
    if user.groups.iter().any(|g| g == "system:masters")
        || old.is_some_and(|old| only_gc_fields(object, old))
    {
        return Ok(());
    }
    let object_name = object["metadata"]["name"].as_str().unwrap_or_default();
    let allowed_to = |verb: &str, group: &str, resource: &str, name: &str| {
        let attributes = Attributes {
            verb: verb.into(),
            resource_request: true,
            group: group.into(),
            namespace: namespace.into(),
            resource: resource.into(),
            name: name.into(),
            ..Attributes::default()
        };
        rbac::authorize(store, user, &attributes).allowed
    };
    let rules: Vec<&Value> = if matches!(plural, "roles" | "clusterroles") {
        if allowed_to("escalate", rbac::GROUP, plural, name) {
            return Ok(());
        }
        object["rules"].as_array().into_iter().flatten().collect()
    } else {
        let role_ref = &object["roleRef"];
        let (kind, role) = (
            role_ref["kind"].as_str().unwrap_or_default(),
            role_ref["name"].as_str().unwrap_or_default(),
        );
        let resource = match kind {
            "Role" => "roles",
            _ => "clusterroles",
        };
        let group = role_ref["apiGroup"].as_str().unwrap_or_default();
        if allowed_to("bind", group, resource, role) {
            return Ok(());
        }
        match rbac::find_role(store, role_ref, namespace) {
            Ok(Some(found)) => found["rules"].as_array().into_iter().flatten().collect(),
            Ok(None) => return Err(ApiError::not_found(rbac::GROUP, resource, role)),
            Err(err) => return Err(ApiError::bad_request(err)),
        }
    };
    confirm_no_escalation(store, user, namespace, &rules)
        .map_err(|why| ApiError::forbidden(rbac::GROUP, plural, object_name, &why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn covering_and_compacting_as_the_api_server() {
        let owner = Rule::of(
            &json!({"apiGroups": [""], "resources": ["configmaps", "*/status"], "verbs": ["get", "list"]}),
        );
        let wanted = Rule::of(
            &json!({"apiGroups": [""], "resources": ["configmaps", "pods/status", "secrets"], "verbs": ["get", "watch"], "resourceNames": ["a"]}),
        );
        let missing: Vec<Rule> = wanted
            .breakdown()
            .into_iter()
            .filter(|sub| !owner.covers(sub))
            .collect();
        let described: Vec<String> = compact(missing).iter().map(Rule::compact_string).collect();
        assert_eq!(
            described,
            [
                r#"{APIGroups:[""], Resources:["configmaps"], ResourceNames:["a"], Verbs:["watch"]}"#,
                r#"{APIGroups:[""], Resources:["pods/status"], ResourceNames:["a"], Verbs:["watch"]}"#,
                r#"{APIGroups:[""], Resources:["secrets"], ResourceNames:["a"], Verbs:["get" "watch"]}"#,
            ]
        );
        let named = Rule::of(
            &json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["a"]}),
        );
        let all =
            Rule::of(&json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}));
        assert!(!named.covers(&all.breakdown()[0]));
        assert!(all.covers(&named.breakdown()[0]));
        let urls = Rule::of(&json!({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]}));
        let url = Rule::of(&json!({"nonResourceURLs": ["/apis/apps"], "verbs": ["get"]}));
        assert!(urls.covers(&url.breakdown()[0]));
        assert!(!url.covers(&urls.breakdown()[0]));
    }
}

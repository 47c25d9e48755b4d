//! The generated CRDs: committed copies are current, every CEL rule compiles, stays within the
//! API server's cost budget and scope, and serde defaults agree with schema defaults.

use kube::core::cel::{ScopeContext, WarningKind, analyze_rule, apply_defaults, compile_schema};
use serde_json::{Value, json};
use std::path::Path;

fn chart_crds() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/kaltura-discord/crds")
}

fn schema_of(kind: &str) -> Value {
    let crd = kd_crds::crds()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap();
    let schema = crd.spec.versions[0]
        .schema
        .clone()
        .unwrap()
        .open_api_v3_schema
        .unwrap();
    serde_json::to_value(schema).unwrap()
}

#[test]
fn committed_crds_are_current() {
    let dir = chart_crds();
    let mut expected: Vec<String> = Vec::new();
    for crd in kd_crds::crds() {
        let name = kd_crds::crd_file_name(&crd);
        let committed = std::fs::read_to_string(dir.join(&name)).unwrap_or_else(|_| {
            panic!(
                "{name} is missing: run `kaltura-discord crds --out charts/kaltura-discord/crds`"
            )
        });
        assert!(
            committed == kd_crds::crd_yaml(&crd),
            "{name} is stale: run `kaltura-discord crds --out charts/kaltura-discord/crds`"
        );
        expected.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    expected.sort();
    assert_eq!(
        present, expected,
        "the chart holds CRD files no kind generates"
    );
}

/// Every node carrying `x-kubernetes-validations`, with its rules.
fn rule_nodes<'a>(node: &'a Value, path: String, out: &mut Vec<(String, &'a Value, Vec<String>)>) {
    if let Some(rules) = node
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        let rules = rules
            .iter()
            .map(|r| r["rule"].as_str().unwrap().to_string())
            .collect();
        out.push((path.clone(), node, rules));
    }
    if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            rule_nodes(child, format!("{path}.{name}"), out);
        }
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = node.get(key).filter(|c| c.is_object()) {
            rule_nodes(child, format!("{path}[]"), out);
        }
    }
}

#[test]
fn every_cel_rule_compiles_and_fits_the_cost_budget() {
    let mut checked = 0;
    for crd in kd_crds::crds() {
        let schema = schema_of(&crd.spec.names.kind);
        let mut nodes = Vec::new();
        rule_nodes(&schema, crd.spec.names.kind.clone(), &mut nodes);
        for (path, node, rules) in nodes {
            let compiled = compile_schema(node);
            assert!(
                !compiled.has_errors(),
                "{path}: {:?}",
                compiled.compilation_errors()
            );
            for rule in rules {
                // The scope check does not see macro-bound variables (`p` in `exists(p, ..)`),
                // so only cost and bounds findings count.
                let warnings: Vec<_> = analyze_rule(&rule, &compiled, ScopeContext::CrdValidation)
                    .into_iter()
                    .filter(|w| {
                        matches!(
                            w.kind,
                            WarningKind::CostExceeded | WarningKind::MissingBounds
                        )
                    })
                    .collect();
                assert!(warnings.is_empty(), "{path}: {rule}: {warnings:?}");
                checked += 1;
            }
        }
    }
    assert!(
        checked >= 15,
        "expected the API's CEL rules, found {checked}"
    );
}

/// The API server fills schema defaults; the operator deserializes with serde defaults. Both
/// must produce the same object, or the operator would act on a spec nobody wrote.
#[test]
fn serde_defaults_match_schema_defaults() {
    let minimal = [
        (
            "KalturaPartner",
            json!({"partnerId": 1, "adminSecretRef": {"name": "s", "key": "k"}}),
        ),
        (
            "DiscordApplication",
            json!({"applicationId": "1283874310720716800", "botTokenRef": {"name": "s", "key": "k"}}),
        ),
        (
            "GuildConfig",
            json!({"applicationRef": {"name": "a"}, "guildId": "1283874310720716890"}),
        ),
        (
            "RoleMapping",
            json!({"guildConfigRef": {"name": "g"}, "rules": [{"discordRole": {"name": "T"}, "kalturaRole": "admin"}]}),
        ),
        (
            "NotificationRule",
            json!({"guildConfigRef": {"name": "g"}, "events": ["entryReady"], "channel": "c"}),
        ),
    ];
    for (kind, spec) in minimal {
        let object = json!({"apiVersion": "kaltura-discord.io/v1alpha1", "kind": kind, "metadata": {"name": "x"}, "spec": spec});
        let by_schema = apply_defaults(&schema_of(kind), &object)["spec"].clone();
        let by_serde = match kind {
            "KalturaPartner" => serde_json::to_value(
                serde_json::from_value::<kd_crds::KalturaPartnerSpec>(spec).unwrap(),
            ),
            "DiscordApplication" => serde_json::to_value(
                serde_json::from_value::<kd_crds::DiscordApplicationSpec>(spec).unwrap(),
            ),
            "GuildConfig" => serde_json::to_value(
                serde_json::from_value::<kd_crds::GuildConfigSpec>(spec).unwrap(),
            ),
            "RoleMapping" => serde_json::to_value(
                serde_json::from_value::<kd_crds::RoleMappingSpec>(spec).unwrap(),
            ),
            _ => serde_json::to_value(
                serde_json::from_value::<kd_crds::NotificationRuleSpec>(spec).unwrap(),
            ),
        }
        .unwrap();
        assert_eq!(
            by_schema, by_serde,
            "{kind}: schema and serde defaults differ"
        );
    }
}

//! Message templates: which `{{ placeholder }}` each context offers, and the CEL rules that
//! reject a template using anything else. The bot renders with the same lists, so a template
//! the API server accepts always renders.

use kube::core::Rule;

/// Placeholders of events about a media entry (ready, added, deleted, recording ready).
pub const ENTRY: &[&str] = &[
    "entryId",
    "name",
    "description",
    "duration",
    "owner",
    "tags",
    "categories",
    "thumbnailUrl",
    "url",
    "partnerId",
];
/// Placeholders of events about a meeting (started, ended) and of meeting announcements.
pub const MEETING: &[&str] = &["meetingId", "title", "type", "host", "joinUrl", "partnerId"];
/// Placeholders of a user joining a meeting.
pub const USER_JOINED: &[&str] = &["meetingId", "title", "user", "partnerId"];
/// Placeholders of a video shared from search.
pub const VIDEO_SHARED: &[&str] = &["entryId", "name", "duration", "owner", "url", "sharedBy"];

/// Every `{{ ... }}` occurrence, written without backslashes so the rule reads the same in
/// Rust, YAML and CEL.
pub(crate) const ANY_PLACEHOLDER: &str = "[{][{][^}]*[}][}]";
const OPENING: &str = "[{][{]";

/// A CEL regex accepting exactly one placeholder from `allowed`.
pub(crate) fn one_of(allowed: &[&str]) -> String {
    format!("^[{{][{{] *({}) *[}}][}}]$", allowed.join("|"))
}

/// CEL condition (over `expr`, a string) that every `{{` is closed.
pub(crate) fn balanced(expr: &str) -> String {
    format!("{expr}.findAll('{OPENING}').size() == {expr}.findAll('{ANY_PLACEHOLDER}').size()")
}

/// Rule for a template field whose context is fixed: `self` is the template string.
pub fn field_rule(allowed: &[&str]) -> Rule {
    Rule::new(format!(
        "{} && self.findAll('{ANY_PLACEHOLDER}').all(p, p.matches('{}'))",
        balanced("self"),
        one_of(allowed)
    ))
    .message(
        format!(
            "template may only use the placeholders {} (as {{{{ name }}}}), each closed with }}}}",
            allowed.join(", ")
        )
        .as_str(),
    )
}

/// The pieces of a template: literal text and placeholder names, in order.
fn pieces(template: &str) -> Result<Vec<(&str, Option<&str>)>, String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a {{ is never closed with }}".to_string())?;
        out.push((&rest[..start], Some(after[..end].trim())));
        rest = &after[end + 2..];
    }
    out.push((rest, None));
    Ok(out)
}

/// The Rust twin of [`field_rule`], for templates set from Discord rather than through the
/// API server: every `{{` closed, every placeholder in `allowed`.
pub fn check(template: &str, allowed: &[&str]) -> Result<(), String> {
    for (_, name) in pieces(template)? {
        if let Some(name) = name.filter(|n| !allowed.contains(n)) {
            return Err(format!(
                "{{{{ {name} }}}} is not available here; use {}",
                allowed.join(", ")
            ));
        }
    }
    Ok(())
}

/// Fills a template checked with [`check`]; a placeholder without a value renders empty.
pub fn render(template: &str, values: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    for (text, name) in pieces(template)? {
        out.push_str(text);
        if let Some(name) = name {
            out.push_str(&values(name).unwrap_or_default());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::cel::Validator;
    use proptest::prelude::*;

    /// The CEL rule and [`check`] must agree on every template, or Discord-side overrides
    /// could accept what Git would refuse.
    fn cel_accepts(template: &str, allowed: &[&str]) -> bool {
        let rule = field_rule(allowed);
        let schema = serde_json::json!({"type": "string", "x-kubernetes-validations": [{"rule": rule.rule}]});
        Validator::new()
            .validate(&schema, &serde_json::json!(template), None)
            .is_ok()
    }

    #[test]
    fn render_fills_placeholders() {
        let values = |name: &str| (name == "title").then(|| "Optics".to_string());
        assert_eq!(
            render("{{ title }} by {{host}}!", &values).unwrap(),
            "Optics by !"
        );
        assert!(render("{{ title", &values).is_err());
    }

    #[test]
    fn check_examples() {
        assert!(check("{{ title }} by {{host}}", MEETING).is_ok());
        assert!(check("no placeholders", MEETING).is_ok());
        assert!(
            check("{{ entryId }}", MEETING)
                .unwrap_err()
                .contains("not available")
        );
        assert!(
            check("{{ title", MEETING)
                .unwrap_err()
                .contains("never closed")
        );
    }

    proptest! {
        #[test]
        fn cel_rule_and_check_agree(parts in proptest::collection::vec(prop_oneof![
            Just("{{ title }}".to_string()), Just("{{host}}".to_string()), Just("{{ name }}".to_string()),
            Just("{{".to_string()), Just("}}".to_string()), Just(" text ".to_string()), "[a-z {}]{0,6}",
        ], 0..6)) {
            let template = parts.concat();
            prop_assert_eq!(check(&template, MEETING).is_ok(), cel_accepts(&template, MEETING), "template {:?}", template);
        }
    }
}

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

/// The Rust twin of [`field_rule`], for templates set from Discord rather than through the
/// API server: every `{{` closed, every placeholder in `allowed`.
pub fn check(template: &str, allowed: &[&str]) -> Result<(), String> {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a {{ is never closed with }}".to_string())?;
        let name = after[..end].trim();
        if !allowed.contains(&name) {
            return Err(format!(
                "{{{{ {name} }}}} is not available here; use {}",
                allowed.join(", ")
            ));
        }
        rest = &after[end + 2..];
    }
    Ok(())
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

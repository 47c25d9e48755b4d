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

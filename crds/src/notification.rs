//! `NotificationRule`: which Kaltura events become which Discord messages, where.

use crate::common::{LocalRef, NAME_OR_ID_PATTERN};
use crate::template;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// Kaltura events a rule can subscribe to.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Event {
    /// An entry finished processing (status READY).
    EntryReady,
    /// An entry was created.
    EntryAdded,
    /// An entry was deleted.
    EntryDeleted,
    /// A meeting recording finished processing.
    RecordingReady,
    /// A meeting started.
    MeetingStarted,
    /// A meeting ended.
    MeetingEnded,
    /// A user joined a meeting.
    UserJoined,
}

impl Event {
    pub const ALL: [Event; 7] = [
        Event::EntryReady,
        Event::EntryAdded,
        Event::EntryDeleted,
        Event::RecordingReady,
        Event::MeetingStarted,
        Event::MeetingEnded,
        Event::UserJoined,
    ];

    /// The wire name, as written in manifests.
    pub fn name(self) -> &'static str {
        match self {
            Event::EntryReady => "entryReady",
            Event::EntryAdded => "entryAdded",
            Event::EntryDeleted => "entryDeleted",
            Event::RecordingReady => "recordingReady",
            Event::MeetingStarted => "meetingStarted",
            Event::MeetingEnded => "meetingEnded",
            Event::UserJoined => "userJoined",
        }
    }

    /// The placeholders a template may use for this event.
    pub fn placeholders(self) -> &'static [&'static str] {
        match self {
            Event::EntryReady | Event::EntryAdded | Event::EntryDeleted | Event::RecordingReady => {
                template::ENTRY
            }
            Event::MeetingStarted | Event::MeetingEnded => template::MEETING,
            Event::UserJoined => template::USER_JOINED,
        }
    }
}

/// Every placeholder of the template must be offered by every subscribed event.
fn template_rule() -> kube::core::Rule {
    let per_event = Event::ALL
        .iter()
        .map(|e| {
            format!(
                "(e == '{}' && p.matches('{}'))",
                e.name(),
                template::one_of(e.placeholders())
            )
        })
        .collect::<Vec<_>>()
        .join(" || ");
    // Events offering the same placeholders are listed together to keep the message short.
    let mut groups: Vec<(Vec<&str>, &[&str])> = Vec::new();
    for e in Event::ALL {
        match groups
            .iter_mut()
            .find(|(_, offered)| *offered == e.placeholders())
        {
            Some((events, _)) => events.push(e.name()),
            None => groups.push((vec![e.name()], e.placeholders())),
        }
    }
    let offers = groups
        .iter()
        .map(|(events, offered)| format!("{} offer {}", events.join(", "), offered.join(", ")))
        .collect::<Vec<_>>()
        .join("; ");
    kube::core::Rule::new(format!(
        "!has(self.template) || ({} && self.template.findAll('{}').all(p, self.events.all(e, {per_event})))",
        template::balanced("self.template"),
        template::ANY_PLACEHOLDER,
    ))
    .message(format!("template uses a placeholder that not every subscribed event offers ({offers})").as_str())
    .field_path(".template")
}

/// Delivers Kaltura events of one guild's partner to a channel as Discord messages.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "kaltura-discord.io",
    version = "v1alpha1",
    kind = "NotificationRule",
    doc = "Kaltura events delivered to a Discord channel.",
    namespaced,
    status = "NotificationRuleStatus",
    shortname = "nr",
    category = "kaltura-discord",
    printcolumn = r#"{"name":"GuildConfig","type":"string","jsonPath":".spec.guildConfigRef.name"}"#,
    printcolumn = r#"{"name":"Channel","type":"string","jsonPath":".spec.channel"}"#,
    printcolumn = r#"{"name":"Delivered","type":"integer","jsonPath":".status.delivered"}"#,
    printcolumn = r#"{"name":"Failed","type":"integer","jsonPath":".status.failed"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[x_kube(validation = template_rule())]
#[serde(rename_all = "camelCase")]
pub struct NotificationRuleSpec {
    /// The GuildConfig whose guild receives the messages.
    pub guild_config_ref: LocalRef,
    /// Events that trigger a message.
    #[schemars(length(min = 1, max = 7))]
    #[x_kube(validation = kube::core::Rule::new("self.all(a, self.exists_one(b, b == a))").message("each event is listed once"))]
    pub events: Vec<Event>,
    /// Only entries matching every given filter trigger a message.
    #[serde(default)]
    pub filters: Filters,
    /// Target channel, by name or id.
    #[schemars(regex(pattern = NAME_OR_ID_PATTERN))]
    pub channel: String,
    /// Message text with `{{ placeholder }}`s; a default per event when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 2000))]
    pub template: Option<String>,
    /// Discord roles (names or ids) mentioned in each message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10), inner(regex(pattern = NAME_OR_ID_PATTERN)))]
    pub mention_roles: Vec<String>,
    /// Most messages per minute; later ones wait in the outbox, none are dropped.
    #[serde(default = "default_rate")]
    #[schemars(range(min = 1, max = 600))]
    pub max_per_minute: i32,
}

fn default_rate() -> i32 {
    30
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct Filters {
    /// Kaltura category ids or full names; any may match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(min = 1, max = 512)))]
    pub categories: Vec<String>,
    /// Tags; any may match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(min = 1, max = 128)))]
    pub tags: Vec<String>,
    /// Kaltura user ids of entry owners; any may match.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 50), inner(length(min = 1, max = 128)))]
    pub owners: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationRuleStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Messages delivered.
    #[serde(default)]
    pub delivered: i64,
    /// Deliveries that failed for good.
    #[serde(default)]
    pub failed: i64,
    /// When the last message was delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_delivery_time: Option<Time>,
    /// The last delivery error, when the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

//! Routing of events to Discord messages, as plain functions: which event a Kaltura
//! notification is ([`classify`]), which NotificationRules it matches ([`matches`]), the message
//! each renders ([`route`]), and the last step the deliverer takes once it knows the guild's
//! roles and channels ([`finish`]). See docs/notifications.md.
//!
//! Routing happens at intake, where the event is stored with its messages in one transaction;
//! role and channel *names* are resolved at delivery, by the bot that knows the guild.

use crate::config::{GuildRuntime, PartnerRuntime, RuleRuntime};
use crate::error::Failure;
use crate::roles::GuildRole;
use crate::videos::{duration, player_url};
use kd_crds::notification::Event;
use kd_crds::template;
use kd_kaltura::webhook::Notification;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// `KalturaEventNotificationEventType` values.
const OBJECT_ADDED: &str = "2";
const OBJECT_CHANGED: &str = "3";
const OBJECT_DELETED: &str = "7";
/// `KalturaEventNotificationEventObjectType::ENTRY`.
const ENTRY_OBJECT: &str = "1";
/// `KalturaEntryStatus` READY and DELETED.
const READY: &str = "2";
const DELETED: &str = "3";
/// `KalturaSourceType::RECORDED_LIVE`: the VOD entry a live session or meeting recorded.
const RECORDED_LIVE: &str = "36";
/// `KalturaEntryDisplayInSearchType::SYSTEM`: an entry of the system, such as a meeting's
/// template entry, which no one is told about.
const DISPLAY_IN_SEARCH_SYSTEM: &str = "-1";
/// What a rule's `mentionRoles` says to mention everyone.
const EVERYONE: &str = "everyone";

/// The custom id of the Watch Together button on an entry (the bot reads it back).
pub fn watch_button(entry_id: &str) -> String {
    format!("kd:watch:{entry_id}")
}

/// An event to route, from a Kaltura notification or from the bot's own meeting operations.
#[derive(Clone, Debug, PartialEq)]
pub struct Occurrence {
    pub event: Event,
    pub subject: Subject,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    Entry(EntryFacts),
    Meeting(MeetingFacts),
}

/// What a notification says of a media entry.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EntryFacts {
    pub id: String,
    pub name: String,
    pub description: String,
    pub duration_secs: Option<i64>,
    /// The owner's Kaltura user id.
    pub owner: String,
    pub tags: Vec<String>,
    /// Full category names.
    pub categories: Vec<String>,
    pub category_ids: Vec<String>,
    pub thumbnail_url: Option<String>,
    /// The entry it was made from (`templateEntryId`): a scheduled recording names its
    /// schedule event's template entry, which is how a meeting's recording is found.
    pub template_entry_id: Option<String>,
}

/// Where a meeting was started: its recordings are posted there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartedIn {
    pub guild_id: String,
    pub channel_id: String,
}

impl Occurrence {
    /// The template entry a recording was made from, to look its meeting up by.
    pub fn recording_template(&self) -> Option<&str> {
        match (&self.event, &self.subject) {
            (Event::RecordingReady, Subject::Entry(entry)) => entry.template_entry_id.as_deref(),
            _ => None,
        }
    }
}

/// A meeting the bot started or ended, or a member joining one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeetingFacts {
    pub id: String,
    pub title: String,
    pub kind: String,
    /// Display name of who started it (or joined, for `userJoined`).
    pub host: String,
    /// How members join (the slash command, since links are personal).
    pub join_url: String,
}

fn text(object: &Value, key: &str) -> String {
    match object.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// Kaltura's comma-separated lists (`tags`, `categories`, `categoriesIds`).
fn list(object: &Value, key: &str) -> Vec<String> {
    text(object, key)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The event a Kaltura notification stands for; `None` for notifications no rule can
/// subscribe to (they are still acknowledged, so Kaltura stops retrying them).
pub fn classify(notification: &Notification) -> Option<Occurrence> {
    let object = &notification.object;
    let is_entry = notification.event_object_type == ENTRY_OBJECT
        || notification
            .object_type()
            .is_some_and(|t| t.ends_with("MediaEntry") || t == "KalturaBaseEntry");
    if !is_entry || text(object, "displayInSearch") == DISPLAY_IN_SEARCH_SYSTEM {
        return None;
    }
    let status = text(object, "status");
    let template = text(object, "templateEntryId");
    let event = match notification.event_type.as_str() {
        OBJECT_ADDED => Event::EntryAdded,
        OBJECT_DELETED => Event::EntryDeleted,
        OBJECT_CHANGED if status == DELETED => Event::EntryDeleted,
        OBJECT_CHANGED if status == READY => {
            let root = text(object, "rootEntryId");
            let recorded = text(object, "sourceType") == RECORDED_LIVE
                || (!root.is_empty() && root != text(object, "id"))
                || !template.is_empty();
            if recorded {
                Event::RecordingReady
            } else {
                Event::EntryReady
            }
        }
        _ => return None,
    };
    let thumbnail = text(object, "thumbnailUrl");
    Some(Occurrence {
        event,
        subject: Subject::Entry(EntryFacts {
            id: text(object, "id"),
            name: text(object, "name"),
            description: text(object, "description"),
            duration_secs: text(object, "duration").parse().ok(),
            owner: text(object, "userId"),
            tags: list(object, "tags"),
            categories: list(object, "categories"),
            category_ids: list(object, "categoriesIds"),
            thumbnail_url: (!thumbnail.is_empty()).then_some(thumbnail),
            template_entry_id: (!template.is_empty()).then_some(template),
        }),
    })
}

/// Whether the rule subscribes to the event and its filters let the entry through: each
/// given filter must match, by any of its values. Filters are about entries; meeting events
/// pass them.
pub fn matches(rule: &RuleRuntime, occurrence: &Occurrence) -> bool {
    if !rule.spec.events.contains(&occurrence.event) {
        return false;
    }
    let Subject::Entry(entry) = &occurrence.subject else {
        return true;
    };
    let filters = &rule.spec.filters;
    let any = |wanted: &[String], has: &dyn Fn(&str) -> bool| {
        wanted.is_empty() || wanted.iter().any(|w| has(w))
    };
    any(&filters.categories, &|c| {
        entry.category_ids.iter().any(|id| id == c)
            || entry
                .categories
                .iter()
                .any(|full| full == c || full.ends_with(&format!(">{c}")))
    }) && any(&filters.tags, &|t| {
        entry.tags.iter().any(|tag| tag.eq_ignore_ascii_case(t))
    }) && any(&filters.owners, &|o| entry.owner == o)
}

/// A message routed to a channel, before the guild's role and channel names are resolved.
/// This is what the outbox stores as the message body.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Draft {
    pub guild_id: String,
    /// The rule's channel, by name or id.
    pub channel: String,
    /// Roles to mention, by name or id (`everyone` for @everyone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mention_roles: Vec<String>,
    /// The `POST /channels/{id}/messages` body without mentions and nonce.
    pub message: Value,
}

impl Draft {
    /// The outbox's channel key: the channel id, or `<guild>/<name>` for a channel by name, so
    /// same-named channels of two guilds never share an order.
    pub fn channel_key(&self) -> String {
        if is_snowflake(&self.channel) {
            self.channel.clone()
        } else {
            format!("{}/{}", self.guild_id, self.channel.trim_start_matches('#'))
        }
    }
}

fn is_snowflake(value: &str) -> bool {
    !value.is_empty() && value.len() <= 20 && value.bytes().all(|b| b.is_ascii_digit())
}

/// The default text of each event, when the rule has no template.
pub fn default_template(event: Event) -> &'static str {
    match event {
        Event::EntryReady => "**{{ name }}** is ready to watch.",
        Event::EntryAdded => "**{{ name }}** was added.",
        Event::EntryDeleted => "**{{ name }}** was deleted.",
        Event::RecordingReady => "The recording **{{ name }}** is ready.",
        Event::MeetingStarted => "{{ host }} started the {{ type }} **{{ title }}**.",
        Event::MeetingEnded => "The {{ type }} **{{ title }}** has ended.",
        Event::UserJoined => "{{ user }} joined **{{ title }}**.",
    }
}

/// The value of each placeholder the event offers (the lists in `kd_crds::template`).
fn placeholder(occurrence: &Occurrence, partner: &PartnerRuntime, name: &str) -> Option<String> {
    let offered = occurrence.event.placeholders();
    if !offered.contains(&name) {
        return None;
    }
    if name == "partnerId" {
        return Some(partner.partner_id.to_string());
    }
    Some(match &occurrence.subject {
        Subject::Entry(e) => match name {
            "entryId" => e.id.clone(),
            "name" => e.name.clone(),
            "description" => e.description.clone(),
            "duration" => duration(e.duration_secs),
            "owner" => e.owner.clone(),
            "tags" => e.tags.join(", "),
            "categories" => e.categories.join(", "),
            "thumbnailUrl" => e.thumbnail_url.clone().unwrap_or_default(),
            "url" => entry_url(partner, &e.id),
            _ => return None,
        },
        Subject::Meeting(m) => match name {
            "meetingId" => m.id.clone(),
            "title" => m.title.clone(),
            "type" => m.kind.clone(),
            "host" | "user" => m.host.clone(),
            "joinUrl" => m.join_url.clone(),
            _ => return None,
        },
    })
}

fn entry_url(partner: &PartnerRuntime, entry_id: &str) -> String {
    player_url(
        &partner.service_url,
        partner.partner_id,
        partner.player_ui_conf_id,
        entry_id,
    )
}

/// Discord's limits on what a message carries.
const CONTENT_MAX: usize = 2000;
const TITLE_MAX: usize = 256;
const DESCRIPTION_MAX: usize = 4096;

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// The messages an occurrence routes to in a guild: one per matching rule, while the guild
/// has notifications on. `watch_together` adds the Watch Together button to entries.
///
/// A meeting's recording (`started_in`: where its meeting was started) goes, in the meeting's
/// guild, to the meeting's channel instead of the rules' channels, and once: as the first
/// matching rule renders it (its template, mentions and rate). Other guilds route it as usual.
pub fn route(
    guild_id: &str,
    guild: &GuildRuntime,
    partner: &PartnerRuntime,
    occurrence: &Occurrence,
    watch_together: bool,
    started_in: Option<&StartedIn>,
) -> Vec<(String, Draft)> {
    if !guild.features.notifications {
        return Vec::new();
    }
    let mut routed: Vec<(String, Draft)> = guild
        .notification_rules
        .iter()
        .filter(|rule| matches(rule, occurrence))
        .map(|rule| {
            let draft = render(guild_id, rule, partner, occurrence, watch_together);
            (rule.name.clone(), draft)
        })
        .collect();
    if let Some(started) =
        started_in.filter(|s| s.guild_id == guild_id && occurrence.recording_template().is_some())
    {
        routed.truncate(1);
        for (_, draft) in &mut routed {
            draft.channel = started.channel_id.clone();
        }
    }
    routed
}

/// One rule's message for an occurrence. A template the API server accepted always renders;
/// one that does not (hand-written config) falls back to the event's default text.
pub fn render(
    guild_id: &str,
    rule: &RuleRuntime,
    partner: &PartnerRuntime,
    occurrence: &Occurrence,
    watch_together: bool,
) -> Draft {
    let values = |name: &str| placeholder(occurrence, partner, name);
    let fallback = default_template(occurrence.event);
    let content = rule
        .spec
        .template
        .as_deref()
        .filter(|t| template::check(t, occurrence.event.placeholders()).is_ok())
        .and_then(|t| template::render(t, &values).ok())
        .or_else(|| template::render(fallback, &values).ok())
        .unwrap_or_default();
    let mut message = json!({"content": truncate(&content, CONTENT_MAX)});
    if let Subject::Entry(entry) = &occurrence.subject {
        let mut embed = json!({
            "title": truncate(if entry.name.is_empty() { &entry.id } else { &entry.name }, TITLE_MAX),
            "url": entry_url(partner, &entry.id),
            "fields": [{"name": "Duration", "value": duration(entry.duration_secs), "inline": true}],
            "footer": {"text": format!("entry {}", entry.id)},
        });
        if !entry.description.is_empty() {
            embed["description"] = json!(truncate(&entry.description, DESCRIPTION_MAX));
        }
        if let Some(thumbnail) = &entry.thumbnail_url {
            embed["thumbnail"] = json!({"url": thumbnail});
        }
        message["embeds"] = json!([embed]);
        if watch_together && occurrence.event != Event::EntryDeleted {
            message["components"] = json!([{"type": 1, "components": [
                {"type": 2, "style": 1, "label": "Watch Together", "custom_id": watch_button(&entry.id)}
            ]}]);
        }
    }
    Draft {
        guild_id: guild_id.to_string(),
        channel: rule.spec.channel.clone(),
        mention_roles: rule.spec.mention_roles.clone(),
        message,
    }
}

/// The short name of a rule (`lectures` of `kaltura/lectures`), as members see it.
pub fn rule_label(rule: &RuleRuntime) -> &str {
    rule.name.rsplit('/').next().unwrap_or(&rule.name)
}

/// The guild's rule a member names, by `namespace/name` or by its name alone. Rules of other
/// guilds are not looked at, so they stay invisible; an unknown name lists this guild's rules.
pub fn find_rule<'a>(guild: &'a GuildRuntime, named: &str) -> Result<&'a RuleRuntime, Failure> {
    let named = named.trim();
    let rules = &guild.notification_rules;
    rules
        .iter()
        .find(|r| r.name == named)
        .or_else(|| rules.iter().find(|r| rule_label(r) == named))
        .ok_or_else(|| {
            let known: Vec<String> = rules
                .iter()
                .map(|r| format!("`{}`", rule_label(r)))
                .collect();
            Failure::invalid(if known.is_empty() {
                format!("This server has no notification rule `{named}`; it has none at all.")
            } else {
                format!(
                    "This server has no notification rule `{named}`. Its rules: {}.",
                    known.join(", ")
                )
            })
        })
}

/// Autocomplete for a rule: (label, `namespace/name`) of the guild's rules whose name contains
/// what is typed, at most Discord's 25.
pub fn rule_choices(guild: &GuildRuntime, typed: &str) -> Vec<(String, String)> {
    let typed = typed.to_lowercase();
    guild
        .notification_rules
        .iter()
        .filter(|r| r.name.to_lowercase().contains(&typed))
        .take(25)
        .map(|r| (rule_label(r).to_string(), r.name.clone()))
        .collect()
}

/// The id of the sample entry (and meeting) a test message shows.
pub const SAMPLE_ENTRY: &str = "0_sample";

/// An occurrence of `event` with sample values, for `/kaltura-notify test`; `member` (who asked)
/// stands in as the host or the joining user.
pub fn sample(event: Event, member: &str) -> Occurrence {
    let subject = match event {
        Event::EntryReady | Event::EntryAdded | Event::EntryDeleted | Event::RecordingReady => {
            Subject::Entry(EntryFacts {
                id: SAMPLE_ENTRY.into(),
                name: "Sample video".into(),
                description: "A sample of this rule's message.".into(),
                duration_secs: Some(754),
                owner: "sample-owner".into(),
                tags: vec!["sample".into()],
                categories: vec!["Samples".into()],
                category_ids: Vec::new(),
                thumbnail_url: None,
                template_entry_id: None,
            })
        }
        Event::MeetingStarted | Event::MeetingEnded | Event::UserJoined => {
            Subject::Meeting(MeetingFacts {
                id: "0".into(),
                title: "Sample meeting".into(),
                kind: "meeting".into(),
                host: member.to_string(),
                join_url: format!("/{} meeting-id:0", crate::command::Command::Join),
            })
        }
    };
    Occurrence { event, subject }
}

/// `/kaltura-notify test`: the named rule's message for a sample of its first event, rendered
/// as delivery renders it (template, embed, mentions, Watch Together button), with a last line
/// saying it is a test. Returns the rule's full name and the draft.
pub fn test_message(who: &crate::gate::Allowed, named: &str) -> Result<(String, Draft), Failure> {
    let guild = &who.guild.effective;
    let rule = find_rule(guild, named)?;
    let event = *rule.spec.events.first().ok_or_else(|| {
        Failure::invalid(format!(
            "The rule `{}` subscribes to no events.",
            rule_label(rule)
        ))
    })?;
    let occurrence = sample(event, &who.member.display_name);
    let watch = who.config.application.activity_enabled;
    let mut draft = render(&who.guild_id, rule, who.partner()?, &occurrence, watch);
    let content = draft.message["content"].as_str().unwrap_or_default();
    let note = format!(
        "\n-# A test of the notification rule `{}` ({}), sent by {}.",
        rule_label(rule),
        event.name(),
        who.member.display_name
    );
    draft.message["content"] = json!(format!("{content}{note}"));
    Ok((rule.name.clone(), draft))
}

/// Records a meeting the bot started or ended as an event in the outbox, with the messages the
/// guild's rules route it to. Its id is the meeting's and the event's, so the same meeting
/// is announced once. A failure is logged: the meeting itself went ahead.
pub async fn announce_meeting(
    store: &kd_store::Store,
    who: &crate::gate::Allowed,
    event: Event,
    meeting: &crate::meetings::Meeting,
) {
    let Ok(partner) = who.partner() else { return };
    let occurrence = Occurrence {
        event,
        subject: Subject::Meeting(MeetingFacts {
            id: meeting.id.clone(),
            title: meeting.title.clone(),
            kind: meeting.kind.clone(),
            host: who.member.display_name.clone(),
            join_url: format!(
                "/{} meeting-id:{}",
                crate::command::Command::Join,
                meeting.id
            ),
        }),
    };
    let watch = who.config.application.activity_enabled;
    let routed = route(
        &who.guild_id,
        &who.guild.effective,
        partner,
        &occurrence,
        watch,
        None,
    );
    if routed.is_empty() {
        return;
    }
    let id = format!("meeting:{}:{}:{}", who.guild_id, meeting.id, event.name());
    let bodies: Vec<(String, String, String)> = routed
        .iter()
        .map(|(rule, draft)| {
            let body = serde_json::to_string(draft).expect("a draft serializes");
            (rule.clone(), draft.channel_key(), body)
        })
        .collect();
    let messages: Vec<kd_store::NewMessage<'_>> = bodies
        .iter()
        .map(|(rule, channel_id, body)| kd_store::NewMessage {
            rule,
            channel_id,
            body,
        })
        .collect();
    let payload =
        json!({"meetingId": meeting.id, "title": meeting.title, "type": meeting.kind}).to_string();
    let recorded = store
        .record_event(
            &kd_store::NewEvent {
                notification_id: &id,
                partner_id: partner.partner_id,
                kind: event.name(),
                payload: &payload,
                received_at: kd_store::now_ms(),
            },
            &messages,
        )
        .await;
    if let Err(err) = recorded {
        tracing::error!(error = %err, meeting = %meeting.id, "recording a meeting notification failed");
    }
}

/// The final `POST /channels/{id}/messages` body: role mentions resolved against the guild's
/// roles and put in front of the text, with `allowed_mentions` naming exactly those roles
/// (so a template can never ping @everyone, a user or another role). @everyone only when the
/// rule lists `everyone`. Roles that no longer exist are left out.
pub fn finish(draft: &Draft, roles: &[GuildRole], nonce: &str) -> Value {
    let mut everyone = false;
    let mut ids: Vec<String> = Vec::new();
    for wanted in &draft.mention_roles {
        let wanted = wanted.trim_start_matches('@');
        if wanted == EVERYONE {
            everyone = true;
        } else if let Some(role) = roles.iter().find(|r| r.id == wanted || r.name == wanted)
            && !ids.contains(&role.id)
        {
            ids.push(role.id.clone());
        }
    }
    let mut mentions: Vec<String> = ids.iter().map(|id| format!("<@&{id}>")).collect();
    if everyone {
        mentions.insert(0, "@everyone".into());
    }
    let mut body = draft.message.clone();
    let text = body["content"].as_str().unwrap_or_default().to_string();
    let content = if mentions.is_empty() {
        text
    } else {
        format!("{} {text}", mentions.join(" "))
    };
    body["content"] = json!(truncate(&content, CONTENT_MAX));
    body["allowed_mentions"] = json!({
        "parse": if everyone { vec![EVERYONE] } else { vec![] },
        "roles": ids,
    });
    body["nonce"] = json!(nonce);
    body["enforce_nonce"] = json!(true);
    body
}

/// The Discord channel id of a draft's channel, given the guild's channels as (id, name).
pub fn channel_id(draft: &Draft, channels: &[(String, String)]) -> Option<String> {
    if is_snowflake(&draft.channel) {
        return Some(draft.channel.clone());
    }
    let name = draft.channel.trim_start_matches('#');
    channels
        .iter()
        .find(|(_, n)| n == name)
        .map(|(id, _)| id.clone())
}

/// Several drafts of one rule and channel as one message (a burst over the rule's
/// `maxPerMinute`): their texts in order, up to Discord's 10 embeds and 2,000 characters.
/// Returns the combined draft and how many drafts it took (at least one).
pub fn coalesce(drafts: &[Draft]) -> (Draft, usize) {
    let mut combined = drafts[0].clone();
    let mut taken = 1;
    let mut content = combined.message["content"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut embeds: Vec<Value> = combined.message["embeds"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for draft in &drafts[1..] {
        let more = draft.message["content"].as_str().unwrap_or_default();
        let more_embeds = draft.message["embeds"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // Room for the mentions finish() puts in front.
        if content.len() + more.len() + 1 > CONTENT_MAX - 200
            || embeds.len() + more_embeds.len() > 10
        {
            break;
        }
        content.push('\n');
        content.push_str(more);
        embeds.extend(more_embeds);
        taken += 1;
    }
    combined.message["content"] = json!(content);
    if !embeds.is_empty() {
        combined.message["embeds"] = json!(embeds);
    }
    if taken > 1 {
        // One button per entry would not say which one it is for.
        if let Some(map) = combined.message.as_object_mut() {
            map.remove("components");
        }
    }
    (combined, taken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::config;
    use kd_crds::common::LocalRef;
    use kd_crds::notification::{Filters, NotificationRuleSpec};

    fn rule(events: Vec<Event>, filters: Filters) -> RuleRuntime {
        RuleRuntime {
            name: "kaltura/lectures".into(),
            spec: NotificationRuleSpec {
                guild_config_ref: LocalRef {
                    name: "physics-101".into(),
                },
                events,
                filters,
                channel: "recordings".into(),
                template: Some("New: {{ name }} ({{ duration }}) by {{ owner }}".into()),
                mention_roles: vec!["Students".into(), "@everyone".into(), "999".into()],
                max_per_minute: 30,
            },
        }
    }

    fn entry_notification(event_type: &str, object: Value) -> Notification {
        Notification {
            event_type: event_type.into(),
            event_object_type: "1".into(),
            template_id: Some(1),
            template_name: None,
            template_system_name: None,
            job_id: Some(5),
            partner_id: Some(4321),
            object,
        }
    }

    fn lecture() -> Value {
        json!({"objectType": "KalturaMediaEntry", "id": "0_abc", "name": "Optics", "status": "2",
               "duration": "75", "userId": "prof", "tags": "physics, Optics",
               "categories": "Courses>Physics 101", "categoriesIds": "44",
               "thumbnailUrl": "https://cdn.example/t.jpg", "description": "Lenses"})
    }

    #[test]
    fn classifies_entry_events_and_ignores_others() {
        let ready = classify(&entry_notification("3", lecture())).unwrap();
        assert_eq!(ready.event, Event::EntryReady);
        let Subject::Entry(entry) = &ready.subject else {
            panic!()
        };
        assert_eq!(entry.tags, vec!["physics", "Optics"]);
        assert_eq!(entry.duration_secs, Some(75));
        let mut recording = lecture();
        recording["sourceType"] = json!("36");
        assert_eq!(
            classify(&entry_notification("3", recording)).unwrap().event,
            Event::RecordingReady
        );
        assert_eq!(
            classify(&entry_notification("2", lecture())).unwrap().event,
            Event::EntryAdded
        );
        let mut pending = lecture();
        pending["status"] = json!("1");
        assert!(classify(&entry_notification("3", pending)).is_none());
        let mut user = entry_notification("2", json!({"objectType": "KalturaUser"}));
        user.event_object_type = "8".into();
        assert!(classify(&user).is_none());
    }

    #[test]
    fn a_meetings_recording_goes_once_to_the_channel_it_was_started_in() {
        let mut recording = lecture();
        recording["templateEntryId"] = json!("0_tmpl");
        let ready = classify(&entry_notification("3", recording)).unwrap();
        assert_eq!(ready.event, Event::RecordingReady);
        assert_eq!(ready.recording_template(), Some("0_tmpl"));
        let mut template = lecture();
        template["displayInSearch"] = json!(-1);
        assert!(
            classify(&entry_notification("2", template)).is_none(),
            "a meeting's template entry is no event"
        );

        let mut guild = config(true).guilds[crate::testing::GUILD].clone();
        guild.features.notifications = true;
        let mut second = rule(vec![Event::RecordingReady], Filters::default());
        second.name = "kaltura/second".into();
        guild.notification_rules = vec![
            rule(vec![Event::RecordingReady], Filters::default()),
            second,
        ];
        let partner = config(true).partners["campus"].clone();
        let started = StartedIn {
            guild_id: "1".into(),
            channel_id: "777".into(),
        };
        let routed = route("1", &guild, &partner, &ready, false, Some(&started));
        assert_eq!(routed.len(), 1);
        assert_eq!(routed[0].0, "kaltura/lectures");
        assert_eq!(routed[0].1.channel, "777");
        assert_eq!(routed[0].1.message["content"], "New: Optics (1:15) by prof");
        // Another guild's rules route it to their own channels.
        let elsewhere = route("2", &guild, &partner, &ready, false, Some(&started));
        let channels: Vec<&str> = elsewhere.iter().map(|(_, d)| d.channel.as_str()).collect();
        assert_eq!(channels, ["recordings", "recordings"]);
        guild.notification_rules.clear();
        assert!(route("1", &guild, &partner, &ready, false, Some(&started)).is_empty());
    }

    #[test]
    fn filters_each_match_by_any_value() {
        let ready = classify(&entry_notification("3", lecture())).unwrap();
        let by = |filters: Filters| matches(&rule(vec![Event::EntryReady], filters), &ready);
        assert!(by(Filters::default()));
        assert!(by(Filters {
            categories: vec!["44".into()],
            ..Filters::default()
        }));
        assert!(by(Filters {
            categories: vec!["Physics 101".into()],
            tags: vec!["optics".into(), "none".into()],
            owners: vec!["prof".into()],
        }));
        assert!(!by(Filters {
            tags: vec!["chemistry".into()],
            ..Filters::default()
        }));
        assert!(!by(Filters {
            owners: vec!["someone".into()],
            ..Filters::default()
        }));
        assert!(!matches(
            &rule(vec![Event::EntryAdded], Filters::default()),
            &ready
        ));
    }

    #[test]
    fn renders_template_embed_and_button_and_mentions_only_the_rule_roles() {
        let mut guild = config(true).guilds[crate::testing::GUILD].clone();
        guild.features.notifications = true;
        guild.notification_rules = vec![rule(vec![Event::EntryReady], Filters::default())];
        let partner = config(true).partners["campus"].clone();
        let ready = classify(&entry_notification("3", lecture())).unwrap();
        let routed = route("1", &guild, &partner, &ready, true, None);
        assert_eq!(routed.len(), 1);
        let (rule_name, draft) = &routed[0];
        assert_eq!(rule_name, "kaltura/lectures");
        assert_eq!(draft.channel_key(), "1/recordings");
        assert_eq!(draft.message["content"], "New: Optics (1:15) by prof");
        assert_eq!(
            draft.message["embeds"][0]["thumbnail"]["url"],
            "https://cdn.example/t.jpg"
        );
        assert_eq!(
            draft.message["components"][0]["components"][0]["custom_id"],
            "kd:watch:0_abc"
        );
        let roles = [GuildRole {
            id: "77".into(),
            name: "Students".into(),
        }];
        let body = finish(draft, &roles, "k0123");
        assert_eq!(
            body["content"],
            "@everyone <@&77> New: Optics (1:15) by prof"
        );
        assert_eq!(
            body["allowed_mentions"],
            json!({"parse": ["everyone"], "roles": ["77"]})
        );
        assert_eq!(body["enforce_nonce"], true);

        let quiet = Draft {
            mention_roles: vec![],
            ..draft.clone()
        };
        assert_eq!(
            finish(&quiet, &roles, "k")["allowed_mentions"],
            json!({"parse": [], "roles": []})
        );
        guild.features.notifications = false;
        assert!(route("1", &guild, &partner, &ready, true, None).is_empty());
    }

    #[test]
    fn a_template_naming_everyone_in_text_pings_nobody() {
        let mut r = rule(vec![Event::EntryReady], Filters::default());
        r.spec.template = Some("@everyone <@&5> {{ name }}".into());
        r.spec.mention_roles = vec![];
        let partner = config(true).partners["campus"].clone();
        let ready = classify(&entry_notification("3", lecture())).unwrap();
        let body = finish(&render("1", &r, &partner, &ready, false), &[], "k");
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
        assert_eq!(body["allowed_mentions"]["roles"], json!([]));
        assert!(body.get("components").is_none());
    }

    #[test]
    fn meeting_events_fill_meeting_placeholders() {
        let mut r = rule(vec![Event::MeetingStarted], Filters::default());
        r.spec.template = None;
        let partner = config(true).partners["campus"].clone();
        let started = Occurrence {
            event: Event::MeetingStarted,
            subject: Subject::Meeting(MeetingFacts {
                id: "9".into(),
                title: "Lab".into(),
                kind: "meeting".into(),
                host: "ada".into(),
                join_url: "/kaltura-join meeting-id:9".into(),
            }),
        };
        assert!(matches(&r, &started));
        let draft = render("1", &r, &partner, &started, true);
        assert_eq!(draft.message["content"], "ada started the meeting **Lab**.");
        assert!(draft.message.get("embeds").is_none());
    }

    fn allowed_with(rules: Vec<RuleRuntime>) -> crate::gate::Allowed {
        use crate::scope::{GuildScope, Scope};
        use crate::testing::{GUILD, member, teacher_role};
        let mut config = config(true);
        let guild = config.guilds.get_mut(GUILD).unwrap();
        guild.features.notifications = true;
        guild.notification_rules = rules;
        let guild = GuildScope::new(config.guild(GUILD).unwrap().clone(), Default::default());
        Scope {
            config: std::sync::Arc::new(config),
            guild_id: GUILD.into(),
            member: member(&[], true),
            guild_roles: vec![teacher_role()],
            guild: Some(guild),
        }
        .allow(crate::command::Command::Notify)
        .unwrap()
    }

    #[test]
    fn rules_are_found_by_full_or_short_name_and_unknown_ones_list_the_guilds() {
        let mut meetings = rule(vec![Event::MeetingStarted], Filters::default());
        meetings.name = "kaltura/meetings".into();
        let who = allowed_with(vec![
            rule(vec![Event::EntryReady], Filters::default()),
            meetings,
        ]);
        let guild = &who.guild.effective;
        assert_eq!(
            find_rule(guild, "kaltura/lectures").unwrap().name,
            "kaltura/lectures"
        );
        assert_eq!(
            find_rule(guild, " meetings ").unwrap().name,
            "kaltura/meetings"
        );
        let Err(Failure::Invalid(text)) = find_rule(guild, "other-guilds-rule") else {
            panic!("an unknown rule is refused")
        };
        assert_eq!(
            text,
            "This server has no notification rule `other-guilds-rule`. Its rules: `lectures`, `meetings`."
        );
        assert_eq!(
            rule_choices(guild, "MEET"),
            [("meetings".to_string(), "kaltura/meetings".to_string())]
        );
        assert_eq!(rule_choices(guild, "").len(), 2);
        let none = allowed_with(vec![]);
        let Err(Failure::Invalid(text)) = find_rule(&none.guild.effective, "x") else {
            panic!()
        };
        assert!(text.contains("it has none at all"), "{text}");
    }

    #[test]
    fn a_test_message_renders_the_rules_first_event_as_delivery_does() {
        let who = allowed_with(vec![rule(
            vec![Event::RecordingReady, Event::EntryReady],
            Filters {
                tags: vec!["never-matches-a-sample".into()],
                ..Filters::default()
            },
        )]);
        let (name, draft) = test_message(&who, "lectures").unwrap();
        assert_eq!(name, "kaltura/lectures");
        assert_eq!(draft.channel, "recordings");
        assert_eq!(draft.mention_roles, ["Students", "@everyone", "999"]);
        let content = draft.message["content"].as_str().unwrap();
        assert_eq!(
            content,
            "New: Sample video (12:34) by sample-owner\n-# A test of the notification rule `lectures` (recordingReady), sent by Ada."
        );
        assert_eq!(draft.message["embeds"][0]["title"], "Sample video");
        assert_eq!(
            draft.message["components"][0]["components"][0]["custom_id"],
            watch_button(SAMPLE_ENTRY)
        );

        let mut started = rule(vec![Event::MeetingStarted], Filters::default());
        started.spec.template = None;
        let who = allowed_with(vec![started]);
        let (_, draft) = test_message(&who, "kaltura/lectures").unwrap();
        assert!(
            draft.message["content"]
                .as_str()
                .unwrap()
                .starts_with("Ada started the meeting **Sample meeting**.")
        );
        assert!(draft.message.get("embeds").is_none());
    }

    #[test]
    fn channels_by_name_resolve_and_bursts_coalesce() {
        let partner = config(true).partners["campus"].clone();
        let r = rule(vec![Event::EntryReady], Filters::default());
        let ready = classify(&entry_notification("3", lecture())).unwrap();
        let draft = render("1", &r, &partner, &ready, true);
        let channels = [("50".to_string(), "recordings".to_string())];
        assert_eq!(channel_id(&draft, &channels), Some("50".into()));
        let by_id = Draft {
            channel: "51".into(),
            ..draft.clone()
        };
        assert_eq!(channel_id(&by_id, &[]), Some("51".into()));
        assert_eq!(by_id.channel_key(), "51");
        let burst = vec![draft.clone(); 12];
        let (combined, taken) = coalesce(&burst);
        assert_eq!(taken, 10, "at most 10 embeds");
        assert_eq!(combined.message["embeds"].as_array().unwrap().len(), 10);
        assert_eq!(
            combined.message["content"]
                .as_str()
                .unwrap()
                .lines()
                .count(),
            10
        );
        assert!(combined.message.get("components").is_none());
        assert_eq!(coalesce(&burst[..1]).1, 1);
    }
}

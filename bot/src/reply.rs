//! What the bot answers, as data, and its Discord wire form (interaction callback bodies and
//! webhook edits). All responses go out as JSON, which also covers LAUNCH_ACTIVITY (type 12)
//! that twilight-model does not model.

use serde_json::{Value, json};

/// Discord's EPHEMERAL message flag.
const EPHEMERAL: u64 = 1 << 6;

/// Discord's limit on a message's content, in characters.
const MAX_CONTENT: usize = 2000;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Message {
    pub content: String,
    pub embeds: Vec<Value>,
    /// Action rows.
    pub components: Vec<Value>,
    pub ephemeral: bool,
    /// Role ids this message may ping; nothing else is ever pinged.
    pub mention_roles: Vec<String>,
}

impl Message {
    pub fn ephemeral(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            ephemeral: true,
            ..Self::default()
        }
    }

    pub fn public(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
            ..Self::default()
        }
    }

    pub fn embed(mut self, embed: Value) -> Self {
        self.embeds.push(embed);
        self
    }

    /// Adds a row of buttons (at most five per row, as Discord allows).
    pub fn row(mut self, buttons: Vec<Value>) -> Self {
        if !buttons.is_empty() {
            self.components
                .push(json!({"type": 1, "components": buttons}));
        }
        self
    }

    /// The message body as Discord takes it in callbacks, edits and channel posts.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "content": self.content,
            "embeds": self.embeds,
            "components": self.components,
            "allowed_mentions": {"parse": [], "roles": self.mention_roles},
        });
        if self.ephemeral {
            body["flags"] = json!(EPHEMERAL);
        }
        body
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// A new message answering the interaction (callback type 4).
    Message(Message),
    /// Replace the message the pressed button is on (type 7).
    Update(Message),
    /// Autocomplete suggestions: (label, value), at most 25 (type 8).
    Choices(Vec<(String, String)>),
    /// Open the Activity in the member's voice channel (type 12).
    LaunchActivity,
}

impl Reply {
    /// The callback body for `POST /interactions/{id}/{token}/callback`.
    pub fn callback(&self) -> Value {
        match self {
            Reply::Message(m) => json!({"type": 4, "data": m.to_json()}),
            Reply::Update(m) => json!({"type": 7, "data": m.to_json()}),
            Reply::Choices(choices) => json!({"type": 8, "data": {"choices": choices
                .iter()
                .take(25)
                .map(|(name, value)| json!({"name": truncate(name, 100), "value": truncate(value, 100)}))
                .collect::<Vec<_>>()}}),
            Reply::LaunchActivity => json!({"type": 12}),
        }
    }

    /// The reply with `note` as a last line of its message (suggestions and launches carry no
    /// text, so they stay as they are); the message still fits Discord's 2,000 characters.
    pub fn with_note(self, note: &str) -> Reply {
        let noted = |mut m: Message| {
            let room = MAX_CONTENT.saturating_sub(note.chars().count() + 2);
            m.content = if m.content.is_empty() {
                note.to_string()
            } else {
                format!("{}\n\n{note}", truncate(&m.content, room))
            };
            m
        };
        match self {
            Reply::Message(m) => Reply::Message(noted(m)),
            Reply::Update(m) => Reply::Update(noted(m)),
            other => other,
        }
    }

    /// Whether the reply may replace a deferred answer by editing it (a launch or
    /// suggestions cannot be sent late).
    pub fn can_follow_deferral(&self) -> bool {
        matches!(self, Reply::Message(_) | Reply::Update(_))
    }
}

/// The deferral sent when an answer is not ready in time (type 5 for commands, 6 for buttons).
pub fn deferral(for_button: bool, ephemeral: bool) -> Value {
    if for_button {
        json!({"type": 6})
    } else if ephemeral {
        json!({"type": 5, "data": {"flags": EPHEMERAL}})
    } else {
        json!({"type": 5})
    }
}

pub fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A button that comes back to the bot with `custom_id`.
pub fn button(label: &str, custom_id: &str, style: ButtonStyle) -> Value {
    json!({"type": 2, "style": style as u8, "label": label, "custom_id": custom_id})
}

/// A button that opens a URL.
pub fn link_button(label: &str, url: &str) -> Value {
    json!({"type": 2, "style": 5, "label": label, "url": url})
}

#[derive(Clone, Copy, Debug)]
pub enum ButtonStyle {
    Primary = 1,
    Secondary = 2,
    Success = 3,
    Danger = 4,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_have_discords_shape() {
        let m =
            Message::ephemeral("hi").row(vec![button("Join", "kd:join:1", ButtonStyle::Primary)]);
        let body = Reply::Message(m).callback();
        assert_eq!(body["type"], 4);
        assert_eq!(body["data"]["flags"], 64);
        assert_eq!(body["data"]["components"][0]["type"], 1);
        assert_eq!(
            body["data"]["components"][0]["components"][0]["custom_id"],
            "kd:join:1"
        );
        assert_eq!(body["data"]["allowed_mentions"]["parse"], json!([]));
        assert_eq!(Reply::LaunchActivity.callback(), json!({"type": 12}));
        let choices = Reply::Choices(
            (0..30)
                .map(|i| (format!("n{i}"), format!("v{i}")))
                .collect(),
        )
        .callback();
        assert_eq!(choices["data"]["choices"].as_array().unwrap().len(), 25);
        assert_eq!(
            deferral(false, true),
            json!({"type": 5, "data": {"flags": 64}})
        );
        assert_eq!(deferral(true, true), json!({"type": 6}));
    }

    #[test]
    fn a_note_goes_below_the_content_and_the_whole_still_fits() {
        let noted = Reply::Message(Message::ephemeral("hi")).with_note("-# small print");
        assert_eq!(
            noted,
            Reply::Message(Message::ephemeral("hi\n\n-# small print"))
        );
        let long = Reply::Update(Message::public("x".repeat(2000))).with_note("-# note");
        let Reply::Update(m) = long else { panic!() };
        assert_eq!(m.content.chars().count(), 2000);
        assert!(m.content.ends_with("…\n\n-# note"));
        assert_eq!(Reply::LaunchActivity.with_note("n"), Reply::LaunchActivity);
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("héllo", 10), "héllo");
        assert_eq!(truncate("héllo wörld", 6), "héllo…");
    }
}

//! Rendering: the results of the core's operations, and why one failed, as Discord messages
//! with their buttons, within Discord's limits.

use crate::buttons::ButtonAction;
use crate::notify::outcome::{self, SendError};
use crate::reply::{ButtonStyle, Message, Reply, button, link_button, truncate};
use kd_core::command::Command;
use kd_core::error::Failure;
use kd_core::meetings::{JoinLink, Meeting};
use kd_core::settings::Setting;
use kd_core::videos::{MAX_PAGE_SIZE, SearchPage, Video, duration};
use serde_json::json;

pub fn say(text: impl Into<String>) -> Reply {
    Reply::Message(Message::ephemeral(text))
}

/// Why an operation did not happen, said to the member alone.
pub fn failure(failure: &Failure) -> Reply {
    match failure {
        Failure::MeetingNotFound(id) => say(format!(
            "No active meeting with id `{id}` on this server. `/{}` shows them.",
            Command::List
        )),
        other => say(other.to_string()),
    }
}

pub fn meeting_started(m: &Meeting) -> Reply {
    Reply::Message(
        Message::ephemeral(format!(
            "Started the {} **{}** (id `{}`).",
            m.kind, m.title, m.id
        ))
        .row(vec![
            button(
                "Join",
                &ButtonAction::Join(m.id.clone()).custom_id(),
                ButtonStyle::Primary,
            ),
            button(
                "Share",
                &ButtonAction::ShareMeeting(m.id.clone()).custom_id(),
                ButtonStyle::Secondary,
            ),
            button(
                "End",
                &ButtonAction::End(m.id.clone()).custom_id(),
                ButtonStyle::Danger,
            ),
        ]),
    )
}

/// A public post announcing a meeting; every member gets a personal link from its button.
pub fn meeting_shared(m: &Meeting, text: String) -> Reply {
    Reply::Message(Message::public(text).row(vec![button(
        "Join",
        &ButtonAction::Join(m.id.clone()).custom_id(),
        ButtonStyle::Primary,
    )]))
}

pub fn join_link(link: &JoinLink, minutes: i64) -> Reply {
    Reply::Message(
        Message::ephemeral(format!(
            "Your personal link to **{}**. It is yours alone and works for {minutes} minutes.",
            link.meeting.title
        ))
        .row(vec![link_button("Open meeting", &link.url)]),
    )
}

pub fn meeting_ended(m: &Meeting) -> Reply {
    say(format!("Ended **{}**.", m.title))
}

pub fn meeting_list(meetings: &[Meeting]) -> Reply {
    if meetings.is_empty() {
        return say(format!(
            "No meetings are running. Start one with `/{}`.",
            Command::Start
        ));
    }
    let lines: Vec<String> = meetings
        .iter()
        .map(|m| format!("• **{}** ({}, id `{}`)", m.title, m.kind, m.id))
        .collect();
    let mut message = Message::ephemeral(format!("Active meetings:\n{}", lines.join("\n")));
    // Five rows of five buttons is all a message can hold.
    for chunk in meetings.chunks(5).take(5) {
        message = message.row(
            chunk
                .iter()
                .map(|m| {
                    button(
                        &truncate(&format!("Join {}", m.title), 80),
                        &ButtonAction::Join(m.id.clone()).custom_id(),
                        ButtonStyle::Primary,
                    )
                })
                .collect(),
        );
    }
    Reply::Message(message)
}

/// Autocomplete choices of meetings whose title contains, or id starts with, what is typed.
pub fn meeting_choices(meetings: &[Meeting], typed: &str) -> Reply {
    let typed = typed.to_lowercase();
    Reply::Choices(
        meetings
            .iter()
            .filter(|m| {
                typed.is_empty()
                    || m.title.to_lowercase().contains(&typed)
                    || m.id.starts_with(&typed)
            })
            .map(|m| (format!("{} ({})", m.title, m.id), m.id.clone()))
            .collect(),
    )
}

pub fn video_choices(videos: Vec<Video>) -> Reply {
    Reply::Choices(videos.into_iter().map(|v| (v.name, v.id)).collect())
}

/// Watch Together without an Activity: the player page.
pub fn player_link(url: &str) -> Reply {
    Reply::Message(
        Message::ephemeral(
            "Watch Together is not enabled for this bot, so here is the video on its own.",
        )
        .row(vec![link_button("Open video", url)]),
    )
}

fn video_embed(v: &Video) -> serde_json::Value {
    let mut embed = json!({
        "title": truncate(&v.name, 256),
        "fields": [
            {"name": "Duration", "value": duration(v.duration_secs), "inline": true},
            {"name": "Owner", "value": v.owner.clone().unwrap_or_else(|| "unknown".into()), "inline": true},
        ],
        "footer": {"text": format!("entry {}", v.id)},
    });
    if let Some(d) = v.description.as_deref().filter(|d| !d.is_empty()) {
        embed["description"] = json!(truncate(d, 300));
    }
    if let Some(t) = &v.thumbnail_url {
        embed["thumbnail"] = json!({"url": t});
    }
    embed
}

/// One page of search results with Watch (when Watch Together is on) and Share buttons per
/// result and a pager; `update` replaces the message of the pressed pager button.
pub fn search_results(found: &SearchPage, query: &str, watch: bool, update: bool) -> Reply {
    let SearchPage {
        videos,
        page,
        limit,
        total,
    } = found;
    let (page, limit) = (*page, *limit);
    let reply = |message| {
        if update {
            Reply::Update(message)
        } else {
            Reply::Message(message)
        }
    };
    if videos.is_empty() {
        let text = if page > 1 {
            format!("No more results for “{query}”.")
        } else {
            format!("Nothing found for “{query}”.")
        };
        return reply(Message::ephemeral(text));
    }
    let pages = ((*total).max(0) as u32).div_ceil(limit).max(1);
    let mut message = Message::ephemeral(format!(
        "Results for “{query}” (page {page} of {pages}, {total} in all):"
    ));
    let shown = &videos[..videos.len().min(MAX_PAGE_SIZE as usize)];
    for (n, v) in shown.iter().enumerate() {
        let mut embed = video_embed(v);
        embed["title"] = json!(truncate(&format!("{}. {}", n + 1, v.name), 256));
        message = message.embed(embed);
    }
    // Five rows at most: two results per row (Watch n, Share n), then the pager.
    for (row, pair) in shown.chunks(2).enumerate() {
        let mut buttons = Vec::new();
        for (i, v) in pair.iter().enumerate() {
            let n = row * 2 + i + 1;
            if watch {
                buttons.push(button(
                    &format!("Watch {n}"),
                    &ButtonAction::Watch(v.id.clone()).custom_id(),
                    ButtonStyle::Success,
                ));
            }
            buttons.push(button(
                &format!("Share {n}"),
                &ButtonAction::ShareVideo(v.id.clone()).custom_id(),
                ButtonStyle::Secondary,
            ));
        }
        message = message.row(buttons);
    }
    let pager_button = |label: &str, page: u32| {
        button(
            label,
            &ButtonAction::Page {
                page,
                limit,
                query: query.into(),
            }
            .custom_id(),
            ButtonStyle::Secondary,
        )
    };
    let mut pager = Vec::new();
    if page > 1 {
        pager.push(pager_button("Previous", page - 1));
    }
    if page < pages {
        pager.push(pager_button("Next", page + 1));
    }
    reply(message.row(pager))
}

pub fn config_view(settings: &[Setting]) -> Reply {
    let lines: Vec<String> = settings
        .iter()
        .map(|s| {
            let value = if s.value.is_empty() {
                "—".to_string()
            } else {
                truncate(&s.value, 80)
            };
            let lock = if s.overridable { "" } else { " 🔒" };
            format!("`{}` = {} ({}){lock}", s.key, value, s.source)
        })
        .collect();
    say(format!(
        "Settings of this server (🔒: managed in Git only):\n{}",
        lines.join("\n")
    ))
}

/// The answer to `/kaltura-notify test`: where the sample went, or why Discord did not take it.
pub fn notify_test(rule: &str, sent: &Result<u64, (Option<u64>, SendError)>) -> Reply {
    say(match sent {
        Ok(channel) => format!("Sent a sample of the rule `{rule}` to <#{channel}>."),
        Err((Some(channel), error @ SendError::Status { code, .. }))
            if outcome::is_refusal(*code) =>
        {
            format!(
                "The bot may not post in <#{channel}> ({error}): let it view the channel and send messages there."
            )
        }
        Err((Some(channel), error @ SendError::Status { code, .. }))
            if *code == outcome::UNKNOWN_CHANNEL =>
        {
            format!("The rule's channel <#{channel}> does not exist ({error}).")
        }
        Err((_, error @ SendError::Unsendable(_))) => {
            format!("The sample of `{rule}` was not sent: {error}. Check the rule's channel.")
        }
        Err((_, error)) => {
            format!("Discord did not take the sample of `{rule}` ({error}); try again.")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meeting(i: usize) -> Meeting {
        Meeting {
            id: i.to_string(),
            title: format!("Room {i}"),
            kind: "meeting".into(),
            description: None,
            starts_at: None,
            ends_at: None,
            created_by: None,
        }
    }

    #[test]
    fn replies_render_buttons_within_discords_limits() {
        let meetings: Vec<Meeting> = (0..30).map(meeting).collect();
        let Reply::Message(list) = meeting_list(&meetings) else {
            panic!()
        };
        assert_eq!(list.components.len(), 5);
        assert!(
            list.components
                .iter()
                .all(|row| row["components"].as_array().unwrap().len() <= 5)
        );
        let videos: Vec<Video> = (0..8)
            .map(|i| Video {
                id: format!("1_{i}"),
                name: format!("V{i}"),
                description: None,
                duration_secs: Some(3725),
                thumbnail_url: None,
                owner: None,
            })
            .collect();
        let found = SearchPage {
            videos,
            page: 2,
            limit: 8,
            total: 40,
        };
        let Reply::Message(page) = search_results(&found, "q", true, false) else {
            panic!()
        };
        assert_eq!(page.embeds.len(), 8);
        assert_eq!(
            page.components.len(),
            5,
            "four rows of results and the pager"
        );
        let pager: Vec<&str> = page.components[4]["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["label"].as_str().unwrap())
            .collect();
        assert_eq!(pager, ["Previous", "Next"]);
        assert_eq!(page.embeds[0]["fields"][0]["value"], "1:02:05");
        let empty = SearchPage {
            videos: vec![],
            page: 6,
            limit: 8,
            total: 40,
        };
        let Reply::Update(last) = search_results(&empty, "q", true, true) else {
            panic!()
        };
        assert!(last.content.contains("No more results"));
    }

    #[test]
    fn meeting_choices_match_title_or_id() {
        let meetings: Vec<Meeting> = (10..13).map(meeting).collect();
        let Reply::Choices(found) = meeting_choices(&meetings, "ROOM 11") else {
            panic!()
        };
        assert_eq!(found, [("Room 11 (11)".to_string(), "11".to_string())]);
        let Reply::Choices(by_id) = meeting_choices(&meetings, "12") else {
            panic!()
        };
        assert_eq!(by_id.len(), 1);
    }

    #[test]
    fn notify_tests_say_where_they_went_or_why_not() {
        let text = |sent| match notify_test("lectures", &sent) {
            Reply::Message(m) if m.ephemeral => m.content,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            text(Ok(50)),
            "Sent a sample of the rule `lectures` to <#50>."
        );
        let denied = SendError::Status {
            status: 403,
            code: 50013,
            message: "Missing Permissions".into(),
        };
        assert_eq!(
            text(Err((Some(50), denied))),
            "The bot may not post in <#50> (Discord answered 403: Missing Permissions (50013)): let it view the channel and send messages there."
        );
        let gone = SendError::Status {
            status: 404,
            code: 10003,
            message: "Unknown Channel".into(),
        };
        assert!(text(Err((Some(51), gone))).contains("<#51> does not exist"));
        let missing = SendError::Unsendable("the guild has no channel named \"rec\"".into());
        assert_eq!(
            text(Err((None, missing))),
            "The sample of `lectures` was not sent: the guild has no channel named \"rec\". Check the rule's channel."
        );
    }

    #[test]
    fn a_missing_meeting_points_to_the_list() {
        let Reply::Message(m) = failure(&Failure::MeetingNotFound("77".into())) else {
            panic!()
        };
        assert!(m.ephemeral);
        assert_eq!(
            m.content,
            "No active meeting with id `77` on this server. `/kaltura-list` shows them."
        );
    }
}

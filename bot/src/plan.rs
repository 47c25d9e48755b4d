//! Planning: what a member asked for, from a slash command's options or a button's id, as a
//! typed request for the core's operations. Pure; bad input is a [`Failure`] the member reads.

use crate::buttons::ButtonAction;
use crate::invocation::Invocation;
use kd_core::command::{Command, ConfigAction, NotifyAction, Opt};
use kd_core::error::Failure;
use kd_core::meetings::{MeetingId, MeetingKind, NewMeeting};
use kd_core::videos::{DEFAULT_PAGE_SIZE, EntryId, MAX_PAGE_SIZE, MAX_QUERY, Search};

/// A request for one operation of the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {
    Start(NewMeeting),
    JoinLink(MeetingId),
    List,
    End(MeetingId),
    ShareMeeting(MeetingId),
    /// `update`: the answer replaces the message of the pressed pager button.
    Search {
        search: Search,
        update: bool,
    },
    ShareVideo(EntryId),
    Watch(EntryId),
    ConfigView,
    ConfigSet {
        key: String,
        value: String,
    },
    ConfigReset {
        key: String,
    },
    /// A sample of the named NotificationRule's message, posted in its channel.
    NotifyTest {
        rule: String,
    },
}

/// What an autocompleted option offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suggest {
    Meetings,
    Videos,
    Settings,
    Rules,
}

fn pick(what: &str) -> Failure {
    Failure::invalid(format!("Which {what}? Pick one from the list as you type."))
}

/// The request of a slash command, from its options.
pub fn command(
    command: Command,
    subcommand: Option<&str>,
    inv: &Invocation,
) -> Result<Ask, Failure> {
    let text = |opt: Opt| {
        inv.text(opt.name())
            .map(str::trim)
            .filter(|t| !t.is_empty())
    };
    let meeting = || MeetingId::parse(text(Opt::MeetingId).ok_or_else(|| pick("meeting"))?);
    Ok(match command {
        Command::Start => {
            let kind = inv
                .text(Opt::Type.name())
                .and_then(MeetingKind::parse)
                .ok_or_else(|| {
                    Failure::invalid("Pick a meeting type: meeting, webinar or classroom.")
                })?;
            let title = text(Opt::Title).unwrap_or_default();
            Ask::Start(NewMeeting::new(kind, title, text(Opt::Description))?)
        }
        Command::Join => Ask::JoinLink(meeting()?),
        Command::List => Ask::List,
        Command::End => Ask::End(meeting()?),
        Command::VideoSearch => {
            // Lenient where the API is strict: Discord bounds the options already, and a query
            // must fit the pager buttons' ids.
            let query: String = text(Opt::Query)
                .unwrap_or_default()
                .chars()
                .take(MAX_QUERY)
                .collect();
            let limit = inv
                .integer(Opt::Limit.name())
                .unwrap_or(DEFAULT_PAGE_SIZE.into())
                .clamp(1, MAX_PAGE_SIZE.into()) as u32;
            Ask::Search {
                search: Search::new(&query, None, Some(limit))?,
                update: false,
            }
        }
        Command::Watch => Ask::Watch(EntryId::parse(
            text(Opt::Entry).ok_or_else(|| pick("video"))?,
        )?),
        Command::Config => match (
            subcommand.and_then(ConfigAction::parse),
            text(Opt::Key),
            inv.text(Opt::Value.name()),
        ) {
            (Some(ConfigAction::View), _, _) => Ask::ConfigView,
            (Some(ConfigAction::Set), Some(key), Some(value)) => Ask::ConfigSet {
                key: key.to_string(),
                value: value.to_string(),
            },
            (Some(ConfigAction::Reset), Some(key), _) => Ask::ConfigReset {
                key: key.to_string(),
            },
            _ => {
                return Err(Failure::invalid(format!(
                    "Use `/{} {}`, `{} key value` or `{} key`.",
                    Command::Config,
                    ConfigAction::View.name(),
                    ConfigAction::Set.name(),
                    ConfigAction::Reset.name()
                )));
            }
        },
        Command::Notify => match (subcommand.and_then(NotifyAction::parse), text(Opt::Rule)) {
            (Some(NotifyAction::Test), Some(rule)) => Ask::NotifyTest {
                rule: rule.to_string(),
            },
            (Some(NotifyAction::Test), None) => return Err(pick("notification rule")),
            _ => {
                return Err(Failure::invalid(format!(
                    "Use `/{} {} {}:<name>`.",
                    Command::Notify,
                    NotifyAction::Test.name(),
                    Opt::Rule.name()
                )));
            }
        },
    })
}

/// The request of a pressed button.
pub fn button(action: &ButtonAction) -> Result<Ask, Failure> {
    Ok(match action {
        ButtonAction::Join(id) => Ask::JoinLink(MeetingId::parse(id)?),
        ButtonAction::End(id) => Ask::End(MeetingId::parse(id)?),
        ButtonAction::ShareMeeting(id) => Ask::ShareMeeting(MeetingId::parse(id)?),
        ButtonAction::Watch(id) => Ask::Watch(EntryId::parse(id)?),
        ButtonAction::ShareVideo(id) => Ask::ShareVideo(EntryId::parse(id)?),
        ButtonAction::Page { page, limit, query } => Ask::Search {
            search: Search::new(query, Some(*page), Some(*limit))?,
            update: true,
        },
    })
}

/// What the option being typed into offers; None: nothing.
pub fn suggestion(command: Command, focused: &str) -> Option<Suggest> {
    match (command, Opt::parse(focused)?) {
        (Command::Join | Command::End, Opt::MeetingId) => Some(Suggest::Meetings),
        (Command::VideoSearch, Opt::Query) | (Command::Watch, Opt::Entry) => Some(Suggest::Videos),
        (Command::Config, Opt::Key) => Some(Suggest::Settings),
        (Command::Notify, Opt::Rule) => Some(Suggest::Rules),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invocation::{Action, Value};
    use kd_core::scope::Member;

    fn invoke(name: Command, sub: Option<&str>, options: &[(Opt, Value)]) -> Invocation {
        Invocation {
            id: "9".into(),
            token: "t".into(),
            guild_id: "1".into(),
            channel_id: "5".into(),
            member: Member {
                id: "111".into(),
                display_name: "Ada".into(),
                roles: vec![],
                manages_guild: false,
            },
            action: Action::Command {
                name: name.name().into(),
                subcommand: sub.map(Into::into),
                options: options
                    .iter()
                    .map(|(k, v)| (k.name().to_string(), v.clone()))
                    .collect(),
            },
        }
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn plan(name: Command, sub: Option<&str>, options: &[(Opt, Value)]) -> Result<Ask, Failure> {
        command(name, sub, &invoke(name, sub, options))
    }

    fn refusal(result: Result<Ask, Failure>) -> String {
        match result {
            Err(Failure::Invalid(text)) => text,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn start_parses_its_options() {
        assert_eq!(
            plan(
                Command::Start,
                None,
                &[(Opt::Type, text("webinar")), (Opt::Title, text(" Optics "))]
            )
            .unwrap(),
            Ask::Start(NewMeeting::new(MeetingKind::Webinar, "Optics", None).unwrap())
        );
        let bad = plan(
            Command::Start,
            None,
            &[(Opt::Type, text("party")), (Opt::Title, text("x"))],
        );
        assert!(refusal(bad).contains("meeting type"));
        let untitled = plan(Command::Start, None, &[(Opt::Type, text("meeting"))]);
        assert_eq!(refusal(untitled), "Give the meeting a title.");
    }

    #[test]
    fn meetings_are_named_by_id() {
        assert_eq!(
            plan(Command::End, None, &[(Opt::MeetingId, text("77"))]).unwrap(),
            Ask::End(MeetingId::parse("77").unwrap())
        );
        assert!(refusal(plan(Command::Join, None, &[])).contains("Which meeting?"));
        assert!(
            refusal(plan(Command::Join, None, &[(Opt::MeetingId, text("lab"))]))
                .contains("not a Kaltura meeting id")
        );
    }

    #[test]
    fn search_limits_are_clamped_and_pages_come_back_from_buttons() {
        let search = plan(
            Command::VideoSearch,
            None,
            &[
                (Opt::Query, text("physics")),
                (Opt::Limit, Value::Integer(50)),
            ],
        );
        assert_eq!(
            search.unwrap(),
            Ask::Search {
                search: Search::new("physics", None, Some(MAX_PAGE_SIZE)).unwrap(),
                update: false
            }
        );
        let long = plan(
            Command::VideoSearch,
            None,
            &[(Opt::Query, text(&"q".repeat(100)))],
        );
        let Ok(Ask::Search { search, .. }) = long else {
            panic!("{long:?}")
        };
        assert_eq!(search.query.len(), MAX_QUERY);
        let page = ButtonAction::Page {
            page: 3,
            limit: 2,
            query: "a:b c".into(),
        };
        assert_eq!(
            button(&page).unwrap(),
            Ask::Search {
                search: Search::new("a:b c", Some(3), Some(2)).unwrap(),
                update: true
            }
        );
    }

    #[test]
    fn config_takes_a_subcommand() {
        assert_eq!(
            plan(Command::Config, Some("view"), &[]).unwrap(),
            Ask::ConfigView
        );
        assert_eq!(
            plan(
                Command::Config,
                Some("set"),
                &[
                    (Opt::Key, text("channels.default")),
                    (Opt::Value, text("general"))
                ]
            )
            .unwrap(),
            Ask::ConfigSet {
                key: "channels.default".into(),
                value: "general".into()
            }
        );
        assert!(refusal(plan(Command::Config, Some("set"), &[])).contains("view"));
    }

    #[test]
    fn notify_test_names_a_rule() {
        assert_eq!(
            plan(
                Command::Notify,
                Some("test"),
                &[(Opt::Rule, text(" kaltura/lectures "))]
            )
            .unwrap(),
            Ask::NotifyTest {
                rule: "kaltura/lectures".into()
            }
        );
        assert!(
            refusal(plan(Command::Notify, Some("test"), &[])).contains("Which notification rule?")
        );
        assert_eq!(
            refusal(plan(Command::Notify, None, &[(Opt::Rule, text("x"))])),
            "Use `/kaltura-notify test rule:<name>`."
        );
        assert_eq!(
            suggestion(Command::Notify, Opt::Rule.name()),
            Some(Suggest::Rules)
        );
    }

    #[test]
    fn autocomplete_routes_by_option() {
        assert_eq!(
            suggestion(Command::Join, Opt::MeetingId.name()),
            Some(Suggest::Meetings)
        );
        assert_eq!(
            suggestion(Command::Watch, Opt::Entry.name()),
            Some(Suggest::Videos)
        );
        assert_eq!(suggestion(Command::Start, Opt::Title.name()), None);
        assert_eq!(suggestion(Command::Start, "nonsense"), None);
    }
}

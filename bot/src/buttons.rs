//! The ids of the bot's buttons: `kd:<verb>:<argument>`, read back when a member presses one.

use kd_core::command::Command;

/// What a button asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ButtonAction {
    Join(String),
    End(String),
    ShareMeeting(String),
    Watch(String),
    ShareVideo(String),
    Page {
        page: u32,
        limit: u32,
        query: String,
    },
}

impl ButtonAction {
    pub fn custom_id(&self) -> String {
        match self {
            Self::Join(id) => format!("kd:join:{id}"),
            Self::End(id) => format!("kd:end:{id}"),
            Self::ShareMeeting(id) => format!("kd:share:{id}"),
            Self::Watch(id) => kd_core::notifications::watch_button(id),
            Self::ShareVideo(id) => format!("kd:sharevideo:{id}"),
            Self::Page { page, limit, query } => format!("kd:page:{page}:{limit}:{query}"),
        }
    }

    pub fn parse(custom_id: &str) -> Option<Self> {
        let rest = custom_id.strip_prefix("kd:")?;
        let (verb, arg) = rest.split_once(':')?;
        let arg = arg.to_string();
        Some(match verb {
            "join" => Self::Join(arg),
            "end" => Self::End(arg),
            "share" => Self::ShareMeeting(arg),
            "watch" => Self::Watch(arg),
            "sharevideo" => Self::ShareVideo(arg),
            "page" => {
                let mut parts = arg.splitn(3, ':');
                let page = parts.next()?.parse().ok()?;
                let limit = parts.next()?.parse().ok()?;
                Self::Page {
                    page,
                    limit,
                    query: parts.next()?.to_string(),
                }
            }
            _ => return None,
        })
    }

    /// The command whose permission a button needs.
    pub fn command(&self) -> Command {
        match self {
            Self::Join(_) | Self::ShareMeeting(_) => Command::Join,
            Self::End(_) => Command::End,
            Self::Watch(_) => Command::Watch,
            Self::ShareVideo(_) | Self::Page { .. } => Command::VideoSearch,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_back_and_queries_may_hold_colons() {
        let page = ButtonAction::Page {
            page: 3,
            limit: 2,
            query: "a:b c".into(),
        };
        assert_eq!(ButtonAction::parse(&page.custom_id()), Some(page));
        for action in [
            ButtonAction::Join("7".into()),
            ButtonAction::End("7".into()),
            ButtonAction::ShareMeeting("7".into()),
            ButtonAction::Watch("1_a".into()),
            ButtonAction::ShareVideo("1_a".into()),
        ] {
            assert_eq!(ButtonAction::parse(&action.custom_id()), Some(action));
        }
        assert_eq!(ButtonAction::parse("other:thing"), None);
        assert_eq!(ButtonAction::parse("kd:page:x:2:q"), None);
    }
}

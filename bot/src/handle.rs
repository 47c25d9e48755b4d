//! Discord interaction -> operation -> Discord reply: the gate and the planner decide what a
//! member asked for, the core's operation does it, the renderer says how it went.

use crate::buttons::ButtonAction;
use crate::invocation::{Action, Invocation};
use crate::plan::{self, Ask, Suggest};
use crate::render::{self, say};
use crate::reply::{Message, Reply};
use crate::runtime::Bot;
use kd_core::command::Command;
use kd_core::error::Failure;
use kd_core::gate::Allowed;
use kd_core::meetings::{self, JOIN_LINK_MINUTES};
use kd_core::scope::Scope;
use kd_core::services::Services;
use kd_core::videos::{self, Watching};
use kd_core::{notifications, overrides, settings};

/// How an interaction ended, for metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused before any call: not allowed, not configured, bad input.
    Denied,
    /// A Kaltura or store call failed; the member was told why.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// Answers an interaction of the member in `scope`; `bot` posts what goes to a channel.
pub async fn handle(
    svc: &Services<'_>,
    bot: &Bot,
    scope: Scope,
    inv: &Invocation,
) -> (Reply, Outcome) {
    match &inv.action {
        Action::Command {
            name, subcommand, ..
        } => {
            let Some(command) = Command::parse(name) else {
                return denied(format!("`/{name}` is not a command of this bot."));
            };
            let planned = scope
                .allow(command)
                .map_err(Failure::from)
                .and_then(|who| Ok((plan::command(command, subcommand.as_deref(), inv)?, who)));
            match planned {
                Ok((ask, who)) => finish(run(svc, bot, &who, ask, inv).await),
                Err(failure) => finish(Err(failure)),
            }
        }
        Action::Autocomplete {
            name,
            focused,
            value,
            ..
        } => {
            // Suggestions are harmless; a refusal shows as no suggestions.
            let offer = Command::parse(name).and_then(|c| Some((c, plan::suggestion(c, focused)?)));
            let who = offer.and_then(|(command, offer)| Some((scope.allow(command).ok()?, offer)));
            match who {
                Some((who, offer)) => (suggest(svc, &who, offer, value.trim()).await, Outcome::Ok),
                None => (Reply::Choices(Vec::new()), Outcome::Denied),
            }
        }
        Action::Button { custom_id } => {
            let Some(action) = ButtonAction::parse(custom_id) else {
                return denied("This button is no longer supported; run the command again.");
            };
            let planned = scope
                .allow(action.command())
                .map_err(Failure::from)
                .and_then(|who| Ok((plan::button(&action)?, who)));
            match planned {
                Ok((ask, who)) => finish(run(svc, bot, &who, ask, inv).await),
                Err(failure) => finish(Err(failure)),
            }
        }
    }
}

fn denied(text: impl Into<String>) -> (Reply, Outcome) {
    (say(text), Outcome::Denied)
}

fn finish(result: Result<Reply, Failure>) -> (Reply, Outcome) {
    match result {
        Ok(reply) => (reply, Outcome::Ok),
        Err(failure) if failure.is_denial() => (render::failure(&failure), Outcome::Denied),
        Err(failure) => (render::failure(&failure), Outcome::Failed),
    }
}

async fn run(
    svc: &Services<'_>,
    bot: &Bot,
    who: &Allowed,
    ask: Ask,
    inv: &Invocation,
) -> Result<Reply, Failure> {
    Ok(match ask {
        Ask::Start(new) => {
            render::meeting_started(&meetings::start(svc, who, &new, Some(&inv.channel_id)).await?)
        }
        Ask::JoinLink(id) => render::join_link(
            &meetings::join_link(svc, who, &id).await?,
            JOIN_LINK_MINUTES,
        ),
        Ask::List => render::meeting_list(&meetings::list(svc, who).await?),
        Ask::End(id) => render::meeting_ended(&meetings::end(svc, who, &id).await?),
        Ask::ShareMeeting(id) => {
            let meeting = meetings::get(svc, who, &id).await?;
            let text = meetings::announcement(who, &meeting)?;
            render::meeting_shared(&meeting, text)
        }
        Ask::Search { search, update } => render::search_results(
            &videos::search(svc, who, &search).await?,
            &search.query,
            who.guild.effective.features.watch_together,
            update,
        ),
        Ask::ShareVideo(id) => Reply::Message(Message::public(videos::share(svc, who, &id).await?)),
        Ask::Watch(id) => match videos::watch(svc, who, &id, &inv.channel_id).await? {
            Watching::Activity => Reply::LaunchActivity,
            Watching::Player { url } => render::player_link(&url),
        },
        Ask::ConfigView => {
            render::config_view(&settings::view(&who.guild.declared, &who.guild.overrides))
        }
        Ask::ConfigSet { key, value } => {
            overrides::set(svc.store, who, &key, &value).await?;
            say(format!(
                "`{key}` is now `{value}` on this server (a Discord override of the GuildConfig)."
            ))
        }
        Ask::ConfigReset { key } => {
            if overrides::reset(svc.store, who, &key).await? {
                say(format!("`{key}` is back to the GuildConfig's value."))
            } else {
                say(format!("`{key}` has no override to reset."))
            }
        }
        Ask::NotifyTest { rule } => {
            let (name, draft) = notifications::test_message(who, &rule)?;
            // One nonce per interaction: a repeat of the same interaction posts once.
            let nonce = kd_store::nonce_for(&format!("test|{}", inv.id));
            let sent = bot.deliverer().send_now(bot, &draft, &nonce).await;
            if let Err((_, error)) = &sent {
                tracing::warn!(rule = %name, %error, "a notification test was not sent");
            }
            render::notify_test(&name, &sent)
        }
    })
}

/// Autocomplete choices; a failed lookup offers nothing.
async fn suggest(svc: &Services<'_>, who: &Allowed, offer: Suggest, typed: &str) -> Reply {
    match offer {
        Suggest::Meetings => match meetings::list(svc, who).await {
            Ok(found) => render::meeting_choices(&found, typed),
            Err(_) => Reply::Choices(Vec::new()),
        },
        Suggest::Videos => match videos::suggest(svc, who, typed).await {
            Ok(found) => render::video_choices(found),
            Err(_) => Reply::Choices(Vec::new()),
        },
        Suggest::Rules => Reply::Choices(notifications::rule_choices(&who.guild.effective, typed)),
        Suggest::Settings => Reply::Choices(
            overrides::overridable_keys(who, typed)
                .into_iter()
                .map(|k| (k.clone(), k))
                .collect(),
        ),
    }
}

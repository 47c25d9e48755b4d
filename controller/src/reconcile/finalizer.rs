//! The finalizers, as data: whether to put one on, keep it, or let the object go, and the JSON
//! patches that do it. Two kinds hold one, for what they leave in Discord: a GuildConfig its
//! guild's commands, a DiscordApplication its global commands (while its scope is `Global` or
//! the bot reports global commands). A deleted object is rendered for clearing (see `render`);
//! the finalizer holds it until the bot reports them cleared, or until the deadline passes, so
//! a bot that is down never blocks a deletion for ever.

use crate::reconcile::render::Rendered;
use crate::reconcile::status::{self, Report};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kd_core::report::{BotReport, Registration};
use kd_crds::application::CommandScope;
use kd_crds::{DiscordApplication, GuildConfig};
use serde_json::{Value, json};
use std::time::Duration;

/// Held by every GuildConfig the operator reconciles, and by a DiscordApplication with global
/// commands, until its commands are gone.
pub const FINALIZER: &str = "kaltura-discord.io/commands";

/// What to do about one object's finalizer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A live object that should hold the finalizer and does not: put it on.
    Add,
    /// A live object that holds it and no longer needs to (an application whose global
    /// commands are gone): take it off.
    Drop,
    /// Deleting, and the bot may still clear the commands: keep the finalizer.
    Wait,
    /// Deleting, and nothing of ours is left (the note says why): let it go.
    Release(String),
    /// Deleting, and waiting longer is pointless or took too long: let it go anyway; the message
    /// says what was left behind.
    Abandon(String),
}

/// What the operator knows about an application in this pass.
pub struct Application<'a> {
    /// False when no DiscordApplication of that name exists any more.
    pub exists: bool,
    /// Its rendered config, when it is valid.
    pub rendered: Option<&'a Rendered>,
    /// What its bot reported, when it was asked.
    pub report: Option<&'a Report>,
}

/// Where clearing a deleted object's commands stands.
enum Clearing {
    /// Nothing of ours is left; the note says so.
    Done(String),
    /// Nothing will clear them; why.
    Hopeless(String),
    /// The bot may still clear them; why it has not, should the deadline pass.
    Waiting(String),
}

/// Whether an object that wants the finalizer has anything to decide: it lacks the finalizer or
/// it is being deleted.
pub fn undecided(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some() || !held(meta)
}

fn held(meta: &ObjectMeta) -> bool {
    meta.finalizers.iter().flatten().any(|f| f == FINALIZER)
}

/// The decision for an object with `meta` at `now`, None when there is nothing to do. `wanted`:
/// whether it should hold the finalizer while it lives; `what` names what it may leave in
/// Discord; `clearing` is asked only once it is deleted.
fn decide(
    meta: &ObjectMeta,
    wanted: bool,
    what: &str,
    clearing: impl FnOnce() -> Clearing,
    now: Timestamp,
    timeout: Duration,
) -> Option<Decision> {
    let held = held(meta);
    let Some(deleted) = &meta.deletion_timestamp else {
        return match (held, wanted) {
            (false, true) => Some(Decision::Add),
            (true, false) => Some(Decision::Drop),
            _ => None,
        };
    };
    if !held {
        return None;
    }
    let left = format!("{what} may still be registered in Discord: ");
    match clearing() {
        Clearing::Done(note) => Some(Decision::Release(note)),
        Clearing::Hopeless(why) => Some(Decision::Abandon(format!("{left}{why}"))),
        Clearing::Waiting(why) => {
            let waited = now.duration_since(deleted.0);
            if waited.as_secs_f64() < timeout.as_secs_f64() {
                Some(Decision::Wait)
            } else {
                Some(Decision::Abandon(format!(
                    "{left}{why} within {}",
                    humanize(timeout)
                )))
            }
        }
    }
}

/// Why the bot has not reported `state` cleared yet.
fn not_cleared(app_name: &str, app: &Application, state: Option<&Registration>) -> String {
    match (app.rendered, app.report, state) {
        (None, _, _) => format!("DiscordApplication {app_name} is not valid"),
        (_, Some(Err(error)), _) => format!("the bot did not report ({error})"),
        (_, _, Some(Registration::Failed { error, .. })) => {
            format!("Discord refused clearing them: {error}")
        }
        _ => "the bot did not report them cleared".into(),
    }
}

fn report<'a>(app: &Application<'a>) -> Option<&'a BotReport> {
    app.report?.as_ref().ok().map(|r| &**r)
}

/// The decision for GuildConfig `guild` of application `app`.
pub fn decide_guild(
    guild: &GuildConfig,
    app: &Application,
    now: Timestamp,
    timeout: Duration,
) -> Option<Decision> {
    let guild_id = &guild.spec.guild_id;
    let app_name = &guild.spec.application_ref.name;
    let what = format!("the slash commands of guild {guild_id}");
    let clearing = || {
        if !app.exists {
            return Clearing::Hopeless(format!(
                "DiscordApplication {app_name} is gone, so no bot clears them"
            ));
        }
        // Another GuildConfig serves the same guild: its commands stay, and rightly so.
        if app
            .rendered
            .is_some_and(|r| r.config.guild(guild_id).is_some())
        {
            return Clearing::Done(format!("{what} stay: another GuildConfig serves the guild"));
        }
        let state = report(app).and_then(|r| r.guilds.get(guild_id));
        if matches!(state, Some(Registration::Cleared { .. })) {
            return Clearing::Done(format!("the bot removed {what}"));
        }
        Clearing::Waiting(not_cleared(app_name, app, state))
    };
    decide(&guild.metadata, true, &what, clearing, now, timeout)
}

/// The decision for DiscordApplication `app` (`known.rendered` and `known.report` are its own):
/// it holds the finalizer while its scope is `Global` or Discord holds global commands of it.
pub fn decide_application(
    app: &DiscordApplication,
    known: &Application,
    now: Timestamp,
    timeout: Duration,
) -> Option<Decision> {
    let previous = app.status.as_ref().and_then(|s| s.global_commands);
    let held = status::global_commands(previous, known.report);
    let wanted = app.spec.bot.command_scope == CommandScope::Global || held.is_some();
    let name = app.metadata.name.as_deref().unwrap_or_default();
    let what = format!(
        "the global slash commands of application {}",
        app.spec.application_id
    );
    let clearing = || {
        let state = report(known).and_then(|report| {
            known
                .rendered
                .and_then(|rendered| status::global_state(report, rendered))
        });
        if !wanted {
            return Clearing::Done(format!("{what}: none were registered"));
        }
        if matches!(state, Some(Registration::Cleared { .. })) {
            return Clearing::Done(format!("the bot removed {what}"));
        }
        Clearing::Waiting(not_cleared(name, known, state))
    };
    decide(&app.metadata, wanted, &what, clearing, now, timeout)
}

fn humanize(timeout: Duration) -> String {
    let seconds = timeout.as_secs();
    if seconds >= 60 && seconds.is_multiple_of(60) {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

/// JSON patch that adds the finalizer, on the condition that the finalizers are still those
/// the decision saw (another controller may add or remove its own meanwhile).
pub fn add_patch(meta: &ObjectMeta) -> Value {
    match &meta.finalizers {
        Some(present) if !present.is_empty() => json!([
            {"op": "test", "path": "/metadata/finalizers", "value": present},
            {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
        ]),
        // No list to test: the object's version stands in for it.
        _ => json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": meta.resource_version},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
        ]),
    }
}

/// JSON patch that removes the finalizer by its position, on the condition that it is still
/// there, so that another controller's finalizer is never removed instead.
pub fn remove_patch(meta: &ObjectMeta) -> Option<Value> {
    let at = meta
        .finalizers
        .iter()
        .flatten()
        .position(|f| f == FINALIZER)?;
    let path = format!("/metadata/finalizers/{at}");
    Some(json!([
        {"op": "test", "path": path, "value": FINALIZER},
        {"op": "remove", "path": path},
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kd_core::config::RuntimeConfig;
    use kd_crds::references::ObjectKey;
    use std::collections::BTreeMap;

    const GUILD: &str = "1283874310720716890";
    const TIMEOUT: Duration = Duration::from_secs(120);

    fn guild(finalizers: &[&str], deleted_at: Option<&str>) -> GuildConfig {
        let mut guild = GuildConfig::new(
            "physics-101",
            serde_json::from_value(
                json!({"applicationRef": {"name": "campus-bot"}, "guildId": GUILD}),
            )
            .unwrap(),
        );
        guild.metadata.resource_version = Some("42".into());
        guild.metadata.finalizers =
            (!finalizers.is_empty()).then(|| finalizers.iter().map(|f| f.to_string()).collect());
        guild.metadata.deletion_timestamp = deleted_at.map(|t| Time(t.parse().unwrap()));
        guild
    }

    fn at(time: &str) -> Timestamp {
        time.parse().unwrap()
    }

    fn rendered(config: RuntimeConfig) -> Rendered {
        Rendered::of(
            ObjectKey {
                kind: "DiscordApplication",
                namespace: "kaltura".into(),
                name: "campus-bot".into(),
            },
            config,
        )
    }

    fn clearing() -> RuntimeConfig {
        let application = serde_json::from_value(json!({
            "name": "campus-bot", "namespace": "kaltura", "applicationId": "1",
            "botTokenRef": {"name": "discord", "key": "botToken"},
            "activityEnabled": false, "intents": []
        }))
        .unwrap();
        RuntimeConfig::new(application, BTreeMap::new(), BTreeMap::new())
            .with_clearing([GUILD.to_string()].into())
    }

    fn report(state: Registration) -> Report {
        Ok(BotReport {
            guilds: [(GUILD.to_string(), state)].into(),
            ..BotReport::default()
        }
        .into())
    }

    const DELETED: &str = "2026-12-02T20:00:00Z";

    #[test]
    fn a_live_guild_gets_the_finalizer_once() {
        let none = Application {
            exists: true,
            rendered: None,
            report: None,
        };
        let now = at(DELETED);
        assert_eq!(
            decide_guild(&guild(&[], None), &none, now, TIMEOUT),
            Some(Decision::Add)
        );
        assert_eq!(
            decide_guild(&guild(&[FINALIZER], None), &none, now, TIMEOUT),
            None
        );
        assert_eq!(
            decide_guild(&guild(&["other.io/x"], Some(DELETED)), &none, now, TIMEOUT),
            None,
            "a deleting guild without ours is none of our business"
        );
    }

    #[test]
    fn a_deleted_guild_goes_once_the_bot_reports_it_cleared_and_not_before() {
        let config = rendered(clearing());
        let deleting = guild(&[FINALIZER], Some(DELETED));
        let soon = at("2026-12-02T20:00:30Z");
        let pending = report(Registration::Pending);
        let cleared = report(Registration::Cleared {
            revision: config.config.revision.clone(),
        });
        let app = |report| Application {
            exists: true,
            rendered: Some(&config),
            report: Some(report),
        };
        assert_eq!(
            decide_guild(&deleting, &app(&pending), soon, TIMEOUT),
            Some(Decision::Wait)
        );
        assert_eq!(
            decide_guild(&deleting, &app(&cleared), soon, TIMEOUT),
            Some(Decision::Release(format!(
                "the bot removed the slash commands of guild {GUILD}"
            )))
        );
    }

    #[test]
    fn past_the_deadline_it_goes_anyway_saying_what_was_left_and_why() {
        let config = rendered(clearing());
        let deleting = guild(&[FINALIZER], Some(DELETED));
        let late = at("2026-12-02T20:02:00Z");
        let down = Err(crate::error::Error::NoBotPod);
        let refused = report(Registration::Failed {
            error: "Missing Access".into(),
            revision: config.config.revision.clone(),
        });
        let app = |report| Application {
            exists: true,
            rendered: Some(&config),
            report: Some(report),
        };
        let Some(Decision::Abandon(message)) = decide_guild(&deleting, &app(&down), late, TIMEOUT)
        else {
            panic!("not released");
        };
        assert_eq!(
            message,
            format!(
                "the slash commands of guild {GUILD} may still be registered in Discord: \
                 the bot did not report (no ready bot pod) within 2m"
            )
        );
        let Some(Decision::Abandon(message)) =
            decide_guild(&deleting, &app(&refused), late, TIMEOUT)
        else {
            panic!("not released");
        };
        assert!(
            message.contains("Discord refused clearing them: Missing Access"),
            "{message}"
        );
    }

    #[test]
    fn without_its_application_or_with_another_guild_config_there_is_nothing_to_wait_for() {
        let deleting = guild(&[FINALIZER], Some(DELETED));
        let now = at(DELETED);
        let gone = Application {
            exists: false,
            rendered: None,
            report: None,
        };
        assert!(matches!(
            decide_guild(&deleting, &gone, now, TIMEOUT),
            Some(Decision::Abandon(m)) if m.contains("DiscordApplication campus-bot is gone")
        ));
        let mut served = clearing();
        served.clearing.clear();
        served.guilds.insert(
            GUILD.into(),
            serde_json::from_value(json!({
                "configName": "copy", "partner": "campus", "features": {}, "permissions": {},
                "channels": {}, "templates": {}, "overridable": [],
                "roles": {"rules": [], "default": "viewer"}, "notificationRules": []
            }))
            .unwrap(),
        );
        let served = rendered(served);
        let app = Application {
            exists: true,
            rendered: Some(&served),
            report: None,
        };
        assert!(matches!(
            decide_guild(&deleting, &app, now, TIMEOUT),
            Some(Decision::Release(note)) if note.ends_with("stay: another GuildConfig serves the guild")
        ));
    }

    /// DiscordApplication campus-bot in `scope`, with `global_commands` in its status.
    fn application(
        scope: CommandScope,
        finalizers: &[&str],
        deleted_at: Option<&str>,
        global_commands: Option<i32>,
    ) -> DiscordApplication {
        let mut app: DiscordApplication = serde_json::from_value(json!({
            "apiVersion": "kaltura-discord.io/v1alpha1", "kind": "DiscordApplication",
            "metadata": {"name": "campus-bot", "namespace": "kaltura", "resourceVersion": "7"},
            "spec": {"applicationId": "1", "botTokenRef": {"name": "discord", "key": "botToken"},
                     "bot": {"commandScope": scope}},
            "status": {"globalCommands": global_commands},
        }))
        .unwrap();
        app.metadata.finalizers =
            (!finalizers.is_empty()).then(|| finalizers.iter().map(|f| f.to_string()).collect());
        app.metadata.deletion_timestamp = deleted_at.map(|t| Time(t.parse().unwrap()));
        app
    }

    /// The config of `app` as the operator renders it.
    fn rendered_app(app: &DiscordApplication) -> Rendered {
        let mut config = clearing();
        config.application.command_scope = app.spec.bot.command_scope;
        config.application.deleting = app.metadata.deletion_timestamp.is_some();
        rendered(config.with_clearing(Default::default()))
    }

    fn global(state: Registration) -> Report {
        Ok(BotReport {
            global: state,
            ..BotReport::default()
        }
        .into())
    }

    #[test]
    fn an_application_holds_the_finalizer_while_global_commands_may_be_in_discord() {
        let now = at(DELETED);
        let decide = |app: &DiscordApplication, report: Option<&Report>| {
            let rendered = rendered_app(app);
            let known = Application {
                exists: true,
                rendered: Some(&rendered),
                report,
            };
            decide_application(app, &known, now, TIMEOUT)
        };
        let fresh = application(CommandScope::Global, &[], None, None);
        assert_eq!(decide(&fresh, None), Some(Decision::Add));
        let holding = application(CommandScope::Global, &[FINALIZER], None, None);
        assert_eq!(decide(&holding, None), None);
        assert_eq!(
            decide(&application(CommandScope::Guild, &[], None, None), None),
            None,
            "in Guild scope an application leaves nothing global behind"
        );
        // Switched back to Guild: held until the bot reports the global set cleared.
        let switched = application(CommandScope::Guild, &[FINALIZER], None, Some(8));
        assert_eq!(decide(&switched, None), None, "status still counts 8");
        let registered = global(Registration::Registered {
            commands: 8,
            fingerprint: "f".into(),
            revision: "old".into(),
            scope: CommandScope::Global,
        });
        assert_eq!(decide(&switched, Some(&registered)), None);
        let cleared = global(Registration::Cleared {
            revision: rendered_app(&switched).config.global_revision(),
        });
        assert_eq!(decide(&switched, Some(&cleared)), Some(Decision::Drop));
    }

    #[test]
    fn a_deleted_application_goes_once_the_bot_cleared_the_global_set_of_its_deletion() {
        let deleting = application(CommandScope::Global, &[FINALIZER], Some(DELETED), Some(8));
        let rendered = rendered_app(&deleting);
        let decide = |report: &Report, now| {
            let known = Application {
                exists: true,
                rendered: Some(&rendered),
                report: Some(report),
            };
            decide_application(&deleting, &known, at(now), TIMEOUT)
        };
        let soon = "2026-12-02T20:00:30Z";
        let mut live = deleting.clone();
        live.metadata.deletion_timestamp = None;
        let before_deletion = global(Registration::Cleared {
            revision: rendered_app(&live).config.global_revision(),
        });
        assert_eq!(
            decide(&before_deletion, soon),
            Some(Decision::Wait),
            "cleared under another scope's revision says nothing of this one"
        );
        let cleared = global(Registration::Cleared {
            revision: rendered.config.global_revision(),
        });
        assert_eq!(
            decide(&cleared, soon),
            Some(Decision::Release(
                "the bot removed the global slash commands of application 1".into()
            ))
        );
        let refused = global(Registration::Failed {
            error: "401: Unauthorized".into(),
            revision: rendered.config.global_revision(),
        });
        assert_eq!(
            decide(&refused, "2026-12-02T20:02:00Z"),
            Some(Decision::Abandon(
                "the global slash commands of application 1 may still be registered in \
                 Discord: Discord refused clearing them: 401: Unauthorized within 2m"
                    .into()
            ))
        );
        // In Guild scope with nothing global reported, there is nothing to wait for.
        let nothing = application(CommandScope::Guild, &[FINALIZER], Some(DELETED), None);
        let known = Application {
            exists: true,
            rendered: None,
            report: None,
        };
        assert_eq!(
            decide_application(&nothing, &known, at(soon), TIMEOUT),
            Some(Decision::Release(
                "the global slash commands of application 1: none were registered".into()
            ))
        );
    }

    #[test]
    fn patches_test_what_they_change() {
        assert_eq!(
            add_patch(&guild(&[], None).metadata),
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
                {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
            ])
        );
        assert_eq!(
            add_patch(&guild(&["other.io/x"], None).metadata),
            json!([
                {"op": "test", "path": "/metadata/finalizers", "value": ["other.io/x"]},
                {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
            ])
        );
        assert_eq!(
            remove_patch(&guild(&["other.io/x", FINALIZER], Some(DELETED)).metadata),
            Some(json!([
                {"op": "test", "path": "/metadata/finalizers/1", "value": FINALIZER},
                {"op": "remove", "path": "/metadata/finalizers/1"},
            ]))
        );
        assert_eq!(remove_patch(&guild(&["other.io/x"], None).metadata), None);
    }
}

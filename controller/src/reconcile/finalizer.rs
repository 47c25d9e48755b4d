//! The GuildConfig finalizer, as data: whether to put it on, keep it, or let the GuildConfig go,
//! and the JSON patches that do it. A deleted GuildConfig is rendered as a guild to clear (see
//! `render`); the finalizer holds it until the bot reports the guild's commands cleared, or
//! until the deadline passes, so a bot that is down never blocks a deletion for ever.

use crate::error::Error;
use crate::reconcile::render::Rendered;
use k8s_openapi::jiff::Timestamp;
use kd_core::report::{BotReport, Registration};
use kd_crds::GuildConfig;
use kube::ResourceExt;
use serde_json::{Value, json};
use std::time::Duration;

/// Held by every GuildConfig the operator reconciles, until its commands are gone.
pub const FINALIZER: &str = "kaltura-discord.io/commands";

/// What to do about one GuildConfig's finalizer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A live GuildConfig without the finalizer: put it on.
    Add,
    /// Deleting, and the bot may still clear the commands: keep the finalizer.
    Wait,
    /// Deleting, and nothing of ours is left in the guild: let it go.
    Release,
    /// Deleting, and waiting longer is pointless or took too long: let it go anyway; the message
    /// says what was left behind.
    Abandon(String),
}

/// What the operator knows about a GuildConfig's application in this pass.
pub struct Application<'a> {
    /// False when no DiscordApplication of that name exists any more.
    pub exists: bool,
    /// Its rendered config, when it is valid.
    pub rendered: Option<&'a Rendered>,
    /// What its bot reported, when it was asked.
    pub report: Option<&'a Result<BotReport, Error>>,
}

/// The decision for `guild` at `now`; None when there is nothing to do.
pub fn decide(
    guild: &GuildConfig,
    app: &Application,
    now: Timestamp,
    timeout: Duration,
) -> Option<Decision> {
    let held = guild.finalizers().iter().any(|f| f == FINALIZER);
    let Some(deleted) = &guild.metadata.deletion_timestamp else {
        return (!held).then_some(Decision::Add);
    };
    if !held {
        return None;
    }
    let guild_id = &guild.spec.guild_id;
    let left =
        format!("the slash commands of guild {guild_id} may still be registered in Discord: ",);
    if !app.exists {
        return Some(Decision::Abandon(format!(
            "{left}DiscordApplication {} is gone, so no bot clears them",
            guild.spec.application_ref.name
        )));
    }
    // Another GuildConfig serves the same guild: its commands stay, and rightly so.
    if app
        .rendered
        .is_some_and(|r| r.config.guild(guild_id).is_some())
    {
        return Some(Decision::Release);
    }
    let state = match app.report {
        Some(Ok(report)) => report.guilds.get(guild_id),
        _ => None,
    };
    if matches!(state, Some(Registration::Cleared { .. })) {
        return Some(Decision::Release);
    }
    let waited = now.duration_since(deleted.0);
    if waited.as_secs_f64() < timeout.as_secs_f64() {
        return Some(Decision::Wait);
    }
    let why = match (app.rendered, app.report, state) {
        (None, _, _) => format!(
            "DiscordApplication {} is not valid",
            guild.spec.application_ref.name
        ),
        (_, Some(Err(error)), _) => format!("the bot did not report ({error})"),
        (_, _, Some(Registration::Failed { error, .. })) => {
            format!("Discord refused clearing them: {error}")
        }
        _ => "the bot did not report them cleared".into(),
    };
    Some(Decision::Abandon(format!(
        "{left}{why} within {}",
        humanize(timeout)
    )))
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
pub fn add_patch(guild: &GuildConfig) -> Value {
    match &guild.metadata.finalizers {
        Some(present) if !present.is_empty() => json!([
            {"op": "test", "path": "/metadata/finalizers", "value": present},
            {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
        ]),
        // No list to test: the object's version stands in for it.
        _ => json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": guild.resource_version()},
            {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
        ]),
    }
}

/// JSON patch that removes the finalizer by its position, on the condition that it is still
/// there, so that another controller's finalizer is never removed instead.
pub fn remove_patch(guild: &GuildConfig) -> Option<Value> {
    let at = guild.finalizers().iter().position(|f| f == FINALIZER)?;
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

    fn report(state: Registration) -> Result<BotReport, Error> {
        Ok(BotReport {
            guilds: [(GUILD.to_string(), state)].into(),
            ..BotReport::default()
        })
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
            decide(&guild(&[], None), &none, now, TIMEOUT),
            Some(Decision::Add)
        );
        assert_eq!(
            decide(&guild(&[FINALIZER], None), &none, now, TIMEOUT),
            None
        );
        assert_eq!(
            decide(&guild(&["other.io/x"], Some(DELETED)), &none, now, TIMEOUT),
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
            decide(&deleting, &app(&pending), soon, TIMEOUT),
            Some(Decision::Wait)
        );
        assert_eq!(
            decide(&deleting, &app(&cleared), soon, TIMEOUT),
            Some(Decision::Release)
        );
    }

    #[test]
    fn past_the_deadline_it_goes_anyway_saying_what_was_left_and_why() {
        let config = rendered(clearing());
        let deleting = guild(&[FINALIZER], Some(DELETED));
        let late = at("2026-12-02T20:02:00Z");
        let down = Err(Error::NoBotPod);
        let refused = report(Registration::Failed {
            error: "Missing Access".into(),
            revision: config.config.revision.clone(),
        });
        let app = |report| Application {
            exists: true,
            rendered: Some(&config),
            report: Some(report),
        };
        let Some(Decision::Abandon(message)) = decide(&deleting, &app(&down), late, TIMEOUT) else {
            panic!("not released");
        };
        assert_eq!(
            message,
            format!(
                "the slash commands of guild {GUILD} may still be registered in Discord: \
                 the bot did not report (no ready bot pod) within 2m"
            )
        );
        let Some(Decision::Abandon(message)) = decide(&deleting, &app(&refused), late, TIMEOUT)
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
            decide(&deleting, &gone, now, TIMEOUT),
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
        assert_eq!(
            decide(&deleting, &app, now, TIMEOUT),
            Some(Decision::Release)
        );
    }

    #[test]
    fn patches_test_what_they_change() {
        assert_eq!(
            add_patch(&guild(&[], None)),
            json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "42"},
                {"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]},
            ])
        );
        assert_eq!(
            add_patch(&guild(&["other.io/x"], None)),
            json!([
                {"op": "test", "path": "/metadata/finalizers", "value": ["other.io/x"]},
                {"op": "add", "path": "/metadata/finalizers/-", "value": FINALIZER},
            ])
        );
        assert_eq!(
            remove_patch(&guild(&["other.io/x", FINALIZER], Some(DELETED))),
            Some(json!([
                {"op": "test", "path": "/metadata/finalizers/1", "value": FINALIZER},
                {"op": "remove", "path": "/metadata/finalizers/1"},
            ]))
        );
        assert_eq!(remove_patch(&guild(&["other.io/x"], None)), None);
    }
}

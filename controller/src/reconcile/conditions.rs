//! Status conditions as the Kubernetes API conventions want them: `lastTransitionTime` moves
//! only when a condition's status flips, so re-reconciling an unchanged world changes nothing.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// Now, to the second: the API keeps times to the second, and a status stamped finer would
/// differ from its own echo in the cache and be written again every pass.
pub fn api_now() -> Time {
    let now = Timestamp::now();
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// Condition types, as `kubectl wait --for condition=<type>` and the printer columns name them.
pub mod types {
    /// Every kind: the resource does what it declares.
    pub const READY: &str = "Ready";
    /// DiscordApplication: its workloads are applied.
    pub const DEPLOYED: &str = "Deployed";
    /// DiscordApplication: every gateway shard of the bot is connected.
    pub const BOT_CONNECTED: &str = "BotConnected";
    /// DiscordApplication: the Activity server has an available replica.
    pub const ACTIVITY_READY: &str = "ActivityReady";
    /// GuildConfig: the guild's slash commands are registered with Discord (its own, or the
    /// application's global ones). DiscordApplication: its global command set is what the
    /// scope wants (every command in `Global` scope, none in `Guild` scope).
    pub const COMMANDS_REGISTERED: &str = "CommandsRegistered";
    /// KalturaPartner: Kaltura opens an admin session with the referenced secret.
    pub const CREDENTIALS_VALID: &str = "CredentialsValid";
}

/// Condition reasons (CamelCase, as the API conventions want them); docs/operator.md explains them.
pub mod reasons {
    pub const VALID: &str = "Valid";
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const APPLIED: &str = "Applied";
    pub const APPLY_FAILED: &str = "ApplyFailed";
    pub const NOT_APPLIED: &str = "NotApplied";
    pub const CONNECTED: &str = "Connected";
    pub const CONNECTING: &str = "Connecting";
    pub const BOT_NOT_REPORTING: &str = "BotNotReporting";
    pub const DISABLED: &str = "Disabled";
    pub const AVAILABLE: &str = "Available";
    pub const UNAVAILABLE: &str = "Unavailable";
    pub const ROLLING_OUT: &str = "RollingOut";
    pub const RUNNING: &str = "Running";
    pub const APPLICATION_NOT_READY: &str = "ApplicationNotReady";
    pub const NOT_RENDERED: &str = "NotRendered";
    pub const REGISTERED: &str = "Registered";
    pub const PENDING: &str = "Pending";
    pub const REGISTRATION_FAILED: &str = "RegistrationFailed";
    pub const VERIFIED: &str = "Verified";
    /// GuildConfig, DiscordApplication: deleted; the finalizer waits for the bot to remove the
    /// guild's (the application's global) commands.
    pub const DELETING: &str = "Deleting";
    /// DiscordApplication `CommandsRegistered` in `Guild` scope: no global commands of ours.
    pub const GUILD_SCOPE: &str = "GuildScope";
    /// GuildConfig, DiscordApplication Event: the bot removed the commands, so the finalizer went.
    pub const COMMANDS_CLEARED: &str = "CommandsCleared";
    /// GuildConfig, DiscordApplication Event: the finalizer went although commands may be left.
    pub const COMMANDS_LEFT_BEHIND: &str = "CommandsLeftBehind";
    /// Kaltura refused the admin secret (`START_SESSION_ERROR`, `INVALID_PARTNER_ID`, ...).
    pub const CREDENTIALS_REFUSED: &str = "CredentialsRefused";
    /// The partner is blocked in Kaltura (`SERVICE_FORBIDDEN_CONTENT_BLOCKED`, `..._FULLY_BLOCKED`).
    pub const PARTNER_BLOCKED: &str = "PartnerBlocked";
    pub const KALTURA_UNREACHABLE: &str = "KalturaUnreachable";
    pub const NOT_CHECKED: &str = "NotChecked";
    /// GuildConfig `Ready`: the bot serves the guild's commands.
    pub const READY: &str = "Ready";
}

/// A condition's value before the transition time is settled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub type_: &'static str,
    pub status: Truth,
    pub reason: &'static str,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    True,
    False,
    Unknown,
}

impl Truth {
    fn as_str(self) -> &'static str {
        match self {
            Truth::True => "True",
            Truth::False => "False",
            Truth::Unknown => "Unknown",
        }
    }
}

impl Observation {
    pub fn new(type_: &'static str, status: Truth, reason: &'static str, message: String) -> Self {
        Self {
            type_,
            status,
            reason,
            message,
        }
    }

    pub fn is_true(&self) -> bool {
        self.status == Truth::True
    }
}

/// The conditions to write: each observation, keeping the previous transition time of a
/// condition whose status did not change.
pub fn settle(
    previous: &[Condition],
    observed: Vec<Observation>,
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    observed
        .into_iter()
        .map(|o| {
            let status = o.status.as_str().to_string();
            let last_transition_time = previous
                .iter()
                .find(|c| c.type_ == o.type_ && c.status == status)
                .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
            Condition {
                type_: o.type_.to_string(),
                status,
                reason: o.reason.to_string(),
                message: o.message,
                observed_generation: generation,
                last_transition_time,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn now_is_what_the_api_gives_back() {
        let now = api_now();
        let echo: Time = serde_json::from_value(serde_json::to_value(&now).unwrap()).unwrap();
        assert_eq!(
            echo, now,
            "a status stamped with it equals its echo from the cache"
        );
    }

    #[test]
    fn the_transition_time_moves_only_when_the_status_flips() {
        let ready = |status| vec![Observation::new(types::READY, status, "R", "m".into())];
        let first = settle(&[], ready(Truth::False), Some(1), &at(100));
        assert_eq!(first[0].last_transition_time, at(100));
        let same = settle(&first, ready(Truth::False), Some(2), &at(200));
        assert_eq!(same[0].last_transition_time, at(100), "unchanged status");
        assert_eq!(same[0].observed_generation, Some(2));
        let flipped = settle(&same, ready(Truth::True), Some(2), &at(300));
        assert_eq!(flipped[0].last_transition_time, at(300));
        assert_eq!(flipped[0].status, "True");
    }
}

//! Why an operation did not happen, in words a member can act on. The adapters map each case
//! to their medium: an ephemeral Discord message, or an HTTP status with a stable code.

use crate::gate::Refusal;
use crate::kaltura::KalturaFailure;
use crate::settings::SettingError;

#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The gate refused the member.
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// The input is not valid; nothing was called.
    #[error("{0}")]
    Invalid(String),
    #[error("This server has no Kaltura partner configured.")]
    NoPartner,
    /// No Kaltura client could be made (the partner's credentials are missing).
    #[error("{0}")]
    Setup(KalturaFailure),
    /// A Kaltura call failed.
    #[error("{}", KalturaFailure::from_error(.0))]
    Kaltura(kd_kaltura::Error),
    #[error("No active meeting with id {0} on this server.")]
    MeetingNotFound(String),
    #[error("Only the member who started this meeting, or a moderator, can end it.")]
    NotMeetingOwner,
    #[error(
        "Join links need the application's public URL (spec.activity.publicUrl of the DiscordApplication)."
    )]
    NoPublicUrl,
    #[error("{0}")]
    Setting(SettingError),
    /// A template of the GuildConfig does not render.
    #[error("{0}")]
    Template(String),
    /// The store failed: what was being done, and why.
    #[error("Could not {0}: {1}")]
    Store(&'static str, String),
}

impl Failure {
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    /// A failed Kaltura call, logged here once.
    pub fn kaltura(err: kd_kaltura::Error) -> Self {
        tracing::warn!(error = %err, "Kaltura call failed");
        Self::Kaltura(err)
    }

    /// Refused before any call: not allowed, or bad input.
    pub fn is_denial(&self) -> bool {
        matches!(self, Self::Refused(_) | Self::Invalid(_))
    }
}

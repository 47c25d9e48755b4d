//! What checking a KalturaPartner's credentials against Kaltura found, and the
//! `CredentialsValid` condition it makes. Only Kaltura's code and message are kept: never the
//! secret or a session.

use super::conditions::{Observation, Truth, reasons, types};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// One check: when, and what Kaltura said.
#[derive(Clone, Debug, PartialEq)]
pub struct Verification {
    pub at: Time,
    pub outcome: Outcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Kaltura opened an admin session and named the account.
    Valid { partner_name: String },
    /// Kaltura answered with an API error.
    Refused { code: String, message: String },
    /// Kaltura could not be asked (down, slow, 5xx); the previous verdict is not known to hold.
    Unreachable(String),
}

/// Codes of a blocked partner, as Kaltura's `APIErrors` names them.
const BLOCKED: &[&str] = &[
    "SERVICE_FORBIDDEN_CONTENT_BLOCKED",
    "SERVICE_FORBIDDEN_FULLY_BLOCKED",
];

/// `CredentialsValid` from the last check; `None` when the partner was not checked (its
/// references do not resolve).
pub fn condition(verification: Option<&Verification>) -> Observation {
    let observation = |status, reason, message| {
        Observation::new(types::CREDENTIALS_VALID, status, reason, message)
    };
    match verification.map(|v| &v.outcome) {
        None => observation(
            Truth::Unknown,
            reasons::NOT_CHECKED,
            "not checked: the partner's references do not resolve".into(),
        ),
        Some(Outcome::Valid { partner_name }) => observation(
            Truth::True,
            reasons::VERIFIED,
            format!("Kaltura opened an admin session for account {partner_name:?}"),
        ),
        Some(Outcome::Refused { code, message }) => observation(
            Truth::False,
            if BLOCKED.contains(&code.as_str()) {
                reasons::PARTNER_BLOCKED
            } else {
                reasons::CREDENTIALS_REFUSED
            },
            format!("Kaltura answered {code}: {message}"),
        ),
        Some(Outcome::Unreachable(why)) => observation(
            Truth::Unknown,
            reasons::KALTURA_UNREACHABLE,
            format!("could not check with Kaltura: {why}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Time {
        Time("2026-12-02T06:00:00Z".parse().unwrap())
    }

    fn refused(code: &str) -> Observation {
        condition(Some(&Verification {
            at: at(),
            outcome: Outcome::Refused {
                code: code.into(),
                message: "m".into(),
            },
        }))
    }

    #[test]
    fn kalturas_code_decides_the_reason_and_is_named_in_the_message() {
        let wrong = refused("START_SESSION_ERROR");
        assert_eq!(
            (wrong.status, wrong.reason),
            (Truth::False, reasons::CREDENTIALS_REFUSED)
        );
        assert_eq!(wrong.message, "Kaltura answered START_SESSION_ERROR: m");
        let blocked = refused("SERVICE_FORBIDDEN_CONTENT_BLOCKED");
        assert_eq!(blocked.reason, reasons::PARTNER_BLOCKED);
        assert!(
            blocked
                .message
                .contains("SERVICE_FORBIDDEN_CONTENT_BLOCKED")
        );
        let valid = condition(Some(&Verification {
            at: at(),
            outcome: Outcome::Valid {
                partner_name: "Campus".into(),
            },
        }));
        assert_eq!(
            (valid.status, valid.reason),
            (Truth::True, reasons::VERIFIED)
        );
        let down = condition(Some(&Verification {
            at: at(),
            outcome: Outcome::Unreachable("timeout".into()),
        }));
        assert_eq!(down.status, Truth::Unknown);
        assert_eq!(condition(None).reason, reasons::NOT_CHECKED);
    }
}

//! Errors of the Kaltura client. Kaltura reports API errors in-band (HTTP 200 with a
//! `KalturaAPIException` object); those become [`Error::Api`] with Kaltura's code, message and args.

use crate::ks::KsError;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// A `KalturaAPIException` as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Kaltura error {code}: {message}")]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub args: BTreeMap<String, String>,
}

impl ApiError {
    /// Read an exception object (JSON format); `None` when `value` is not one.
    pub fn from_value(value: &Value) -> Option<ApiError> {
        let obj = value.as_object()?;
        let is_exception =
            obj.get("objectType").and_then(Value::as_str) == Some("KalturaAPIException");
        // Some error paths (e.g. a broken multirequest item) omit objectType but keep code+message.
        let code = obj.get("code").and_then(Value::as_str)?;
        let message = obj.get("message").and_then(Value::as_str)?;
        if !is_exception && obj.len() > 3 {
            return None;
        }
        let args = match obj.get("args") {
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect(),
            // XML-shaped args: a list of {name, value}.
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|item| {
                    let name = item.get("name")?.as_str()?;
                    let value = item
                        .get("value")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    Some((name.to_string(), value.to_string()))
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        Some(ApiError::redacted(code, message, args))
    }

    /// Kaltura echoes the KS in INVALID_KS messages (as `KS`, or `KSID` in newer servers);
    /// keep it out of errors (they get logged).
    fn redacted(code: &str, message: &str, mut args: BTreeMap<String, String>) -> ApiError {
        let mut message = message.to_string();
        for name in ["KS", "KSID"] {
            if let Some(ks) = args.get_mut(name) {
                if !ks.is_empty() {
                    message = message.replace(ks.as_str(), "<redacted>");
                }
                *ks = "<redacted>".to_string();
            }
        }
        ApiError {
            code: code.to_string(),
            message,
            args,
        }
    }

    pub fn is(&self, code: &str) -> bool {
        self.code == code
    }

    /// Kaltura refused the session the call carried (any reason: expired, revoked, wrong secret).
    pub fn is_ks_refusal(&self) -> bool {
        self.is("INVALID_KS")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("Kaltura did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Kaltura answered HTTP {status}")]
    Http { status: u16 },
    #[error("could not reach Kaltura: {0}")]
    Transport(String),
    #[error("unexpected Kaltura response: {0}")]
    Decode(String),
    #[error(transparent)]
    Ks(#[from] KsError),
}

impl Error {
    /// The Kaltura error code, for in-band API errors.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            Error::Api(api) => Some(&api.code),
            _ => None,
        }
    }

    /// Worth another try for an idempotent call: the request may not have reached Kaltura or
    /// Kaltura was briefly unhealthy. API errors are answers and never retried.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Timeout(_) | Error::Transport(_) => true,
            Error::Http { status } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

impl From<reqwest::Error> for Error {
    fn from(err: reqwest::Error) -> Self {
        // reqwest's Display includes the URL; ours never carries a KS (it goes in the body).
        Error::Transport(err.without_url().to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_json_exception() {
        let v = json!({"code":"ENTRY_ID_NOT_FOUND","message":"Entry id \"0_x\" not found",
            "objectType":"KalturaAPIException","args":{"ENTRY_ID":"0_x"}});
        let err = ApiError::from_value(&v).unwrap();
        assert!(err.is("ENTRY_ID_NOT_FOUND"));
        assert_eq!(err.args["ENTRY_ID"], "0_x");
        assert!(
            ApiError::from_value(&json!({"id":"0_x","name":"n","code":"c","message":"m"}))
                .is_none()
        );
    }

    #[test]
    fn only_transport_failures_are_transient() {
        assert!(Error::Http { status: 503 }.is_transient());
        assert!(Error::Timeout(Duration::from_secs(1)).is_transient());
        assert!(!Error::Http { status: 404 }.is_transient());
        let api = ApiError {
            code: "X".into(),
            message: "m".into(),
            args: BTreeMap::new(),
        };
        assert!(!Error::Api(api).is_transient());
    }
}

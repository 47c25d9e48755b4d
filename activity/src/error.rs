//! The one error shape of the API: `{"error": {"code": "stable_code", "message": "..."}}`.
//! Codes are stable (clients branch on them); messages are for people and may change.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kd_bot::logic::Refusal;
use kd_core::kaltura::KalturaFailure;
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: e.g. `token_expired`, `role_required`, `meeting_not_found`.
    #[schema(example = "role_required")]
    pub code: String,
    /// For people; may change between releases.
    pub message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// For 429: when to try again.
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    pub fn rate_limited(wait: Duration) -> Self {
        Self {
            retry_after: Some(wait),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests; try again after the Retry-After delay.",
            )
        }
    }

    /// A Kaltura call failed: the message a Discord member would read, with a status that
    /// says whose fault it is.
    pub fn kaltura(err: &kd_kaltura::Error) -> Self {
        tracing::warn!(error = %err, "Kaltura call failed");
        let message = KalturaFailure::from_error(err).to_string();
        match err {
            kd_kaltura::Error::Api(api) if api.is("ENTRY_ID_NOT_FOUND") => {
                Self::not_found("video_not_found", message)
            }
            // Still refused after one fresh session: the partner's secret needs looking at.
            kd_kaltura::Error::Api(api) if api.is_ks_refusal() => Self::new(
                StatusCode::BAD_GATEWAY,
                "kaltura_credentials_refused",
                message,
            ),
            kd_kaltura::Error::Timeout(_) => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "kaltura_timeout", message)
            }
            _ => Self::new(StatusCode::BAD_GATEWAY, "kaltura_unavailable", message),
        }
    }

    pub fn kaltura_setup(failure: &KalturaFailure) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "kaltura_not_configured",
            failure.to_string(),
        )
    }
}

/// The gate of the slash commands, as HTTP.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let code = match &refusal {
            Refusal::NotConfigured { .. } => "guild_not_configured",
            Refusal::FeatureOff { .. } => "feature_disabled",
            Refusal::RoleRequired { .. } => "role_required",
            Refusal::NeedsManageServer => "manage_server_required",
            Refusal::HostNeedsModerator { .. } => "moderator_required",
        };
        Self::new(StatusCode::FORBIDDEN, code, refusal.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The request body is too large.",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Send the body as application/json.",
            ),
            _ => Self::bad_request(rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request(rejection.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            // Whole seconds, rounded up: a client waiting this long will get through.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        response
    }
}

/// Unknown routes and methods answer in the same shape.
pub async fn no_route() -> ApiError {
    ApiError::not_found("not_found", "No such route.")
}

pub async fn no_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This route does not take that method.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let header = |wait| {
            ApiError::rate_limited(wait).into_response().headers()[header::RETRY_AFTER]
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(header(Duration::from_millis(1)), "1");
        assert_eq!(header(Duration::from_millis(1500)), "2");
        assert_eq!(header(Duration::from_secs(30)), "30");
    }

    #[test]
    fn refusals_of_the_command_gate_keep_their_words() {
        let refused = Refusal::RoleRequired {
            command: "kaltura-start".into(),
            allowed: "Teacher".into(),
        };
        let error = ApiError::from(refused.clone());
        assert_eq!(error.status, StatusCode::FORBIDDEN);
        assert_eq!(error.code, "role_required");
        assert_eq!(error.message, refused.to_string());
        let off = ApiError::from(Refusal::FeatureOff {
            command: "kaltura-list".into(),
        });
        assert_eq!(off.code, "feature_disabled");
    }
}

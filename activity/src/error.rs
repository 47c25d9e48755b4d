//! The one error shape of the API: `{"error": {"code": "stable_code", "message": "..."}}`.
//! Codes are stable (clients branch on them); messages are for people and may change.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kd_core::error::Failure;
use kd_core::gate::Refusal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response as Documented, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

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
}

/// The error answers every route behind an API token may give besides its own, documented
/// once: `responses(..., RouteErrors)`.
pub struct RouteErrors;

impl IntoResponses for RouteErrors {
    fn responses() -> BTreeMap<String, RefOr<Documented>> {
        [
            (401, "Missing, invalid or expired API token"),
            (429, "Rate limited"),
            (502, "Kaltura unreachable"),
            (504, "Kaltura timed out"),
        ]
        .into_iter()
        .map(|(status, description)| {
            let body = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build();
            let response = ResponseBuilder::new()
                .description(description)
                .content("application/json", body)
                .build();
            (status.to_string(), response.into())
        })
        .collect()
    }
}

/// The core's failures as HTTP: the words a Discord member would read, with a status that says
/// whose fault it is.
impl From<Failure> for ApiError {
    fn from(failure: Failure) -> Self {
        let message = failure.to_string();
        match failure {
            Failure::Refused(refusal) => refusal.into(),
            Failure::Invalid(_) | Failure::Setting(_) => Self::bad_request(message),
            Failure::NoPartner | Failure::Setup(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "kaltura_not_configured",
                message,
            ),
            Failure::Kaltura(kd_kaltura::Error::Api(api)) if api.is("ENTRY_ID_NOT_FOUND") => {
                Self::not_found("video_not_found", message)
            }
            // Still refused after one fresh session: the partner's secret needs looking at.
            Failure::Kaltura(kd_kaltura::Error::Api(api)) if api.is_ks_refusal() => Self::new(
                StatusCode::BAD_GATEWAY,
                "kaltura_credentials_refused",
                message,
            ),
            Failure::Kaltura(kd_kaltura::Error::Timeout(_)) => {
                Self::new(StatusCode::GATEWAY_TIMEOUT, "kaltura_timeout", message)
            }
            Failure::Kaltura(_) => {
                Self::new(StatusCode::BAD_GATEWAY, "kaltura_unavailable", message)
            }
            Failure::MeetingNotFound(_) => Self::not_found("meeting_not_found", message),
            Failure::NotMeetingOwner => {
                Self::new(StatusCode::FORBIDDEN, "not_meeting_owner", message)
            }
            Failure::NoPublicUrl => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "join_links_unavailable",
                message,
            ),
            Failure::Template(_) | Failure::Store(..) => {
                tracing::error!(error = %message, "an operation failed on our side");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Something went wrong on our side.",
                )
            }
        }
    }
}

/// The gate of the slash commands, as HTTP.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let code = match &refusal {
            Refusal::NotConfigured { .. } => "guild_not_configured",
            Refusal::FeatureOff { .. } => "feature_disabled",
            Refusal::RoleRequired { .. } => "role_required",
            Refusal::NeedsManageServer { .. } => "manage_server_required",
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
    use kd_core::command::Command;

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
            command: Command::Start,
            allowed: "Teacher".into(),
        };
        let error = ApiError::from(refused.clone());
        assert_eq!(error.status, StatusCode::FORBIDDEN);
        assert_eq!(error.code, "role_required");
        assert_eq!(error.message, refused.to_string());
        let off = ApiError::from(Refusal::FeatureOff {
            command: Command::List,
        });
        assert_eq!(off.code, "feature_disabled");
    }

    #[test]
    fn failures_of_the_operations_say_whose_fault_it_is() {
        let missing = ApiError::from(Failure::MeetingNotFound("7".into()));
        assert_eq!(
            (missing.status, missing.code),
            (StatusCode::NOT_FOUND, "meeting_not_found")
        );
        let slow = ApiError::from(Failure::Kaltura(kd_kaltura::Error::Timeout(
            std::time::Duration::from_secs(4),
        )));
        assert_eq!(
            (slow.status, slow.code),
            (StatusCode::GATEWAY_TIMEOUT, "kaltura_timeout")
        );
        let store = ApiError::from(Failure::Store("queue the video", "disk full".into()));
        assert_eq!(store.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            !store.message.contains("disk full"),
            "internals stay in the log"
        );
    }
}

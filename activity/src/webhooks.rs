//! `POST /webhooks/kaltura`: Kaltura's HTTP event notifications, in either body style (form
//! `data=` or raw) and format (JSON or XML). The partner comes from the payload's partner id;
//! the signature is checked with that partner's webhook secret (its admin secret when none is
//! set, as Kaltura signs). The event and the messages it routes to are stored in one
//! transaction, deduplicated by Kaltura's job id, before the answer: 200 means durable.
//! Anything refused (4xx) stores nothing. See docs/notifications.md.

use crate::AppState;
use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use kd_core::notifications::{StartedIn, classify, route};
use kd_kaltura::webhook::{self, WebhookError};
use kd_store::{NewEvent, NewMessage};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The answer to an accepted notification.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    /// The id the event is stored under.
    pub notification_id: String,
    /// False when it was stored before (a retry): nothing changed.
    pub new: bool,
    /// Messages it routed to.
    pub messages: usize,
}

fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message)
}

/// Kaltura's id of a notification: its batch job id, the same on every retry. A sender without
/// one is identified by the body's hash (a retry sends the same bytes).
fn notification_id(partner_id: i64, job_id: Option<i64>, body: &[u8]) -> String {
    match job_id {
        Some(job) => format!("{partner_id}:{job}"),
        None => format!(
            "{partner_id}:sha256:{}",
            hex::encode(&Sha256::digest(body)[..16])
        ),
    }
}

/// The store did not answer: 5xx, so Kaltura retries (and the retry is deduplicated).
fn unstored(err: &kd_store::StoreError) -> ApiError {
    tracing::error!(error = %err, "storing a notification failed");
    refused(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "The notification could not be stored; try again.",
    )
}

pub async fn kaltura(
    State(api): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<axum::Json<Accepted>, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            refused(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "The notification is larger than this endpoint accepts.",
            )
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let notification = webhook::parse(content_type, &body).map_err(|e| {
        refused(
            StatusCode::BAD_REQUEST,
            "malformed_notification",
            e.to_string(),
        )
    })?;
    let partner_id = notification
        .partner_id
        .or_else(|| {
            notification
                .object
                .get("partnerId")
                .and_then(|p| p.as_i64().or_else(|| p.as_str()?.parse().ok()))
        })
        .ok_or_else(|| {
            refused(
                StatusCode::BAD_REQUEST,
                "malformed_notification",
                "The notification names no partner.",
            )
        })?;
    let config = api.config.borrow().clone();
    let (partner_name, partner) = config.partner_by_id(partner_id).ok_or_else(|| {
        refused(
            StatusCode::FORBIDDEN,
            "unknown_partner",
            format!("Partner {partner_id} is not configured here."),
        )
    })?;
    let secret = api.secrets.get(partner.webhook_secret()).ok_or_else(|| {
        tracing::error!(
            partner = partner_id,
            "the partner's webhook secret is missing"
        );
        refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "secret_unavailable",
            "The partner's webhook secret cannot be read right now.",
        )
    })?;
    let header_of = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    webhook::verify(header_of, &body, &secret).map_err(|e| match e {
        WebhookError::MissingSignature => {
            refused(StatusCode::UNAUTHORIZED, "signature_missing", e.to_string())
        }
        _ => refused(StatusCode::FORBIDDEN, "signature_invalid", e.to_string()),
    })?;

    let id = notification_id(partner_id, notification.job_id, &body);
    let occurrence = classify(&notification);
    let started_in = match occurrence.as_ref().and_then(|o| o.recording_template()) {
        Some(template) => api
            .store
            .meeting_by_template(template)
            .await
            .map_err(|e| unstored(&e))?
            .and_then(|m| {
                Some(StartedIn {
                    channel_id: m.channel_id?,
                    guild_id: m.guild_id,
                })
            }),
        None => None,
    };
    let mut routed = Vec::new();
    if let Some(occurrence) = &occurrence {
        let watch = config.application.activity_enabled;
        for (guild_id, guild) in config
            .guilds
            .iter()
            .filter(|(_, g)| &g.partner == partner_name)
        {
            for (rule, draft) in route(
                guild_id,
                guild,
                partner,
                occurrence,
                watch,
                started_in.as_ref(),
            ) {
                let body = serde_json::to_string(&draft).expect("a draft serializes");
                routed.push((rule, draft.channel_key(), body));
            }
        }
    }
    let messages: Vec<NewMessage<'_>> = routed
        .iter()
        .map(|(rule, channel, body)| NewMessage {
            rule,
            channel_id: channel,
            body,
        })
        .collect();
    let payload = String::from_utf8_lossy(&body);
    let kind = occurrence
        .as_ref()
        .map_or("other", |o| o.event.name())
        .to_string();
    let event = NewEvent {
        notification_id: &id,
        partner_id,
        kind: &kind,
        payload: &payload,
        received_at: kd_store::now_ms(),
    };
    let new = api
        .store
        .record_event(&event, &messages)
        .await
        .map_err(|e| unstored(&e))?;
    tracing::debug!(notification = %id, kind, new, messages = messages.len(), "notification stored");
    Ok(axum::Json(Accepted {
        notification_id: id,
        new,
        messages: if new { messages.len() } else { 0 },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_come_from_the_job_or_the_body() {
        assert_eq!(notification_id(7, Some(91), b"x"), "7:91");
        let a = notification_id(7, None, b"x");
        assert_eq!(a, notification_id(7, None, b"x"));
        assert_ne!(a, notification_id(7, None, b"y"));
        assert!(a.starts_with("7:sha256:"));
    }
}

//! A sender of Kaltura HTTP event notifications, as Kaltura's batch job posts them: the legacy
//! form body `data=<payload>` or the raw payload, JSON or XML, signed with
//! `X-KALTURA-SIGNATURE: hex(hash(secret + body))` (SHA1, or the algorithm named in
//! `X-KALTURA-HASH-ALGO`). Retries on 5xx and timeouts, like Kaltura (up to 10 tries).

use crate::wire::value_to_xml;
use md5::Md5;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use sha2::{Sha256, Sha384, Sha512};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the payload travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyStyle {
    /// `application/x-www-form-urlencoded` with one field, `data`.
    Form,
    /// The payload is the body.
    Raw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    Json,
    Xml,
}

/// The signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    /// SHA1 without the algorithm header, as older servers send.
    LegacySha1,
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    Md5,
}

impl Algo {
    fn header_name(self) -> Option<&'static str> {
        match self {
            Algo::LegacySha1 => None,
            Algo::Sha1 => Some("SHA1"),
            Algo::Sha256 => Some("SHA256"),
            Algo::Sha384 => Some("SHA384"),
            Algo::Sha512 => Some("SHA512"),
            Algo::Md5 => Some("MD5"),
        }
    }

    fn sign(self, secret: &str, body: &[u8]) -> String {
        fn digest<D: Digest>(secret: &str, body: &[u8]) -> String {
            let mut d = D::new();
            d.update(secret.as_bytes());
            d.update(body);
            hex::encode(d.finalize())
        }
        match self {
            Algo::LegacySha1 | Algo::Sha1 => digest::<Sha1>(secret, body),
            Algo::Sha256 => digest::<Sha256>(secret, body),
            Algo::Sha384 => digest::<Sha384>(secret, body),
            Algo::Sha512 => digest::<Sha512>(secret, body),
            Algo::Md5 => digest::<Md5>(secret, body),
        }
    }
}

/// One notification to post.
#[derive(Clone)]
pub struct Outgoing {
    pub url: String,
    pub notification: Value,
    pub style: BodyStyle,
    pub format: PayloadFormat,
    /// The template's signSecret (or the partner's admin secret); `None` sends no signature.
    pub secret: Option<String>,
    pub algo: Algo,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("url", &self.url)
            .field("style", &self.style)
            .field("format", &self.format)
            .field("algo", &self.algo)
            .finish_non_exhaustive()
    }
}

/// What happened to a notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub attempts: u32,
    /// The last HTTP status, if any answer came.
    pub status: Option<u16>,
    pub delivered: bool,
}

/// Build a `KalturaHttpNotification` about an object (e.g. an entry).
pub fn notification(
    event_type: &str,
    event_object_type: &str,
    object: Value,
    template: (i64, &str, &str),
    job_id: i64,
    partner_id: i64,
) -> Value {
    let (template_id, template_name, system_name) = template;
    json!({
        "objectType": "KalturaHttpNotification",
        "eventType": event_type,
        "eventObjectType": event_object_type,
        "eventNotificationJobId": job_id,
        "templateId": template_id,
        "templateName": template_name,
        "templateSystemName": system_name,
        "partnerId": partner_id,
        "object": object,
    })
}

/// Posts notifications with retries.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    http: reqwest::Client,
    max_attempts: u32,
    retry_delay: Duration,
}

impl WebhookSender {
    pub fn new(
        max_attempts: u32,
        retry_delay: Duration,
        timeout: Duration,
    ) -> anyhow::Result<WebhookSender> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        Ok(WebhookSender {
            http,
            max_attempts: max_attempts.max(1),
            retry_delay,
        })
    }

    /// Content type and exact body bytes for a notification.
    pub fn encode(outgoing: &Outgoing) -> (&'static str, Vec<u8>) {
        let payload = match outgoing.format {
            PayloadFormat::Json => outgoing.notification.to_string(),
            PayloadFormat::Xml => {
                let mut xml =
                    String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><notification>");
                value_to_xml(&outgoing.notification, &mut xml);
                xml.push_str("</notification>");
                xml
            }
        };
        match (outgoing.style, outgoing.format) {
            (BodyStyle::Form, _) => {
                let body = form_urlencoded::Serializer::new(String::new())
                    .append_pair("data", &payload)
                    .finish();
                ("application/x-www-form-urlencoded", body.into_bytes())
            }
            (BodyStyle::Raw, PayloadFormat::Json) => ("application/json", payload.into_bytes()),
            (BodyStyle::Raw, PayloadFormat::Xml) => ("application/xml", payload.into_bytes()),
        }
    }

    pub async fn send(&self, outgoing: &Outgoing) -> Delivery {
        let (content_type, body) = Self::encode(outgoing);
        let mut delivery = Delivery {
            attempts: 0,
            status: None,
            delivered: false,
        };
        while delivery.attempts < self.max_attempts {
            if delivery.attempts > 0 {
                tokio::time::sleep(self.retry_delay).await;
            }
            delivery.attempts += 1;
            let mut request = self
                .http
                .post(&outgoing.url)
                .header("Content-Type", content_type)
                .body(body.clone());
            if let Some(secret) = &outgoing.secret {
                request = request.header("X-KALTURA-SIGNATURE", outgoing.algo.sign(secret, &body));
                if let Some(name) = outgoing.algo.header_name() {
                    request = request.header("X-KALTURA-HASH-ALGO", name);
                }
            }
            match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    delivery.status = Some(status.as_u16());
                    if !status.is_server_error() {
                        delivery.delivered = status.is_success();
                        return delivery;
                    }
                }
                Err(err) => {
                    tracing::debug!(error = %err.without_url(), "notification post failed");
                }
            }
        }
        delivery
    }
}

/// One notification the sandbox sent on its own (from a notification template).
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationRecord {
    pub template_id: i64,
    pub event_type: String,
    pub url: String,
    pub delivery: Delivery,
}

/// Sends template notifications in the background and remembers what happened.
#[derive(Debug, Clone)]
pub struct Notifier {
    sender: WebhookSender,
    records: Arc<Mutex<Vec<NotificationRecord>>>,
    jobs: Arc<AtomicI64>,
}

impl Notifier {
    pub fn new(sender: WebhookSender) -> Notifier {
        Notifier {
            sender,
            records: Arc::default(),
            jobs: Arc::new(AtomicI64::new(70_000)),
        }
    }

    /// A fresh `eventNotificationJobId`.
    pub fn next_job(&self) -> i64 {
        self.jobs.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub async fn deliver(&self, outgoing: Outgoing) {
        let delivery = self.sender.send(&outgoing).await;
        let record = NotificationRecord {
            template_id: outgoing.notification["templateId"]
                .as_i64()
                .unwrap_or_default(),
            event_type: outgoing.notification["eventType"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            url: outgoing.url,
            delivery,
        };
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(record);
    }

    pub fn records(&self) -> Vec<NotificationRecord> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

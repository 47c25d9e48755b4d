//! The sandbox's notification sender against our webhook verification and parsing.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use kd_kaltura::Secret;
use kd_kaltura::webhook::{self, HashAlgo, WebhookError};
use kd_sandbox_kaltura::webhook::{
    Algo, BodyStyle, Outgoing, PayloadFormat, WebhookSender, notification,
};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Inbox {
    received: Vec<(HeaderMap, Bytes)>,
    fail_first: usize,
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let mut inbox = inbox.lock().unwrap();
    inbox.received.push((headers, body));
    if inbox.received.len() <= inbox.fail_first {
        (StatusCode::SERVICE_UNAVAILABLE, "busy")
    } else {
        (StatusCode::OK, "ok")
    }
}

async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Inbox>>) {
    let inbox = Arc::new(Mutex::new(Inbox {
        fail_first,
        ..Inbox::default()
    }));
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, inbox)
}

fn entry_ready() -> serde_json::Value {
    let entry = json!({"objectType": "KalturaMediaEntry", "id": "0_ready001", "name": "Lecture <1> & notes",
                       "status": "2", "duration": 61, "tags": "physics,lecture"});
    notification(
        "3",
        "1",
        entry,
        (55, "Entry Ready", "HTTP_ENTRY_READY"),
        9001,
        4_300_101,
    )
}

#[tokio::test]
async fn every_style_format_and_algorithm_verifies_and_parses() {
    let (url, inbox) = receiver(0).await;
    let sender = WebhookSender::new(3, Duration::from_millis(10), Duration::from_secs(5)).unwrap();
    let secret = "sign-secret-123";
    let algos = [
        (Algo::LegacySha1, HashAlgo::Sha1),
        (Algo::Sha1, HashAlgo::Sha1),
        (Algo::Sha256, HashAlgo::Sha256),
        (Algo::Sha384, HashAlgo::Sha384),
        (Algo::Sha512, HashAlgo::Sha512),
        (Algo::Md5, HashAlgo::Md5),
    ];
    let mut sent = 0;
    for style in [BodyStyle::Form, BodyStyle::Raw] {
        for format in [PayloadFormat::Json, PayloadFormat::Xml] {
            for (algo, expected) in algos {
                let outgoing = Outgoing {
                    url: url.clone(),
                    notification: entry_ready(),
                    style,
                    format,
                    secret: Some(secret.into()),
                    algo,
                };
                let delivery = sender.send(&outgoing).await;
                assert!(delivery.delivered && delivery.attempts == 1, "{delivery:?}");
                sent += 1;
                let (headers, body) = inbox.lock().unwrap().received.last().cloned().unwrap();
                let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
                assert_eq!(
                    header("x-kaltura-hash-algo").is_none(),
                    algo == Algo::LegacySha1
                );
                let used = webhook::verify(header, &body, &Secret::new(secret)).unwrap();
                assert_eq!(used, expected);
                assert_eq!(
                    webhook::verify(header, &body, &Secret::new("other")),
                    Err(WebhookError::BadSignature)
                );
                let parsed = webhook::parse(header("content-type"), &body).unwrap();
                assert_eq!(parsed.event_type, "3");
                assert_eq!(parsed.event_object_type, "1");
                assert_eq!(parsed.template_id, Some(55));
                assert_eq!(
                    parsed.template_system_name.as_deref(),
                    Some("HTTP_ENTRY_READY")
                );
                assert_eq!(parsed.job_id, Some(9001));
                assert_eq!(parsed.partner_id, Some(4_300_101));
                assert_eq!(parsed.object_type(), Some("KalturaMediaEntry"));
                assert_eq!(parsed.object["id"], "0_ready001");
                assert_eq!(parsed.object["name"], "Lecture <1> & notes");
            }
        }
    }
    assert_eq!(inbox.lock().unwrap().received.len(), sent);
}

#[tokio::test]
async fn sender_retries_server_errors() {
    let (url, inbox) = receiver(2).await;
    let sender = WebhookSender::new(10, Duration::from_millis(5), Duration::from_secs(5)).unwrap();
    let outgoing = Outgoing {
        url,
        notification: entry_ready(),
        style: BodyStyle::Raw,
        format: PayloadFormat::Json,
        secret: None,
        algo: Algo::LegacySha1,
    };
    let delivery = sender.send(&outgoing).await;
    assert_eq!(delivery.attempts, 3);
    assert!(delivery.delivered);
    let received = &inbox.lock().unwrap().received;
    assert_eq!(received.len(), 3);
    assert!(
        received
            .iter()
            .all(|(h, _)| h.get("x-kaltura-signature").is_none())
    );
    // Unsigned notifications fail verification.
    let (headers, body) = &received[0];
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(
        webhook::verify(header, body, &Secret::new("s")),
        Err(WebhookError::MissingSignature)
    );
}

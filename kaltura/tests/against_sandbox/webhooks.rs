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

/// Wait until the receiver has `n` notifications (bounded).
async fn wait_for(inbox: &Arc<Mutex<Inbox>>, n: usize) -> Vec<(HeaderMap, Bytes)> {
    for _ in 0..100 {
        let received = inbox.lock().unwrap().received.clone();
        if received.len() >= n {
            return received;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "expected {n} notifications, got {}",
        inbox.lock().unwrap().received.len()
    );
}

#[tokio::test]
async fn notification_templates_fire_on_entry_changes() {
    use crate::common::{admin, sandbox};
    use kd_kaltura::Idempotency::NotIdempotent;
    let sandbox = sandbox().await;
    let admin = admin(&sandbox).await;
    let (url, inbox) = receiver(0).await;
    let template = |name: &str, extra: serde_json::Value| {
        let mut t = json!({"objectType": "KalturaHttpNotificationTemplate", "name": name, "systemName": name,
                           "eventType": "3", "eventObjectType": "1", "url": url, "method": 2});
        t.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"eventNotificationTemplate": t})
    };
    let service = "eventnotification_eventnotificationtemplate";
    // New style: own secret, SHA256, XML payload, raw body.
    let signed = admin
        .call(service, "add", template("ENTRY_READY_XML", json!({"signSecret": "tmpl-secret",
            "secureHashingAlgo": 2, "contentType": "application/json",
            "data": {"objectType": "KalturaHttpNotificationObjectData", "apiObjectType": "KalturaMediaEntry", "format": 2}})), NotIdempotent)
        .await
        .unwrap();
    // Legacy: no own secret (the admin secret signs), SHA1 without the algorithm header, form body.
    let legacy = admin
        .call(
            service,
            "add",
            template("ENTRY_CHANGED", json!({})),
            NotIdempotent,
        )
        .await
        .unwrap();
    // A disabled template stays quiet.
    admin
        .call(
            service,
            "add",
            template("DISABLED", json!({})),
            NotIdempotent,
        )
        .await
        .unwrap();
    // OBJECT_ADDED ("2") fires once, on media.add.
    let added_template = admin
        .call(
            service,
            "add",
            template("ENTRY_ADDED", json!({"eventType": "2"})),
            NotIdempotent,
        )
        .await
        .unwrap();
    for t in [&signed, &legacy, &added_template] {
        admin
            .call(
                service,
                "updateStatus",
                json!({"id": t["id"], "status": 2}),
                NotIdempotent,
            )
            .await
            .unwrap();
    }

    let added = admin
        .call("media", "add", json!({"entry": {"objectType": "KalturaMediaEntry", "name": "Recording 1", "mediaType": 1}}), NotIdempotent)
        .await
        .unwrap();
    assert_eq!(added["status"], "7");
    admin
        .call("media", "update", json!({"entryId": added["id"], "mediaEntry": {"objectType": "KalturaMediaEntry", "status": "2"}}), NotIdempotent)
        .await
        .unwrap();

    let received = wait_for(&inbox, 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        inbox.lock().unwrap().received.len(),
        3,
        "only the active templates fire"
    );
    let admin_secret = Secret::new(sandbox.admin_secret());
    let mut seen = Vec::new();
    for (headers, body) in &received {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let parsed = webhook::parse(header("content-type"), body).unwrap();
        if parsed.event_type == "2" {
            assert_eq!(parsed.template_id, added_template["id"].as_i64());
            assert_eq!(parsed.object["status"], "7", "added without content");
            webhook::verify(header, body, &admin_secret).unwrap();
            continue;
        }
        assert_eq!(parsed.event_type, "3");
        assert_eq!(parsed.object["id"], added["id"]);
        assert_eq!(parsed.object["status"], "2", "entry ready");
        let algo = if parsed.template_id == signed["id"].as_i64() {
            webhook::verify(header, body, &Secret::new("tmpl-secret")).unwrap()
        } else {
            assert_eq!(parsed.template_id, legacy["id"].as_i64());
            assert_eq!(
                header("content-type"),
                Some("application/x-www-form-urlencoded")
            );
            webhook::verify(header, body, &admin_secret).unwrap()
        };
        seen.push(algo);
    }
    seen.sort_by_key(|a| a.name());
    assert_eq!(seen, vec![HashAlgo::Sha1, HashAlgo::Sha256]);
    let records = sandbox.notifications();
    assert_eq!(records.len(), 3);
    assert!(records.iter().all(|r| r.delivery.delivered));
    assert_eq!(records.iter().filter(|r| r.event_type == "3").count(), 2);
}

/// The control API's upload: the entry is added (OBJECT_ADDED) and then READY (OBJECT_CHANGED),
/// each sent to the active templates; a recording says so by its source type.
#[tokio::test]
async fn a_published_entry_is_added_then_ready() {
    use crate::common::{admin, sandbox};
    use kd_kaltura::Idempotency::NotIdempotent;
    let sandbox = sandbox().await;
    let admin = admin(&sandbox).await;
    let (url, inbox) = receiver(0).await;
    let service = "eventnotification_eventnotificationtemplate";
    for event in ["2", "3"] {
        let template = admin
            .call(service, "add", json!({"eventNotificationTemplate": {"objectType": "KalturaHttpNotificationTemplate",
                "name": event, "eventType": event, "eventObjectType": "1", "url": url}}), NotIdempotent)
            .await
            .unwrap();
        admin
            .call(
                service,
                "updateStatus",
                json!({"id": template["id"], "status": 2}),
                NotIdempotent,
            )
            .await
            .unwrap();
    }
    let publish = |body: serde_json::Value| {
        let url = format!(
            "{}/_sandbox/partners/{}/entries",
            sandbox.base_url(),
            sandbox.partner_id()
        );
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<serde_json::Value>().await.unwrap(),
            )
        }
    };
    let (status, entry) = publish(
        json!({"name": "Week 3", "categories": "MediaSpace>site>channels>Physics 101",
        "tags": "physics", "userId": "teacher", "duration": 2700, "recording": true}),
    )
    .await;
    assert_eq!(status, 200, "{entry}");
    assert_eq!(
        (&entry["status"], &entry["sourceType"], &entry["msDuration"]),
        (&json!("2"), &json!("36"), &json!(2_700_000))
    );
    let received = wait_for(&inbox, 2).await;
    let events: Vec<(String, serde_json::Value)> = received
        .iter()
        .map(|(headers, body)| {
            let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
            let parsed = webhook::parse(header("content-type"), body).unwrap();
            assert_eq!(parsed.object["id"], entry["id"]);
            assert_eq!(
                parsed.object["categories"],
                "MediaSpace>site>channels>Physics 101"
            );
            (parsed.event_type, parsed.object["status"].clone())
        })
        .collect();
    assert!(events.contains(&("2".into(), json!("7"))), "{events:?}");
    assert!(events.contains(&("3".into(), json!("2"))), "{events:?}");
    assert_eq!(
        admin
            .media_get(entry["id"].as_str().unwrap())
            .await
            .unwrap()
            .name,
        "Week 3"
    );

    for (bad, says) in [
        (json!({"name": " "}), "name is required"),
        (json!({"title": "x"}), "unknown field"),
    ] {
        let (status, answer) = publish(bad).await;
        assert_eq!(status, 400);
        assert!(answer["error"].as_str().unwrap().contains(says), "{answer}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        inbox.lock().unwrap().received.len(),
        2,
        "refused, sent nothing"
    );
}

mod encoding {
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        // Markup characters, entities, quotes, spaces at the ends, and non-ASCII text.
        "[a-zA-Z0-9 <>&\"'=;:/é漢?+%-]{0,24}"
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the sandbox's sender encodes, in any body style and payload format, our
        /// parser reads back to the same notification.
        #[test]
        fn sender_encoding_parses_back(
            name in text(), description in text(), tags in text(),
            template_name in text(), template_id in 1i64..1_000_000, job in 1i64..1_000_000,
            form in any::<bool>(), xml in any::<bool>(),
        ) {
            let object = json!({"objectType": "KalturaMediaEntry", "id": "0_abcdefgh", "name": name,
                                "description": description, "tags": tags});
            let outgoing = Outgoing {
                url: "http://127.0.0.1:9/unused".into(),
                notification: notification("3", "1", object, (template_id, &template_name, "SYS"), job, 42),
                style: if form { BodyStyle::Form } else { BodyStyle::Raw },
                format: if xml { PayloadFormat::Xml } else { PayloadFormat::Json },
                secret: None,
                algo: Algo::LegacySha1,
            };
            let (content_type, body) = WebhookSender::encode(&outgoing);
            let parsed = webhook::parse(Some(content_type), &body).unwrap();
            prop_assert_eq!(parsed.template_id, Some(template_id));
            prop_assert_eq!(parsed.job_id, Some(job));
            prop_assert_eq!(parsed.template_name.as_deref(), Some(template_name.as_str()));
            prop_assert_eq!(parsed.object["name"].as_str(), Some(name.as_str()));
            prop_assert_eq!(parsed.object["description"].as_str(), Some(description.as_str()));
            prop_assert_eq!(parsed.object["tags"].as_str(), Some(tags.as_str()));
        }
    }
}

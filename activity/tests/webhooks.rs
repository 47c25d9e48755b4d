//! `POST /webhooks/kaltura` end to end: the Kaltura sandbox's sender (both body styles, JSON and
//! XML, signed as Kaltura signs) -> intake -> outbox -> the bot's delivery -> the Discord
//! sandbox's channel history. Refused notifications store and post nothing.

mod support;

use kd_core::config::RuleRuntime;
use kd_crds::notification::{Event, Filters};
use kd_sandbox_discord::{OverwriteSpec, permission};
use kd_sandbox_kaltura::webhook::{
    Algo, BodyStyle, Outgoing, PayloadFormat, WebhookSender, notification,
};
use kd_testing::wait;
use kd_tests::notification_rule;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use support::Server;

const TIMEOUT: Duration = Duration::from_secs(20);

fn rule(name: &str, channel: &str, mention_roles: Vec<String>) -> RuleRuntime {
    let mut rule = notification_rule(name, channel);
    rule.spec.filters.tags = vec!["physics".into()];
    rule.spec.mention_roles = mention_roles;
    rule
}

/// A server whose guild delivers entry-ready events tagged `physics` to `#recordings`.
async fn server_with_rule() -> (Server, u64) {
    let server = Server::start().await;
    let world = &server.world;
    let channel = world.text_channel("recordings");
    world.reconfigure(|c| {
        for guild in c.guilds.values_mut() {
            guild.features.notifications = true;
            guild.notification_rules = vec![rule("lectures", "recordings", vec!["Teacher".into()])];
        }
    });
    (server, channel)
}

fn entry(id: &str, name: &str) -> Value {
    json!({"objectType": "KalturaMediaEntry", "id": id, "name": name, "status": "2",
           "duration": "90", "tags": "physics,optics", "userId": "prof",
           "thumbnailUrl": "https://cdn.example/thumb.jpg"})
}

fn outgoing(
    server: &Server,
    job: i64,
    object: Value,
    style: BodyStyle,
    format: PayloadFormat,
) -> Outgoing {
    let kaltura = &server.world.kaltura;
    Outgoing {
        url: format!("{}/webhooks/kaltura", server.base),
        notification: notification(
            "3",
            "1",
            object,
            (12, "Entry Ready", "HTTP_ENTRY_READY"),
            job,
            kaltura.partner_id(),
        ),
        style,
        format,
        secret: Some(kaltura.admin_secret().to_string()),
        algo: Algo::Sha256,
    }
}

fn sender() -> WebhookSender {
    WebhookSender::new(1, Duration::ZERO, Duration::from_secs(10)).unwrap()
}

async fn messages(server: &Server, channel: u64, count: usize) -> Vec<Value> {
    let discord = &server.world.discord;
    let mut all = wait("messages in the channel")
        .timeout(TIMEOUT)
        .explain(|| format!("{:?}", discord.messages(channel)))
        .until(async || {
            let all = discord.messages(channel).ok()?;
            (all.len() >= count).then_some(all)
        })
        .await;
    all.sort_by_key(|m| m["id"].as_str().unwrap().parse::<u64>().unwrap());
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_body_style_and_format_becomes_one_message_and_retries_are_stored_once() {
    let (server, channel) = server_with_rule().await;
    let sender = sender();
    let styles = [
        (BodyStyle::Form, PayloadFormat::Xml),
        (BodyStyle::Form, PayloadFormat::Json),
        (BodyStyle::Raw, PayloadFormat::Json),
        (BodyStyle::Raw, PayloadFormat::Xml),
    ];
    for (n, (style, format)) in styles.into_iter().enumerate() {
        let out = outgoing(
            &server,
            100 + n as i64,
            entry(&format!("0_{n}"), &format!("Lecture {n}")),
            style,
            format,
        );
        let delivery = sender.send(&out).await;
        assert_eq!(delivery.status, Some(200), "{style:?} {format:?}");
        // Kaltura's retry of the same job: accepted, stored once.
        assert_eq!(sender.send(&out).await.status, Some(200));
    }
    // Not tagged physics: accepted, routed nowhere.
    let other = outgoing(
        &server,
        200,
        json!({"objectType": "KalturaMediaEntry", "id": "0_x", "status": "2", "tags": "chemistry"}),
        BodyStyle::Raw,
        PayloadFormat::Json,
    );
    assert_eq!(sender.send(&other).await.status, Some(200));

    let posted = messages(&server, channel, 4).await;
    let contents: Vec<&str> = posted
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect();
    let teacher = server
        .world
        .discord
        .guilds()
        .iter()
        .flat_map(|g| g["roles"].as_array().cloned().unwrap_or_default())
        .find(|r| r["name"] == "Teacher")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        contents,
        (0..4)
            .map(|n| format!("<@&{teacher}> Lecture {n} is ready (1:30)"))
            .collect::<Vec<_>>()
    );
    let first = &posted[0];
    assert_eq!(
        first["embeds"][0]["thumbnail"]["url"],
        "https://cdn.example/thumb.jpg"
    );
    assert_eq!(
        first["components"][0]["components"][0]["custom_id"],
        "kd:watch:0_0"
    );
    assert_eq!(first["mention_roles"], json!([teacher]));
    assert_eq!(first["mention_everyone"], false);
    assert_eq!(first["nonce"].as_str().unwrap().len(), 25);

    // Nothing more arrives: the retries and the unrouted event made no message.
    let counts = wait("delivery counts")
        .timeout(TIMEOUT)
        .until(async || {
            let counts = server.world.store.rule_counts().await.ok()?;
            counts.first().filter(|c| c.delivered == 4).cloned()
        })
        .await;
    assert_eq!((counts.failed, counts.pending), (0, 0));
    assert_eq!(server.world.discord.messages(channel).unwrap().len(), 4);
    let reported = wait("the report's counts")
        .timeout(TIMEOUT)
        .until(async || {
            let report = server.world.bot.report();
            report
                .notifications
                .get("kaltura/lectures")
                .filter(|d| d.delivered == 4)
                .cloned()
        })
        .await;
    assert!(reported.last_delivery.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_notifications_store_and_post_nothing() {
    let (server, channel) = server_with_rule().await;
    let url = format!("{}/webhooks/kaltura", server.base);
    let good = outgoing(
        &server,
        300,
        entry("0_r", "Refused"),
        BodyStyle::Raw,
        PayloadFormat::Json,
    );
    let (content_type, body) = WebhookSender::encode(&good);
    let post = |body: Vec<u8>, signature: Option<String>| {
        let mut request = server
            .http
            .post(&url)
            .header("content-type", content_type)
            .body(body);
        if let Some(signature) = signature {
            request = request
                .header("x-kaltura-signature", signature)
                .header("x-kaltura-hash-algo", "SHA256");
        }
        server.send(request)
    };
    let sign = |secret: &str, body: &[u8]| {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(secret.as_bytes());
        hasher.update(body);
        hex::encode(hasher.finalize())
    };
    let secret = server.world.kaltura.admin_secret().to_string();

    let missing = post(body.clone(), None).await;
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (StatusCode::UNAUTHORIZED, "signature_missing")
    );
    let wrong = post(body.clone(), Some(sign("not-the-secret", &body))).await;
    assert_eq!(
        (wrong.status, wrong.code().as_str()),
        (StatusCode::FORBIDDEN, "signature_invalid")
    );
    // Signed for another body.
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let replay = post(tampered, Some(sign(&secret, &body))).await;
    assert_eq!(replay.status, StatusCode::FORBIDDEN);

    let mut stranger = good.clone();
    stranger.notification["partnerId"] = json!(99);
    let (_, stranger_body) = WebhookSender::encode(&stranger);
    let unknown = post(stranger_body.clone(), Some(sign(&secret, &stranger_body))).await;
    assert_eq!(
        (unknown.status, unknown.code().as_str()),
        (StatusCode::FORBIDDEN, "unknown_partner")
    );

    let junk = b"{\"eventType\": ".to_vec();
    let malformed = post(junk.clone(), Some(sign(&secret, &junk))).await;
    assert_eq!(
        (malformed.status, malformed.code().as_str()),
        (StatusCode::BAD_REQUEST, "malformed_notification")
    );

    let mut huge = good.clone();
    huge.notification["object"]["description"] = json!("x".repeat(300 * 1024));
    let (_, huge_body) = WebhookSender::encode(&huge);
    let oversized = post(huge_body.clone(), Some(sign(&secret, &huge_body))).await;
    assert_eq!(oversized.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Nothing was stored: the same job is new when it finally comes signed, and it alone is posted.
    let accepted = post(body.clone(), Some(sign(&secret, &body))).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);
    assert_eq!(accepted.json()["new"], true);
    let posted = messages(&server, channel, 1).await;
    assert_eq!(posted.len(), 1);
    assert!(
        posted[0]["content"]
            .as_str()
            .unwrap()
            .ends_with("Refused is ready (1:30)")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_the_bot_may_not_post_in_fails_the_message_with_the_reason() {
    let (server, channel) = server_with_rule().await;
    let discord = &server.world.discord;
    discord
        .set_channel_overwrite(
            channel,
            discord.bot_user_id(),
            OverwriteSpec {
                kind: 1,
                allow: 0,
                deny: permission::SEND_MESSAGES,
            },
        )
        .unwrap();
    let out = outgoing(
        &server,
        400,
        entry("0_p", "Private"),
        BodyStyle::Raw,
        PayloadFormat::Json,
    );
    assert_eq!(sender().send(&out).await.status, Some(200));
    let counts = wait("the failure recorded")
        .timeout(TIMEOUT)
        .until(async || {
            let counts = server.world.store.rule_counts().await.ok()?;
            counts.first().filter(|c| c.failed == 1).cloned()
        })
        .await;
    assert_eq!(counts.pending, 0, "not retried");
    assert_eq!(
        counts.last_error.as_deref(),
        Some("Discord answered 403: Missing Permissions (50013)")
    );
    let attempts = discord
        .requests()
        .iter()
        .filter(|r| {
            r.method == "POST" && r.path.ends_with(&format!("/channels/{channel}/messages"))
        })
        .count();
    assert_eq!(attempts, 1, "one attempt, no retries");
    assert!(discord.messages(channel).unwrap().is_empty());
}

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_secret_and_bot_token_appear_in_no_log_status_or_message() {
    let log = Captured::default();
    let writer = log.clone();
    // The sandboxes stand for Discord and Kaltura themselves: what they log is not ours.
    tracing_subscriber::fmt()
        .with_env_filter("debug,kd_sandbox_discord=off,kd_sandbox_kaltura=off")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let (server, channel) = server_with_rule().await;
    let world = &server.world;
    // The partner signs with a webhook secret of its own, planted here.
    let webhook_secret = support::WEBHOOK_SECRET;
    let bot_token = world.discord.bot_token();
    let sender = sender();
    let mut signed = outgoing(
        &server,
        500,
        entry("0_s", "Secret"),
        BodyStyle::Form,
        PayloadFormat::Xml,
    );
    signed.secret = Some(webhook_secret.into());
    // Not yet the partner's webhook secret: refused, and the refusal is logged.
    assert_eq!(sender.send(&signed).await.status, Some(403));
    world.reconfigure(|c| {
        for partner in c.partners.values_mut() {
            partner.webhook_secret_ref = Some(kd_crds::SecretKeyRef {
                name: "kaltura".into(),
                key: "webhookSecret".into(),
            });
        }
    });
    assert_eq!(sender.send(&signed).await.status, Some(200));
    let posted = messages(&server, channel, 1).await;
    let report = wait("the report's counts")
        .timeout(TIMEOUT)
        .until(async || {
            let report = world.bot.report();
            report
                .notifications
                .contains_key("kaltura/lectures")
                .then_some(report)
        })
        .await;
    let outbox = world
        .store
        .channel_outbox(&channel.to_string())
        .await
        .unwrap();

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("notification stored"), "the log was captured");
    let places = [
        ("log", text),
        ("message", serde_json::to_string(&posted).unwrap()),
        ("report", serde_json::to_string(&report).unwrap()),
        ("outbox", format!("{outbox:?}")),
    ];
    for (place, content) in &places {
        assert!(
            !content.contains(webhook_secret),
            "the webhook secret is in the {place}"
        );
        assert!(
            !content.contains(&bot_token),
            "the bot token is in the {place}"
        );
        assert!(
            !content.contains(world.kaltura.admin_secret()),
            "the admin secret is in the {place}"
        );
    }
}

/// A Kaltura HTTP notification template for entry changes, posting raw JSON to the intake, set
/// up through api_v3 as an integrator would (add, then activate).
async fn notify_entry_changes(server: &Server) {
    let world = &server.world;
    let ks = world.kaltura_admin_ks().await;
    let template = world
        .kaltura_call(
            "eventnotification_eventnotificationtemplate",
            "add",
            json!({"ks": ks, "eventNotificationTemplate": {
                "objectType": "KalturaHttpNotificationTemplate", "name": "Entry changed",
                "systemName": "HTTP_ENTRY_CHANGED", "eventType": "3", "eventObjectType": "1",
                "url": format!("{}/webhooks/kaltura", server.base), "contentType": "application/json",
                "secureHashingAlgo": 2, "data": {"objectType": "KalturaHttpNotificationObjectData", "format": 1},
            }}),
        )
        .await;
    world
        .kaltura_call(
            "eventnotification_eventnotificationtemplate",
            "updateStatus",
            json!({"ks": ks, "id": template["id"], "status": 2}),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meetings_recording_is_posted_in_the_channel_the_meeting_was_started_in() {
    let server = Server::start().await;
    let world = &server.world;
    let (lab, recordings) = (world.text_channel("lab"), world.text_channel("recordings"));
    world.reconfigure(|c| {
        for guild in c.guilds.values_mut() {
            guild.features.notifications = true;
            let mut recorded = rule("recorded", "recordings", vec![]);
            recorded.spec.events = vec![Event::RecordingReady];
            recorded.spec.filters = Filters::default();
            recorded.spec.template = Some("{{ name }} was recorded ({{ duration }})".into());
            guild.notification_rules = vec![recorded];
        }
    });
    notify_entry_changes(&server).await;

    // /kaltura-start in #lab.
    let started = world
        .discord
        .invoke_command(kd_sandbox_discord::NewCommandInteraction {
            channel_id: lab,
            ..world.spec(
                world.teacher,
                kd_core::command::Command::Start.name(),
                vec![
                    json!({"name": "type", "value": "meeting"}),
                    json!({"name": "title", "value": "Optics lab"}),
                ],
            )
        })
        .unwrap();
    let answer = world.answer(started.id).await;
    let meeting: i64 = kd_tests::buttons(&answer)[0]
        .strip_prefix("kd:join:")
        .unwrap()
        .parse()
        .unwrap();
    let stored = world
        .store
        .meeting(&world.guild_key(), &meeting.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.channel_id, Some(lab.to_string()));

    // The room uploads its recording: made from the meeting's template entry, then READY.
    let recording = world.kaltura.record_meeting(meeting).unwrap();
    assert_eq!(
        recording["templateEntryId"].as_str(),
        stored.template_entry_id.as_deref()
    );
    // The channel also holds the answer to /kaltura-start (ephemeral); the recording is the
    // channel's one public message.
    let public = || -> Vec<Value> {
        let all = world.discord.messages(lab).unwrap_or_default();
        all.into_iter()
            .filter(|m| m["flags"].as_u64().unwrap_or_default() & 64 == 0)
            .collect()
    };
    let posted = wait("the recording in #lab")
        .timeout(TIMEOUT)
        .explain(|| format!("{:?}", world.discord.messages(lab)))
        .until(async || Some(public()).filter(|p| !p.is_empty()))
        .await;
    assert_eq!(
        posted[0]["content"],
        format!(
            "Optics lab was recorded ({})",
            kd_core::videos::duration(recording["duration"].as_i64())
        )
    );
    assert_eq!(
        posted[0]["embeds"][0]["footer"]["text"],
        format!("entry {}", recording["id"].as_str().unwrap())
    );

    // A recording of no meeting of ours goes to the rule's channel.
    let other = outgoing(
        &server,
        500,
        json!({"objectType": "KalturaMediaEntry", "id": "0_live", "name": "Keynote",
               "status": "2", "sourceType": "36", "duration": "60"}),
        BodyStyle::Raw,
        PayloadFormat::Json,
    );
    assert_eq!(sender().send(&other).await.status, Some(200));
    let elsewhere = messages(&server, recordings, 1).await;
    assert_eq!(elsewhere[0]["content"], "Keynote was recorded (1:00)");
    wait("both delivered")
        .timeout(TIMEOUT)
        .until(async || {
            let counts = world.store.rule_counts().await.ok()?;
            counts.first().filter(|c| c.delivered == 2).cloned()
        })
        .await;
    assert_eq!(public().len(), 1, "posted once");
    assert_eq!(world.discord.messages(recordings).unwrap().len(), 1);
}

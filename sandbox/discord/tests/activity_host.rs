//! The Activity host page with the real `@discord/embedded-app-sdk` in Chromium: two members of
//! a voice channel run a small Activity through the sandbox's Activity origin. The app's
//! handshake gets READY, `authorize` a code its backend exchanges at `/api/oauth2/token`,
//! `authenticate` the user; participants, layout and orientation events arrive; URL mappings
//! and a websocket go through the proxy; a new instance id follows once everyone left.

mod common;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocketUpgrade};
use axum::routing::{get, post};
use axum::{Json, Router};
use kd_sandbox_discord::{DiscordSandbox, UrlMapping};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

#[derive(Clone)]
struct App {
    client_id: String,
    client_secret: String,
    oauth: String,
    external: String,
}

/// The Activity's own backend: its page, the SDK files, the token exchange, a websocket.
fn app_router(app: App, sdk: PathBuf) -> Router {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/activity_host");
    Router::new()
        .route_service(
            "/",
            tower_http::services::ServeFile::new(here.join("index.html")),
        )
        .route_service(
            "/app.js",
            tower_http::services::ServeFile::new(here.join("app.js")),
        )
        .nest_service("/sdk", tower_http::services::ServeDir::new(sdk))
        .route(
            "/config.json",
            get(|State(app): State<App>| async move {
                Json(json!({"client_id": app.client_id, "external": app.external}))
            }),
        )
        .route("/api/token", post(exchange))
        .route("/external/hello", get(|| async { "hello from outside" }))
        .route("/ws", get(echo))
        .with_state(app)
}

async fn exchange(State(app): State<App>, Json(body): Json<Value>) -> Json<Value> {
    let form = [
        ("client_id", app.client_id.as_str()),
        ("client_secret", app.client_secret.as_str()),
        ("grant_type", "authorization_code"),
        ("code", body["code"].as_str().unwrap_or_default()),
    ];
    let answer: Value = common::web()
        .post(&app.oauth)
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Json(json!({"access_token": answer["access_token"]}))
}

/// Echoes text; on "close" closes with 4002, so the test sees the server's code through the proxy.
async fn echo(upgrade: WebSocketUpgrade) -> axum::response::Response {
    upgrade
        .protocols(["kd.test.v1"])
        .on_upgrade(|mut socket| async move {
            while let Some(Ok(Message::Text(text))) = socket.recv().await {
                if text.as_str() == "close" {
                    let frame = CloseFrame {
                        code: 4002,
                        reason: "bye".into(),
                    };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
                let _ = socket
                    .send(Message::Text(format!("echo {text}").into()))
                    .await;
            }
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_sdk_runs_an_activity_through_the_host_page() {
    let sdk = kd_browser::tools().join("node/node_modules/@discord/embedded-app-sdk/output");
    kd_browser::require(&sdk.join("index.mjs"), "npm @discord/embedded-app-sdk");
    let sandbox: DiscordSandbox = common::sandbox().await;
    let (guild, ann) = common::guild_with_member(&sandbox);
    let bob = common::add_member(&sandbox, guild.id, "bob");
    // The app serves its own "outside" host too: only the mapping's path tells them apart.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app_addr = listener.local_addr().unwrap().to_string();
    let app = App {
        client_id: sandbox.application_id().to_string(),
        client_secret: sandbox.client_secret(),
        oauth: format!("{}/api/oauth2/token", sandbox.base_url()),
        external: format!("{app_addr}/external"),
    };
    let router = app_router(app, sdk);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    sandbox.set_url_mappings(vec![
        UrlMapping {
            prefix: "/".into(),
            target: app_addr.clone(),
        },
        UrlMapping {
            prefix: "/ext".into(),
            target: format!("{app_addr}/external"),
        },
    ]);

    let s = kd_browser::Script::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/activity_host/drive.cjs"),
    )
    .env(
        "HOST_ANN",
        sandbox.activity_host_url(ann, guild.voice_channel_id, "desktop"),
    )
    .env(
        "HOST_BOB",
        sandbox.activity_host_url(bob, guild.voice_channel_id, "mobile"),
    )
    .run()
    .await;
    let (ann_id, bob_id) = (ann.to_string(), bob.to_string());

    for (who, id) in [(&s["ann"], &ann_id), (&s["bob"], &bob_id)] {
        assert_eq!(who["failure"], Value::Null, "{who}");
        assert_eq!(who["user"]["id"], *id, "authenticate names the user: {who}");
        assert_eq!(who["scopes"], json!(["identify", "guilds"]));
        assert_eq!(who["query"]["channel"], guild.voice_channel_id.to_string());
        assert_eq!(who["external"], "hello from outside", "URL mapping: {who}");
        assert_eq!(
            who["ws"],
            json!({"echoed": "echo ping", "code": 4002, "reason": "bye", "protocol": "kd.test.v1"}),
            "websocket through the proxy keeps subprotocol and close code"
        );
        let codes: Vec<&Value> = who["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["code"])
            .collect();
        assert_eq!(codes, [&json!(4007), &json!(4009), &json!(4004)], "{who}");
    }
    assert_eq!(
        s["ann"]["instanceId"], s["bob"]["instanceId"],
        "one instance per channel"
    );
    assert_eq!(s["ann"]["participants"], json!([ann_id]));
    assert_eq!(s["bob"]["participants"], json!([ann_id, bob_id]));
    assert_eq!(s["bob"]["query"]["platform"], "mobile");
    assert_eq!(
        s["bobSafeTop"], "47px",
        "the mobile client sets the safe-area insets"
    );
    let events = s["annEvents"].as_array().unwrap();
    let participant_updates: Vec<&Value> = events
        .iter()
        .filter(|e| e["evt"] == "participants")
        .map(|e| &e["ids"])
        .collect();
    assert_eq!(
        participant_updates,
        [&json!([ann_id, bob_id]), &json!([ann_id])],
        "{events:?}"
    );
    let layouts: Vec<&Value> = events
        .iter()
        .filter(|e| e["evt"] == "layout")
        .map(|e| &e["mode"])
        .collect();
    assert_eq!(
        layouts,
        [&json!(0), &json!(1), &json!(0)],
        "current, PiP, focused"
    );
    let bob_orientation: Vec<&Value> = s["bob"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["evt"] == "orientation")
        .map(|e| &e["value"])
        .collect();
    assert_eq!(
        bob_orientation,
        [&json!(0), &json!(1)],
        "portrait, then landscape"
    );
    assert_eq!(s["annHost"]["status"], "ready");
    assert_eq!(s["annHost"]["sdkVersion"], "2.5.0");
    assert!(
        s["annHost"]["logs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"] == "activity up"),
        "the SDK forwards console logs: {}",
        s["annHost"]
    );
    assert!(
        s["pageErrors"].as_array().unwrap().is_empty(),
        "{}",
        s["pageErrors"]
    );

    let first = s["ann"]["instanceId"].as_str().unwrap();
    assert!(
        sandbox.activity_instance(first).is_err(),
        "ended after all left"
    );
    let relaunched = s["relaunched"].as_str().unwrap();
    assert_ne!(relaunched, first, "a new instance after everyone left");
    let instance = sandbox.activity_instance(relaunched).unwrap();
    assert_eq!(instance["users"], json!([ann_id]));
    let artifacts = kd_browser::artifacts();
    for name in ["desktop", "mobile"] {
        assert!(
            artifacts
                .join(format!("discord_activity_host-{name}.png"))
                .exists()
        );
    }
}

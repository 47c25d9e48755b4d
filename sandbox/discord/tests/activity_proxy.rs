//! The Activity origin's URL-mapping proxy without a browser: status, headers and bodies pass
//! through both ways, unmapped paths and dead targets get clear errors, a refused websocket
//! upgrade keeps the server's status, and the latency fault delays what goes through.

mod common;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use kd_sandbox_discord::{Latency, UrlMapping};
use serde_json::json;
use std::time::{Duration, Instant};

async fn upstream() -> String {
    let router = Router::new()
        .route(
            "/media",
            get(|headers: HeaderMap| async move {
                let range = headers
                    .get("range")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if range == "bytes=0-3" {
                    (
                        StatusCode::PARTIAL_CONTENT,
                        [("content-range", "bytes 0-3/10")],
                        "0123",
                    )
                } else {
                    (StatusCode::OK, [("content-range", "none")], "0123456789")
                }
            }),
        )
        .route(
            "/socket",
            get(|| async { (StatusCode::FORBIDDEN, "no session") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

#[tokio::test]
async fn requests_pass_through_the_mapping_and_failures_say_why() {
    let sandbox = common::sandbox().await;
    let target = upstream().await;
    let http = common::web();
    let origin = sandbox.activity_origin().to_owned();

    let unmapped = http.get(format!("{origin}/media")).send().await.unwrap();
    assert_eq!(unmapped.status(), 404, "no mapping yet");

    let control = format!("{}/_sandbox/activity/url-mappings", sandbox.base_url());
    let bad = http
        .put(&control)
        .json(&json!([{"prefix": "media", "target": target}]))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "a prefix starts with /");
    assert!(
        sandbox.url_mappings().is_empty(),
        "bad input changes nothing"
    );
    let set = http
        .put(&control)
        .json(&json!([{"prefix": "/k", "target": target}, {"prefix": "/dead", "target": "127.0.0.1:9"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);

    let part = http
        .get(format!("{origin}/.proxy/k/media"))
        .header("range", "bytes=0-3")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206);
    assert_eq!(part.headers()["content-range"], "bytes 0-3/10");
    assert_eq!(part.text().await.unwrap(), "0123");
    let whole = http.get(format!("{origin}/k/media")).send().await.unwrap();
    assert_eq!(whole.text().await.unwrap(), "0123456789");

    let dead = http.get(format!("{origin}/dead/x")).send().await.unwrap();
    assert_eq!(dead.status(), 502);

    let refused = tokio_tungstenite::connect_async(format!(
        "{}/k/socket",
        origin.replace("http://", "ws://")
    ))
    .await
    .unwrap_err();
    match refused {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(
                response.status(),
                403,
                "the server's refusal reaches the client"
            )
        }
        other => panic!("expected an HTTP refusal, got {other}"),
    }

    let too_jittery = http
        .post(format!(
            "{}/_sandbox/faults/activity-latency",
            sandbox.base_url()
        ))
        .json(&json!({"base_ms": 10, "jitter_ms": 20}))
        .send()
        .await
        .unwrap();
    assert_eq!(too_jittery.status(), 400);
    assert_eq!(sandbox.url_mappings().len(), 2);
    sandbox.set_activity_latency(Latency {
        base: Duration::from_millis(300),
        jitter: Duration::ZERO,
    });
    let started = Instant::now();
    let slow = http.get(format!("{origin}/k/media")).send().await.unwrap();
    assert_eq!(slow.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "the latency fault applies"
    );
    sandbox.set_url_mappings(vec![UrlMapping {
        prefix: "/".into(),
        target: target.clone(),
    }]);
    let root = http.get(format!("{origin}/media")).send().await.unwrap();
    assert_eq!(root.status(), 200, "the root mapping serves the app itself");
}

//! The fault knobs through the control API (`/_sandbox/faults`), and what api_v3 answers under
//! each: in-band `INVALID_KS` in JSON, XML and multirequests, HTML 5xx pages, delays, a rotated
//! secret; the official Python client sees the same errors it would from Kaltura.

use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Api {
    sandbox: KalturaSandbox,
    http: reqwest::Client,
}

impl Api {
    async fn new() -> Api {
        kd_sandbox_kaltura::install_crypto_provider();
        Api {
            sandbox: KalturaSandbox::start(SandboxConfig::default())
                .await
                .unwrap(),
            http: reqwest::Client::new(),
        }
    }

    /// A control request; the status and the JSON answer.
    async fn control(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.sandbox.base_url()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// An api_v3 call with a JSON body; the status, content type and body.
    async fn call(&self, service: &str, action: &str, body: Value) -> (u16, String, String) {
        let path = match action {
            "" => format!("service/{service}"),
            action => format!("service/{service}/action/{action}"),
        };
        let response = self
            .http
            .post(format!("{}/api_v3/{path}", self.sandbox.base_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, content_type, response.text().await.unwrap())
    }

    async fn ks(&self, secret: &str) -> Value {
        let (_, _, body) = self
            .call(
                "session",
                "start",
                json!({"format": 1, "secret": secret, "partnerId": self.sandbox.partner_id(), "type": 2}),
            )
            .await;
        serde_json::from_str(&body).unwrap()
    }

    /// A schedule event whose recordings are made from a template entry, as the product makes
    /// a meeting: its id and the template entry's.
    async fn meeting_with_template(&self, title: &str) -> (i64, String) {
        let ks = self.ks(self.sandbox.admin_secret()).await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (_, _, body) = self
            .call(
                "media",
                "add",
                json!({"format": 1, "ks": ks, "entry": {"objectType": "KalturaMediaEntry",
                       "name": title, "userId": "prof", "tags": "optics", "displayInSearch": -1}}),
            )
            .await;
        let template: Value = serde_json::from_str(&body).unwrap();
        let (_, _, body) = self
            .call(
                "schedule_scheduleevent",
                "add",
                json!({"format": 1, "ks": ks, "scheduleEvent": {"objectType": "KalturaRecordScheduleEvent",
                       "summary": title, "startDate": now - 60, "endDate": now + 60,
                       "templateEntryId": template["id"]}}),
            )
            .await;
        let event: Value = serde_json::from_str(&body).unwrap();
        (
            event["id"].as_i64().unwrap(),
            template["id"].as_str().unwrap().into(),
        )
    }

    async fn list(&self, ks: &Value, format: i64) -> String {
        self.call("media", "list", json!({"format": format, "ks": ks}))
            .await
            .2
    }
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
async fn refused_sessions_are_in_band_in_json_xml_and_multirequests() {
    let api = Api::new().await;
    let ks = api.ks(api.sandbox.admin_secret()).await;
    let (status, _) = api
        .control(
            "PUT",
            "/_sandbox/faults/refuse-ks",
            Some(json!({"reason": "LOGOUT"})),
        )
        .await;
    assert_eq!(status, 200);

    let refused = json_of(&api.list(&ks, 1).await);
    assert_eq!(refused["objectType"], "KalturaAPIException");
    assert_eq!(refused["code"], "INVALID_KS");
    assert_eq!(refused["args"]["ERR_CODE"], "-6");
    assert_eq!(refused["args"]["ERR_DESC"], "LOGOUT");
    assert_eq!(refused["args"]["KS"], ks, "Kaltura echoes the KS");

    let xml = api.list(&ks, 2).await;
    assert!(
        xml.contains(
            "<result><error><objectType>KalturaAPIException</objectType><code>INVALID_KS</code>"
        ),
        "{xml}"
    );
    assert!(xml.contains("Error &quot;-6,LOGOUT&quot;"), "{xml}");

    // session.start needs no KS, so it still works inside the same multirequest.
    let secret = api.sandbox.admin_secret();
    let (status, _, body) = api
        .call(
            "multirequest",
            "",
            json!({"format": 1, "ks": ks,
                "1": {"service": "session", "action": "start", "secret": secret, "partnerId": api.sandbox.partner_id(), "type": 2},
                "2": {"service": "media", "action": "list"}}),
        )
        .await;
    assert_eq!(status, 200);
    let items = json_of(&body);
    assert!(items[0].is_string(), "{items}");
    assert_eq!(items[1]["code"], "INVALID_KS");

    // Limited to one service, and to a count.
    api.control(
        "PUT",
        "/_sandbox/faults/refuse-ks",
        Some(json!({"reason": "EXPIRED", "service": "elasticsearch_esearch", "count": 1})),
    )
    .await;
    assert!(json_of(&api.list(&ks, 1).await)["totalCount"].as_i64() > Some(0));
    let search = |ks: &Value| {
        api.call(
            "elasticsearch_esearch",
            "searchEntry",
            json!({"format": 1, "ks": ks, "searchParams": {"objectType": "KalturaESearchEntryParams",
                "searchOperator": {"objectType": "KalturaESearchEntryOperator", "operator": 1,
                "searchItems": [{"objectType": "KalturaESearchUnifiedItem", "searchTerm": "physics", "itemType": 2}]}}}),
        )
    };
    let first = json_of(&search(&ks).await.2);
    assert_eq!(first["args"]["ERR_DESC"], "EXPIRED", "{first}");
    let second = json_of(&search(&ks).await.2);
    assert!(second["totalCount"].as_i64() > Some(0), "{second}");
}

#[tokio::test]
async fn http_errors_slow_answers_and_their_limits() {
    let api = Api::new().await;
    let ks = api.ks(api.sandbox.admin_secret()).await;

    let (status, shown) = api
        .control(
            "PUT",
            "/_sandbox/faults/errors",
            Some(json!({"status": 502, "service": "media", "seconds": 0.4})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(shown["errors"]["status"], 502);
    let (status, content_type, body) = api
        .call("media", "list", json!({"format": 1, "ks": ks}))
        .await;
    assert_eq!(
        (status, content_type.as_str()),
        (502, "text/html"),
        "{body}"
    );
    assert!(body.contains("<title>502 Bad Gateway</title>"), "{body}");
    let (status, _, _) = api
        .call("category", "list", json!({"format": 1, "ks": ks}))
        .await;
    assert_eq!(status, 200, "another service is unaffected");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, _, _) = api
        .call("media", "list", json!({"format": 1, "ks": ks}))
        .await;
    assert_eq!(status, 200, "the period is over");
    assert!(api.control("GET", "/_sandbox/faults", None).await.1["errors"].is_null());

    api.control(
        "PUT",
        "/_sandbox/faults/slow",
        Some(json!({"delay_ms": 200, "jitter_ms": 20})),
    )
    .await;
    let started = Instant::now();
    api.list(&ks, 1).await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(180), "{took:?}");
    api.control("DELETE", "/_sandbox/faults/slow", None).await;
    let started = Instant::now();
    api.list(&ks, 1).await;
    assert!(started.elapsed() < Duration::from_millis(180));
}

#[tokio::test]
async fn a_rotated_secret_refuses_old_sessions_and_the_old_secret() {
    let api = Api::new().await;
    let old_secret = api.sandbox.admin_secret().to_string();
    let old_ks = api.ks(&old_secret).await;
    let (status, rotated) = api
        .control(
            "POST",
            &format!(
                "/_sandbox/partners/{}/rotate-secret",
                api.sandbox.partner_id()
            ),
            Some(json!({"secret": "fresh-secret-1"})),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["admin_secret"], "fresh-secret-1");

    let refused = json_of(&api.list(&old_ks, 1).await);
    assert_eq!(refused["code"], "INVALID_KS");
    assert_eq!(refused["args"]["ERR_DESC"], "INVALID_STR");
    let start = api.ks(&old_secret).await;
    assert_eq!(start["code"], "START_SESSION_ERROR", "{start}");
    let new_ks = api.ks("fresh-secret-1").await;
    assert!(json_of(&api.list(&new_ks, 1).await)["totalCount"].as_i64() > Some(0));

    // In-process, too; a random secret when none is given.
    let random = api.sandbox.rotate_admin_secret(None).unwrap();
    assert_ne!(random, "fresh-secret-1");
    assert_eq!(json_of(&api.list(&new_ks, 1).await)["code"], "INVALID_KS");
    // Clearing the faults does not bring an old secret back.
    api.control("DELETE", "/_sandbox/faults", None).await;
    assert_eq!(
        api.ks(&random).await.as_str().map(|k| k.len() > 40),
        Some(true)
    );
}

#[tokio::test]
async fn bad_knobs_are_refused_with_a_reason_and_change_nothing() {
    let api = Api::new().await;
    api.control("PUT", "/_sandbox/faults/slow", Some(json!({"delay_ms": 5})))
        .await;
    let pid = api.sandbox.partner_id();
    let bad = [
        (
            "PUT",
            "/_sandbox/faults/errors".to_string(),
            json!({"status": 404}),
            "5xx",
        ),
        (
            "PUT",
            "/_sandbox/faults/errors".to_string(),
            json!({"share": 2}),
            "share",
        ),
        (
            "PUT",
            "/_sandbox/faults/slow".to_string(),
            json!({"delay_ms": 5, "jiter_ms": 1}),
            "unknown field",
        ),
        (
            "PUT",
            "/_sandbox/faults/slow".to_string(),
            json!({"delay_ms": 3_600_000}),
            "at most",
        ),
        (
            "PUT",
            "/_sandbox/faults/refuse-ks".to_string(),
            json!({"reason": "BORED"}),
            "EXPIRED",
        ),
        (
            "POST",
            format!("/_sandbox/partners/{pid}/rotate-secret"),
            json!({"secret": "a b"}),
            "spaces",
        ),
        (
            "POST",
            "/_sandbox/partners/1/rotate-secret".to_string(),
            json!({}),
            "no partner 1",
        ),
    ];
    for (method, path, body, says) in bad {
        let (status, answer) = api.control(method, &path, Some(body.clone())).await;
        assert!(matches!(status, 400 | 404), "{path} {body}: {status}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(says), "{path} {body}: {answer}");
    }
    let (_, faults) = api.control("GET", "/_sandbox/faults", None).await;
    assert_eq!(faults["slow"]["delay_ms"], 5);
    assert!(faults["errors"].is_null() && faults["refuse_ks"].is_null());
    assert_eq!(faults["rotated_secrets"], json!([]));
    let ks = api.ks(api.sandbox.admin_secret()).await;
    assert!(ks.is_string(), "the secret did not change: {ks}");
}

#[tokio::test]
async fn partner_get_names_the_account_and_a_blocked_partner_is_refused_everything() {
    let api = Api::new().await;
    let pid = api.sandbox.partner_id();
    let ks = api.ks(api.sandbox.admin_secret()).await;
    let (_, _, body) = api
        .call("partner", "get", json!({"format": 1, "ks": ks, "id": pid}))
        .await;
    let partner = json_of(&body);
    assert_eq!(partner["objectType"], "KalturaPartner");
    assert_eq!(
        (partner["id"].as_i64(), partner["status"].as_i64()),
        (Some(pid), Some(1))
    );
    assert!(!partner["name"].as_str().unwrap().is_empty());
    let (_, _, other) = api
        .call(
            "partner",
            "get",
            json!({"format": 1, "ks": ks, "id": pid + 1}),
        )
        .await;
    assert_eq!(json_of(&other)["code"], "INVALID_PARTNER_ID");

    let path = format!("/_sandbox/partners/{pid}/status");
    let (status, faults) = api
        .control("PUT", &path, Some(json!({"status": "blocked"})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(faults["partner_status"][pid.to_string()], "blocked");
    let start = api.ks(api.sandbox.admin_secret()).await;
    assert_eq!(
        start["code"], "SERVICE_FORBIDDEN_CONTENT_BLOCKED",
        "{start}"
    );
    let (_, _, body) = api
        .call(
            "partner",
            "get",
            json!({"format": 1, "ks": ks, "partnerId": pid}),
        )
        .await;
    assert_eq!(json_of(&body)["code"], "SERVICE_FORBIDDEN_CONTENT_BLOCKED");
    api.control("PUT", &path, Some(json!({"status": "fullyBlocked"})))
        .await;
    assert_eq!(
        api.ks(api.sandbox.admin_secret()).await["code"],
        "SERVICE_FORBIDDEN_FULLY_BLOCKED"
    );
    let (status, _) = api
        .control("PUT", &path, Some(json!({"status": "gone"})))
        .await;
    assert_eq!(status, 400);
    api.control("PUT", &path, Some(json!({"status": "active"})))
        .await;
    assert!(api.ks(api.sandbox.admin_secret()).await.is_string());
}

#[tokio::test]
async fn a_meeting_is_recorded_from_its_template_entry() {
    let api = Api::new().await;
    let (event, template) = api.meeting_with_template("Optics lab").await;
    let (status, recording) = api
        .control("POST", &format!("/_sandbox/events/{event}/recording"), None)
        .await;
    assert_eq!(status, 200, "{recording}");
    assert_eq!(recording["templateEntryId"], template.as_str());
    assert_eq!(
        (&recording["name"], &recording["userId"], &recording["tags"]),
        (&json!("Optics lab"), &json!("prof"), &json!("optics"))
    );
    assert_eq!(recording["status"], "2");
    assert!((60..120).contains(&recording["duration"].as_i64().unwrap()));
    // The template is a system entry: listed nowhere, the recording is.
    let ks = api.ks(api.sandbox.admin_secret()).await;
    let listed = json_of(&api.list(&ks, 1).await);
    let ids: Vec<&str> = listed["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&template.as_str()), "{ids:?}");
    assert!(ids.contains(&recording["id"].as_str().unwrap()));
    let (status, _) = api
        .control("POST", "/_sandbox/events/999999/recording", None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn every_listed_control_route_is_served() {
    let api = Api::new().await;
    let (status, info) = api.control("GET", "/_sandbox", None).await;
    assert_eq!(status, 200);
    assert_eq!(info["partner_id"], api.sandbox.partner_id());
    let routes = info["routes"].as_array().unwrap();
    assert_eq!(routes.len(), kd_sandbox_kaltura::control::ROUTES.len());
    let pid = api.sandbox.partner_id().to_string();
    let event = api.meeting_with_template("Listed").await.0.to_string();
    for route in routes {
        let path = route["path"]
            .as_str()
            .unwrap()
            .replace("{partner_id}", &pid)
            .replace("{event_id}", &event);
        for method in route["method"].as_str().unwrap().split('|') {
            let body = match (method, path.as_str()) {
                ("PUT", "/_sandbox/faults/slow") => Some(json!({"delay_ms": 1})),
                ("PUT", "/_sandbox/faults/esearch") => Some(json!({"enabled": true})),
                ("PUT", p) if p.ends_with("/status") => Some(json!({"status": "active"})),
                ("POST", p) if p.ends_with("/entries") => Some(json!({"name": "Upload"})),
                ("PUT" | "POST", _) => Some(json!({})),
                _ => None,
            };
            let (status, _) = api.control(method, &path, body).await;
            assert_eq!(status, 200, "{method} {path}");
        }
    }
}

fn tools_dir() -> PathBuf {
    std::env::var_os("KD_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_python_client_sees_kalturas_errors_under_each_fault() {
    let python = tools_dir().join("venv/bin/python");
    assert!(
        python.exists(),
        "Python venv with KalturaApiClient not found at {} — run .ci/setup",
        python.display()
    );
    let sandbox = KalturaSandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let mut command = Command::new(python);
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/python_faults.py"))
        .env("KALTURA_URL", sandbox.base_url())
        .env("KALTURA_PARTNER_ID", sandbox.partner_id().to_string())
        .env("KALTURA_ADMIN_SECRET", sandbox.admin_secret());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = json_of(stdout.lines().last().unwrap());
    assert_eq!(summary["failures"], json!([]));
    assert_eq!(summary["refused"], json!(["INVALID_KS", true]));
    assert_eq!(summary["http_503"], "client exception");
    assert!(
        summary["slow_seconds"].as_f64().unwrap() >= 0.25,
        "{summary}"
    );
    assert_eq!(summary["old_ks"], "INVALID_KS");
    assert_eq!(summary["old_secret"], "START_SESSION_ERROR");
}

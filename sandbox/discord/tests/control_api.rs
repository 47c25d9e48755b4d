//! The control API over HTTP, as the web console uses it: ids as strings, Discord error bodies,
//! permissions computed from roles, members acting, faults.

mod common;

use common::{sandbox, shard, wait_dispatch};
use serde_json::{Value, json};
use twilight_gateway::Intents;

struct Control {
    http: reqwest::Client,
    base: String,
}

impl Control {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/_sandbox{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            if text.is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap()
            },
        )
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, value) = self.call(reqwest::Method::POST, path, Some(body)).await;
        assert_eq!(status, 200, "{path}: {value}");
        value
    }

    async fn get(&self, path: &str) -> Value {
        let (status, value) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {value}");
        value
    }
}

#[tokio::test]
async fn world_setup_and_a_slash_command_over_http() {
    let sandbox = sandbox().await;
    let control = Control {
        http: common::web(),
        base: sandbox.base_url().to_owned(),
    };

    let info = control.get("").await;
    assert_eq!(info["gateway_url"], sandbox.gateway_url());
    assert!(info["routes"].as_array().unwrap().len() > 20);
    assert!(
        !info.to_string().contains(&sandbox.bot_token()),
        "no credentials over the control API"
    );

    let ann = control.post("/users", json!({"username": "ann"})).await;
    let guild = control
        .post("/guilds", json!({"name": "Physics 101"}))
        .await;
    let guild_id = guild["id"].as_str().expect("ids are strings").to_owned();
    let channel = guild["general_channel_id"].as_str().unwrap().to_owned();
    let role = control
        .post(
            &format!("/guilds/{guild_id}/roles"),
            json!({"name": "Teacher", "permissions": 8}),
        )
        .await;
    let (status, member) = control
        .call(
            reqwest::Method::PUT,
            &format!("/guilds/{guild_id}/members/{}", ann["id"].as_str().unwrap()),
            Some(json!({"roles": [role["id"]]})),
        )
        .await;
    assert_eq!(status, 200, "{member}");
    let perms = control
        .get(&format!(
            "/guilds/{guild_id}/members/{}/permissions",
            ann["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        perms["permissions"],
        kd_sandbox_discord::permission::ALL.to_string()
    );

    // The app registers a command and is connected; a member runs it over HTTP.
    let auth = format!("Bot {}", sandbox.bot_token());
    let put = control.http.put(format!("{}/api/v10/applications/{}/commands", sandbox.base_url(), sandbox.application_id())).header("authorization", &auth).json(&json!([{"name": "ping", "description": "Ping", "options": [{"type": 4, "name": "n", "description": "N"}]}])).send().await.unwrap();
    assert_eq!(put.status(), 200);
    assert_eq!(control.get("/commands").await[0]["name"], "ping");
    let mut shard = shard(&sandbox, Intents::GUILDS);
    wait_dispatch(&mut shard, "GUILD_CREATE").await;
    let invoked = control.post("/interactions/command", json!({"guild_id": guild_id, "channel_id": channel, "user_id": ann["id"], "name": "ping", "options": [{"name": "n", "value": 3}]})).await;
    let dispatch = wait_dispatch(&mut shard, "INTERACTION_CREATE").await;
    assert_eq!(dispatch.d["id"], invoked["id"]);
    assert_eq!(
        dispatch.d["data"]["options"],
        json!([{"name": "n", "type": 4, "value": 3}])
    );
    assert_eq!(
        dispatch.d["member"]["permissions"],
        kd_sandbox_discord::permission::ALL.to_string()
    );

    let callback = control
        .http
        .post(format!(
            "{}/api/v10/interactions/{}/{}/callback",
            sandbox.base_url(),
            invoked["id"].as_str().unwrap(),
            invoked["token"].as_str().unwrap()
        ))
        .json(&json!({"type": 4, "data": {"content": "pong 3"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 204);
    let view = control
        .get(&format!(
            "/interactions/{}?wait_ms=1000",
            invoked["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(view["original"]["content"], "pong 3");
    let messages = control.get(&format!("/channels/{channel}/messages")).await;
    assert_eq!(messages[0]["content"], "pong 3");
    let all = control.get("/interactions").await;
    assert_eq!(all[0]["id"], invoked["id"]);
    assert_eq!(all[0]["callback"]["type"], 4);

    // Mistakes get Discord-shaped errors.
    let (status, error) = control.call(reqwest::Method::POST, "/interactions/command", Some(json!({"guild_id": guild_id, "channel_id": channel, "user_id": ann["id"], "name": "nope"}))).await;
    assert_eq!(status, 400);
    assert!(error["message"].as_str().unwrap().contains("nope"));
    let (status, error) = control
        .call(
            reqwest::Method::POST,
            "/guilds/1/channels",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!((status, error["code"].as_u64()), (404, Some(10004)));
}

#[tokio::test]
async fn fault_knobs_over_http() {
    let sandbox = sandbox().await;
    let control = Control {
        http: common::web(),
        base: sandbox.base_url().to_owned(),
    };
    control.post("/guilds", json!({"name": "g"})).await;
    let mut shard = shard(&sandbox, Intents::GUILDS);
    wait_dispatch(&mut shard, "GUILD_CREATE").await;

    assert_eq!(
        control.post("/faults/gateway/reconnect", json!({})).await["connections"],
        1
    );
    wait_dispatch(&mut shard, "RESUMED").await;
    assert_eq!(
        control.post("/faults/gateway/drop", json!({})).await["connections"],
        1
    );
    wait_dispatch(&mut shard, "RESUMED").await;
    let sessions = control.get("/gateway/sessions").await;
    assert_eq!(sessions.as_array().unwrap().len(), 1);
    assert_eq!(sessions[0]["connected"], true);

    let (status, _) = control
        .call(
            reqwest::Method::POST,
            "/faults/rate-limit-storm",
            Some(json!({"count": 1, "retry_after_ms": 250})),
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = control
        .call(
            reqwest::Method::POST,
            "/faults/latency",
            Some(json!({"ms": 150})),
        )
        .await;
    assert_eq!(status, 204);
    let auth = format!("Bot {}", sandbox.bot_token());
    let url = format!("{}/api/v10/users/@me", sandbox.base_url());
    let started = std::time::Instant::now();
    let stormed = control
        .http
        .get(&url)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(stormed.status(), 429);
    assert_eq!(stormed.headers()["x-ratelimit-reset-after"], "0.250");
    let ok = control
        .http
        .get(&url)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(300),
        "latency applied to both requests"
    );
    let requests = control.get("/requests").await;
    let statuses: Vec<u64> = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == "/api/v10/users/@me")
        .map(|r| r["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [429, 200]);
}

/// Every route the help text lists is served (with placeholder ids: a Discord error is fine,
/// an unrouted path or method is not).
#[tokio::test]
async fn every_listed_route_is_served() {
    let sandbox = sandbox().await;
    let http = common::web();
    for (methods, path, _) in kd_sandbox_discord::control::ROUTES {
        let path = path.split('?').next().unwrap();
        let concrete: String = path
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "1"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        for method in methods.split('|') {
            let method: reqwest::Method = method.parse().unwrap();
            let response = http
                .request(method.clone(), format!("{}{concrete}", sandbox.base_url()))
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            assert_ne!(status, 405, "{method} {path}");
            assert!(
                !(status == 404 && body.is_empty()),
                "{method} {path} is not routed"
            );
        }
    }
}

#[tokio::test]
async fn browsers_on_other_origins_may_call_the_control_api() {
    let sandbox = sandbox().await;
    let preflight = common::web()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/_sandbox/guilds", sandbox.base_url()),
        )
        .header("origin", "http://127.0.0.1:5173")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
}

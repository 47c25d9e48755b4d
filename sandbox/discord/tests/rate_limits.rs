//! A burst over the limits gets 429s exactly where Discord gives them: at a route bucket's limit
//! (per channel), at the 50th request of a second globally, and never on interaction callbacks.

mod common;

use common::{guild_with_member, sandbox};
use kd_sandbox_discord::NewCommandInteraction;
use reqwest::Response;
use serde_json::{Value, json};

fn header<'a>(response: &'a Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("missing {name}"))
}

#[tokio::test]
async fn message_bucket_allows_five_per_channel_then_429() {
    let sandbox = sandbox().await;
    let (guild, _) = guild_with_member(&sandbox);
    let other = sandbox
        .create_channel(
            guild.id,
            kd_sandbox_discord::NewChannel {
                name: "news".into(),
                kind: 0,
            },
        )
        .unwrap();
    let http = common::web();
    let auth = format!("Bot {}", sandbox.bot_token());
    let post = |channel: u64| {
        http.post(format!(
            "{}/api/v10/channels/{channel}/messages",
            sandbox.base_url()
        ))
        .header("authorization", &auth)
        .json(&json!({"content": "x"}))
        .send()
    };

    let mut bucket = None;
    for expected_remaining in ["4", "3", "2", "1", "0"] {
        let response = post(guild.general_channel_id).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(header(&response, "x-ratelimit-limit"), "5");
        assert_eq!(
            header(&response, "x-ratelimit-remaining"),
            expected_remaining
        );
        assert_eq!(header(&response, "x-ratelimit-scope"), "user");
        let reset_after: f64 = header(&response, "x-ratelimit-reset-after")
            .parse()
            .unwrap();
        assert!(reset_after > 0.0 && reset_after <= 5.0);
        let id = header(&response, "x-ratelimit-bucket").to_owned();
        assert_eq!(
            bucket.get_or_insert(id.clone()),
            &id,
            "one bucket for the route"
        );
    }
    let limited = post(guild.general_channel_id).await.unwrap();
    assert_eq!(limited.status(), 429);
    assert_eq!(header(&limited, "x-ratelimit-scope"), "user");
    assert_eq!(header(&limited, "x-ratelimit-remaining"), "0");
    let retry_after_header: u64 = header(&limited, "retry-after").parse().unwrap();
    assert!((1..=5).contains(&retry_after_header));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["global"], false);
    let retry_after = body["retry_after"].as_f64().unwrap();
    assert!(retry_after > 0.0 && retry_after <= 5.0, "{body}");

    // Another channel is another bucket instance: still allowed.
    let other_channel = post(other.id).await.unwrap();
    assert_eq!(other_channel.status(), 200);
    assert_eq!(header(&other_channel, "x-ratelimit-remaining"), "4");
    assert_eq!(
        sandbox.messages(guild.general_channel_id).unwrap().len(),
        5,
        "the limited request did nothing"
    );
}

#[tokio::test]
async fn global_limit_is_fifty_per_second_and_interaction_callbacks_are_exempt() {
    let sandbox = sandbox().await;
    let (guild, ann) = guild_with_member(&sandbox);
    let http = common::web();
    let auth = format!("Bot {}", sandbox.bot_token());
    let api = format!("{}/api/v10", sandbox.base_url());
    let put = http
        .put(format!(
            "{api}/applications/{}/guilds/{}/commands",
            sandbox.application_id(),
            guild.id
        ))
        .header("authorization", &auth)
        .json(&json!([{"name": "ping", "description": "Ping"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(1050)).await;
    // A concurrent burst of 60 over several routes (so no route bucket binds): exactly 50 pass.
    let routes = [
        format!("{api}/users/@me"),
        format!("{api}/guilds/{}", guild.id),
        format!("{api}/guilds/{}/roles", guild.id),
        format!("{api}/gateway/bot"),
    ];
    let burst = (0..60).map(|i| {
        http.get(&routes[i % routes.len()])
            .header("authorization", &auth)
            .send()
    });
    let responses: Vec<Response> = futures_util::future::join_all(burst)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let passed = responses.iter().filter(|r| r.status() == 200).count();
    let limited: Vec<&Response> = responses.iter().filter(|r| r.status() == 429).collect();
    assert_eq!((passed, limited.len()), (50, 10));
    for response in &limited {
        assert_eq!(header(response, "x-ratelimit-global"), "true");
        assert_eq!(header(response, "x-ratelimit-scope"), "global");
    }
    let limited = http
        .get(&routes[0])
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), 429);
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["global"], true);
    assert!(body["retry_after"].as_f64().unwrap() <= 1.0);

    // Interaction callbacks and interaction webhooks are not bound to the bot's global limit.
    let spec = NewCommandInteraction {
        guild_id: guild.id,
        channel_id: guild.general_channel_id,
        user_id: ann,
        name: "ping".into(),
        ..NewCommandInteraction::default()
    };
    let invoked = sandbox.invoke_command(spec).unwrap();
    let callback = http
        .post(format!(
            "{api}/interactions/{}/{}/callback",
            invoked.id, invoked.token
        ))
        .json(&json!({"type": 4, "data": {"content": "pong"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 204);
    assert!(
        callback.headers().get("x-ratelimit-bucket").is_none(),
        "callbacks carry no bucket"
    );
    let followup = http
        .post(format!(
            "{api}/webhooks/{}/{}",
            sandbox.application_id(),
            invoked.token
        ))
        .json(&json!({"content": "more"}))
        .send()
        .await
        .unwrap();
    assert_eq!(followup.status(), 200);

    // An unknown token gets Discord's 401 body.
    let unknown = http
        .get(&routes[0])
        .header("authorization", "Bot nope")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 401);
    let body: Value = unknown.json().await.unwrap();
    assert_eq!(body, json!({"message": "401: Unauthorized", "code": 0}));

    tokio::time::sleep(std::time::Duration::from_millis(1050)).await;
    let after = http
        .get(&routes[0])
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 200, "the window reset after a second");
}

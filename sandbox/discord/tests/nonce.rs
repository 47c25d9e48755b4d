//! `nonce` and `enforce_nonce` on `POST /channels/{id}/messages`: unmodified twilight-http sends
//! integer nonces (it has no `enforce_nonce`), raw requests cover the enforced repeat.

mod common;

use common::{guild_with_member, http, sandbox, web};
use serde_json::{Value, json};
use twilight_model::id::Id;

async fn post(
    sandbox: &kd_sandbox_discord::DiscordSandbox,
    channel: u64,
    body: Value,
) -> (u16, Value) {
    let answer = web()
        .post(format!(
            "{}/api/v10/channels/{channel}/messages",
            sandbox.base_url()
        ))
        .header("authorization", format!("Bot {}", sandbox.bot_token()))
        .json(&body)
        .send()
        .await
        .unwrap();
    (answer.status().as_u16(), answer.json().await.unwrap())
}

#[tokio::test]
async fn twilight_nonce_without_enforcement_creates_each_message() {
    let sandbox = sandbox().await;
    let (guild, _) = guild_with_member(&sandbox);
    let client = http(&sandbox);
    let channel = Id::new(guild.general_channel_id);
    for text in ["one", "two"] {
        client
            .create_message(channel)
            .content(text)
            .nonce(7)
            .await
            .unwrap()
            .model()
            .await
            .unwrap();
    }
    let stored = sandbox.messages(guild.general_channel_id).unwrap();
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|m| m["nonce"] == 7), "{stored:?}");
}

#[tokio::test]
async fn an_enforced_repeat_returns_the_earlier_message_and_creates_nothing() {
    let sandbox = sandbox().await;
    let (guild, _) = guild_with_member(&sandbox);
    let channel = guild.general_channel_id;
    let body = json!({"content": "lecture ready", "nonce": "k-0000000000000000000001", "enforce_nonce": true});
    let (status, first) = post(&sandbox, channel, body.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["nonce"], "k-0000000000000000000001");
    let (status, again) = post(&sandbox, channel, body).await;
    assert_eq!(status, 200);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(sandbox.messages(channel).unwrap().len(), 1);

    // The same nonce without enforce_nonce is a new message.
    let (_, loose) = post(
        &sandbox,
        channel,
        json!({"content": "x", "nonce": "k-0000000000000000000001"}),
    )
    .await;
    assert_ne!(loose["id"], first["id"]);
    assert_eq!(sandbox.messages(channel).unwrap().len(), 2);
}

#[tokio::test]
async fn a_nonce_longer_than_25_characters_is_an_invalid_form_body() {
    let sandbox = sandbox().await;
    let (guild, _) = guild_with_member(&sandbox);
    let channel = guild.general_channel_id;
    let (status, body) = post(
        &sandbox,
        channel,
        json!({"content": "x", "nonce": "n".repeat(26), "enforce_nonce": true}),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], 50035);
    assert_eq!(body["message"], "Invalid Form Body");
    assert_eq!(
        body["errors"]["nonce"]["_errors"][0]["code"],
        "BASE_TYPE_MAX_LENGTH"
    );
    assert!(sandbox.messages(channel).unwrap().is_empty());
}

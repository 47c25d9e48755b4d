//! Unmodified twilight-http against the sandbox: current user, guild data, messages, commands,
//! Discord's error bodies, and backing off on 429s.

mod common;

use common::{api_code, guild_with_member, http, sandbox};
use std::time::{Duration, Instant};
use twilight_model::application::command::{Command, CommandType};
use twilight_model::id::Id;

fn command(json: serde_json::Value) -> Command {
    serde_json::from_value(json).expect("valid twilight command")
}

#[tokio::test]
async fn reads_the_current_user_guild_roles_and_members() {
    let sandbox = sandbox().await;
    let (guild, ann) = guild_with_member(&sandbox);
    let client = http(&sandbox);

    let me = client.current_user().await.unwrap().model().await.unwrap();
    assert_eq!(me.id.get(), sandbox.bot_user_id());
    assert!(me.bot);

    let roles = client
        .roles(Id::new(guild.id))
        .await
        .unwrap()
        .model()
        .await
        .unwrap();
    assert_eq!(roles.len(), 2);
    assert_eq!(roles[0].name, "@everyone");

    let member = client
        .guild_member(Id::new(guild.id), Id::new(ann))
        .await
        .unwrap()
        .model()
        .await
        .unwrap();
    assert_eq!(member.user.name, "ann");

    let err = client
        .guild_member(Id::new(guild.id), Id::new(12345))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 10007);
    let err = client.roles(Id::new(999)).await.unwrap_err();
    assert_eq!(api_code(&err), 10004);
}

#[tokio::test]
async fn sends_messages_with_embeds_and_components() {
    let sandbox = sandbox().await;
    let (guild, ann) = guild_with_member(&sandbox);
    let client = http(&sandbox);
    let channel = Id::new(guild.general_channel_id);

    let embed = serde_json::from_value(
        serde_json::json!({"type": "rich", "title": "Lecture 1", "description": "ready"}),
    )
    .unwrap();
    let row = serde_json::from_value(serde_json::json!({"type": 1, "components": [{"type": 2, "style": 1, "label": "Join", "custom_id": "join"}]})).unwrap();
    let content = format!("hi <@{ann}>");
    let sent = client
        .create_message(channel)
        .content(&content)
        .embeds(&[embed])
        .components(&[row])
        .await
        .unwrap()
        .model()
        .await
        .unwrap();
    assert_eq!(sent.content, content);
    assert_eq!(sent.mentions.len(), 1);
    assert_eq!(sent.embeds[0].title.as_deref(), Some("Lecture 1"));

    let stored = sandbox.messages(guild.general_channel_id).unwrap();
    assert_eq!(stored[0]["content"], content);
    assert_eq!(
        stored[0]["components"][0]["components"][0]["custom_id"],
        "join"
    );
    assert_eq!(stored[0]["author"]["id"], sandbox.bot_user_id().to_string());

    let edited = client
        .update_message(channel, sent.id)
        .content(Some("edited"))
        .await
        .unwrap()
        .model()
        .await
        .unwrap();
    assert_eq!(edited.content, "edited");
    assert!(edited.edited_timestamp.is_some());

    let err = client
        .create_message(Id::new(1))
        .content("x")
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 10003);
}

#[tokio::test]
async fn registers_global_and_guild_commands() {
    let sandbox = sandbox().await;
    let (guild, _) = guild_with_member(&sandbox);
    let client = http(&sandbox);
    let interaction = client.interaction(Id::new(sandbox.application_id()));

    let start = command(serde_json::json!({
        "type": 1, "name": "kaltura-start", "description": "Start a meeting", "version": "1",
        "options": [{"type": 3, "name": "title", "description": "Meeting title", "required": true}],
    }));
    let global = interaction
        .set_global_commands(&[start])
        .await
        .unwrap()
        .models()
        .await
        .unwrap();
    assert_eq!(global.len(), 1);
    assert_eq!(global[0].kind, CommandType::ChatInput);
    assert!(global[0].id.is_some());
    assert_eq!(global[0].options[0].name, "title");

    let search = command(
        serde_json::json!({"type": 1, "name": "kaltura-search", "description": "Search videos", "version": "1", "options": []}),
    );
    let guild_commands = interaction
        .set_guild_commands(Id::new(guild.id), &[search])
        .await
        .unwrap()
        .models()
        .await
        .unwrap();
    assert_eq!(guild_commands[0].guild_id.map(Id::get), Some(guild.id));

    let listed = interaction
        .global_commands()
        .await
        .unwrap()
        .models()
        .await
        .unwrap();
    assert_eq!(listed, global);
    assert_eq!(
        sandbox.commands(Some(guild.id)).unwrap()[0]["name"],
        "kaltura-search"
    );
    assert_eq!(sandbox.commands(None).unwrap()[0]["name"], "kaltura-start");

    let bad = command(
        serde_json::json!({"type": 1, "name": "Bad Name", "description": "x", "version": "1", "options": []}),
    );
    let err = interaction.set_global_commands(&[bad]).await.unwrap_err();
    assert_eq!(api_code(&err), 50035);
}

#[tokio::test]
async fn backs_off_on_429_and_retries_after_retry_after() {
    let sandbox = sandbox().await;
    let client = http(&sandbox);
    sandbox.rate_limit_storm(2, Duration::from_millis(600));
    let started = Instant::now();
    let me = client.current_user().await.unwrap().model().await.unwrap();
    assert_eq!(me.id.get(), sandbox.bot_user_id());
    assert!(
        started.elapsed() >= Duration::from_millis(1100),
        "waited {:?}",
        started.elapsed()
    );

    let attempts: Vec<_> = sandbox
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v10/users/@me")
        .collect();
    assert_eq!(
        attempts.iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 429, 200]
    );
    for pair in attempts.windows(2) {
        assert!(
            pair[1].at_ms - pair[0].at_ms >= 550,
            "retried too early: {attempts:?}"
        );
    }
}

/// twilight reads the bucket headers and waits when a bucket is empty instead of hitting a 429.
#[tokio::test]
async fn respects_bucket_headers_without_hitting_429() {
    let sandbox = sandbox().await;
    let (guild, _) = guild_with_member(&sandbox);
    let client = http(&sandbox);
    let started = Instant::now();
    for i in 0..6 {
        client
            .create_message(Id::new(guild.general_channel_id))
            .content(&format!("n{i}"))
            .await
            .unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(4500),
        "the sixth message waited for the 5 s bucket reset"
    );
    assert!(sandbox.requests().iter().all(|r| r.status != 429));
    assert_eq!(sandbox.messages(guild.general_channel_id).unwrap().len(), 6);
}

/// Channel overwrites decide what the bot may do where: 50013 without SEND_MESSAGES, 50001
/// without VIEW_CHANNEL, and a role overwrite can give back what `@everyone` lost.
#[tokio::test]
async fn channel_overwrites_gate_the_bot() {
    use kd_sandbox_discord::{OverwriteSpec, permission};
    let sandbox = sandbox().await;
    let (guild, _) = guild_with_member(&sandbox);
    let client = http(&sandbox);
    let channel = sandbox
        .create_channel(
            guild.id,
            kd_sandbox_discord::NewChannel {
                name: "recordings".into(),
                kind: 0,
            },
        )
        .unwrap();
    let deny = |deny| OverwriteSpec {
        kind: 0,
        allow: 0,
        deny,
    };

    sandbox
        .set_channel_overwrite(
            channel.id,
            guild.everyone_role_id,
            deny(permission::SEND_MESSAGES),
        )
        .unwrap();
    let err = client
        .create_message(Id::new(channel.id))
        .content("x")
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 50013);

    let allow = OverwriteSpec {
        kind: 0,
        allow: permission::SEND_MESSAGES,
        deny: 0,
    };
    let updated = sandbox
        .set_channel_overwrite(channel.id, guild.bot_role_id, allow)
        .unwrap();
    assert_eq!(updated.overwrites.len(), 2);
    client
        .create_message(Id::new(channel.id))
        .content("allowed again")
        .await
        .unwrap();
    let fetched = client
        .channel(Id::new(channel.id))
        .await
        .unwrap()
        .model()
        .await
        .unwrap();
    assert_eq!(fetched.permission_overwrites.map(|o| o.len()), Some(2));

    sandbox
        .set_channel_overwrite(
            channel.id,
            guild.everyone_role_id,
            deny(permission::VIEW_CHANNEL),
        )
        .unwrap();
    let err = client
        .create_message(Id::new(channel.id))
        .content("x")
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 50001);
}

#[tokio::test]
async fn lists_members_a_page_at_a_time_only_with_the_members_intent_approved() {
    let sandbox = sandbox().await;
    let (guild, ann) = guild_with_member(&sandbox);
    let client = http(&sandbox);
    let first = client
        .guild_members(Id::new(guild.id))
        .limit(1)
        .await
        .unwrap()
        .models()
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    let rest = client
        .guild_members(Id::new(guild.id))
        .after(first[0].user.id)
        .limit(1000)
        .await
        .unwrap()
        .models()
        .await
        .unwrap();
    let mut ids: Vec<u64> = first.iter().chain(&rest).map(|m| m.user.id.get()).collect();
    ids.sort();
    let mut expected = vec![guild.owner_id, ann, sandbox.bot_user_id()];
    expected.sort();
    assert_eq!(ids, expected, "every member once, in id order across pages");

    let unapproved = common::start(kd_sandbox_discord::Config {
        privileged_intents: 0,
        ..kd_sandbox_discord::Config::default()
    })
    .await;
    let (guild, _) = guild_with_member(&unapproved);
    let err = http(&unapproved)
        .guild_members(Id::new(guild.id))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 50001, "Missing Access");
}

//! `/kaltura-notify test rule:<name>` end to end: registered only with notifications on, for
//! Manage Server alone; a sample of the rule's message in the rule's channel, rendered and sent
//! as delivery sends it; clear answers for an unknown rule (another guild's rules stay unseen),
//! a missing channel and a channel the bot may not post in.

use kd_core::command::{Command, NotifyAction};
use kd_core::config::RuleRuntime;
use kd_crds::notification::Event;
use kd_sandbox_discord::{OverwriteSpec, permission};
use kd_tests::{MANAGE_GUILD, World, content, notification_rule};
use serde_json::{Value, json};

fn rule(name: &str, channel: &str) -> RuleRuntime {
    let mut rule = notification_rule(name, channel);
    rule.spec.events = vec![Event::RecordingReady, Event::EntryReady];
    // A sample is sent whatever the filters say.
    rule.spec.filters.tags = vec!["chemistry".into()];
    rule.spec.mention_roles = vec!["Teacher".into()];
    rule.spec.max_per_minute = 1;
    rule
}

async fn test(world: &World, user: u64, rule: &str) -> String {
    let answer = world
        .run_sub(
            user,
            Command::Notify.name(),
            NotifyAction::Test.name(),
            &[("rule", json!(rule))],
        )
        .await;
    content(&answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_test_posts_a_sample_in_the_rules_channel_or_says_why_not() {
    let world = World::start().await;
    let notify = Command::Notify.name().to_string();
    assert!(
        !world.command_names().contains(&notify),
        "notifications are off"
    );

    let recordings = world.text_channel("recordings");
    let locked = world.text_channel("staff");
    world
        .discord
        .set_channel_overwrite(
            locked,
            world.discord.bot_user_id(),
            OverwriteSpec {
                kind: 1,
                allow: 0,
                deny: permission::SEND_MESSAGES,
            },
        )
        .unwrap();
    let guild_id = world.guild_key();
    world.reconfigure(|c| {
        let mut other = c.guilds[&guild_id].clone();
        other.notification_rules = vec![rule("other-guilds-rule", "recordings")];
        c.guilds.insert("1999".into(), other);
        let guild = c.guilds.get_mut(&guild_id).unwrap();
        guild.features.notifications = true;
        guild.notification_rules = vec![
            rule("lectures", "recordings"),
            rule("staff", &locked.to_string()),
            rule("gone", "no-such-channel"),
        ];
    });
    world.wait_commands(|names| names.contains(&notify)).await;
    let registered = world.discord.commands(Some(world.guild.id)).unwrap();
    let command = registered.iter().find(|c| c["name"] == notify).unwrap();
    assert_eq!(
        command["default_member_permissions"],
        MANAGE_GUILD.to_string()
    );

    // Discord keeps members without Manage Server from running it.
    let spec = world.spec(
        world.student,
        &notify,
        vec![json!({"name": "test", "options": [{"name": "rule", "value": "lectures"}]})],
    );
    assert_eq!(world.discord.invoke_command(spec).unwrap_err().code, 50013);

    let offered = world
        .autocomplete_sub(world.admin, &notify, "test", "rule", "LEC")
        .await;
    assert_eq!(
        offered,
        [("lectures".to_string(), "kaltura/lectures".to_string())]
    );

    assert_eq!(
        test(&world, world.admin, "kaltura/lectures").await,
        format!("Sent a sample of the rule `kaltura/lectures` to <#{recordings}>.")
    );
    let posted = world.discord.messages(recordings).unwrap();
    assert_eq!(posted.len(), 1, "{posted:?}");
    let sample = &posted[0];
    let teacher = world
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
        sample["content"],
        format!(
            "<@&{teacher}> Sample video is ready (12:34)\n-# A test of the notification rule `lectures` (recordingReady), sent by cyd."
        )
    );
    assert_eq!(sample["mention_roles"], json!([teacher]));
    assert_eq!(sample["mention_everyone"], false);
    assert_eq!(sample["embeds"][0]["title"], "Sample video");
    assert_eq!(
        sample["components"][0]["components"][0]["custom_id"],
        "kd:watch:0_sample"
    );
    assert_eq!(sample["nonce"].as_str().unwrap().len(), 25);

    // The rule allows one message a minute; a test is not held back by it, nor counted.
    test(&world, world.admin, "lectures").await;
    assert_eq!(world.discord.messages(recordings).unwrap().len(), 2);
    assert!(world.store.rule_counts().await.unwrap().is_empty());

    let unknown = test(&world, world.admin, "other-guilds-rule").await;
    assert_eq!(
        unknown,
        "This server has no notification rule `other-guilds-rule`. Its rules: `lectures`, `staff`, `gone`."
    );
    assert_eq!(
        test(&world, world.admin, "staff").await,
        format!(
            "The bot may not post in <#{locked}> (Discord answered 403: Missing Permissions (50013)): let it view the channel and send messages there."
        )
    );
    assert_eq!(
        test(&world, world.admin, "gone").await,
        "The sample of `kaltura/gone` was not sent: the guild has no channel named \"no-such-channel\". Check the rule's channel."
    );
    let locked_messages: Vec<Value> = world.discord.messages(locked).unwrap();
    assert!(locked_messages.is_empty());

    // Notifications off again: the command goes, and the gate refuses it meanwhile.
    world.reconfigure(|c| {
        c.guilds.get_mut(&guild_id).unwrap().features.notifications = false;
    });
    world.wait_commands(|names| !names.contains(&notify)).await;
}

//! Video search with pagination and sharing, Watch Together launch and its fallback, and
//! `/kaltura-config` with Discord-side overrides that change the guild's commands live.

use kd_core::command::Command;
use kd_tests::{MANAGE_GUILD, World, buttons, content, message_of};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_pages_share_and_watch() {
    let world = World::start().await;
    let found = world
        .run(
            world.student,
            Command::VideoSearch.name(),
            &[("query", json!("and")), ("limit", json!(2))],
        )
        .await;
    let message = message_of(&found);
    let first_page: Vec<String> = message["embeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(first_page.len(), 2, "{message}");
    assert!(content(&found).contains("page 1 of"), "{}", content(&found));
    assert!(
        message["embeds"][0]["fields"][0]["value"]
            .as_str()
            .unwrap()
            .contains(':'),
        "a duration"
    );
    let ids = buttons(&found);
    assert!(ids.iter().any(|b| b.starts_with("kd:watch:")), "{ids:?}");
    let next = ids
        .iter()
        .find(|b| b.starts_with("kd:page:2:2:"))
        .expect("a Next button")
        .clone();

    let page_two = world.press(world.student, &found, &next).await;
    assert_eq!(
        page_two.callback.as_ref().unwrap()["type"],
        7,
        "pages replace the message"
    );
    let second_page: Vec<String> = message_of(&page_two)["embeds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(second_page.len(), 2);
    assert_ne!(first_page, second_page);
    assert!(
        buttons(&page_two)
            .iter()
            .any(|b| b.starts_with("kd:page:1:2:")),
        "a Previous button"
    );

    // Paging replaced the message: its buttons are now page two's.
    let ids = buttons(&page_two);
    let share = ids
        .iter()
        .find(|b| b.starts_with("kd:sharevideo:"))
        .unwrap();
    let shared = world.press(world.student, &page_two, share).await;
    let text = content(&shared);
    assert!(text.starts_with("bob shared **"), "{text}");
    assert!(
        text.contains("/index.php/extwidget/preview/partner_id/"),
        "{text}"
    );

    let watch = ids.iter().find(|b| b.starts_with("kd:watch:")).unwrap();
    let entry = watch.strip_prefix("kd:watch:").unwrap();
    let launched = world.press(world.student, &page_two, watch).await;
    assert_eq!(launched.callback.as_ref().unwrap()["type"], 12);
    let queued = world
        .store
        .queued_watch(&world.guild.general_channel_id.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(queued.entry_id, entry);

    let suggestions = world
        .autocomplete(world.student, Command::Watch.name(), "entry", "Momentum")
        .await;
    assert_eq!(suggestions.len(), 1, "{suggestions:?}");
    assert_eq!(
        suggestions[0].0,
        "PHYS 101 Lecture 4: Momentum and Collisions"
    );
    let direct = world
        .run(
            world.student,
            Command::Watch.name(),
            &[("entry", json!(suggestions[0].1))],
        )
        .await;
    assert_eq!(direct.callback.as_ref().unwrap()["type"], 12);

    let missing = world
        .run(
            world.student,
            Command::Watch.name(),
            &[("entry", json!("0_nothere"))],
        )
        .await;
    assert_eq!(content(&missing), "That video does not exist (any more).");

    world.reconfigure(|c| c.application.activity_enabled = false);
    let fallback = world
        .run(
            world.student,
            Command::Watch.name(),
            &[("entry", json!(suggestions[0].1))],
        )
        .await;
    assert!(
        content(&fallback).contains("Watch Together is not enabled"),
        "{}",
        content(&fallback)
    );
    let url = message_of(&fallback)["components"][0]["components"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        url.contains(&format!("/entry_id/{}/", suggestions[0].1)),
        "{url}"
    );

    let nothing = world
        .run(
            world.student,
            Command::VideoSearch.name(),
            &[("query", json!("zzzqqq"))],
        )
        .await;
    assert_eq!(content(&nothing), "Nothing found for “zzzqqq”.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_overrides_are_delegated_shown_and_change_commands() {
    let world = World::start().await;
    // Discord itself keeps members without Manage Server from running it (default_member_permissions).
    let spec = world.spec(
        world.student,
        Command::Config.name(),
        vec![json!({"name": "view", "options": []})],
    );
    let refused = world.discord.invoke_command(spec).unwrap_err();
    assert_eq!(refused.code, 50013, "{refused:?}");

    let view = world
        .run_sub(world.admin, Command::Config.name(), "view", &[])
        .await;
    let text = content(&view);
    assert!(
        text.contains("`features.watchTogether` = true (GuildConfig)"),
        "{text}"
    );
    assert!(
        text.contains("`features.meetings` = true (default)"),
        "{text}"
    );
    assert!(
        text.contains("`permissions.kaltura-start` = Teacher (GuildConfig) 🔒"),
        "{text}"
    );

    let keys = world
        .autocomplete_sub(
            world.admin,
            Command::Config.name(),
            "set",
            "key",
            "features.v",
        )
        .await;
    assert_eq!(
        keys,
        [(
            "features.videoSearch".to_string(),
            "features.videoSearch".to_string()
        )]
    );

    let locked = world
        .run_sub(
            world.admin,
            Command::Config.name(),
            "set",
            &[
                ("key", json!("permissions.kaltura-end")),
                ("value", json!("Teacher")),
            ],
        )
        .await;
    assert!(
        content(&locked).contains("managed in Git"),
        "{}",
        content(&locked)
    );

    let set = world
        .run_sub(
            world.admin,
            Command::Config.name(),
            "set",
            &[
                ("key", json!("features.videoSearch")),
                ("value", json!("off")),
            ],
        )
        .await;
    assert!(content(&set).contains("is now `off`"), "{}", content(&set));
    world
        .wait_commands(|names| !names.contains(&Command::VideoSearch.name().to_string()))
        .await;
    let view = world
        .run_sub(world.admin, Command::Config.name(), "view", &[])
        .await;
    assert!(
        content(&view).contains("`features.videoSearch` = false (Discord override)"),
        "{}",
        content(&view)
    );

    // The override survives a restart of the bot: it lives in the store.
    assert_eq!(
        world.store.overrides(&world.guild_key()).await.unwrap()["features.videoSearch"],
        "off"
    );

    let reset = world
        .run_sub(
            world.admin,
            Command::Config.name(),
            "reset",
            &[("key", json!("features.videoSearch"))],
        )
        .await;
    assert_eq!(
        content(&reset),
        "`features.videoSearch` is back to the GuildConfig's value."
    );
    world
        .wait_commands(|names| names.contains(&Command::VideoSearch.name().to_string()))
        .await;
    let again = world
        .run_sub(
            world.admin,
            Command::Config.name(),
            "reset",
            &[("key", json!("features.videoSearch"))],
        )
        .await;
    assert_eq!(
        content(&again),
        "`features.videoSearch` has no override to reset."
    );
    assert_eq!(MANAGE_GUILD, 32);
}

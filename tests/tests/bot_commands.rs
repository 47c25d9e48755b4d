//! The bot end to end: every command, button and autocomplete through the real twilight
//! gateway and HTTP clients, against the Discord and Kaltura sandboxes.

use kd_core::command::Command;
use kd_tests::{MANAGE_GUILD, World, buttons, content, message_of};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_follow_the_guild_features() {
    let world = World::start().await;
    let names = world.command_names();
    for expected in [
        Command::Start.name(),
        Command::Join.name(),
        Command::List.name(),
        Command::End.name(),
        Command::VideoSearch.name(),
        Command::Watch.name(),
        Command::Config.name(),
    ] {
        assert!(
            names.contains(&expected.to_string()),
            "{expected} missing from {names:?}"
        );
    }
    // Notifications are off in this world: no `/kaltura-notify` (see bot_notify.rs).
    assert!(!names.contains(&Command::Notify.name().to_string()));
    let config = world.discord.commands(Some(world.guild.id)).unwrap();
    let manage = config
        .iter()
        .find(|c| c["name"] == Command::Config.name())
        .unwrap();
    assert_eq!(
        manage["default_member_permissions"],
        MANAGE_GUILD.to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meetings_start_list_join_share_and_end() {
    let world = World::start().await;

    let denied = world
        .run(
            world.student,
            Command::Start.name(),
            &[("type", json!("meeting")), ("title", json!("Office hours"))],
        )
        .await;
    assert_eq!(
        content(&denied),
        "You need one of these roles to use `/kaltura-start`: Teacher."
    );
    assert!(
        world.kaltura.schedule_events().is_empty(),
        "a denied start creates nothing"
    );

    let started = world
        .run(
            world.teacher,
            Command::Start.name(),
            &[("type", json!("webinar")), ("title", json!("Optics"))],
        )
        .await;
    let text = content(&started);
    assert!(text.starts_with("Started the webinar **Optics**"), "{text}");
    assert_eq!(message_of(&started)["flags"], 64, "ephemeral");
    let ids = buttons(&started);
    assert_eq!(ids.len(), 3, "{ids:?}");
    let meeting_id = ids[0].strip_prefix("kd:join:").unwrap().to_string();
    assert_eq!(world.kaltura.schedule_events().len(), 1);

    let listed = world.run(world.student, Command::List.name(), &[]).await;
    assert!(
        content(&listed).contains("**Optics** (webinar"),
        "{}",
        content(&listed)
    );
    assert_eq!(buttons(&listed), [format!("kd:join:{meeting_id}")]);

    let suggestions = world
        .autocomplete(world.student, Command::Join.name(), "meeting-id", "opt")
        .await;
    assert_eq!(
        suggestions,
        [(format!("Optics ({meeting_id})"), meeting_id.clone())]
    );

    let joined = world
        .run(
            world.student,
            Command::Join.name(),
            &[("meeting-id", json!(meeting_id))],
        )
        .await;
    let link = message_of(&joined)["components"][0]["components"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        link.starts_with("https://watch.example.org/join/"),
        "{link}"
    );
    assert!(
        !serde_json::to_string(&message_of(&joined))
            .unwrap()
            .contains("ks="),
        "no KS in Discord"
    );

    let shared = world.press(world.teacher, &started, &ids[1]).await;
    let post = message_of(&shared);
    assert!(
        post.get("flags")
            .is_none_or(|f| f.as_u64().unwrap_or(0) & 64 == 0),
        "a share is public: {post}"
    );
    assert!(
        content(&shared).contains("ada started the webinar **Optics**"),
        "{}",
        content(&shared)
    );

    let not_yours = world
        .run(
            world.student,
            Command::End.name(),
            &[("meeting-id", json!(meeting_id))],
        )
        .await;
    assert_eq!(
        content(&not_yours),
        "Only the member who started this meeting, or a moderator, can end it."
    );

    let ended = world.press(world.teacher, &started, &ids[2]).await;
    assert_eq!(content(&ended), "Ended **Optics**.");
    let after = world.run(world.student, Command::List.name(), &[]).await;
    assert_eq!(
        content(&after),
        "No meetings are running. Start one with `/kaltura-start`."
    );
}

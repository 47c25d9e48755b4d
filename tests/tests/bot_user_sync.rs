//! User sync end to end: the bot on the Discord and Kaltura sandboxes with `features.userSync`
//! on. A member's first use creates their Kaltura user (`discord_<id>`, screen name, mapped
//! role); a role given in Discord (GUILD_MEMBER_UPDATE) moves the Kaltura role; the periodic
//! pass adds members who never used the bot and brings back a user deleted in Kaltura.

use kd_bot::runtime::BotOptions;
use kd_core::command::Command;
use kd_crds::application::Intent;
use kd_sandbox_discord::MemberSpec;
use kd_testing::wait;
use kd_tests::{Setup, World};
use serde_json::{Value, json};
use std::time::Duration;
use twilight_gateway::Intents;

/// The seeded partner's userRole ids (Kaltura's system roles).
const VIEWER: &str = "1001";
const MODERATOR: &str = "1002";

/// The pass period under test: short, so the test sees two passes.
const PASS_EVERY: Duration = Duration::from_secs(2);

/// Kaltura's user for a Discord member, if it exists and is not deleted.
fn kaltura_user(world: &World, discord_id: u64) -> Option<Value> {
    let id = format!("discord_{discord_id}");
    world
        .kaltura
        .users()
        .into_iter()
        .find(|u| u["id"] == id.as_str() && u["status"] != 3)
}

/// Waits until the member's Kaltura user has `screen_name` and `role`.
async fn synced(world: &World, discord_id: u64, screen_name: &str, role: &str, what: &str) {
    wait(what)
        .timeout(Duration::from_secs(15))
        .until(async || {
            kaltura_user(world, discord_id)
                .filter(|u| u["screenName"] == screen_name && u["roleIds"].as_str() == Some(role))
        })
        .await;
}

/// `user.delete` as Kaltura's admin does it, with an admin session.
async fn delete_in_kaltura(world: &World, discord_id: u64) {
    let ks = world.kaltura_admin_ks().await;
    let user = format!("discord_{discord_id}");
    let deleted = world
        .kaltura_call("user", "delete", json!({"ks": ks, "userId": user}))
        .await;
    assert_eq!(deleted["status"], 3, "{deleted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_are_synced_on_first_use_on_role_changes_and_by_the_pass() {
    let world = World::start_from(Setup {
        bot: BotOptions {
            intents: Intents::GUILDS | Intents::GUILD_MEMBERS,
            user_sync_every: PASS_EVERY,
            ..BotOptions::default()
        },
        ..Setup::default()
    })
    .await;
    let revision = world.reconfigure(|c| {
        c.application.intents = vec![Intent::Guilds, Intent::GuildMembers];
        c.guilds
            .values_mut()
            .for_each(|g| g.features.user_sync = true);
    });
    let mut running = world.bot.running_revision();
    tokio::time::timeout(
        Duration::from_secs(10),
        running.wait_for(|r| *r == revision),
    )
    .await
    .expect("revision applied")
    .unwrap();

    // First use: the student (no mapped role) becomes a viewer named as in Discord.
    world.run(world.student, Command::List.name(), &[]).await;
    synced(
        &world,
        world.student,
        "bob",
        VIEWER,
        "the student's first use",
    )
    .await;

    // A role given in Discord: the Kaltura role follows.
    let teacher_role = world
        .discord
        .guilds()
        .into_iter()
        .find(|g| g["id"] == world.guild.id.to_string().as_str())
        .and_then(|g| {
            g["roles"]
                .as_array()?
                .iter()
                .find(|r| r["name"] == "Teacher")
                .and_then(|r| r["id"].as_str()?.parse::<u64>().ok())
        })
        .expect("the Teacher role");
    world
        .discord
        .put_member(
            world.guild.id,
            world.student,
            MemberSpec {
                roles: vec![teacher_role],
                nick: Some("Bob the TA".into()),
            },
        )
        .unwrap();
    synced(
        &world,
        world.student,
        "Bob the TA",
        MODERATOR,
        "the student's new role and nickname",
    )
    .await;

    // The pass: the teacher, who never used the bot, is added; a user deleted in Kaltura comes
    // back as it should be.
    synced(
        &world,
        world.teacher,
        "ada",
        MODERATOR,
        "the teacher, by the pass",
    )
    .await;
    delete_in_kaltura(&world, world.student).await;
    assert!(kaltura_user(&world, world.student).is_none());
    synced(
        &world,
        world.student,
        "Bob the TA",
        MODERATOR,
        "the deleted user, repaired by the pass",
    )
    .await;
}

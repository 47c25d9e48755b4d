//! The bot when Discord is far away: with latency on every REST request, interactions arriving
//! at a steady rate are all answered in time (callbacks leave concurrently, not one at a time),
//! and deferred answers still get their edit.

use kd_core::command::Command;
use kd_tests::{World, content};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_150_ms_to_discord_every_interaction_at_20_per_second_is_answered() {
    let world = World::start().await;
    world.discord.set_latency(Duration::from_millis(150));
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut sent = Vec::new();
    for _ in 0..60 {
        tick.tick().await;
        let view = world.spec(
            world.admin,
            Command::Config.name(),
            vec![json!({"name": "view", "options": []})],
        );
        sent.push(world.discord.invoke_command(view).unwrap().id);
    }
    // Past Discord's 3 s deadline an answer is refused, so whatever is missing then is lost.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let mut unanswered = Vec::new();
    for id in sent {
        match world.discord.interaction(id).unwrap().callback {
            Some(callback) => assert_eq!(callback["type"], 4, "answered directly"),
            None => unanswered.push(id),
        }
    }
    assert!(
        unanswered.is_empty(),
        "{} of 60 interactions got no answer",
        unanswered.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_150_ms_to_discord_a_deferred_answer_is_still_edited() {
    let world = World::start().await;
    world.discord.set_latency(Duration::from_millis(150));
    world
        .kaltura
        .knobs()
        .set_latency(Duration::from_millis(2600));
    let sent = world
        .discord
        .invoke_command(world.spec(world.student, Command::List.name(), vec![]))
        .unwrap();
    let deferred = world.answer(sent.id).await;
    assert_eq!(deferred.callback.as_ref().unwrap()["type"], 5);
    let edited = world.wait_edit(sent.id).await;
    assert_eq!(
        edited["content"],
        "No meetings are running. Start one with `/kaltura-start`."
    );
    assert!(content(&world.answer(sent.id).await).starts_with("No meetings"));
}

//! The bot when things go wrong: Kaltura down or slow, Discord rate limits, a dropped gateway
//! connection, and a new configuration revision applied while it runs.

use kd_core::command::Command;
use kd_tests::{TIMEOUT, World, content};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kaltura_down_gets_a_clear_reply_within_three_seconds() {
    let world = World::start().await;
    world.kaltura.knobs().set_down(true);
    let started = Instant::now();
    let answer = world.run(world.teacher, Command::List.name(), &[]).await;
    let took = started.elapsed();
    assert_eq!(
        content(&answer),
        "Kaltura cannot be reached right now. Please try again in a moment."
    );
    assert_eq!(
        answer.callback.as_ref().unwrap()["type"],
        4,
        "answered directly, not deferred"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    let start = world
        .run(
            world.teacher,
            Command::Start.name(),
            &[("type", json!("meeting")), ("title", json!("Lab"))],
        )
        .await;
    assert_eq!(
        content(&start),
        "Kaltura cannot be reached right now. Please try again in a moment."
    );

    world.kaltura.knobs().set_down(false);
    let back = world.run(world.teacher, Command::List.name(), &[]).await;
    assert_eq!(
        content(&back),
        "No meetings are running. Start one with `/kaltura-start`."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_kaltura_is_deferred_then_the_answer_replaces_it() {
    let world = World::start().await;
    world
        .kaltura
        .knobs()
        .set_latency(Duration::from_millis(2600));
    let sent = world
        .discord
        .invoke_command(world.spec(world.student, Command::List.name(), vec![]))
        .unwrap();
    let deferred = world.answer(sent.id).await;
    assert_eq!(
        deferred.callback.as_ref().unwrap()["type"],
        5,
        "{:?}",
        deferred.callback
    );
    assert_eq!(deferred.callback.as_ref().unwrap()["data"]["flags"], 64);
    let edited = world.wait_edit(sent.id).await;
    assert_eq!(
        edited["content"],
        "No meetings are running. Start one with `/kaltura-start`."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_registration_backs_off_and_lands() {
    let world = World::start().await;
    world
        .discord
        .rate_limit_storm(3, Duration::from_millis(300));
    world.reconfigure(|c| {
        c.guilds
            .values_mut()
            .for_each(|g| g.features.watch_together = false)
    });
    let names = world
        .wait_commands(|names| !names.contains(&Command::Watch.name().to_string()))
        .await;
    assert!(names.contains(&Command::Start.name().to_string()));
    let limited = world
        .discord
        .requests()
        .iter()
        .filter(|r| r.status == 429)
        .count();
    assert!(limited >= 1, "the storm hit the registration");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_gateway_connection_loses_no_interaction() {
    let world = World::start().await;
    let mut sent = Vec::new();
    for round in 0..3 {
        let list = world.spec(world.student, Command::List.name(), vec![]);
        sent.push(world.discord.invoke_command(list).unwrap().id);
        if round == 1 {
            assert!(world.discord.drop_gateway_connections() >= 1);
        }
    }
    for _ in 0..3 {
        sent.push(
            world
                .discord
                .invoke_command(world.spec(world.student, Command::List.name(), vec![]))
                .unwrap()
                .id,
        );
    }
    for id in sent {
        let answer = world.answer(id).await;
        assert_eq!(
            content(&answer),
            "No meetings are running. Start one with `/kaltura-start`.",
            "interaction {id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_revision_changes_behaviour_without_reconnecting() {
    let world = World::start().await;
    let sessions_before: Vec<String> = world
        .discord
        .gateway_sessions()
        .iter()
        .map(|s| s.session_id.clone())
        .collect();
    let open = world.run(world.student, Command::List.name(), &[]).await;
    assert!(
        content(&open).starts_with("No meetings"),
        "{}",
        content(&open)
    );

    let revision = world.reconfigure(|c| {
        c.guilds.values_mut().for_each(|g| {
            g.permissions
                .insert(Command::List.name().into(), vec!["Teacher".into()]);
        })
    });
    let mut running = world.bot.running_revision();
    tokio::time::timeout(TIMEOUT, running.wait_for(|r| *r == revision))
        .await
        .expect("revision applied")
        .unwrap();

    let closed = world.run(world.student, Command::List.name(), &[]).await;
    assert_eq!(
        content(&closed),
        "You need one of these roles to use `/kaltura-list`: Teacher."
    );
    let sessions_after: Vec<String> = world
        .discord
        .gateway_sessions()
        .iter()
        .map(|s| s.session_id.clone())
        .collect();
    assert_eq!(sessions_before, sessions_after, "the bot did not reconnect");
    assert!(
        world
            .bot
            .metrics
            .encode()
            .contains(&format!("revision=\"{revision}\""))
    );
}

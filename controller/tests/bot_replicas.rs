//! Two `kaltura-discord bot` replicas on one PostgreSQL store, both connected to the same
//! single shard, as during a shard hand-over: the Discord sandbox dispatches every interaction
//! to both sessions, and each interaction must still be answered exactly once (one callback,
//! no 40060 refusal), the other replica counting it as claimed elsewhere.

use kd_core::command::Command;
use kd_sandbox_discord::NewCommandInteraction;
use kd_testing::wait;
use kd_tests::postgres::PrivatePostgres;
use kd_tests::process::{Outside, WorkloadProcess};
use std::process::Stdio;
use std::time::Duration;

const INTERACTIONS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_shard_answer_each_interaction_once() {
    let postgres = PrivatePostgres::start();
    let outside = Outside::start().await;
    let (discord, guild) = (&outside.discord, &outside.guild);
    let config = kd_tests::runtime_config(discord, &outside.kaltura, guild.id);
    let url = postgres.url();
    let replica = || {
        WorkloadProcess::bot(
            env!("CARGO_BIN_EXE_kaltura-discord"),
            discord,
            &outside.kaltura,
            &config,
            &["--shards", "1", "--store", &url],
            Stdio::null(),
        )
    };
    let replicas = [replica(), replica()];
    for bot in &replicas {
        bot.ready().await;
    }
    let sessions = discord.gateway_sessions();
    let live = sessions
        .iter()
        .filter(|s| s.connected && s.shard == [0, 1])
        .count();
    assert_eq!(
        live, 2,
        "both replicas hold a session of shard 0: {sessions:?}"
    );

    let sent: Vec<u64> = (0..INTERACTIONS)
        .map(|_| {
            discord
                .invoke_command(NewCommandInteraction {
                    guild_id: guild.id,
                    channel_id: guild.general_channel_id,
                    user_id: outside.user,
                    name: Command::List.name().into(),
                    ..NewCommandInteraction::default()
                })
                .unwrap()
                .id
        })
        .collect();
    for id in &sent {
        let answer = discord
            .wait_interaction_response(*id, Duration::from_secs(10))
            .await
            .expect("answered");
        let callback = answer.callback.expect("a callback");
        assert_eq!(callback["type"], 4, "{callback}");
    }
    let sum = |sample: &str| -> f64 {
        replicas
            .iter()
            .map(|bot| bot.metric(sample).unwrap_or(0.0))
            .sum()
    };
    let outcome = |outcome: &str| {
        sum(&format!(
            "kaltura_discord_bot_interactions_total{{command=\"{}\",outcome=\"{outcome}\"}}",
            Command::List.name()
        ))
    };
    let elsewhere = || sum("kaltura_discord_bot_interactions_claimed_elsewhere_total");
    // Each replica is done with each interaction once it answered it (or failed to) or left
    // it to the other.
    wait("both replicas done with every interaction")
        .timeout(Duration::from_secs(10))
        .explain(|| {
            format!(
                "answered {}, unanswered {}, claimed elsewhere {}",
                outcome("ok"),
                outcome("unanswered"),
                elsewhere()
            )
        })
        .until(async || {
            let done = outcome("ok") + outcome("unanswered") + elsewhere();
            (done >= 2.0 * INTERACTIONS as f64).then_some(())
        })
        .await;
    // Discord saw one callback per interaction, and none refused as already acknowledged.
    let requests = discord.requests();
    for id in &sent {
        let prefix = format!("/interactions/{id}/");
        let callbacks: Vec<u16> = requests
            .iter()
            .filter(|r| r.method == "POST" && r.path.contains(&prefix))
            .filter(|r| r.path.ends_with("/callback"))
            .map(|r| r.status)
            .collect();
        assert_eq!(callbacks, [204], "interaction {id}");
    }
    assert_eq!(outcome("ok"), INTERACTIONS as f64);
    assert_eq!(elsewhere(), INTERACTIONS as f64);
    assert_eq!(sum("kaltura_discord_bot_interactions_unclaimed_total"), 0.0);
}

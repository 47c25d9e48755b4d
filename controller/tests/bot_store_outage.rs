//! `kaltura-discord bot` on PostgreSQL when PostgreSQL goes away: a server of the test's own is
//! stopped under the running bot process and started again. Members keep getting answers within
//! Discord's 3 s (from the GuildConfig alone, and told so), a setting that could not be saved is
//! answered as such and never applied later, `/readyz` follows the store, and the metrics count
//! what happened.

use kd_core::command::Command;
use kd_sandbox_discord::{MemberSpec, NewCommandInteraction, NewRole};
use kd_tests::postgres::PrivatePostgres;
use kd_tests::process::{Outside, WorkloadProcess};
use kd_tests::{MANAGE_GUILD, content, final_answer};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};

async fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const FALLBACK: &str =
    "could not be read just now, so this answer follows the server's GuildConfig alone";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_store_neither_silences_the_bot_nor_applies_unanswered_writes() {
    let postgres = PrivatePostgres::start();
    let Outside {
        discord,
        kaltura,
        guild,
        user,
    } = Outside::start().await;
    let admins = discord
        .create_role(
            guild.id,
            NewRole {
                name: "Admins".into(),
                permissions: MANAGE_GUILD,
                ..NewRole::default()
            },
        )
        .unwrap();
    discord
        .put_member(
            guild.id,
            user,
            MemberSpec {
                roles: vec![admins.id],
                nick: None,
            },
        )
        .unwrap();
    let config = kd_tests::runtime_config(&discord, &kaltura, guild.id);
    let url = postgres.url();
    let args = ["--shards", "1", "--poll", "100ms", "--store", &url];
    let bot = WorkloadProcess::bot(
        env!("CARGO_BIN_EXE_kaltura-discord"),
        &discord,
        &kaltura,
        &config,
        &args,
        Stdio::null(),
    );
    let readyz = || bot.get("/readyz").unwrap_or_default();
    bot.ready().await;
    eventually("commands registered", || {
        let commands = discord.commands(Some(guild.id)).ok()?;
        commands
            .iter()
            .any(|c| c["name"] == Command::Config.name())
            .then_some(())
    })
    .await;

    let invoke = |name: &str, options: Value| {
        discord
            .invoke_command(NewCommandInteraction {
                guild_id: guild.id,
                channel_id: guild.general_channel_id,
                user_id: user,
                name: name.into(),
                options: serde_json::from_value(options).unwrap(),
                ..NewCommandInteraction::default()
            })
            .unwrap()
            .id
    };
    let config_set = |value: &str| {
        invoke(
            Command::Config.name(),
            json!([{"name": "set", "options": [
                {"name": "key", "value": "features.videoSearch"},
                {"name": "value", "value": value},
            ]}]),
        )
    };
    let config_view = || {
        invoke(
            Command::Config.name(),
            json!([{"name": "view", "options": []}]),
        )
    };
    let overridden = "`features.videoSearch` = false (Discord override)";

    let set = final_answer(&discord, config_set("off")).await;
    assert!(content(&set).contains("is now `off`"), "{}", content(&set));

    postgres.stop();
    eventually("not ready without the store", || {
        let r = readyz();
        (r.starts_with("HTTP/1.1 503") && !r.contains("\"store\":\"ok\"")).then_some(())
    })
    .await;

    // Reads answer in time from the GuildConfig alone, and say so. The sandbox refuses any
    // first answer after 3 s, so an answer at all is an answer in time.
    for sent in [config_view(), invoke(Command::List.name(), json!([]))] {
        let answer = discord
            .wait_interaction_response(sent, Duration::from_secs(4))
            .await
            .expect("answered within Discord's 3 s while the store is down");
        assert_eq!(answer.callback.as_ref().unwrap()["type"], 4);
        assert!(content(&answer).contains(FALLBACK), "{}", content(&answer));
        assert!(
            !content(&answer).contains(overridden),
            "{}",
            content(&answer)
        );
    }

    // A write is acknowledged before it is tried, and answered with what came of it.
    let started = Instant::now();
    let refused = final_answer(&discord, config_set("on")).await;
    assert!(
        content(&refused).starts_with("Could not save the setting"),
        "{}",
        content(&refused)
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    postgres.resume();
    eventually("ready again", || {
        readyz().starts_with("HTTP/1.1 200").then_some(())
    })
    .await;
    // The refused write did not happen later: the override is still the one saved before.
    let view = final_answer(&discord, config_view()).await;
    assert!(content(&view).contains(overridden), "{}", content(&view));
    assert!(!content(&view).contains(FALLBACK), "{}", content(&view));

    let metric = |sample: &str| bot.metric(sample).unwrap_or(0.0);
    let counted = |outcome: &str| {
        metric(&format!(
            "kaltura_discord_bot_interactions_total{{command=\"kaltura-config\",outcome=\"{outcome}\"}}"
        ))
    };
    assert_eq!(counted("failed"), 1.0, "the refused write");
    assert_eq!(counted("unanswered"), 0.0);
    assert!(metric("kaltura_discord_bot_settings_fallbacks_total") >= 2.0);
    // The three interactions while the store was down were answered without a claim.
    assert!(metric("kaltura_discord_bot_interactions_unclaimed_total") >= 3.0);
}

//! `kaltura-discord bot` as deployed: a separate process reading a runtime-config file and
//! mounted secrets, connected to the Discord and Kaltura sandboxes, following edits of the file
//! and serving /metrics and /status.

use kd_core::command::Command;
use kd_core::report::Registration;
use kd_sandbox_discord::{DiscordSandbox, NewCommandInteraction};
use kd_testing::{http, wait};
use kd_tests::process::{Outside, WorkloadProcess};
use std::process::Stdio;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_process_serves_follows_its_config_file_and_reports_metrics() {
    let Outside {
        discord,
        kaltura,
        guild,
        user,
    } = Outside::start().await;
    let mut config = kd_tests::runtime_config(&discord, &kaltura, guild.id);
    let args = ["--shards", "1", "--poll", "100ms", "--log-format", "json"];
    let mut bot = WorkloadProcess::bot(
        env!("CARGO_BIN_EXE_kaltura-discord"),
        &discord,
        &kaltura,
        &config,
        &args,
        Stdio::piped(),
    );

    let names = |discord: &DiscordSandbox| -> Vec<String> {
        discord
            .commands(Some(guild.id))
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    bot.ready().await;
    wait("commands registered")
        .until(async || {
            names(&discord)
                .contains(&Command::VideoSearch.name().to_string())
                .then_some(())
        })
        .await;

    let sent = discord
        .invoke_command(NewCommandInteraction {
            guild_id: guild.id,
            channel_id: guild.general_channel_id,
            user_id: user,
            name: Command::List.name().into(),
            ..NewCommandInteraction::default()
        })
        .unwrap();
    let view = discord
        .wait_interaction_response(sent.id, Duration::from_secs(10))
        .await
        .expect("answered");
    assert_eq!(
        view.callback.unwrap()["data"]["content"],
        "No meetings are running. Start one with `/kaltura-start`."
    );

    // Editing the file (as a ConfigMap update does) applies the new revision in place.
    config
        .guilds
        .values_mut()
        .for_each(|g| g.features.video_search = false);
    // A guild the bot is not in: Discord refuses its command set, and /status says so.
    let stranger = config.guilds.values().next().unwrap().clone();
    config.guilds.insert("1283874310720716999".into(), stranger);
    let config =
        kd_core::config::RuntimeConfig::new(config.application, config.partners, config.guilds);
    bot.write_config(&config);
    wait("commands re-registered")
        .until(async || {
            (!names(&discord).contains(&Command::VideoSearch.name().to_string())).then_some(())
        })
        .await;
    assert_eq!(
        discord.gateway_sessions().len(),
        1,
        "no reconnect for a new revision"
    );

    let revision = format!(
        "kaltura_discord_bot_config_revision{{revision=\"{}\"}}",
        config.revision
    );
    wait("the new revision in /metrics")
        .until(async || bot.metric(&revision))
        .await;
    let ok = format!(
        "kaltura_discord_bot_interactions_total{{command=\"{}\",outcome=\"ok\"}}",
        Command::List.name()
    );
    assert_eq!(bot.metric(&ok), Some(1.0));
    assert!(bot.get("/healthz").unwrap().ends_with("ok"));

    // What the operator reads: the running revision and each guild's registration.
    let report = wait("both guilds settled in /status")
        .until(async || {
            let text = bot.get("/status")?;
            let report: kd_core::report::BotReport =
                serde_json::from_str(http::body(&text)?).ok()?;
            let settled = report.revision == config.revision
                && report.guilds.values().all(|g| *g != Registration::Pending);
            settled.then_some(report)
        })
        .await;
    assert_eq!(
        report.command_set_version,
        kd_core::command::COMMAND_SET_VERSION
    );
    assert_eq!((report.shards, report.shards_connected), (1, 1));
    assert!(matches!(
        &report.guilds[&guild.id.to_string()],
        Registration::Registered { revision, .. }
            if *revision == config.guild_revision(&guild.id.to_string())
    ));
    let Registration::Failed { error, .. } = &report.guilds["1283874310720716999"] else {
        panic!("{report:?}");
    };
    assert!(!error.is_empty());

    let log = bot.process.stop();
    assert!(log.contains("running config revision"), "{log}");
    for line in log.lines() {
        let record: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            record["level"].is_string() && record["fields"].is_object(),
            "{line}"
        );
    }
    assert!(
        !log.contains(&discord.bot_token()),
        "the bot token reached the log"
    );
    assert!(
        !log.contains(kaltura.admin_secret()),
        "the admin secret reached the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guild_to_clear_loses_its_commands_and_is_reported_cleared() {
    let Outside {
        discord,
        kaltura,
        guild,
        ..
    } = Outside::start().await;
    let config = kd_tests::runtime_config(&discord, &kaltura, guild.id);
    let bot = WorkloadProcess::bot(
        env!("CARGO_BIN_EXE_kaltura-discord"),
        &discord,
        &kaltura,
        &config,
        &["--shards", "1", "--poll", "100ms"],
        Stdio::null(),
    );
    bot.ready().await;
    wait("commands registered")
        .until(async || (!discord.commands(Some(guild.id)).unwrap().is_empty()).then_some(()))
        .await;

    // What the operator renders for a GuildConfig being deleted.
    let id = guild.id.to_string();
    let mut guilds = config.guilds.clone();
    guilds.remove(&id);
    let clearing = kd_core::config::RuntimeConfig::new(config.application, config.partners, guilds)
        .with_clearing([id.clone()].into());
    bot.write_config(&clearing);
    let report = wait("the guild reported cleared")
        .until(async || {
            let report: kd_core::report::BotReport =
                serde_json::from_str(http::body(&bot.get("/status")?)?).ok()?;
            matches!(report.guilds.get(&id), Some(Registration::Cleared { .. })).then_some(report)
        })
        .await;
    assert_eq!(
        report.guilds[&id],
        Registration::Cleared {
            revision: clearing.guild_revision(&id)
        }
    );
    assert!(
        discord.commands(Some(guild.id)).unwrap().is_empty(),
        "no command of ours is left in the guild"
    );
}

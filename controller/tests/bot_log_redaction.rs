//! No log directive reveals an interaction token: the `kaltura-discord bot` process runs with
//! directives that open twilight-http's spans (whose `path` field holds the token) and answers
//! an interaction directly and one after a deferral (a webhook edit); its whole log is searched.

use kd_core::command::Command;
use kd_sandbox_discord::NewCommandInteraction;
use kd_tests::process::{Outside, WorkloadProcess};
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_directives_show_the_paths_but_never_the_tokens() {
    let Outside {
        discord,
        kaltura,
        guild,
        user,
    } = Outside::start().await;
    let config = kd_tests::runtime_config(&discord, &kaltura, guild.id);
    // (directive, format, whether it shows twilight-http's request span)
    for (directive, format, spans) in [
        ("info,[request]=debug", "text", true),
        ("info,[response]=trace,[request]=trace", "json", true),
        ("trace", "text", false),
    ] {
        let args = ["--shards", "1", "--log", directive, "--log-format", format];
        let mut bot = WorkloadProcess::bot(
            env!("CARGO_BIN_EXE_kaltura-discord"),
            &discord,
            &kaltura,
            &config,
            &args,
            Stdio::piped(),
        );
        // Read as it comes: a full pipe would stop the bot at its next log line.
        let mut stdout = bot.process.child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut log = String::new();
            stdout.read_to_string(&mut log).unwrap();
            log
        });
        // Ready: connected to the gateway (commands may be there from the last round).
        bot.ready().await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while !discord
            .commands(Some(guild.id))
            .unwrap()
            .iter()
            .any(|c| c["name"] == Command::List.name())
        {
            assert!(Instant::now() < deadline, "commands never registered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let list = || {
            discord
                .invoke_command(NewCommandInteraction {
                    guild_id: guild.id,
                    channel_id: guild.general_channel_id,
                    user_id: user,
                    name: Command::List.name().into(),
                    ..NewCommandInteraction::default()
                })
                .unwrap()
        };
        let direct = list();
        kd_tests::final_answer(&discord, direct.id).await;
        // Slow Kaltura: deferred, then the answer is a webhook edit.
        kaltura.knobs().set_latency(Duration::from_millis(2300));
        let deferred = list();
        let edited = kd_tests::final_answer(&discord, deferred.id).await;
        assert_eq!(edited.callback.unwrap()["type"], 5);
        kaltura.knobs().set_latency(Duration::ZERO);

        let _ = bot.process.child.kill();
        let _ = bot.process.child.wait();
        let log = reader.join().unwrap();
        assert!(
            log.contains("running config revision"),
            "{directive}: the log was read"
        );
        let shown = format!("interactions/{}/<redacted>/callback", direct.id);
        assert_eq!(
            log.contains(&shown),
            spans,
            "{directive}: the request span is in the log (or not), its token redacted:\n{}",
            log.lines()
                .filter(|l| l.contains("interactions"))
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
        for (what, interaction) in [("direct", &direct), ("deferred", &deferred)] {
            let view = discord.interaction(interaction.id).unwrap();
            let token = view.payload["token"].as_str().unwrap();
            // Neither whole nor in part (the sandbox's tokens have two halves).
            for part in std::iter::once(token).chain(token.split(':')) {
                assert!(part.len() > 8);
                let leaks: Vec<&str> = log.lines().filter(|l| l.contains(part)).take(3).collect();
                assert!(
                    leaks.is_empty(),
                    "{directive}: the {what} interaction's token is in the log:\n{}",
                    leaks.join("\n")
                );
            }
        }
    }
}

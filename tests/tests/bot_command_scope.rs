//! The command scope end to end: the bot switching between per-guild command sets and one
//! global set in the Discord sandbox, with the requests it costs and the answers members get.

use kd_core::command::Command;
use kd_core::report::Registration;
use kd_crds::application::CommandScope;
use kd_sandbox_discord::{NewCommandInteraction, NewGuild};
use kd_testing::wait;
use kd_tests::{TIMEOUT, World, content, message_of};
use std::time::Duration;

/// Names of the commands Discord holds globally (`None`) or in a guild.
fn names(world: &World, guild: Option<u64>) -> Vec<String> {
    let mut names: Vec<String> = world
        .discord
        .commands(guild)
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

/// Waits until Discord holds exactly `global` globally and `guild` in the world's guild.
async fn wait_sets(world: &World, global: &[&str], guild: &[&str]) {
    let sorted = |set: &[&str]| {
        let mut set: Vec<String> = set.iter().map(|s| s.to_string()).collect();
        set.sort();
        set
    };
    let (global, guild) = (sorted(global), sorted(guild));
    wait("the global and guild command sets")
        .timeout(TIMEOUT)
        .every(Duration::from_millis(20))
        .explain(|| {
            format!(
                "global {:?}, guild {:?}",
                names(world, None),
                names(world, Some(world.guild.id))
            )
        })
        .until(async || {
            (names(world, None) == global && names(world, Some(world.guild.id)) == guild)
                .then_some(())
        })
        .await
}

/// Waits until the bot's report says `check` of the world's guild and the global set.
async fn wait_report(world: &World, check: impl Fn(&Registration, &Registration) -> bool) {
    let guild = world.guild_key();
    wait("the bot's report")
        .timeout(TIMEOUT)
        .every(Duration::from_millis(20))
        .explain(|| format!("{:?}", world.bot.report()))
        .until(async || {
            let report = world.bot.report();
            report
                .guilds
                .get(&guild)
                .is_some_and(|g| check(g, &report.global))
                .then_some(())
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_global_scope_registers_one_set_for_every_guild_and_switching_back_restores_theirs() {
    let world = World::start().await;
    let guild = world.guild_key();
    let all = Command::ALL.map(Command::name);
    // The world's guild has notifications off, and here video search too.
    let own: Vec<&str> = all
        .into_iter()
        .filter(|n| ![Command::Notify.name(), Command::VideoSearch.name()].contains(n))
        .collect();
    world.reconfigure(|c| {
        c.guilds.get_mut(&guild).unwrap().features.video_search = false;
    });
    wait_sets(&world, &[], &own).await;
    wait_report(&world, |g, global| {
        matches!(g, Registration::Registered { scope: CommandScope::Guild, commands, .. } if *commands == own.len())
            && matches!(global, Registration::Cleared { .. })
    })
    .await;

    // Global: one set of every command; the guild's own set (from the Guild scope) is emptied.
    let sent = world.bot.metrics.registrations.get();
    world.reconfigure(|c| c.application.command_scope = CommandScope::Global);
    wait_sets(&world, &all, &[]).await;
    wait_report(&world, |g, global| {
        matches!(
            g,
            Registration::Registered {
                scope: CommandScope::Global,
                commands: 0,
                ..
            }
        ) && matches!(global, Registration::Registered { commands, .. } if *commands == all.len())
    })
    .await;
    assert_eq!(
        world.bot.metrics.registrations.get() - sent,
        2,
        "one global set and one guild emptied"
    );

    // A guild configured now, with nothing of ours registered, costs no request.
    let more = world
        .discord
        .create_guild(NewGuild {
            name: "Chemistry 101".into(),
            ..NewGuild::default()
        })
        .unwrap();
    let sent = world.bot.metrics.registrations.get();
    world.reconfigure(|c| {
        let copy = c.guilds[&guild].clone();
        c.guilds.insert(more.id.to_string(), copy);
    });
    let served = wait("the new guild served by the global set")
        .timeout(TIMEOUT)
        .until(async || {
            let report = world.bot.report();
            matches!(
                report.guilds.get(&more.id.to_string()),
                Some(Registration::Registered {
                    scope: CommandScope::Global,
                    ..
                })
            )
            .then_some(report)
        })
        .await;
    assert!(matches!(served.global, Registration::Registered { .. }));
    assert_eq!(world.bot.metrics.registrations.get(), sent);
    assert_eq!(names(&world, Some(more.id)), Vec::<String>::new());

    // Video search is off in the guild but listed globally: the gate says so, to the member only.
    let search = world
        .run(
            world.student,
            Command::VideoSearch.name(),
            &[("query", "physics".into())],
        )
        .await;
    assert_eq!(
        content(&search),
        "`/kaltura-video-search` is turned off on this server."
    );
    assert_eq!(message_of(&search)["flags"], 64, "ephemeral");
    // A guild without a GuildConfig sees the global commands and is told what to add.
    let stranger = world
        .discord
        .create_guild(NewGuild {
            name: "Elsewhere".into(),
            ..NewGuild::default()
        })
        .unwrap();
    let sent = world
        .discord
        .invoke_command(NewCommandInteraction {
            guild_id: stranger.id,
            channel_id: stranger.general_channel_id,
            user_id: stranger.owner_id,
            name: Command::List.name().into(),
            ..NewCommandInteraction::default()
        })
        .expect("a global command runs in any guild");
    let answer = world.answer(sent.id).await;
    assert!(
        content(&answer).contains(&format!(
            "not set up for Kaltura yet: an administrator needs to add a GuildConfig for guild id {}",
            stranger.id
        )),
        "{}",
        content(&answer)
    );
    assert_eq!(message_of(&answer)["flags"], 64, "ephemeral");

    // Back to Guild: the global set is emptied and each guild gets its own again.
    world.reconfigure(|c| c.application.command_scope = CommandScope::Guild);
    wait_sets(&world, &[], &own).await;
    wait_report(&world, |g, global| {
        matches!(
            g,
            Registration::Registered {
                scope: CommandScope::Guild,
                ..
            }
        ) && matches!(global, Registration::Cleared { .. })
    })
    .await;
    wait("the other guild's own set")
        .timeout(TIMEOUT)
        .until(async || (names(&world, Some(more.id)).len() == own.len()).then_some(()))
        .await;
}

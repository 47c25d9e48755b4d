//! `kaltura-discord up` on the examples, as a process: sandbox mode and why, the URLs, status
//! as `kubectl get` prints it, an edit that changes the bot's behaviour without a restart, a
//! broken edit that is refused and changes nothing, a broken folder refused with `validate`'s
//! findings, SIGINT and SIGTERM, and a second run that continues from the first one's state.

mod up_support;

use kd_core::command::Command;
use serde_json::{Value, json};
use std::time::Duration;
use up_support::{BIN, Discord, Up, copy_examples};

const PHYSICS: &str = "1283874310720716890";

fn status(state: &std::path::Path) -> String {
    let out = std::process::Command::new(BIN)
        .arg("status")
        .arg("--state")
        .arg(state)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn state_file(state: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(state.join("status.json")).unwrap()).unwrap()
}

fn object<'a>(state: &'a Value, kind: &str, name: &str) -> &'a Value {
    state["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} in {state}"))
}

async fn start_meeting(discord: &Discord, channel: &str, user: &str) -> String {
    discord
        .run(
            PHYSICS,
            channel,
            user,
            Command::Start.name(),
            json!([{"name": "type", "value": "meeting"}, {"name": "title", "value": "Office hours"}]),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_runs_the_examples_on_the_sandboxes_and_applies_edits_live() {
    let dir = tempfile::tempdir().unwrap();
    let (folder, state) = (dir.path().join("manifests"), dir.path().join("state"));
    copy_examples(&folder);
    let up = Up::start(&folder, &state);
    up.ready().await;
    let out = up.output();
    assert!(
        out.contains("mode: sandbox: the built-in Discord and Kaltura sandboxes, because Secret kaltura/discord-campus-bot key botToken holds a placeholder"),
        "{out}"
    );

    let http = up_support::http();
    let console = up.url("console");
    let page = http
        .get(format!("{console}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("<title>kaltura-discord console</title>"),
        "{page}"
    );
    let openapi = http
        .get(format!("{}/openapi.json", up.url("api")))
        .send()
        .await
        .unwrap();
    assert_eq!(openapi.status(), 200, "the API serves");

    let table = status(&state);
    let physics = table
        .lines()
        .find(|l| l.contains("guildconfigs.kaltura-discord.io/physics-101"))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = physics.split_whitespace().collect();
    assert_eq!(cells[0], "kaltura");
    assert_eq!(cells[2], PHYSICS);
    assert_eq!(&cells[6..8], ["True", "Ready"], "{table}");
    for kind in [
        "kalturapartner",
        "discordapplication",
        "rolemapping",
        "notificationrule",
    ] {
        assert!(
            table.contains(&format!("{kind}s.kaltura-discord.io/")),
            "{kind}: {table}"
        );
    }

    // A TA may start meetings; the edit takes that away without a restart.
    let discord = Discord::of(&up).await;
    let (general, ta) = discord.ids(PHYSICS, "general", "ta").await;
    let refusal = format!(
        "You need one of these roles to use `/{}`: Teacher.",
        Command::Start.name()
    );
    let before = start_meeting(&discord, &general, &ta).await;
    assert!(!before.contains(&refusal), "{before}");
    let file = folder.join("guilds/physics-101.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let from = up.line_count();
    std::fs::write(
        &file,
        text.replace("kaltura-start: [Teacher, TA]", "kaltura-start: [Teacher]"),
    )
    .unwrap();
    let (applied_at, applied) = up
        .wait_line("applied: revision ", from, Duration::from_secs(30))
        .await;
    let after = start_meeting(&discord, &general, &ta).await;
    assert_eq!(after, refusal);
    let revision = applied.split_whitespace().nth(2).unwrap().to_string();

    // A broken edit is refused, said, and changes nothing.
    let broken = std::fs::read_to_string(&file).unwrap().replace(
        "guildId: \"1283874310720716890\"",
        "guildId: \"not-a-snowflake\"",
    );
    std::fs::write(&file, broken).unwrap();
    let (refused_at, refused) = up
        .wait_line("refused the edit", applied_at + 1, Duration::from_secs(30))
        .await;
    assert!(
        refused.contains(&format!("revision {revision} keeps running")),
        "{refused}"
    );
    let finding = up.find("  ", refused_at + 1).unwrap().1;
    assert!(
        finding.contains("physics-101.yaml: GuildConfig/physics-101: spec.guildId"),
        "{finding}"
    );
    up_support::wait_for("the refusal in the status file", async || {
        let s = state_file(&state);
        (!s["refused"].as_array()?.is_empty()).then_some(())
    })
    .await;
    let table = status(&state);
    assert!(table.contains("last edit was refused"), "{table}");
    assert!(table.contains("spec.guildId"), "{table}");
    assert_eq!(
        start_meeting(&discord, &general, &ta).await,
        refusal,
        "the good config still runs"
    );
    let s = state_file(&state);
    assert_eq!(
        object(&s, "DiscordApplication", "campus-bot")["status"]["runningRevision"],
        revision.as_str()
    );
    assert!(
        up.find("applied: revision ", refused_at).is_none(),
        "nothing applied: {}",
        up.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_folder_is_refused_with_the_findings_of_validate() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("manifests");
    copy_examples(&folder);
    let file = folder.join("guilds/film-club.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace(
            "applicationRef: {name: campus-bot}",
            "applicationRef: {name: nobody}",
        ),
    )
    .unwrap();
    let up = std::process::Command::new(BIN)
        .arg("up")
        .arg(&folder)
        .arg("--state")
        .arg(dir.path().join("state"))
        .output()
        .unwrap();
    let validate = std::process::Command::new(BIN)
        .arg("validate")
        .arg(&folder)
        .output()
        .unwrap();
    assert_eq!(up.status.code(), Some(1));
    assert_eq!(validate.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&up.stdout),
        String::from_utf8_lossy(&validate.stdout)
    );
    assert!(
        String::from_utf8_lossy(&up.stdout).contains("GuildConfig/film-club: spec.applicationRef")
    );
    assert!(
        !dir.path().join("state").exists(),
        "nothing started, nothing written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_and_sigterm_exit_cleanly_and_the_next_run_continues_from_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let (folder, state) = (dir.path().join("manifests"), dir.path().join("state"));
    copy_examples(&folder);
    let mut first = Up::start(&folder, &state);
    first.ready().await;
    let discord = Discord::of(&first).await;
    let (general, admin) = discord.ids(PHYSICS, "general", "admins").await;
    let set = discord
        .run(
            PHYSICS,
            &general,
            &admin,
            Command::Config.name(),
            json!([{"name": "set", "options": [{"name": "key", "value": "channels.default"}, {"name": "value", "value": "lectures"}]}]),
        )
        .await;
    assert!(set.contains("channels.default"), "{set}");
    let created =
        object(&state_file(&state), "GuildConfig", "physics-101")["metadata"]["creationTimestamp"]
            .clone();
    let (exit, took) = first.signal("INT");
    assert_eq!(exit.code(), Some(0), "{}", first.output());
    assert!(took < Duration::from_secs(2), "SIGINT took {took:?}");
    assert!(
        first.output().contains("stopped on SIGINT"),
        "{}",
        first.output()
    );
    drop(first);

    let mut second = Up::start(&folder, &state);
    second.ready().await;
    let s = state_file(&state);
    assert_eq!(
        object(&s, "GuildConfig", "physics-101")["metadata"]["creationTimestamp"],
        created
    );
    let discord = Discord::of(&second).await;
    let (general, admin) = discord.ids(PHYSICS, "general", "admins").await;
    let view = discord
        .run(
            PHYSICS,
            &general,
            &admin,
            Command::Config.name(),
            json!([{"name": "view", "options": []}]),
        )
        .await;
    assert!(
        view.contains("`channels.default` = lectures"),
        "the override survived: {view}"
    );
    let (exit, took) = second.signal("TERM");
    assert_eq!(exit.code(), Some(0), "{}", second.output());
    assert!(took < Duration::from_secs(2), "SIGTERM took {took:?}");
}

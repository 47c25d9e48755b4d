//! Credentials never reach the logs, even at debug level with the product's filter: the bot token, the Kaltura admin secret, the admin KS the
//! bot mints, join tokens and interaction tokens are planted by running real flows, and the
//! whole debug log is searched for them.

use kd_core::command::Command;
use kd_tests::{World, message_of};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_appears_in_the_debug_log() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(kd_bot::logging::filter("debug"))
        .with_writer(move || writer.clone())
        .init();

    let world = World::start().await;
    let started = world
        .run(
            world.teacher,
            Command::Start.name(),
            &[("type", json!("meeting")), ("title", json!("Lab"))],
        )
        .await;
    let meeting = kd_tests::buttons(&started)[0]
        .strip_prefix("kd:join:")
        .unwrap()
        .to_string();
    let joined = world
        .run(
            world.student,
            Command::Join.name(),
            &[("meeting-id", json!(meeting))],
        )
        .await;
    let link = message_of(&joined)["components"][0]["components"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let join_token = link.rsplit('/').next().unwrap().to_string();
    world.kaltura.knobs().set_down(true);
    world.run(world.teacher, Command::List.name(), &[]).await;
    world.kaltura.knobs().set_down(false);

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("meeting started"), "the log was captured");
    let interaction_token = joined.payload["token"].as_str().unwrap().to_string();
    let planted = [
        ("bot token", world.discord.bot_token()),
        (
            "Kaltura admin secret",
            world.kaltura.admin_secret().to_string(),
        ),
        ("join token", join_token),
        ("interaction token", interaction_token),
    ];
    for (what, value) in planted {
        assert!(value.len() > 8);
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(&value)).take(3).collect();
        assert!(
            lines.is_empty(),
            "the {what} appears in the log:\n{}",
            lines.join("\n")
        );
    }
    // Every KS the sandbox saw came from the bot; none may be logged.
    assert!(
        !log.contains("djJ8"),
        "a KS v2 (base64 of `v2|`) appears in the log"
    );
}

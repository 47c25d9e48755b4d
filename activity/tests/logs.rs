//! No credential reaches the logs: the whole debug log of the API (and the bot and Kaltura client
//! beside it) is searched for the bot token, the Kaltura admin secret, the Discord access token,
//! API and join tokens, and the KS minted for a join link.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};
use support::Server;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_appears_in_the_debug_log() {
    let log = Captured::default();
    let writer = log.clone();
    // The sandboxes stand for Discord and Kaltura themselves: what they log is not ours.
    tracing_subscriber::fmt()
        .with_env_filter("debug,kd_sandbox_discord=off,kd_sandbox_kaltura=off")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let server = Server::start().await;
    let world = &server.world;
    let access = server.discord_access_token(world.teacher).await;
    let answer = server.exchange(&access, &world.guild_key()).await;
    let api_token = answer.json()["token"].as_str().unwrap().to_string();
    let created = server
        .post(
            "/api/v1/meetings",
            &api_token,
            json!({"type": "meeting", "title": "Secrets"}),
        )
        .await;
    let id = created.json()["id"].as_str().unwrap().to_string();
    let link = server
        .post(
            &format!("/api/v1/meetings/{id}/join-link"),
            &api_token,
            json!({}),
        )
        .await
        .json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let join_token = link.rsplit('/').next().unwrap().to_string();
    let opened = server
        .send(server.request(Method::GET, &format!("/join/{join_token}"), None))
        .await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER);
    let location = opened.header("location").unwrap().to_string();
    let ks = location.split("ks=").nth(1).unwrap().to_string();
    // Failures log too: a refused Discord token, an expired join link, Kaltura down.
    server
        .exchange("refused-discord-token-xyz", &world.guild_key())
        .await;
    world.kaltura.knobs().set_down(true);
    server.get("/api/v1/videos?q=a", &api_token).await;
    server
        .send(server.request(Method::GET, &format!("/join/{join_token}"), None))
        .await;

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("join link opened"), "the log was captured");
    assert!(text.contains("API token issued"));
    for (what, secret) in [
        ("bot token", world.discord.bot_token()),
        (
            "Kaltura admin secret",
            world.kaltura.admin_secret().to_string(),
        ),
        ("Discord access token", access),
        (
            "refused Discord token",
            "refused-discord-token-xyz".to_string(),
        ),
        ("API token", api_token),
        ("join token", join_token),
        ("KS", ks),
    ] {
        assert!(!text.contains(&secret), "the {what} is in the log");
    }
}

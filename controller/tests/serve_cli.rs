//! `kaltura-discord serve` as deployed: a separate process reading a runtime-config file and
//! mounted secrets, in front of the Discord and Kaltura sandboxes, following edits of the file.

use kd_testing::wait;
use kd_tests::process::{Outside, WorkloadProcess};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Stdio;

const BIN: &str = env!("CARGO_BIN_EXE_kaltura-discord");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_process_answers_the_api_and_follows_its_config_file() {
    kd_kaltura::install_crypto_provider();
    let Outside {
        discord,
        kaltura,
        guild,
        user,
    } = Outside::start().await;
    let config = kd_tests::runtime_config(&discord, &kaltura, guild.id);
    let args = [
        "--cors-origin",
        "https://app.example.org",
        "--poll",
        "100ms",
    ];
    let mut server =
        WorkloadProcess::serve(BIN, &discord, &kaltura, &config, &args, Stdio::piped());
    let base = server.base_url();
    let http = reqwest::Client::new();

    wait("the server to be ready")
        .until(async || {
            let ready = http.get(format!("{base}/readyz")).send().await.ok()?;
            (ready.status() == StatusCode::OK).then_some(())
        })
        .await;

    let access = kd_tests::discord_access_token(&http, &discord, user).await;
    let token: Value = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"accessToken": access, "guildId": guild.id.to_string()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().expect("an API token").to_string();
    let meetings = || {
        http.get(format!("{base}/api/v1/meetings"))
            .bearer_auth(&token)
            .send()
    };
    let listed: Value = meetings().await.unwrap().json().await.unwrap();
    assert_eq!(listed, json!({"meetings": []}));

    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{base}/api/v1/meetings"))
        .header("origin", "https://app.example.org")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example.org"
    );

    // Editing the file (as a ConfigMap update does) applies without a restart.
    let mut changed = config.clone();
    changed
        .guilds
        .values_mut()
        .for_each(|g| g.features.meetings = false);
    let changed =
        kd_bot::config::RuntimeConfig::new(changed.application, changed.partners, changed.guilds);
    server.write_config(&changed);
    let refused = wait("the new config to apply")
        .until(async || {
            let answer = meetings().await.unwrap();
            (answer.status() == StatusCode::FORBIDDEN).then_some(answer)
        })
        .await;
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "feature_disabled");
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("kaltura_discord_api_requests_total"),
        "{metrics}"
    );

    let log = server.process.stop();
    assert!(log.contains("API token issued"), "{log}");
    for secret in [
        discord.bot_token(),
        kaltura.admin_secret().to_string(),
        access,
        token,
    ] {
        assert!(!log.contains(&secret), "a credential reached the log");
    }
}

//! `kaltura-discord serve` as deployed: a separate process reading a runtime-config file and
//! mounted secrets, in front of the Discord and Kaltura sandboxes, following edits of the file.

use kd_testing::wait;
use kd_tests::process::{Outside, WorkloadProcess};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Stdio;

const BIN: &str = env!("CARGO_BIN_EXE_kaltura-discord");

async fn wait_ready(base: &str) {
    let http = reqwest::Client::new();
    wait("the server to be ready")
        .until(async || {
            let ready = http.get(format!("{base}/readyz")).send().await.ok()?;
            (ready.status() == StatusCode::OK).then_some(())
        })
        .await;
}

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
    // A stand-in for the built Activity app.
    let web = tempfile::tempdir().unwrap();
    std::fs::write(
        web.path().join("index.html"),
        r#"<meta name="discord-client-id" content="%DISCORD_CLIENT_ID%">"#,
    )
    .unwrap();
    let web_dist = web.path().to_str().unwrap();
    let args = [
        "--cors-origin",
        "https://app.example.org",
        "--poll",
        "100ms",
        "--web-dist",
        web_dist,
    ];
    let mut server =
        WorkloadProcess::serve(BIN, &discord, &kaltura, &config, &args, Stdio::piped());
    let base = server.base_url();
    let http = reqwest::Client::new();

    wait_ready(&base).await;

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

    // The Activity's page at the root, with the application id written in.
    let page = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let page = page.text().await.unwrap();
    assert!(
        page.contains(&format!(r#"content="{}""#, discord.application_id())),
        "{page}"
    );

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
        kd_core::config::RuntimeConfig::new(changed.application, changed.partners, changed.guilds);
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

/// `count` exchanges of made-up tokens from 127.0.0.2, each claiming another address in
/// `X-Forwarded-For`; how many were refused with 429.
async fn garbage_exchanges(base: &str, guild: u64, count: usize) -> usize {
    let attacker = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let mut limited = 0;
    for i in 0..count {
        let answer = attacker
            .post(format!("{base}/api/v1/auth/token"))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"accessToken": format!("garbage-{i}"), "guildId": guild.to_string()}))
            .send()
            .await
            .unwrap();
        match answer.status() {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(answer.headers().contains_key("retry-after"));
                limited += 1;
            }
            other => panic!("garbage exchange answered {other}"),
        }
    }
    limited
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_token_exchanges_from_one_address_do_not_lock_members_out() {
    kd_kaltura::install_crypto_provider();
    let Outside {
        discord,
        kaltura,
        guild,
        user,
    } = Outside::start().await;
    let config = kd_tests::runtime_config(&discord, &kaltura, guild.id);
    let server = WorkloadProcess::serve(BIN, &discord, &kaltura, &config, &[], Stdio::null());
    let base = server.base_url();
    wait_ready(&base).await;

    // 100 made-up tokens from one address (60 allowed at once): its own share runs out, and a
    // forged X-Forwarded-For does not buy another.
    let limited = garbage_exchanges(&base, guild.id, 100).await;
    assert!(
        limited >= 20,
        "only {limited} of 100 garbage exchanges were limited"
    );

    // A member of the guild, from their own address, still gets an API token.
    let access = kd_tests::discord_access_token(&reqwest::Client::new(), &discord, user).await;
    let answer = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"accessToken": access, "guildId": guild.id.to_string()}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::OK,
        "{}",
        answer.text().await.unwrap()
    );

    // Behind one trusted proxy the client is the address it appended: each claimed address
    // above is another client then, with a share of its own.
    let proxied = WorkloadProcess::serve(
        BIN,
        &discord,
        &kaltura,
        &config,
        &["--trusted-proxy-hops", "1"],
        Stdio::null(),
    );
    wait_ready(&proxied.base_url()).await;
    let limited = garbage_exchanges(&proxied.base_url(), guild.id, 70).await;
    assert_eq!(limited, 0, "distinct forwarded clients shared a quota");
}

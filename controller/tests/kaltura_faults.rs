//! The `bot` and `serve` processes when Kaltura is slow, failing, or refuses their session, with
//! the Kaltura sandbox's fault knobs: a rotated secret followed from the mounted Secret (the
//! kubelet's `..data` swap) and kept out of the log, a refused KS replaced once, and a clear
//! answer to the member in Discord when Kaltura cannot help.

use kd_core::command::Command;
use kd_sandbox_discord::{DiscordSandbox, GuildCreated, NewCommandInteraction};
use kd_sandbox_kaltura::{Errors, RefuseKs, Slow};
use kd_tests::process::{Outside, WorkloadProcess};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_kaltura-discord");
const REFUSED: &str = "Kaltura refused this server's credentials; an administrator needs to check the partner's secret.";
const UNREACHABLE: &str = "Kaltura cannot be reached right now. Please try again in a moment.";
const TIMED_OUT: &str = "Kaltura did not answer in time. Please try again in a moment.";

async fn eventually<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a member saw: the first response, when it came, and the final text.
struct Answer {
    /// 4: answered at once; 5: deferred ("thinking..."), then edited.
    kind: u64,
    first_after: Duration,
    text: String,
    final_after: Duration,
}

/// A member runs `/kaltura-video-search query:<query>` and waits for the final answer.
async fn search(discord: &DiscordSandbox, guild: &GuildCreated, user: u64, query: &str) -> Answer {
    let started = Instant::now();
    let sent = discord
        .invoke_command(NewCommandInteraction {
            guild_id: guild.id,
            channel_id: guild.general_channel_id,
            user_id: user,
            name: Command::VideoSearch.name().into(),
            options: vec![json!({"name": "query", "value": query})],
            ..NewCommandInteraction::default()
        })
        .unwrap();
    let callback = eventually("the first response", || {
        discord.interaction(sent.id).unwrap().callback
    })
    .await;
    let first_after = started.elapsed();
    let kind = callback["type"].as_u64().unwrap();
    if kind == 4 {
        let text = callback["data"]["content"].as_str().unwrap().to_string();
        return Answer {
            kind,
            first_after,
            text,
            final_after: first_after,
        };
    }
    let original = eventually("the edit of the deferred answer", || {
        discord
            .interaction(sent.id)
            .unwrap()
            .original
            .filter(|o| o["content"].as_str().is_some_and(|c| !c.is_empty()))
    })
    .await;
    Answer {
        kind,
        first_after,
        text: original["content"].as_str().unwrap().to_string(),
        final_after: started.elapsed(),
    }
}

fn found(answer: &Answer) -> bool {
    answer.text.contains("page 1 of")
}

async fn start_bot(outside: &Outside) -> WorkloadProcess {
    let config = kd_tests::runtime_config(&outside.discord, &outside.kaltura, outside.guild.id);
    let args = [
        "--shards",
        "1",
        "--log-format",
        "json",
        "--log",
        "info,kd_kaltura=debug,kd_bot=debug",
    ];
    let bot = WorkloadProcess::bot(
        BIN,
        &outside.discord,
        &outside.kaltura,
        &config,
        &args,
        Stdio::piped(),
    );
    bot.ready().await;
    eventually("commands registered", || {
        outside
            .discord
            .commands(Some(outside.guild.id))
            .ok()
            .filter(|c| c.iter().any(|c| c["name"] == Command::VideoSearch.name()))
    })
    .await;
    bot
}

fn log_of(mut process: WorkloadProcess) -> String {
    process.process.stop()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_follows_a_rotated_secret_within_a_second_and_never_logs_it() {
    let outside = Outside::start().await;
    let (discord, guild, user) = (&outside.discord, &outside.guild, outside.user);
    let bot = start_bot(&outside).await;
    assert!(found(&search(discord, guild, user, "physics").await));

    let old = outside.kaltura.admin_secret().to_string();
    let new = outside.kaltura.rotate_admin_secret(None).unwrap();
    // Kaltura has the new secret, the Secret not yet: the member hears why, an admin can act.
    let refused = search(discord, guild, user, "physics").await;
    assert_eq!(refused.text, REFUSED);

    bot.rotate_secret("kaltura", "adminSecret", &new);
    let rotated = Instant::now();
    let answer = search(discord, guild, user, "physics").await;
    assert!(found(&answer), "{}", answer.text);
    let took = rotated.elapsed();
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert_eq!(answer.kind, 4, "answered without a deferral");

    let log = log_of(bot);
    assert!(
        log.contains("the partner's admin secret changed"),
        "the change is logged: {log}"
    );
    for secret in [&old, &new] {
        assert!(!log.contains(secret.as_str()), "a secret in the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_session_is_replaced_once_then_the_member_is_told() {
    let outside = Outside::start().await;
    let (discord, guild, user) = (&outside.discord, &outside.guild, outside.user);
    let knobs = outside.kaltura.knobs();
    let bot = start_bot(&outside).await;
    assert!(found(&search(discord, guild, user, "physics").await));

    // Kaltura drops the session early once (expired, revoked): a new one, and the search works.
    knobs
        .set_refuse_ks(Some(RefuseKs {
            reason: "EXPIRED".into(),
            count: Some(1),
            service: None,
        }))
        .unwrap();
    let before = knobs.requests();
    let answer = search(discord, guild, user, "physics").await;
    assert!(found(&answer), "{}", answer.text);
    assert_eq!(knobs.requests() - before, 2, "one refused, one renewed");

    // Refused whatever the session: one new session, then a clear answer.
    knobs
        .set_refuse_ks(Some(RefuseKs {
            reason: "INVALID_STR".into(),
            count: None,
            service: None,
        }))
        .unwrap();
    let before = knobs.requests();
    let answer = search(discord, guild, user, "physics").await;
    assert_eq!(answer.text, REFUSED);
    assert!(answer.final_after < Duration::from_secs(3));
    assert_eq!(knobs.requests() - before, 2, "renewed once, not in a loop");
    knobs.set_refuse_ks(None).unwrap();
    assert!(found(&search(discord, guild, user, "physics").await));

    let log = log_of(bot);
    assert!(
        !log.contains(outside.kaltura.admin_secret()),
        "a secret in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_or_failing_kaltura_gets_a_clear_answer_in_discord() {
    let outside = Outside::start().await;
    let (discord, guild, user) = (&outside.discord, &outside.guild, outside.user);
    let knobs = outside.kaltura.knobs();
    let _bot = start_bot(&outside).await;

    // 5xx for a while: an answer at once, then searches work again when the period is over.
    knobs
        .set_errors(Some(Errors {
            seconds: Some(3.0),
            ..Errors::all(503)
        }))
        .unwrap();
    let down = search(discord, guild, user, "physics").await;
    assert_eq!((down.kind, down.text.as_str()), (4, UNREACHABLE));
    assert!(
        down.final_after < Duration::from_secs(3),
        "{:?}",
        down.final_after
    );
    eventually("the 5xx period to end", || (!knobs.is_down()).then_some(())).await;
    assert!(found(&search(discord, guild, user, "physics").await));

    // Half the requests fail (the bot retries a read once): every member gets an answer in time.
    knobs.set_error_rate(0.5);
    for _ in 0..6 {
        let answer = search(discord, guild, user, "physics").await;
        assert!(
            found(&answer) || answer.text == UNREACHABLE,
            "{}",
            answer.text
        );
        assert!(answer.first_after < Duration::from_secs(3));
    }
    knobs.set_error_rate(0.0);

    // Slower than the bot's patience: "thinking..." before Discord's 3 s, then a clear error.
    knobs
        .set_slow(Some(Slow {
            delay_ms: 5_000,
            jitter_ms: 500,
            service: None,
        }))
        .unwrap();
    let slow = search(discord, guild, user, "physics").await;
    assert_eq!(slow.kind, 5, "deferred");
    assert!(
        slow.first_after < Duration::from_secs(3),
        "{:?}",
        slow.first_after
    );
    assert_eq!(slow.text, TIMED_OUT);
    eprintln!(
        "slow Kaltura: deferred after {:?}, final answer after {:?}",
        slow.first_after, slow.final_after
    );

    // Slow but within it: deferred, then the results.
    knobs
        .set_slow(Some(Slow {
            delay_ms: 2_600,
            jitter_ms: 200,
            service: None,
        }))
        .unwrap();
    let late = search(discord, guild, user, "physics").await;
    assert_eq!(late.kind, 5);
    assert!(late.first_after < Duration::from_secs(3));
    assert!(found(&late), "{}", late.text);
}

/// An API token for `user` through the `serve` process, as the Activity gets one.
async fn api_token(http: &reqwest::Client, base: &str, outside: &Outside) -> String {
    let access = kd_tests::discord_access_token(http, &outside.discord, outside.user).await;
    let token: Value = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"accessToken": access, "guildId": outside.guild.id.to_string()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["token"].as_str().expect("an API token").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_follows_a_rotated_secret_and_names_refused_credentials() {
    kd_kaltura::install_crypto_provider();
    let outside = Outside::start().await;
    let config = kd_tests::runtime_config(&outside.discord, &outside.kaltura, outside.guild.id);
    let server = WorkloadProcess::serve(
        BIN,
        &outside.discord,
        &outside.kaltura,
        &config,
        &["--log-format", "json"],
        Stdio::piped(),
    );
    let base = server.base_url();
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == StatusCode::OK)
    {
        assert!(Instant::now() < deadline, "the server never got ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = api_token(&http, &base, &outside).await;
    let videos = || async {
        let answer = http
            .get(format!("{base}/api/v1/videos?q=physics"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = answer.status();
        (status, answer.json::<Value>().await.unwrap())
    };
    assert_eq!(videos().await.0, StatusCode::OK);

    let new = outside.kaltura.rotate_admin_secret(None).unwrap();
    let (status, body) = videos().await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["error"]["code"], "kaltura_credentials_refused");
    assert_eq!(body["error"]["message"], REFUSED);

    server.rotate_secret("kaltura", "adminSecret", &new);
    let (status, body) = videos().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!body["videos"].as_array().unwrap().is_empty());

    let log = log_of(server);
    for secret in [outside.kaltura.admin_secret(), new.as_str()] {
        assert!(!log.contains(secret), "a secret in the log");
    }
}

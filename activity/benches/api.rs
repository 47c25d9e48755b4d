//! Latency and throughput of the API in front of the sandboxes (release build; prints JSON):
//! `GET /api/v1/meetings` (store + Kaltura, no Discord call) at concurrency 8, and opening a
//! join link (token check, store, Kaltura, Discord member, KS minting) paced under Discord's
//! 50 requests/s global limit of the bot token, which every open spends one request of; the
//! join on loopback and with Discord latency injected.

#[path = "../tests/support/mod.rs"]
mod support;

use kd_activity::ApiOptions;
use kd_testing::bench::{Network, summary_ms};
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::Server;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = Arc::new(
        Server::start_with(ApiOptions {
            rate_per_minute: 1_000_000.try_into().unwrap(),
            rate_burst: 100_000.try_into().unwrap(),
            ..ApiOptions::default()
        })
        .await,
    );
    let teacher = server.token(server.world.teacher).await;
    let created = server
        .post(
            "/api/v1/meetings",
            &teacher,
            json!({"type": "meeting", "title": "Bench"}),
        )
        .await;
    let id = created.json()["id"].as_str().unwrap().to_string();

    // Warm-up, then 2,000 list requests from 8 concurrent clients.
    for _ in 0..50 {
        server.get("/api/v1/meetings", &teacher).await;
    }
    let total = 2000;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let server = server.clone();
        let teacher = teacher.clone();
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::with_capacity(total / 8);
            for _ in 0..total / 8 {
                let t = Instant::now();
                let answer = server.get("/api/v1/meetings", &teacher).await;
                assert_eq!(answer.status, StatusCode::OK);
                times.push(t.elapsed());
            }
            times
        }));
    }
    let mut list_times = Vec::new();
    for task in tasks {
        list_times.extend(task.await.unwrap());
    }
    let list_rate = total as f64 / started.elapsed().as_secs_f64();

    let link = server
        .post(
            &format!("/api/v1/meetings/{id}/join-link"),
            &teacher,
            json!({}),
        )
        .await
        .json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/join/{}", link.rsplit('/').next().unwrap());
    let mut joins = Vec::new();
    for network in Network::BOTH {
        let (latency, jitter) = network.latency_jitter();
        server.world.discord.set_latency_jitter(latency, jitter);
        let mut times = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(40));
        for _ in 0..200 {
            tick.tick().await;
            let t = Instant::now();
            let answer = server.send(server.request(Method::GET, &path, None)).await;
            assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
            times.push(t.elapsed());
        }
        joins.push(json!({
            "discord_latency_ms": network.to_json(),
            "join_redirect": summary_ms(&mut times),
        }));
    }
    println!(
        "{}",
        json!({
            "list_meetings": summary_ms(&mut list_times),
            "list_meetings_per_sec": (list_rate * 10.0).round() / 10.0,
            "join": joins,
        })
    );
}

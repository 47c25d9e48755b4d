//! Benchmark: KS generate/parse throughput, and search round trips against the in-process sandbox
//! at fixed concurrency. Prints one JSON object. Run: `cargo bench -p kd-kaltura --bench kaltura`.

use kd_kaltura::ks::{self, KsRequest, Privileges, SessionType};
use kd_kaltura::types::Pager;
use kd_kaltura::{Client, ClientConfig, Secret};
use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use serde_json::json;
use std::hint::black_box;
use std::time::{Duration, Instant};

const KS_WINDOW: Duration = Duration::from_secs(1);
const CONCURRENCY: usize = 8;
const SEARCHES: usize = 4_000;
const TERMS: &[&str] = &[
    "physics",
    "lecture",
    "revolution",
    "sorting",
    "dna",
    "keynote",
    "calculus",
    "orbits",
];

/// Operations per second of `op`, run for about `KS_WINDOW`.
fn per_second(mut op: impl FnMut(u64)) -> f64 {
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < KS_WINDOW {
        for _ in 0..100 {
            op(n);
            n += 1;
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let secret = Secret::new("8f6a1c2b3d4e5f60718293a4b5c6d7e8");
    let request = KsRequest::new(4_300_101, SessionType::User)
        .user("discord:1283874310720716890")
        .privileges(Privileges::parse(
            "sview:*,setrole:1001,privacycontext:physics",
        ));
    let sample_v2 = ks::generate_v2(&secret, &request);
    let sample_v1 = ks::generate_v1(&secret, &request);
    let secrets = [secret.clone()];
    let generate_v2 = per_second(|_| {
        black_box(ks::generate_v2(&secret, &request));
    });
    let parse_v2 = per_second(|_| {
        black_box(ks::decode(sample_v2.expose(), &secrets).expect("valid"));
    });
    let generate_v1 = per_second(|_| {
        black_box(ks::generate_v1(&secret, &request));
    });
    let parse_v1 = per_second(|_| {
        black_box(ks::decode(sample_v1.expose(), &secrets).expect("valid"));
    });

    let sandbox = KalturaSandbox::start(SandboxConfig::default()).await?;
    let client = Client::new(ClientConfig::new(sandbox.base_url(), sandbox.partner_id()))?;
    let ks = client
        .session_start(
            &Secret::new(sandbox.admin_secret()),
            "bench",
            SessionType::Admin,
            3600,
            &Privileges::default(),
        )
        .await?;
    let client = client.with_ks(ks);
    // Warm up connections.
    for term in TERMS {
        client.search_entries(term, Pager::new(10, 1)).await?;
    }
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..CONCURRENCY {
        let client = client.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(SEARCHES / CONCURRENCY);
            for i in 0..SEARCHES / CONCURRENCY {
                let term = TERMS[(worker + i) % TERMS.len()];
                let t = Instant::now();
                let found = client.search_entries(term, Pager::new(10, 1)).await?;
                latencies.push(t.elapsed());
                anyhow::ensure!(found.total_count > 0, "no results for {term}");
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(SEARCHES);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let wall = started.elapsed();
    latencies.sort();

    let report = json!({
        "ks_per_second": {
            "generate_v2": generate_v2.round(),
            "parse_v2": parse_v2.round(),
            "generate_v1": generate_v1.round(),
            "parse_v1": parse_v1.round(),
        },
        "search_round_trip": {
            "backend": "eSearch searchEntry via kd-kaltura against the in-process sandbox",
            "concurrency": CONCURRENCY,
            "requests": latencies.len(),
            "p50_ms": (percentile(&latencies, 0.50) * 1000.0).round() / 1000.0,
            "p99_ms": (percentile(&latencies, 0.99) * 1000.0).round() / 1000.0,
            "max_ms": (percentile(&latencies, 1.0) * 1000.0).round() / 1000.0,
            "requests_per_second": (latencies.len() as f64 / wall.as_secs_f64()).round(),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    sandbox.stop().await;
    Ok(())
}

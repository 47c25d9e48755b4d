//! Every HTTP server of ours (`serve`, the bot's status port, the operator's metrics) under a
//! flood of half-sent requests, each in a process allowed 256 open files as a small container
//! might be: the half-sent requests are cut off, the surplus is refused with 503, and
//! `/healthz` answers again within seconds. Without the limits the 300 connections exhaust the
//! files, accepting fails and `/healthz` waits for minutes.

use kd_sandbox_kubernetes::{Config as KubeConfig, KubernetesSandbox};
use kd_tests::process::{Outside, WorkloadProcess};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_kaltura-discord");

/// The server options under test: timeouts short enough for a quick test, yet long enough that
/// the flood's connections are all open before the first is cut off (on a loaded machine the
/// 300 connects take over a second), and a connection limit below the open-file limit.
const LIMITS: &[&str] = &[
    "--max-connections",
    "128",
    "--header-read-timeout",
    "4s",
    "--body-read-timeout",
    "4s",
];

/// A script that runs the binary with at most 256 open files.
fn limited_binary(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("kaltura-discord");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nulimit -n 256\nexec '{BIN}' \"$@\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// `GET /healthz` answered with 200 within a second.
async fn healthy(port: u16) -> bool {
    let probe = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .ok()?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.ok()?;
        Some(out.starts_with(b"HTTP/1.1 200"))
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), probe).await,
        Ok(Some(true))
    )
}

async fn wait_healthy(port: u16, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while !healthy(port).await {
        assert!(
            Instant::now() < deadline,
            "{what}: /healthz does not answer"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// 300 half-sent requests (a header that never ends, a body shorter than its length), then
/// `/healthz`.
async fn flood(port: u16, post: &str, what: &str) {
    wait_healthy(port, Duration::from_secs(30), what).await;
    let mut held = Vec::new();
    for i in 0..300 {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
            continue;
        };
        let half = if i % 2 == 0 {
            "GET /healthz HTTP/1.1\r\nhost: x\r\n".to_string()
        } else {
            format!(
                "POST {post} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"a"
            )
        };
        let _ = stream.write_all(half.as_bytes()).await;
        held.push(stream);
    }
    // Each is answered (503 when over the limit) or closed by the server within seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut refused = 0;
    for stream in &mut held {
        let mut out = Vec::new();
        let read = tokio::time::timeout_at(deadline, stream.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "{what}: a half-sent request is still held");
        refused += usize::from(out.starts_with(b"HTTP/1.1 503"));
    }
    assert!(refused > 0, "{what}: nothing was refused over the limit");
    drop(held);
    wait_healthy(port, Duration::from_secs(5), what).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_the_bot_survive_half_sent_requests() {
    kd_kaltura::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let bin = limited_binary(dir.path());
    let bin = bin.to_str().unwrap();
    let outside = Outside::start().await;
    let config = kd_tests::runtime_config(&outside.discord, &outside.kaltura, outside.guild.id);
    let (discord, kaltura) = (&outside.discord, &outside.kaltura);
    let serve = WorkloadProcess::serve(bin, discord, kaltura, &config, LIMITS, Stdio::null());
    flood(serve.port, "/api/v1/auth/token", "serve").await;
    let bot = WorkloadProcess::bot(bin, discord, kaltura, &config, LIMITS, Stdio::null());
    flood(bot.port, "/healthz", "bot").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_survives_half_sent_requests() {
    let cluster = KubernetesSandbox::start(KubeConfig::default())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    cluster.write_kubeconfig(&kubeconfig).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let operator = Command::new(limited_binary(dir.path()))
        .args(["operator", "--listen", &format!("127.0.0.1:{port}")])
        .args(LIMITS)
        .env("KUBECONFIG", &kubeconfig)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut operator = Stopped(operator);
    flood(port, "/healthz", "operator").await;
    let running = operator.0.try_wait().unwrap().is_none();
    assert!(running, "the operator exited");
}

/// A child process stopped when the test ends, passed or not.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

//! The official Kaltura clients (Python: XML; Node: JSON) against the sandbox. Each script checks
//! its own results and exits non-zero on a mismatch; this test checks the summary it prints.

use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tools_dir() -> PathBuf {
    std::env::var_os("KD_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools"))
}

fn require(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} not found at {} — run .ci/setup (or .ci/setup.d/kaltura.sh)",
        path.display()
    );
    path
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(name)
}

/// What the scripts should find for the free text "physics": computed here from the seed.
fn physics_total(sandbox: &KalturaSandbox) -> usize {
    sandbox
        .entries()
        .iter()
        .filter(|e| {
            ["name", "tags", "description"].iter().any(|f| {
                e[*f]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase()
                    .contains("physics")
            })
        })
        .count()
}

async fn run_script(sandbox: &KalturaSandbox, mut command: Command) -> Value {
    command
        .env("KALTURA_URL", sandbox.base_url())
        .env("KALTURA_PARTNER_ID", sandbox.partner_id().to_string())
        .env("KALTURA_ADMIN_SECRET", sandbox.admin_secret())
        .env("EXPECT_PHYSICS_TOTAL", physics_total(sandbox).to_string());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .expect("spawn client script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "client script failed ({}):\nstdout: {stdout}\nstderr: {stderr}",
        output.status
    );
    let line = stdout.lines().last().expect("summary line");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("summary is not JSON ({e}): {line}"))
}

fn assert_summary(sandbox: &KalturaSandbox, summary: &Value, client: &str, user: &str) {
    assert_eq!(summary["client"], client);
    assert_eq!(summary["failures"], serde_json::json!([]), "{summary}");
    let names: Vec<&str> = summary["page_names"]
        .as_array()
        .expect("page names")
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    // Page 2 of size 3 of the physics entries sorted by name, computed independently.
    let mut all: Vec<String> = sandbox
        .entries()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .filter(|n| n.starts_with("PHYS 101"))
        .collect();
    all.sort_by_key(|n| n.to_lowercase());
    assert_eq!(
        names,
        all[3..6].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(summary["esearch_total"], 2);
    assert_eq!(summary["user"], user);
    let newton = sandbox
        .entries()
        .into_iter()
        .find(|e| e["name"].as_str().unwrap().contains("Newton"))
        .unwrap();
    assert_eq!(summary["multirequest_entry"], newton["id"]);
    assert!(summary["ks_length"].as_i64().unwrap() > 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_client_speaks_to_the_sandbox() {
    let python = require(
        tools_dir().join("venv/bin/python"),
        "Python venv with KalturaApiClient",
    );
    let sandbox = KalturaSandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let mut command = Command::new(python);
    command.arg(script("python_client.py"));
    let summary = run_script(&sandbox, command).await;
    assert_summary(&sandbox, &summary, "python", "py.student");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_node_client_speaks_to_the_sandbox() {
    let modules = require(tools_dir().join("node/node_modules"), "npm kaltura-client");
    require(
        modules.join("kaltura-client/package.json"),
        "npm kaltura-client",
    );
    let sandbox = KalturaSandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    let mut command = Command::new("node");
    command
        .env("NODE_PATH", &modules)
        .arg(script("node_client.js"));
    let summary = run_script(&sandbox, command).await;
    assert_summary(&sandbox, &summary, "node", "node.student");
}

//! The console of `kaltura-discord up` in Chromium (playwright-core): a member of the seeded
//! Physics 101 runs `/kaltura-video-search` from the composer, sees the results with their
//! buttons, presses Watch, lands in Watch Together through the Discord sandbox's Activity host
//! page and sees the player play; then publishes an upload (entry ready) and a recording
//! from the Kaltura panel and sees each notification arrive in `#recordings`. Screenshots:
//! `target/artifacts/up_console_*_desktop.png`.

mod up_support;

use kd_core::command::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};
use up_support::{Up, copy_examples, tools};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_searches_and_starts_watch_together_from_the_console() {
    let tools = tools();
    let chromium = PathBuf::from("/usr/bin/chromium");
    let playwright = tools.join("node/node_modules/playwright-core/package.json");
    for (path, what) in [
        (&chromium, "chromium"),
        (&playwright, "npm playwright-core"),
    ] {
        assert!(
            path.exists(),
            "{what} missing at {} — run .ci/setup",
            path.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let (folder, state) = (dir.path().join("manifests"), dir.path().join("state"));
    copy_examples(&folder);
    let up = Up::start(&folder, &state);
    up.ready().await;

    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let mut command = std::process::Command::new("node");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/up_console/drive.cjs"))
        .env("NODE_PATH", tools.join("node/node_modules"))
        .env("CONSOLE", up.url("console"))
        .env("COMMAND", Command::VideoSearch.name())
        .env("CHROMIUM", &chromium)
        .env("ARTIFACTS", &artifacts);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "console run failed:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(seen["failure"], Value::Null, "{seen}\nup:\n{}", up.output());
    assert_eq!(
        seen["errors"],
        serde_json::json!([]),
        "no page errors: {seen}"
    );
    let search = format!("/{}", Command::VideoSearch.name());
    assert!(
        seen["suggested"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == search.as_str()),
        "{seen}"
    );
    assert!(seen["hint"].as_str().unwrap().contains("query:"), "{seen}");
    let reply = &seen["reply"];
    assert!(
        reply["used"]
            .as_str()
            .unwrap()
            .contains(&format!("member used {search}")),
        "{reply}"
    );
    assert!(
        reply["text"].as_str().unwrap().contains("Lecture"),
        "{reply}"
    );
    assert!(
        reply["buttons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b == "Watch 1"),
        "{reply}"
    );
    let activity = &seen["activity"];
    assert_eq!(activity["channel"], seen["activityChannel"], "{seen}");
    let participants: Vec<&Value> = activity["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["id"])
        .collect();
    assert_eq!(participants, [&seen["member"]], "{seen}");
    let player = &seen["player"];
    assert_eq!(player["paused"], false, "{seen}");
    assert!(player["time"].as_f64().unwrap() > 1.0, "{seen}");
    assert_eq!(player["state"], "playing", "{seen}");
    assert!(player["entry"].is_string(), "{seen}");
    for (event, name) in [
        ("entryReady", "Upload 1 from the console"),
        ("recordingReady", "Recording 2 from the console"),
    ] {
        let notification = &seen[event];
        let text = notification["text"].as_str().unwrap_or_default();
        assert!(
            text.contains(&format!("New recording: {name} (45:00)")),
            "{event}: {seen}"
        );
        assert!(
            notification["buttons"]
                .as_array()
                .is_some_and(|b| b.iter().any(|b| b == "Watch Together")),
            "{event}: {notification}"
        );
    }
    assert!(
        seen["kalturaLog"]
            .as_str()
            .unwrap()
            .contains("physics-101-recordings posts to #recordings"),
        "{seen}"
    );
    for step in ["start", "search", "watch", "notification"] {
        assert!(
            artifacts
                .join(format!("up_console_{step}_desktop.png"))
                .exists()
        );
    }
}

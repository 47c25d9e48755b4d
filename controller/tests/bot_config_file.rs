//! `kaltura-discord bot` following a ConfigMap-style mount (`runtime.json -> ..data/runtime.json`,
//! `..data -> ..<version>/`) while it breaks: the link left dangling, the file deleted, bytes
//! that are not UTF-8. The running config stays each time, and the log says so once per
//! problem and again when the file is back.

use kd_tests::process::WorkloadProcess;
use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Points `link` at `target` in one step, as the kubelet swaps `..data`.
fn relink(dir: &Path, link: &str, target: &str) {
    let temp = dir.join(format!("{link}.tmp"));
    let _ = std::fs::remove_file(&temp);
    symlink(target, &temp).unwrap();
    std::fs::rename(&temp, dir.join(link)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_config_file_is_warned_about_once_per_problem() {
    let outside = kd_tests::process::Outside::start().await;
    let config = kd_tests::runtime_config(&outside.discord, &outside.kaltura, outside.guild.id);
    let args = ["--shards", "1", "--poll", "50ms", "--log-format", "json"];
    let mut bot = WorkloadProcess::bot(
        env!("CARGO_BIN_EXE_kaltura-discord"),
        &outside.discord,
        &outside.kaltura,
        &config,
        &args,
        Stdio::piped(),
    );
    let mut stdout = bot.process.child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut log = String::new();
        stdout.read_to_string(&mut log).unwrap();
        log
    });
    let running = |bot: &WorkloadProcess| {
        let revision = format!(
            "kaltura_discord_bot_config_revision{{revision=\"{}\"}}",
            config.revision
        );
        bot.metric(&revision) == Some(1.0)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !running(&bot) {
        assert!(
            Instant::now() < deadline,
            "the bot never reported its revision"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Become a ConfigMap mount with the same content.
    let dir = bot.config_file.parent().unwrap().to_path_buf();
    std::fs::create_dir(dir.join("..v1")).unwrap();
    std::fs::write(dir.join("..v1/runtime.json"), config.to_json()).unwrap();
    relink(&dir, "..data", "..v1");
    relink(&dir, "runtime.json", "..data/runtime.json");
    let settle = || tokio::time::sleep(Duration::from_millis(400));
    settle().await;

    relink(&dir, "..data", "..v2"); // dangling: ..v2 does not exist
    settle().await;
    relink(&dir, "..data", "..v1");
    settle().await;
    std::fs::write(
        dir.join("..v1/runtime.json"),
        b"{\"revision\": \"\xff\xfe\"}",
    )
    .unwrap();
    settle().await;
    std::fs::remove_file(dir.join("runtime.json")).unwrap();
    settle().await;
    assert!(running(&bot), "the running config stayed through all of it");
    // Back, with the old content: readable again, nothing to apply.
    std::fs::write(dir.join("runtime.json"), config.to_json()).unwrap();
    settle().await;
    assert!(running(&bot));

    let _ = bot.process.child.kill();
    let _ = bot.process.child.wait();
    let log = reader.join().unwrap();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let problems: Vec<&str> = records
        .iter()
        .filter(|r| {
            r["fields"]["message"]
                == "cannot read the runtime config file; keeping the running config"
        })
        .map(|r| {
            assert_eq!(r["level"], "WARN");
            r["fields"]["problem"].as_str().unwrap()
        })
        .collect();
    assert_eq!(problems.len(), 3, "one warning per problem: {problems:#?}");
    assert!(
        problems[0].contains("symlink to nothing"),
        "{}",
        problems[0]
    );
    assert!(problems[1].contains("not UTF-8"), "{}", problems[1]);
    assert_eq!(problems[2], "it does not exist");
    let back = records
        .iter()
        .filter(|r| r["fields"]["message"] == "the runtime config file is readable again")
        .count();
    assert_eq!(back, 2, "after the dangling link, and at the end");
    assert!(
        !log.contains("runtime config changed"),
        "nothing new was applied"
    );
}

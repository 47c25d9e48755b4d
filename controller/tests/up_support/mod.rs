//! `kaltura-discord up` as a user runs it: a copy of `examples/` in a temporary folder, a state
//! folder, free ports; its stdout read line by line (the URLs, `ready`, applied and refused
//! edits), and the Discord sandbox it started driven through its control API.

#![allow(dead_code)] // each test file uses its own part

use kd_testing::wait;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_kaltura-discord");

/// Readiness on a loaded 2-core machine: generous.
pub const READY: Duration = Duration::from_secs(90);

/// The test tools `.ci/setup` installs (Chromium's driver, the sandbox's media clip).
pub fn tools() -> PathBuf {
    std::env::var_os("KD_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools"))
}

pub fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

/// Copies `examples/` into `to` (files only, recursively).
pub fn copy_examples(to: &Path) {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    copy(&examples(), to);
}

pub struct Up {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    pub started: Instant,
}

impl Up {
    /// Starts `up FOLDER --state STATE` on free ports.
    pub fn start(folder: &Path, state: &Path) -> Self {
        let mut child = Command::new(BIN)
            .args(["up"])
            .arg(folder)
            .arg("--state")
            .arg(state)
            .args([
                "--console",
                "127.0.0.1:0",
                "--listen",
                "127.0.0.1:0",
                "--log",
                "warn",
            ])
            // From the checkout's root, as a user runs it: the Activity's build and the media
            // clip the Kaltura sandbox plays are found where `.ci/setup` puts them.
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting kaltura-discord up");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            lines,
            started: Instant::now(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The index of the first line at or after `from` that starts with `prefix`.
    pub fn find(&self, prefix: &str, from: usize) -> Option<(usize, String)> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, l)| l.starts_with(prefix))
            .map(|(i, l)| (i, l.clone()))
    }

    pub fn line_count(&self) -> usize {
        self.lines.lock().unwrap().len()
    }

    /// Waits for a line starting with `prefix` printed at or after line `from`.
    pub async fn wait_line(&self, prefix: &str, from: usize, timeout: Duration) -> (usize, String) {
        let what = format!("a line starting with {prefix:?}");
        let lines = self.lines.clone();
        wait(&what)
            .timeout(timeout)
            .explain(|| format!("output:\n{}", lines.lock().unwrap().join("\n")))
            .until(async || self.find(prefix, from))
            .await
    }

    pub async fn ready(&self) -> String {
        self.wait_line("ready in ", 0, READY).await.1
    }

    /// The URL printed on the line `label:` (`console`, `api`, `activity`).
    pub fn url(&self, label: &str) -> String {
        let (_, line) = self
            .find(&format!("{label}:"), 0)
            .unwrap_or_else(|| panic!("no {label} line in:\n{}", self.output()));
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .trim_end_matches('/')
            .to_string()
    }

    /// Sends `signal` (`INT`, `TERM`) and waits for the exit; how long it took.
    pub fn signal(&mut self, signal: &str) -> (ExitStatus, Duration) {
        let sent = Instant::now();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
        // Bounded well past the 2 s the exit must take, so a hang fails instead of blocking.
        let deadline = sent + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, sent.elapsed());
            }
            assert!(
                Instant::now() < deadline,
                "up did not exit on SIG{signal}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Discord sandbox `up` started, found through the console's `/config.json`.
pub struct Discord {
    pub http: reqwest::Client,
    pub base: String,
}

impl Discord {
    pub async fn of(up: &Up) -> Self {
        let http = http();
        let config: Value = http
            .get(format!("{}/config.json", up.url("console")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let base = config["discord"]["base_url"]
            .as_str()
            .expect("sandbox mode")
            .to_string();
        Self { http, base }
    }

    pub async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/_sandbox{path}", self.base))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}/_sandbox{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "POST {path}: {status} {body}");
        body
    }

    /// The guild's id, a text channel's id and a member's id, by names.
    pub async fn ids(&self, guild_id: &str, channel: &str, username: &str) -> (String, String) {
        let guilds = self.get("/guilds").await;
        let guild = guilds
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == guild_id)
            .unwrap_or_else(|| panic!("guild {guild_id} seeded: {guilds}"));
        let channel = guild["channels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == channel && c["type"] == 0)
            .unwrap_or_else(|| panic!("channel {channel} seeded"));
        let member = guild["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["user"]["username"] == username)
            .unwrap_or_else(|| panic!("member {username} seeded: {}", guild["members"]));
        (
            channel["id"].as_str().unwrap().to_string(),
            member["user"]["id"].as_str().unwrap().to_string(),
        )
    }

    /// Runs a slash command as a member and returns the text of the reply (waiting out a
    /// deferral).
    pub async fn run(
        &self,
        guild: &str,
        channel: &str,
        user: &str,
        name: &str,
        options: Value,
    ) -> String {
        let created = self
            .post(
                "/interactions/command",
                json!({"guild_id": guild, "channel_id": channel, "user_id": user, "name": name, "options": options}),
            )
            .await;
        let id = created["id"].as_str().unwrap().to_string();
        wait(&format!("the answer to /{name}"))
            .timeout(Duration::from_secs(30))
            .until(async || {
                let view = self.get(&format!("/interactions/{id}?wait_ms=2000")).await;
                let callback = view.get("callback").filter(|c| !c.is_null())?;
                let message = if callback["type"] == 5 {
                    view.get("original")
                        .filter(|o| !o.is_null() && o["flags"].as_u64().unwrap_or(0) & 128 == 0)?
                } else {
                    &callback["data"]
                };
                Some(message_text(message))
            })
            .await
    }
}

/// A message's content and embed text, as one string to look into.
pub fn message_text(message: &Value) -> String {
    let mut text = message["content"].as_str().unwrap_or_default().to_string();
    for embed in message["embeds"].as_array().into_iter().flatten() {
        for field in ["title", "description"] {
            if let Some(s) = embed[field].as_str() {
                text.push('\n');
                text.push_str(s);
            }
        }
    }
    text
}

/// [`kd_testing::wait`] with this file's patience.
pub async fn wait_for<T>(what: &str, probe: impl AsyncFnMut() -> Option<T>) -> T {
    wait(what)
        .timeout(Duration::from_secs(30))
        .until(probe)
        .await
}

/// An HTTP client (reqwest is built without a default TLS provider).
pub fn http() -> reqwest::Client {
    kd_sandbox_kaltura::install_crypto_provider();
    reqwest::Client::new()
}

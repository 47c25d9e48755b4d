//! Browser tests: a node script (playwright-core) drives the Debian Chromium and prints one JSON
//! line that sums up what it saw; the Rust test starts it, checks it succeeded and reads that line.
//!
//! Scripts `require('kd-browser')` (`node/kd-browser.js` next to this crate) for the one way to
//! launch Chromium, and find it, the artifacts folder and the npm modules in their environment.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian Chromium the scripts drive.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// Where `.ci/setup` installed the test tools (`KD_TOOLS`, else `target/tools`).
pub fn tools() -> PathBuf {
    std::env::var_os("KD_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/tools"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `target/artifacts`, created: screenshots are saved there, named by test and viewport.
pub fn artifacts() -> PathBuf {
    let dir = workspace().join("target/artifacts");
    std::fs::create_dir_all(&dir).expect("creating target/artifacts");
    dir
}

/// Fails the test with a clear message when a tool the browser test needs is not installed.
pub fn require(path: &Path, what: &str) {
    assert!(
        path.exists(),
        "{what} missing at {} — run .ci/setup",
        path.display()
    );
}

/// A driver script and its environment.
pub struct Script {
    command: Command,
}

impl Script {
    /// `node script`, with Chromium, playwright-core and `kd-browser` at hand
    /// (`CHROMIUM`, `ARTIFACTS`, `NODE_PATH`).
    pub fn new(script: impl AsRef<Path>) -> Self {
        let modules = tools().join("node/node_modules");
        require(Path::new(CHROMIUM), "chromium");
        require(
            &modules.join("playwright-core/package.json"),
            "npm playwright-core",
        );
        let own = Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
        let node_path = std::env::join_paths([own, modules]).expect("paths without ':'");
        let mut command = Command::new("node");
        command
            .arg(script.as_ref())
            .env("NODE_PATH", node_path)
            .env("CHROMIUM", CHROMIUM)
            .env("ARTIFACTS", artifacts());
        Self { command }
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    /// Runs the script to its end; its last stdout line as JSON. A failed run fails the test
    /// with everything the script printed.
    pub async fn run(mut self) -> Value {
        let output = tokio::task::spawn_blocking(move || self.command.output())
            .await
            .expect("the node runner")
            .expect("running node");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "the browser script failed:\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let last = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("not a JSON summary ({e}): {last}"))
    }
}

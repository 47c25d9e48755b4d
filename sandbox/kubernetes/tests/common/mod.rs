//! Starting a sandbox and running the real kubectl against it.
#![allow(dead_code)] // each test binary uses part of this module

use kd_sandbox_kubernetes::{Config, KubernetesSandbox};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join(name)
}

/// `$KUBECTL`, else the one `.ci/setup.d/kubernetes.sh` unpacked, else `kubectl` on PATH.
fn kubectl_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return path.into();
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/bin/kubectl");
    if tools.exists() {
        tools
    } else {
        PathBuf::from("kubectl")
    }
}

/// A sandbox with a kubeconfig and a private kubectl cache next to it.
pub struct Cluster {
    pub sandbox: KubernetesSandbox,
    pub dir: TempDir,
}

impl Cluster {
    pub async fn start() -> Self {
        let sandbox = KubernetesSandbox::start(Config::default())
            .await
            .expect("sandbox starts");
        let dir = tempfile::tempdir().expect("temp dir");
        sandbox
            .write_kubeconfig(dir.path().join("kubeconfig"))
            .expect("kubeconfig written");
        Self { sandbox, dir }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(kubectl_binary());
        cmd.arg("--kubeconfig")
            .arg(self.dir.path().join("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env_remove("KUBECONFIG")
            .env("HOME", self.dir.path());
        cmd
    }

    /// Runs kubectl to completion (off the async workers, which serve the requests).
    pub async fn kubectl(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        tokio::task::spawn_blocking(move || cmd.output().expect("kubectl runs"))
            .await
            .expect("kubectl task")
    }

    /// Runs kubectl and returns stdout, failing the test with stderr when it fails.
    pub async fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).expect("utf-8 output")
    }

    /// Runs kubectl expecting failure; returns stderr.
    pub async fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args).await;
        assert!(
            !out.status.success(),
            "kubectl {args:?} should have failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).expect("utf-8 output")
    }

    /// Starts a long-running kubectl (like `get -w`) whose stdout lines arrive on a channel.
    pub fn spawn_lines(&self, args: &[&str]) -> Lines {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            child,
            rx,
            seen: Vec::new(),
        }
    }

    pub async fn apply_crds(&self) {
        for crd in [
            "guildconfigs",
            "rolemappings",
            "notificationrules",
            "discordapplications",
            "kalturapartners",
        ] {
            let path = fixture(&format!("{crd}.kaltura-discord.io.yaml"));
            self.ok(&["apply", "-f", path.to_str().unwrap()]).await;
        }
        self.ok(&[
            "wait",
            "--for",
            "condition=established",
            "--timeout=60s",
            "crd",
            "--all",
        ])
        .await;
    }
}

/// Output lines of a running kubectl.
pub struct Lines {
    child: std::process::Child,
    rx: mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Lines {
    /// Waits (generously) for a line containing every one of `parts`.
    pub async fn wait_for(&mut self, parts: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(line) = self
                .seen
                .iter()
                .find(|l| parts.iter().all(|p| l.contains(p)))
            {
                return line.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no line with {parts:?} in {:#?}",
                self.seen
            );
            match self.rx.try_recv() {
                Ok(line) => self.seen.push(line),
                Err(mpsc::TryRecvError::Empty) => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(mpsc::TryRecvError::Disconnected) => {
                    panic!("kubectl exited; saw {:#?}", self.seen)
                }
            }
        }
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

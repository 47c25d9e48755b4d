//! The real kubectl against a cluster (the Kubernetes sandbox in tests), by kubeconfig.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `$KUBECTL`, else the one `.ci/setup.d/kubernetes.sh` unpacked, else `kubectl` on PATH.
pub fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return path.into();
    }
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/bin/kubectl");
    if tools.exists() {
        tools
    } else {
        PathBuf::from("kubectl")
    }
}

pub struct Kubectl {
    pub kubeconfig: PathBuf,
}

impl Kubectl {
    /// Runs kubectl with `stdin`; stdout when it succeeds, stdout and stderr when not.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Result<String, String> {
        let mut child = Command::new(binary())
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs (bash .ci/setup installs one)");
        let mut input = child.stdin.take().expect("piped stdin");
        if let Some(text) = stdin {
            input
                .write_all(text.as_bytes())
                .expect("writing kubectl's stdin");
        }
        drop(input);
        let out = child.wait_with_output().expect("kubectl finishes");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// Runs kubectl; a failure fails the test.
    pub fn ok(&self, args: &[&str]) -> String {
        self.run(args, None)
            .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}"))
    }

    /// `kubectl apply -f -` of `yaml`; a failure fails the test.
    pub fn apply(&self, yaml: &str) {
        self.run(&["apply", "-f", "-"], Some(yaml))
            .unwrap_or_else(|e| panic!("kubectl apply: {e}\n{yaml}"));
    }

    /// `kubectl <args> -o json`, parsed; None when kubectl fails (not found, not yet there).
    pub fn json(&self, args: &[&str]) -> Option<serde_json::Value> {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        self.run(&all, None)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    }
}

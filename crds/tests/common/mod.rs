//! What the chart tests share: where the repository, the chart and the test tools are.
#![allow(dead_code)] // each test binary uses part of this module

use std::path::{Path, PathBuf};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub fn chart() -> PathBuf {
    repo().join("charts/kaltura-discord")
}

pub fn tools() -> PathBuf {
    std::env::var_os("KD_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/tools"))
}

pub fn helm_bin() -> PathBuf {
    let bin = tools().join("bin/helm");
    assert!(
        bin.exists(),
        "{} is missing: run .ci/setup (or `bash .ci/setup.d/helm.sh`)",
        bin.display()
    );
    bin
}

/// `$KUBECTL`, else the one `.ci/setup.d/kubernetes.sh` unpacked, else `kubectl` on PATH.
pub fn kubectl_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return path.into();
    }
    let unpacked = tools().join("bin/kubectl");
    if unpacked.exists() {
        unpacked
    } else {
        PathBuf::from("kubectl")
    }
}

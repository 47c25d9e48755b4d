//! The committed CRDs are valid `apiextensions.k8s.io/v1` objects by Kubernetes' own JSON
//! schemas (PyPI `kubernetes-validate`, installed by `.ci/setup`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn kubernetes_validate() -> Command {
    let tools = std::env::var_os("KD_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target/tools"));
    let bin = tools.join("venv/bin/kubernetes-validate");
    assert!(bin.exists(), "{} is missing: run .ci/setup", bin.display());
    let mut cmd = Command::new(bin);
    cmd.arg("--strict");
    cmd
}

#[test]
fn committed_crds_pass_kubernetes_validate() {
    let dir = repo().join("charts/kaltura-discord/crds");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 5);
    files.push(repo().join("examples/secrets.yaml"));
    let out = kubernetes_validate().args(&files).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert_eq!(text.matches(" passed for resource ").count(), 7, "{text}");
}

#[test]
fn kubernetes_validate_rejects_a_broken_crd() {
    let crd = kd_crds::crd_yaml(&<kd_crds::GuildConfig as kube::CustomResourceExt>::crd())
        .replace("served: true", "served: maybe");
    let file = tempfile_path("broken-crd.yaml");
    std::fs::write(&file, crd).unwrap();
    let out = kubernetes_validate().arg(&file).output().unwrap();
    assert!(!out.status.success(), "a CRD with `served: maybe` passed");
}

fn tempfile_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kd-crds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

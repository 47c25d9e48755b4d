//! The shape of the workspace (docs/architecture.md), checked against what Cargo resolves and
//! what the source spells: adapters never depend on each other, the core and the operator
//! library stay free of Discord and HTTP stacks, sandboxes share no code with the product, and
//! the command names are spelled once.

use kd_core::command::Command;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command as Process;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn cargo(args: &[&str]) -> String {
    let out = Process::new(env!("CARGO"))
        .args(args)
        .arg("--offline")
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The workspace's packages: name -> (path relative to the root, names of all its
/// dependencies of any kind, as declared).
fn workspace() -> BTreeMap<String, (PathBuf, BTreeSet<String>)> {
    let meta: Value =
        serde_json::from_str(&cargo(&["metadata", "--format-version", "1", "--no-deps"])).unwrap();
    let root = root();
    meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap());
            let dir = manifest
                .parent()
                .unwrap()
                .strip_prefix(&root)
                .unwrap()
                .to_path_buf();
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["name"].as_str().unwrap().to_string())
                .collect();
            (p["name"].as_str().unwrap().to_string(), (dir, deps))
        })
        .collect()
}

/// Every package a build of `package` (its library, normal dependencies, with `features`
/// flags) compiles, by name, with features resolved for that package alone.
fn pulled(package: &str, features: &[&str]) -> BTreeSet<String> {
    let mut args = vec![
        "tree", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}",
    ];
    args.extend(features);
    cargo(&args)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(String::from)
        .collect()
}

fn offending<'a>(pulled: &'a BTreeSet<String>, forbidden: &[&str]) -> Vec<&'a String> {
    pulled
        .iter()
        .filter(|name| {
            forbidden
                .iter()
                .any(|f| name.as_str() == *f || name.starts_with(&format!("{f}-")))
        })
        .collect()
}

#[test]
fn the_adapters_never_depend_on_each_other() {
    let pulled_by_activity = pulled("kd-activity", &[]);
    assert!(
        !pulled_by_activity.contains("kd-bot"),
        "kd-activity depends on kd-bot"
    );
    assert!(
        !pulled("kd-bot", &[]).contains("kd-activity"),
        "kd-bot depends on kd-activity"
    );
    assert!(pulled_by_activity.contains("kd-core"));
}

#[test]
fn the_core_pulls_no_discord_http_or_kubernetes_runtime() {
    let core = pulled("kd-core", &[]);
    assert!(core.contains("kd-crds") && core.contains("kd-kaltura"));
    let bad = offending(
        &core,
        &[
            "twilight",
            "axum",
            "kube-runtime",
            "kube-client",
            "kd-bot",
            "kd-activity",
        ],
    );
    assert!(bad.is_empty(), "kd-core pulls {bad:?}");
}

#[test]
fn the_operator_library_pulls_no_discord_or_http_server() {
    // The binary's subcommands (bot, serve, sandboxes) are behind the `cli` feature.
    let library = pulled("kd-controller", &["--no-default-features"]);
    assert!(
        library.contains("kube-runtime"),
        "the operator runs on kube-runtime"
    );
    let bad = offending(
        &library,
        &["twilight", "axum", "kd-bot", "kd-activity", "kd-sandbox"],
    );
    assert!(bad.is_empty(), "the kd-controller library pulls {bad:?}");
}

#[test]
fn sandboxes_depend_on_no_product_crate() {
    let packages = workspace();
    // kd-browser runs browser scripts for both sides and knows no type of either.
    let product: BTreeSet<&String> = packages
        .iter()
        .filter(|(name, (dir, _))| !dir.starts_with("sandbox") && name.as_str() != "kd-browser")
        .map(|(name, _)| name)
        .collect();
    let sandboxes: Vec<(&String, &BTreeSet<String>)> = packages
        .iter()
        .filter(|(_, (dir, _))| dir.starts_with("sandbox"))
        .map(|(name, (_, deps))| (name, deps))
        .collect();
    assert_eq!(sandboxes.len(), 3, "{sandboxes:?}");
    for (sandbox, deps) in sandboxes {
        let shared: Vec<&String> = deps.iter().filter(|d| product.contains(d)).collect();
        assert!(shared.is_empty(), "{sandbox} depends on {shared:?}");
    }
}

/// Rust sources of the product: everything but build output and the emulators (which must not
/// share the product's vocabulary, and spell command names as a Discord user types them).
fn product_sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if !matches!(
                name.as_str(),
                "target" | "sandbox" | "node_modules" | ".git"
            ) {
                product_sources(&path, found);
            }
        } else if name.ends_with(".rs") {
            found.push(path);
        }
    }
}

#[test]
fn command_names_are_spelled_once() {
    let vocabulary = root().join("crds/src/command.rs");
    let names: Vec<String> = Command::ALL
        .iter()
        .map(|c| format!("\"{}\"", c.name()))
        .collect();
    let mut files = Vec::new();
    product_sources(&root(), &mut files);
    assert!(files.contains(&vocabulary));
    let mut spelled = Vec::new();
    for file in files.iter().filter(|f| **f != vocabulary) {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if let Some(name) = names.iter().find(|name| line.contains(name.as_str())) {
                spelled.push(format!("{}:{}: {name}", file.display(), n + 1));
            }
        }
    }
    assert!(
        spelled.is_empty(),
        "command names outside the vocabulary (use kd_core::command::Command):\n{}",
        spelled.join("\n")
    );
    // The check does find a name where one is spelled.
    let vocabulary = std::fs::read_to_string(vocabulary).unwrap();
    assert!(names.iter().all(|name| vocabulary.contains(name.as_str())));
}

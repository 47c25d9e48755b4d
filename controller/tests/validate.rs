//! `kaltura-discord validate` and `crds` as a user runs them: the examples pass, and every
//! manifest in tests/broken/ is rejected with the expected file, Kind/name and field path.

use kd_controller::manifests::{self, Report};
use kd_crds::references::Severity;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kaltura-discord"))
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// The examples plus one broken manifest, as `broken.yaml`.
fn folder_with(broken: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo().join("examples"), dir.path());
    std::fs::copy(broken, dir.path().join("broken.yaml")).unwrap();
    dir
}

/// `# expect: file | Kind/name | field.path | message part` (`-` for none).
struct Expectation {
    file: String,
    object: Option<String>,
    path: String,
    message: String,
}

fn expectations(text: &str) -> Vec<Expectation> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|l| {
            let parts: Vec<&str> = l.split(" | ").collect();
            assert_eq!(parts.len(), 4, "malformed expectation: {l}");
            let dash = |s: &str| {
                if s == "-" {
                    String::new()
                } else {
                    s.to_string()
                }
            };
            Expectation {
                file: parts[0].into(),
                object: (parts[1] != "-").then(|| parts[1].to_string()),
                path: dash(parts[2]),
                message: parts[3].into(),
            }
        })
        .collect()
}

fn matches(report: &Report, root: &Path, e: &Expectation) -> bool {
    report
        .file
        .strip_prefix(root)
        .map(|f| f == Path::new(&e.file))
        .unwrap_or(false)
        && report.object == e.object
        && report.problem.path == e.path
        && report.problem.message.contains(&e.message)
}

#[test]
fn examples_are_valid() {
    let loaded = manifests::load(&repo().join("examples")).unwrap();
    assert!(loaded.reports.is_empty(), "{:#?}", loaded.reports);
    assert_eq!(loaded.resources, 10);
    assert_eq!(loaded.catalog.guilds.len(), 2);
    assert_eq!(loaded.catalog.notification_rules.len(), 2);

    let out = binary()
        .arg("validate")
        .arg(repo().join("examples"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "OK: 10 resource(s) in 5 file(s)\n"
    );
}

#[test]
fn every_broken_manifest_is_rejected_where_it_is_wrong() {
    let mut cases = 0;
    for entry in std::fs::read_dir(repo().join("controller/tests/broken")).unwrap() {
        let file = entry.unwrap().path();
        let expected = expectations(&std::fs::read_to_string(&file).unwrap());
        assert!(
            !expected.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        let dir = folder_with(&file);
        let loaded = manifests::load(dir.path()).unwrap();
        let errors: Vec<&Report> = loaded.errors().collect();
        for e in &expected {
            assert!(
                errors.iter().any(|r| matches(r, dir.path(), e)),
                "{}: expected `{} | {:?} | {} | {}`, got:\n{}",
                file.display(),
                e.file,
                e.object,
                e.path,
                e.message,
                errors
                    .iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
        assert_eq!(
            errors.len(),
            expected.len(),
            "{}: unexpected extra errors: {errors:#?}",
            file.display()
        );
        cases += 1;
    }
    assert!(cases >= 20, "only {cases} broken manifests");
}

#[test]
fn the_command_prints_each_problem_and_fails() {
    let dir = folder_with(&repo().join("controller/tests/broken/role-by-name-and-id.yaml"));
    let out = binary().arg("validate").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let expected = format!(
        "{}: RoleMapping/both: spec.rules[1].discordRole: name a role by name or by id, not both\n",
        dir.path().join("broken.yaml").display()
    );
    assert_eq!(stdout, expected);
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 problem(s)"));
}

#[test]
fn a_pasted_credential_is_never_echoed() {
    let dir = folder_with(&repo().join("controller/tests/broken/secret-pasted-inline.yaml"));
    let out = binary().arg("validate").arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("spec.adminSecretRef"), "{all}");
    assert!(
        !all.contains("PLANTED-SECRET-8f3a1c"),
        "credential echoed:\n{all}"
    );
}

#[test]
fn a_missing_secret_is_a_warning_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo().join("examples"), dir.path());
    std::fs::remove_file(dir.path().join("secrets.yaml")).unwrap();
    let loaded = manifests::load(dir.path()).unwrap();
    assert_eq!(loaded.errors().count(), 0, "{:#?}", loaded.reports);
    let warnings: Vec<String> = loaded.reports.iter().map(|r| r.to_string()).collect();
    assert_eq!(
        loaded
            .reports
            .iter()
            .filter(|r| r.severity == Severity::Warning)
            .count(),
        5,
        "{warnings:#?}"
    );
    assert!(warnings.iter().any(|w| w.ends_with(
        "application.yaml: DiscordApplication/campus-bot: spec.botTokenRef: warning: Secret \"discord-campus-bot\" is not among these manifests; it must exist in namespace \"kaltura\""
    )), "{warnings:#?}");
}

#[test]
fn an_empty_folder_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary().arg("validate").arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no YAML manifests"));
}

#[test]
fn crds_command_prints_the_committed_crds() {
    let out = binary().arg("crds").output().unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    let committed: Vec<String> = kd_crds::crds()
        .iter()
        .map(|crd| {
            std::fs::read_to_string(
                repo()
                    .join("charts/kaltura-discord/crds")
                    .join(kd_crds::crd_file_name(crd)),
            )
            .unwrap()
        })
        .collect();
    assert_eq!(printed, format!("---\n{}", committed.join("---\n")));
}

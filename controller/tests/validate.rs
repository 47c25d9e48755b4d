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

/// `kaltura-discord validate <folder>` as a process that must end within 60 s: a hang fails
/// the test instead of blocking it. Returns the exit code and stdout + stderr.
fn validate_within_a_minute(folder: &Path) -> (Option<i32>, String) {
    let mut child = binary()
        .arg("validate")
        .arg(folder)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("validate {} hung", folder.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// The examples plus whatever `add` puts in the folder.
fn examples_with(add: impl FnOnce(&Path)) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo().join("examples"), dir.path());
    add(dir.path());
    dir
}

#[cfg(unix)]
#[test]
fn symlink_loops_are_reported_and_each_file_is_read_once() {
    let elsewhere = examples_with(|_| {});
    let dir = examples_with(|d| {
        std::os::unix::fs::symlink(".", d.join("loop")).unwrap();
        std::os::unix::fs::symlink("..", d.join("up")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), d.join("elsewhere")).unwrap();
        // A link to a file inside is the same file: read once.
        std::os::unix::fs::symlink("partner.yaml", d.join("again.yaml")).unwrap();
    });
    let (code, out) = validate_within_a_minute(dir.path());
    assert_eq!(code, Some(0), "{out}");
    let root = dir.path().display();
    let parent = dir.path().parent().unwrap().display();
    for expected in [
        format!("{root}/loop: warning: symlink loop: leads back to {root}; not followed"),
        format!("{root}/up: warning: symlink loop: leads back to {parent}; not followed"),
        format!("{root}/elsewhere: warning: symlink to a folder outside {root}; not followed"),
    ] {
        assert!(out.contains(&expected), "{expected}\nnot in\n{out}");
    }
    assert!(
        out.ends_with("OK: 10 resource(s) in 5 file(s) (3 warning(s))\n"),
        "{out}"
    );
}

#[cfg(unix)]
#[test]
fn fifos_and_devices_are_refused_unopened() {
    let dir = examples_with(|d| {
        let fifo = d.join("fifo.yaml");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        std::os::unix::fs::symlink("/dev/zero", d.join("zero.yaml")).unwrap();
    });
    let (code, out) = validate_within_a_minute(dir.path());
    assert_eq!(code, Some(1), "{out}");
    let root = dir.path().display();
    assert!(
        out.contains(&format!(
            "{root}/fifo.yaml: is a FIFO, not a regular file; not read"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{root}/zero.yaml: is a device, not a regular file; not read"
        )),
        "{out}"
    );
    assert!(
        out.contains("2 problem(s) in 10 resource(s) from 5 file(s)"),
        "{out}"
    );
}

#[test]
fn a_huge_file_is_refused_unread() {
    let dir = examples_with(|d| {
        let list = format!("[{}1]\n", "1, ".repeat(50 * 1024 * 1024 / 3));
        std::fs::write(d.join("big.yaml"), list).unwrap();
    });
    let (code, out) = validate_within_a_minute(dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("big.yaml: is 52428802 bytes, more than the 1048576 bytes a manifest file may have; not read"),
        "{out}"
    );
}

#[test]
fn deep_nesting_is_refused_unparsed() {
    let dir = examples_with(|d| {
        let depth = 122_000; // 488 KB
        let nested = format!("a: {}1{}\n", "{a: ".repeat(depth), "}".repeat(depth));
        std::fs::write(d.join("nested.yaml"), nested).unwrap();
    });
    let (code, out) = validate_within_a_minute(dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(
            "nested.yaml: flow collections ({...}, [...]) nested 122000 deep, more than 64; not parsed"
        ),
        "{out}"
    );
}

#[test]
fn a_file_that_defeats_the_nesting_estimate_is_given_up_after_the_deadline() {
    // The estimate takes `'` after a blank for a quote, where YAML reads a plain key `a 'b`.
    let dir = examples_with(|d| {
        let depth = 200_000;
        let nested = format!("a 'b: {}1{}\n", "[".repeat(depth), "]".repeat(depth));
        std::fs::write(d.join("sly.yaml"), nested).unwrap();
    });
    let (code, out) = validate_within_a_minute(dir.path());
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("sly.yaml: took more than 10s to parse; not read"),
        "{out}"
    );
}

#[test]
fn a_huge_value_is_cut_in_the_finding() {
    let dir = examples_with(|d| {
        let name = "x".repeat(900 * 1024);
        let guild = format!(
            "apiVersion: kaltura-discord.io/v1alpha1\nkind: GuildConfig\nmetadata: {{name: long, namespace: kaltura}}\nspec:\n  applicationRef: {{name: campus-bot}}\n  guildId: \"{name}\"\n"
        );
        std::fs::write(d.join("long.yaml"), guild).unwrap();
    });
    let (code, out) = validate_within_a_minute(dir.path());
    assert_eq!(code, Some(1), "{out}");
    let finding = out
        .lines()
        .find(|l| l.contains("long.yaml"))
        .unwrap_or_else(|| {
            panic!(
                "no finding about long.yaml: {}",
                &out[..2000.min(out.len())]
            )
        });
    assert!(finding.len() < 1000, "{} characters", finding.len());
    assert!(finding.contains("characters cut"), "{finding}");
    assert!(out.len() < 10_000, "{} characters printed", out.len());
}

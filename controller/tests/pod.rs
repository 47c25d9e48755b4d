//! The binary run as the pods the operator renders run it: as the image's non-root user
//! (65532), with no capabilities and no new privileges, and with every mount read-only except
//! a fresh data folder (an emptyDir or the SQLite claim), as `readOnlyRootFilesystem` makes it.
//! It must serve `/healthz` and `/readyz` (its SQLite store lives in the data folder), and a
//! write anywhere else must fail. Needs root (as CI runs) for the mount namespace and the user
//! switch; `unshare` and `setpriv` are util-linux's.

use kd_tests::process::{Outside, Reach, WorkloadProcess};
use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kaltura-discord");
/// The distroless `nonroot` user the image and the pod templates name.
const NONROOT: u32 = 65532;

/// `unshare` + `sh` + `setpriv`: a private mount namespace in which every mount is remounted
/// read-only, `data` gets a fresh tmpfs owned by the user, and the program runs as that user
/// without capabilities. The program and its arguments follow.
fn pod(data: &Path) -> Vec<String> {
    let script = format!(
        r#"set -e
for m in $(awk '{{print $2}}' /proc/self/mounts); do
  case "$m" in /proc*|/sys*|/dev*) continue;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
mount -t tmpfs -o mode=0700,uid={NONROOT},gid={NONROOT} tmpfs {data}
exec setpriv --reuid={NONROOT} --regid={NONROOT} --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all "$@""#,
        data = data.display()
    );
    [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--fork",
        "--kill-child",
        "sh",
        "-c",
        &script,
        "pod",
    ]
    .map(String::from)
    .to_vec()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

/// `Uid` and `CapEff` of the process serving on `port`.
fn identity_of_server(port: u16) -> (String, String) {
    let listen = format!("127.0.0.1:{port}");
    for entry in std::fs::read_dir("/proc").unwrap() {
        let dir = entry.unwrap().path();
        let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let runs_server = args
            .first()
            .is_some_and(|a| a.ends_with(b"kaltura-discord"))
            && args.contains(&listen.as_bytes());
        if !runs_server {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .map(|l| l.split_whitespace().nth(1).unwrap().to_string())
                .unwrap()
        };
        return (field("Uid:"), field("CapEff:"));
    }
    panic!("no process serves on {listen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_as_a_non_root_user_on_a_read_only_filesystem() {
    assert!(
        is_root(),
        "this test switches to uid {NONROOT} in a mount namespace, which needs root (CI runs as root)"
    );
    let data = tempfile::tempdir().unwrap();
    let wrapper = pod(data.path());

    // Outside the data folder nothing can be written; inside it can.
    let probe = |target: &Path| {
        let mut args = wrapper.clone();
        args.extend(["touch".to_string(), target.display().to_string()]);
        Command::new(&args[0]).args(&args[1..]).output().unwrap()
    };
    let denied = probe(&std::env::temp_dir().join(format!("kd-pod-probe-{}", std::process::id())));
    assert!(!denied.status.success());
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Read-only file system"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    let allowed = probe(&data.path().join("probe"));
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );

    // The server, with its SQLite store in the data folder, as the rendered pods run it.
    let outside = Outside::start().await;
    let config = kd_tests::runtime_config(&outside.discord, &outside.kaltura, outside.guild.id);
    let store = format!("sqlite://{}/kaltura-discord.db", data.path().display());
    let server = WorkloadProcess::serve_with(
        BIN,
        &outside.discord,
        &outside.kaltura,
        &config,
        &["--store", &store],
        Reach {
            wrapper: wrapper.clone(),
            ..Reach::default()
        },
        Stdio::null(),
    );
    for path in ["/healthz", "/readyz"] {
        kd_testing::wait(&format!("{path} to answer 200"))
            .until(async || {
                server
                    .get(path)
                    .filter(|r| r.starts_with("HTTP/1.1 200"))
                    .map(|_| ())
            })
            .await;
    }
    let (uid, capabilities) = identity_of_server(server.port);
    assert_eq!(uid, NONROOT.to_string());
    assert_eq!(capabilities, "0000000000000000");
}

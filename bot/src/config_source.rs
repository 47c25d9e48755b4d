//! Runtime config from a file (a mounted ConfigMap, or what `kaltura-discord render` wrote):
//! read at start, then re-read when its content changes. A file that does not parse or whose
//! revision does not match its content is refused with a log line, and the running config stays;
//! so does a file that cannot be read (deleted, not UTF-8, a ConfigMap symlink left dangling),
//! with a warning each time the problem starts or changes and a line when it is readable again.

use kd_core::config::RuntimeConfig;
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Reads `path` now and follows its changes (polled: ConfigMap updates swap symlinks, which
/// file-event watchers often miss).
pub fn watch_file(
    path: &Path,
    every: Duration,
) -> Result<watch::Receiver<Arc<RuntimeConfig>>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let first = RuntimeConfig::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let (tx, rx) = watch::channel(Arc::new(first));
    tokio::spawn(follow(path.to_path_buf(), every, digest(&text), tx));
    Ok(rx)
}

/// What the last read file held; a digest rather than the text, which may be megabytes.
fn digest(text: &str) -> [u8; 32] {
    sha2::Sha256::digest(text.as_bytes()).into()
}

async fn follow(
    path: PathBuf,
    every: Duration,
    mut last: [u8; 32],
    tx: watch::Sender<Arc<RuntimeConfig>>,
) {
    let mut tick = tokio::time::interval(every);
    // Why the file cannot be read, while it cannot: warned once per problem, not per poll.
    let mut problem: Option<String> = None;
    loop {
        tick.tick().await;
        if tx.is_closed() {
            return;
        }
        let text = match read(&path).await {
            Ok(text) => text,
            Err(why) => {
                if problem.as_deref() != Some(why.as_str()) {
                    tracing::warn!(file = %path.display(), problem = %why, "cannot read the runtime config file; keeping the running config");
                }
                problem = Some(why);
                continue;
            }
        };
        if let Some(was) = problem.take() {
            tracing::info!(file = %path.display(), was = %was, "the runtime config file is readable again");
        }
        let seen = digest(&text);
        if seen == last {
            continue;
        }
        match RuntimeConfig::from_json(&text) {
            Ok(config) => {
                tracing::info!(revision = %config.revision, "runtime config changed");
                tx.send_replace(Arc::new(config));
            }
            Err(err) => {
                tracing::error!(file = %path.display(), error = %err, "refusing the new runtime config; keeping the running one")
            }
        }
        last = seen;
    }
}

/// The file's text, or why there is none, in words for the warning.
async fn read(path: &Path) -> Result<String, String> {
    match tokio::fs::read(path).await {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
            format!(
                "it is not UTF-8 text (an invalid byte after {} bytes)",
                e.utf8_error().valid_up_to()
            )
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            Err(if tokio::fs::symlink_metadata(path).await.is_ok() {
                "it is a symlink to nothing (a ConfigMap's `..data` link left dangling?)".into()
            } else {
                "it does not exist".into()
            })
        }
        Err(err) => Err(err.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kd_core::config::{ApplicationRuntime, RuntimeConfig};
    use std::collections::BTreeMap;

    fn config(name: &str) -> RuntimeConfig {
        let secret = kd_crds::SecretKeyRef {
            name: "s".into(),
            key: "k".into(),
        };
        RuntimeConfig::new(
            ApplicationRuntime {
                name: name.into(),
                namespace: "ns".into(),
                application_id: "1".into(),
                bot_token_ref: secret,
                client_secret_ref: None,
                public_url: None,
                activity_enabled: false,
                intents: vec![kd_crds::application::Intent::Guilds],
                command_scope: Default::default(),
                deleting: false,
            },
            BTreeMap::new(),
            BTreeMap::new(),
        )
    }

    #[tokio::test]
    async fn follows_valid_changes_and_keeps_the_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("runtime.json");
        std::fs::write(&file, config("a").to_json()).unwrap();
        let mut rx = watch_file(&file, Duration::from_millis(10)).unwrap();
        assert_eq!(rx.borrow().application.name, "a");

        std::fs::write(&file, "{ not json").unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            rx.borrow_and_update().application.name,
            "a",
            "a broken file changes nothing"
        );

        std::fs::write(&file, config("b").to_json()).unwrap();
        tokio::time::timeout(Duration::from_secs(2), rx.changed())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rx.borrow().application.name, "b");
    }

    #[tokio::test]
    async fn an_unreadable_file_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("runtime.json");
        assert_eq!(read(&file).await.unwrap_err(), "it does not exist");
        std::fs::write(&file, b"{\"a\": \"\xff\"}").unwrap();
        assert!(read(&file).await.unwrap_err().contains("not UTF-8"));
        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(dir.path().join("..data/runtime.json"), &file).unwrap();
        assert!(
            read(&file)
                .await
                .unwrap_err()
                .contains("symlink to nothing")
        );
    }

    #[tokio::test]
    async fn a_bad_file_at_start_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("runtime.json");
        std::fs::write(&file, config("a").to_json().replace("\"ns\"", "\"other\"")).unwrap();
        let err = watch_file(&file, Duration::from_millis(10)).unwrap_err();
        assert!(err.contains("does not match its content"), "{err}");
    }
}

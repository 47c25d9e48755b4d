//! Runtime config from a file (a mounted ConfigMap, or what `kaltura-discord render` wrote):
//! read at start, then re-read when its content changes. A file that does not parse or whose
//! revision does not match its content is refused with a log line, and the running config stays.

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
    loop {
        tick.tick().await;
        if tx.is_closed() {
            return;
        }
        let Ok(text) = tokio::fs::read_to_string(&path).await else {
            continue;
        };
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
    async fn a_bad_file_at_start_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("runtime.json");
        std::fs::write(&file, config("a").to_json().replace("\"ns\"", "\"other\"")).unwrap();
        let err = watch_file(&file, Duration::from_millis(10)).unwrap_err();
        assert!(err.contains("does not match its content"), "{err}");
    }
}

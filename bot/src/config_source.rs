//! Runtime config from a file (a mounted ConfigMap, or what `kaltura-discord render` wrote):
//! read at start, then re-read when its content changes. A file that does not parse or whose
//! revision does not match its content is refused with a log line, and the running config stays;
//! so does a file that cannot be read (deleted, not UTF-8, a ConfigMap symlink left dangling),
//! with a warning each time the problem starts or changes and a line when it is readable again.
//!
//! A bot replica keeps only the guilds of its shards ([`Served`]): when it takes more, the
//! file is read again for them; when it lets some go, they are dropped from the config held.

use kd_core::config::{RuntimeConfig, Served};
use sha2::Digest;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Reads `path` now, keeping the guilds `served` names, and follows the file's changes
/// (polled: ConfigMap updates swap symlinks, which file-event watchers often miss) and those
/// of `served`.
pub fn watch_file(
    path: &Path,
    every: Duration,
    served: watch::Receiver<Served>,
) -> Result<watch::Receiver<Arc<RuntimeConfig>>, String> {
    let stamp = std::fs::metadata(path).ok().map(|m| Stamp::of(&m));
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let kept = served.borrow().clone();
    let first = RuntimeConfig::from_json_served(&text, &kept)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (tx, rx) = watch::channel(Arc::new(first));
    let seen = Seen {
        stamp,
        digest: digest(&text),
    };
    tokio::spawn(follow(path.to_path_buf(), every, seen, served, tx));
    Ok(rx)
}

/// What the file's metadata says of its content: a new file (a ConfigMap's swapped link), a
/// rewrite or a new length changes it. A poll that finds it unchanged reads nothing: the file
/// may be tens of megabytes, and hashing it every poll costs a replica a good part of a core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    len: u64,
    modified: (i64, i64),
}

impl Stamp {
    fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            modified: (meta.mtime(), meta.mtime_nsec()),
        }
    }
}

/// What the file held when it was last read.
struct Seen {
    /// Its metadata just before that read.
    stamp: Option<Stamp>,
    digest: [u8; 32],
}

/// What the last read file held; a digest rather than the text, which may be megabytes.
fn digest(text: &str) -> [u8; 32] {
    sha2::Sha256::digest(text.as_bytes()).into()
}

async fn follow(
    path: PathBuf,
    every: Duration,
    mut last: Seen,
    mut served: watch::Receiver<Served>,
    tx: watch::Sender<Arc<RuntimeConfig>>,
) {
    let mut tick = tokio::time::interval(every);
    // Why the file cannot be read, while it cannot: warned once per problem, not per poll.
    let mut problem: Option<String> = None;
    // A process that never changes what it keeps drops the sender: nothing to follow.
    let mut follows_served = true;
    // Guilds to keep are missing from the config held: read the file even if unchanged.
    let mut missing = false;
    // The text of the config held (`last` may be one refused since).
    let mut held = last.digest;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = served.changed(), if follows_served => {
                if changed.is_err() {
                    follows_served = false;
                    continue;
                }
                let wanted = served.borrow_and_update().clone();
                let narrower = tx.borrow().narrowed(&wanted);
                match narrower {
                    Some(config) => {
                        tx.send_replace(Arc::new(config));
                        continue;
                    }
                    None => missing = true,
                }
            }
        }
        if tx.is_closed() {
            return;
        }
        let stamp = tokio::fs::metadata(&path).await.ok().map(|m| Stamp::of(&m));
        // Unchanged by its metadata, and readable when last read (a problem is looked at on
        // every poll, to tell as soon as it is gone).
        let unmoved = stamp.is_some() && stamp == last.stamp && problem.is_none();
        if unmoved && !missing {
            continue;
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
        let unchanged = seen == last.digest;
        last = Seen {
            stamp,
            digest: seen,
        };
        if unchanged && !missing {
            continue;
        }
        let wanted = served.borrow().clone();
        let started = std::time::Instant::now();
        // The very bytes of the config held, checked then.
        let read = if seen == held {
            RuntimeConfig::from_json_again(&text, &wanted)
        } else {
            RuntimeConfig::from_json_served(&text, &wanted)
        };
        match read {
            Ok(config) => {
                let (guilds, millis) = (config.guilds.len(), started.elapsed().as_millis() as u64);
                if config.revision != tx.borrow().revision {
                    tracing::info!(revision = %config.revision, guilds, millis, "runtime config changed");
                } else {
                    tracing::info!(
                        guilds,
                        millis,
                        "runtime config read again for the shards held"
                    );
                }
                tx.send_replace(Arc::new(config));
                held = seen;
            }
            Err(err) => {
                tracing::error!(file = %path.display(), error = %err, "refusing the new runtime config; keeping the running one")
            }
        }
        missing = false;
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

    /// What a process keeping every guild passes (its sender gone at once).
    fn whole() -> watch::Receiver<Served> {
        watch::channel(Served::All).1
    }

    #[tokio::test]
    async fn follows_valid_changes_and_keeps_the_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("runtime.json");
        std::fs::write(&file, config("a").to_json()).unwrap();
        let mut rx = watch_file(&file, Duration::from_millis(10), whole()).unwrap();
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
    async fn keeps_the_guilds_of_the_shards_held_and_reads_again_for_more() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("runtime.json");
        let guild: kd_core::config::GuildRuntime = serde_json::from_value(serde_json::json!({
            "configName": "g", "partner": "p", "features": {}, "permissions": {},
            "channels": {}, "templates": {}, "overridable": [],
            "roles": {"rules": [], "default": "viewer"},
        }))
        .unwrap();
        let whole = config("a");
        // Guilds n << 22 are on shard n % 2 of 2.
        let guilds = (1..=10u64).map(|n| ((n << 22).to_string(), guild.clone()));
        let whole = RuntimeConfig::new(whole.application, whole.partners, guilds.collect());
        std::fs::write(&file, whole.to_json()).unwrap();
        let shards = |held: &[u32]| Served::Shards {
            total: 2,
            held: held.iter().copied().collect(),
        };
        let (served, kept) = watch::channel(shards(&[]));
        let mut rx = watch_file(&file, Duration::from_millis(10), kept).unwrap();
        assert!(rx.borrow().guilds.is_empty(), "no shards, no guilds");
        assert_eq!(rx.borrow().revision, whole.revision);
        let within = Duration::from_secs(2);
        served.send_replace(shards(&[0]));
        let got = tokio::time::timeout(within, rx.wait_for(|c| c.served == shards(&[0])));
        let guilds: Vec<String> = got.await.unwrap().unwrap().guilds.keys().cloned().collect();
        assert_eq!(guilds.len(), 5);
        assert!(
            guilds
                .iter()
                .all(|id| (id.parse::<u64>().unwrap() >> 22) % 2 == 0)
        );
        served.send_replace(shards(&[0, 1]));
        let got = tokio::time::timeout(within, rx.wait_for(|c| c.guilds.len() == 10));
        assert_eq!(
            **got.await.unwrap().unwrap(),
            whole.narrowed(&shards(&[0, 1])).unwrap()
        );
        // Letting a shard go drops its guilds from what is held: no read needed.
        std::fs::remove_file(&file).unwrap();
        served.send_replace(shards(&[1]));
        let got = tokio::time::timeout(within, rx.wait_for(|c| c.served == shards(&[1])));
        assert_eq!(got.await.unwrap().unwrap().guilds.len(), 5);
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
        let err = watch_file(&file, Duration::from_millis(10), whole()).unwrap_err();
        assert!(err.contains("does not match its content"), "{err}");
    }
}

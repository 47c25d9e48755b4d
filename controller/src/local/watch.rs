//! Changes under the manifest folder, as a stream of "something changed" ticks: inotify (and
//! its kin elsewhere) through the `notify` crate; a burst of events (an editor's write, rename
//! and chmod, a `git checkout`) becomes one reload through [`settle`].

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

/// How long the folder must be quiet before a reload, and the longest a reload waits for that.
pub const QUIET: Duration = Duration::from_millis(80);
pub const LONGEST: Duration = Duration::from_millis(400);

/// Watches `folder` recursively; keep the watcher alive as long as the ticks are wanted.
pub fn watch(folder: &Path) -> notify::Result<(RecommendedWatcher, mpsc::Receiver<()>)> {
    // One pending tick is enough: a reload reads the whole folder.
    let (tx, rx) = mpsc::channel(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let wanted = event.is_ok_and(|e| !e.kind.is_access());
        if wanted {
            let _ = tx.try_send(());
        }
    })?;
    watcher.watch(folder, RecursiveMode::Recursive)?;
    Ok((watcher, rx))
}

/// After a change was received, waits for the burst it starts to settle. (Receiving the first
/// one is left to the caller: `recv` is safe to cancel in a `select!`, this wait is not.)
pub async fn settle(changes: &mut mpsc::Receiver<()>) {
    let until = tokio::time::Instant::now() + LONGEST;
    loop {
        let deadline = until.min(tokio::time::Instant::now() + QUIET);
        match tokio::time::timeout_at(deadline, changes.recv()).await {
            Ok(Some(())) if tokio::time::Instant::now() < until => continue,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_edit_in_a_subfolder_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("guilds")).unwrap();
        let (_watcher, mut changes) = watch(dir.path()).unwrap();
        std::fs::write(dir.path().join("guilds/a.yaml"), "n: 1\n").unwrap();
        tokio::time::timeout(Duration::from_secs(10), changes.recv())
            .await
            .expect("a change is seen")
            .unwrap();
        settle(&mut changes).await;
    }

    #[tokio::test]
    async fn changes_that_never_settle_still_make_a_reload() {
        let (tx, mut rx) = mpsc::channel(1);
        let stream = tokio::spawn(async move {
            while tx.send(()).await.is_ok() {
                tokio::time::sleep(QUIET / 4).await;
            }
        });
        rx.recv().await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), settle(&mut rx))
            .await
            .expect("cut at the longest wait");
        stream.abort();
    }
}

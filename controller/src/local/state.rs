//! The state folder of `kaltura-discord up` (`.kaltura-discord/` by default): the store's
//! SQLite file and `status.json`, every resource with its status, which `kaltura-discord status`
//! prints. The file is replaced whole (written aside, then renamed), so a reader or a crash
//! never sees half of it.

use kd_crds::references::ObjectKey;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The status file's name in the state folder.
pub const STATUS_FILE: &str = "status.json";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct State {
    /// Which services `up` talks to and why (`sandbox: ...` or `real: ...`).
    #[serde(default)]
    pub mode: String,
    /// Every resource as `kubectl get -o json` shows it: metadata, spec and status.
    #[serde(default)]
    pub objects: Vec<Value>,
    /// Why the folder as it is now was refused (the last good configuration runs); empty when
    /// it runs as it is.
    #[serde(default)]
    pub refused: Vec<String>,
}

impl State {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATUS_FILE)
    }

    /// The state kept in `dir`; the default when there is none yet.
    pub fn read(dir: &Path) -> Result<State, String> {
        let path = Self::path(dir);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Replaces the file in `dir` atomically.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let path = Self::path(dir);
        let aside = dir.join(format!(".{STATUS_FILE}.tmp"));
        let text = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&aside, text)?;
        std::fs::rename(&aside, &path)
    }

    /// The kept object of a resource.
    pub fn object(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.iter().find(|o| {
            o["kind"] == key.kind
                && o["metadata"]["name"] == key.name.as_str()
                && o["metadata"]["namespace"].as_str().unwrap_or("default") == key.namespace
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn written_state_reads_back_and_a_missing_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::read(dir.path()).unwrap(), State::default());
        let state = State {
            mode: "sandbox: --sandbox".into(),
            objects: vec![
                json!({"kind": "GuildConfig", "metadata": {"name": "a", "namespace": "n"}}),
            ],
            refused: vec!["x: broken".into()],
        };
        state.write(dir.path()).unwrap();
        state.write(dir.path()).unwrap();
        assert_eq!(State::read(dir.path()).unwrap(), state);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [STATUS_FILE], "nothing left aside");
        let key = ObjectKey {
            kind: "GuildConfig",
            namespace: "n".into(),
            name: "a".into(),
        };
        assert!(state.object(&key).is_some());
        std::fs::write(State::path(dir.path()), "{").unwrap();
        assert!(State::read(dir.path()).unwrap_err().contains(STATUS_FILE));
    }
}

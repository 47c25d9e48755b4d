//! Where the bot reads credentials named by Secret references: files mounted from Kubernetes
//! Secrets (`<dir>/<secret>/<key>`), or a map handed over in-process by `kaltura-discord up`.

use kd_crds::SecretKeyRef;
use kd_kaltura::Secret;
use std::collections::HashMap;
use std::path::PathBuf;

pub trait SecretSource: Send + Sync {
    /// The value of one key of one Secret, or None when it is not there.
    fn get(&self, reference: &SecretKeyRef) -> Option<Secret>;
}

/// Secrets mounted as volumes: one folder per Secret, one file per key.
pub struct MountedSecrets {
    pub dir: PathBuf,
}

impl SecretSource for MountedSecrets {
    fn get(&self, reference: &SecretKeyRef) -> Option<Secret> {
        let path = self.dir.join(&reference.name).join(&reference.key);
        // Mounted values often end with a newline that is not part of the credential.
        std::fs::read_to_string(path)
            .ok()
            .map(|v| Secret::new(v.trim_end_matches(['\n', '\r'])))
    }
}

/// Secrets held in memory (embedded mode and tests), keyed by (secret name, key).
#[derive(Default)]
pub struct SecretMap(pub HashMap<(String, String), Secret>);

impl SecretMap {
    pub fn insert(&mut self, name: &str, key: &str, value: &str) {
        self.0
            .insert((name.to_string(), key.to_string()), Secret::new(value));
    }
}

impl SecretSource for SecretMap {
    fn get(&self, reference: &SecretKeyRef) -> Option<Secret> {
        self.0
            .get(&(reference.name.clone(), reference.key.clone()))
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounted_secrets_are_read_without_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("kaltura")).unwrap();
        std::fs::write(dir.path().join("kaltura/adminSecret"), "s3cret\n").unwrap();
        let source = MountedSecrets {
            dir: dir.path().to_path_buf(),
        };
        let found = source
            .get(&SecretKeyRef {
                name: "kaltura".into(),
                key: "adminSecret".into(),
            })
            .unwrap();
        assert_eq!(found.expose(), "s3cret");
        assert!(
            source
                .get(&SecretKeyRef {
                    name: "kaltura".into(),
                    key: "other".into()
                })
                .is_none()
        );
        assert!(!format!("{found:?}").contains("s3cret"));
    }
}

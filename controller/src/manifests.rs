//! Reads a folder of YAML manifests (the embedded source and `kaltura-discord validate`):
//! every document is admitted as the API server would, then references are checked.

use kd_crds::references::{Catalog, ObjectKey, SecretKeys, Severity, check};
use kd_crds::validation::{Problem, SchemaValidator};
use kd_crds::{
    DiscordApplication, GROUP, GuildConfig, KalturaPartner, NotificationRule, RoleMapping,
};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A finding, located in a file and, when it is about one resource, at `Kind/name`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub file: PathBuf,
    /// `Kind/name`, when the finding is about a resource.
    pub object: Option<String>,
    pub severity: Severity,
    pub problem: Problem,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        if !self.problem.path.is_empty() {
            write!(f, "{}: ", self.problem.path)?;
        }
        if self.severity == Severity::Warning {
            write!(f, "warning: ")?;
        }
        write!(f, "{}", self.problem.message)
    }
}

/// What a folder holds: the admitted resources and every finding.
#[derive(Debug, Default)]
pub struct Loaded {
    pub catalog: Catalog,
    /// Resources of our API and Secrets that were checked.
    pub resources: usize,
    pub files: usize,
    pub reports: Vec<Report>,
}

impl Loaded {
    pub fn errors(&self) -> impl Iterator<Item = &Report> {
        self.reports
            .iter()
            .filter(|r| r.severity == Severity::Error)
    }
}

/// YAML files under `path` (or `path` itself), in a stable order.
fn yaml_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let entry = entry?.path();
        if entry.is_dir() {
            files.extend(yaml_files(&entry)?);
        } else if matches!(
            entry.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            files.push(entry);
        }
    }
    files.sort();
    Ok(files)
}

/// The YAML documents of one file; a syntax error ends the file.
fn documents(text: &str) -> Vec<Result<Value, String>> {
    let mut docs = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        match Value::deserialize(doc) {
            Ok(Value::Null) => {}
            Ok(value) => docs.push(Ok(value)),
            Err(err) => {
                docs.push(Err(format!("not valid YAML: {err}")));
                break;
            }
        }
    }
    docs
}

fn namespace_of(object: &Value) -> String {
    object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default")
        .to_string()
}

/// Reads and checks every manifest under `path`.
pub fn load(path: &Path) -> anyhow::Result<Loaded> {
    let validator = SchemaValidator::new(&kd_crds::crds()).map_err(anyhow::Error::msg)?;
    let mut loaded = Loaded::default();
    let mut sources: BTreeMap<ObjectKey, PathBuf> = BTreeMap::new();
    let files = yaml_files(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    if files.is_empty() {
        anyhow::bail!("no YAML manifests (.yaml, .yml) under {}", path.display());
    }
    for file in files {
        loaded.files += 1;
        let text = std::fs::read_to_string(&file)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
        for doc in documents(&text) {
            let report = |object: Option<String>, problem: Problem| Report {
                file: file.clone(),
                object,
                severity: Severity::Error,
                problem,
            };
            let object = match doc {
                Ok(object) => object,
                Err(message) => {
                    loaded.reports.push(report(None, Problem::new("", message)));
                    continue;
                }
            };
            let kind = object
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let api_version = object
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let name = object
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("<unnamed>")
                .to_string();
            let label = format!("{kind}/{name}");
            if api_version.split('/').next() == Some(GROUP) {
                loaded.resources += 1;
                let problems = validator.validate(&object);
                if !problems.is_empty() {
                    loaded
                        .reports
                        .extend(problems.into_iter().map(|p| report(Some(label.clone()), p)));
                    continue;
                }
                let namespace = namespace_of(&object);
                match admit(&mut loaded.catalog, &kind, object) {
                    Ok(kind) => {
                        sources.insert(
                            ObjectKey {
                                kind,
                                namespace,
                                name,
                            },
                            file.clone(),
                        );
                    }
                    Err(message) => loaded
                        .reports
                        .push(report(Some(label), Problem::new("", message))),
                }
            } else if api_version == "v1" && kind == "Secret" {
                loaded.resources += 1;
                loaded.catalog.secrets.push(secret_keys(&object));
            }
        }
    }
    for finding in check(&loaded.catalog) {
        let file = sources.get(&finding.object).cloned().unwrap_or_default();
        loaded.reports.push(Report {
            file,
            object: Some(format!("{}/{}", finding.object.kind, finding.object.name)),
            severity: finding.severity,
            problem: finding.problem,
        });
    }
    Ok(loaded)
}

/// Adds a schema-valid object to the catalog as its typed resource.
fn admit(catalog: &mut Catalog, kind: &str, object: Value) -> Result<&'static str, String> {
    fn typed<K: serde::de::DeserializeOwned>(object: Value) -> Result<K, String> {
        serde_json::from_value(object).map_err(|e| format!("cannot be read: {e}"))
    }
    Ok(match kind {
        "KalturaPartner" => {
            catalog.partners.push(typed::<KalturaPartner>(object)?);
            "KalturaPartner"
        }
        "DiscordApplication" => {
            catalog
                .applications
                .push(typed::<DiscordApplication>(object)?);
            "DiscordApplication"
        }
        "GuildConfig" => {
            catalog.guilds.push(typed::<GuildConfig>(object)?);
            "GuildConfig"
        }
        "RoleMapping" => {
            catalog.role_mappings.push(typed::<RoleMapping>(object)?);
            "RoleMapping"
        }
        "NotificationRule" => {
            catalog
                .notification_rules
                .push(typed::<NotificationRule>(object)?);
            "NotificationRule"
        }
        other => return Err(format!("unknown kind {other:?}")),
    })
}

/// The key names of a Secret; its values are never kept.
fn secret_keys(object: &Value) -> SecretKeys {
    let keys = ["data", "stringData"]
        .iter()
        .filter_map(|field| object.get(field).and_then(Value::as_object))
        .flat_map(|map| map.keys().cloned())
        .collect();
    SecretKeys {
        namespace: namespace_of(object),
        name: object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        keys,
    }
}

//! Reads a folder of YAML manifests (the embedded source and `kaltura-discord validate`):
//! every document is admitted as the API server would, then references are checked.

use crate::folder;
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
use std::time::Duration;

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
    /// The values of the Secrets in the folder, for `kaltura-discord up`, which has no API
    /// server to keep them.
    pub secret_values: SecretValues,
}

/// Secret values by (namespace, Secret name, key). Debug shows the keys only, so a log line or
/// a panic message never carries a credential.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValues(pub BTreeMap<(String, String, String), String>);

impl fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl SecretValues {
    pub fn get(&self, namespace: &str, name: &str, key: &str) -> Option<&str> {
        self.0
            .get(&(namespace.to_string(), name.to_string(), key.to_string()))
            .map(String::as_str)
    }
}

impl Loaded {
    pub fn errors(&self) -> impl Iterator<Item = &Report> {
        self.reports
            .iter()
            .filter(|r| r.severity == Severity::Error)
    }
}

/// Deepest nesting of flow collections (`{...}`, `[...]`) parsed: the YAML parser's time grows
/// with a document's size times its nesting, and no manifest nests this deep.
pub const MAX_FLOW_DEPTH: usize = 64;

/// Longest a file may take to parse, whatever is in it.
pub const PARSE_DEADLINE: Duration = Duration::from_secs(10);

/// Findings longer than this are cut to their ends: they quote the values they are about, and
/// a value may be a megabyte long.
const LONGEST_FINDING: usize = 500;

/// `text`, cut in the middle when it is longer than [`LONGEST_FINDING`] characters.
fn cut(text: String) -> String {
    let count = text.chars().count();
    if count <= LONGEST_FINDING {
        return text;
    }
    let keep = LONGEST_FINDING / 2 - 20;
    let head: String = text.chars().take(keep).collect();
    let tail: String = text.chars().skip(count - keep).collect();
    format!("{head}... ({} characters cut) ...{tail}", count - 2 * keep)
}

impl Report {
    fn new(file: &Path, object: Option<String>, severity: Severity, problem: Problem) -> Self {
        Self {
            file: file.to_path_buf(),
            object: object.map(cut),
            severity,
            problem: Problem::new(cut(problem.path), cut(problem.message)),
        }
    }
}

/// An estimate of the deepest nesting of flow collections in `text`, from a light scan that
/// skips quoted scalars and comments (it does not know block scalars, so it may count a
/// bracket in one). Whatever it misjudges is still bounded by [`PARSE_DEADLINE`].
fn flow_depth(text: &str) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut quote = None;
    // Whether a token may start here: at a line's start, after a blank or a flow indicator.
    let mut token_start = true;
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if let Some(q) = quote {
            if b == b'\\' && q == b'"' {
                bytes.next();
            } else if b == q {
                quote = None;
                token_start = false;
            }
            continue;
        }
        match b {
            b'\'' | b'"' if token_start => quote = Some(b),
            b'#' if token_start => {
                bytes.by_ref().find(|&c| c == b'\n');
            }
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
                token_start = true;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                token_start = true;
            }
            b',' | b' ' | b'\t' | b'\r' | b'\n' => token_start = true,
            _ => token_start = false,
        }
    }
    deepest
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

/// [`documents`], refused when nested too deeply and given up after `deadline`. The parse runs
/// on a thread of its own so that a file which defeats the nesting estimate cannot hold the
/// caller; such a thread is left to finish on its own.
fn parse(text: String, deadline: Duration) -> Vec<Result<Value, String>> {
    let depth = flow_depth(&text);
    if depth > MAX_FLOW_DEPTH {
        return vec![Err(format!(
            "flow collections ({{...}}, [...]) nested {depth} deep, more than {MAX_FLOW_DEPTH}; not parsed"
        ))];
    }
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || sender.send(documents(&text)));
    receiver.recv_timeout(deadline).unwrap_or_else(|_| {
        vec![Err(format!(
            "took more than {} to parse; not read",
            humantime::format_duration(deadline)
        ))]
    })
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
    std::fs::metadata(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    let found = folder::yaml_files(path);
    if found.files.is_empty() && found.skipped.is_empty() {
        anyhow::bail!("no YAML manifests (.yaml, .yml) under {}", path.display());
    }
    for skipped in found.skipped {
        let problem = Problem::new("", skipped.message);
        let report = Report::new(&skipped.path, None, skipped.severity, problem);
        loaded.reports.push(report);
    }
    for file in found.files {
        let text = match folder::read(&file) {
            Ok(text) => text,
            Err(message) => {
                let problem = Problem::new("", message);
                let report = Report::new(&file, None, Severity::Error, problem);
                loaded.reports.push(report);
                continue;
            }
        };
        loaded.files += 1;
        for doc in parse(text, PARSE_DEADLINE) {
            let report = |object: Option<String>, problem: Problem| {
                Report::new(&file, object, Severity::Error, problem)
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
                read_secret_values(&object, &mut loaded.secret_values);
            }
        }
    }
    for finding in check(&loaded.catalog) {
        let file = sources.get(&finding.object).cloned().unwrap_or_default();
        let object = format!("{}/{}", finding.object.kind, finding.object.name);
        let report = Report::new(&file, Some(object), finding.severity, finding.problem);
        loaded.reports.push(report);
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
            catalog
                .partners
                .push(typed::<KalturaPartner>(object)?.into());
            "KalturaPartner"
        }
        "DiscordApplication" => {
            catalog
                .applications
                .push(typed::<DiscordApplication>(object)?.into());
            "DiscordApplication"
        }
        "GuildConfig" => {
            catalog.guilds.push(typed::<GuildConfig>(object)?.into());
            "GuildConfig"
        }
        "RoleMapping" => {
            catalog
                .role_mappings
                .push(typed::<RoleMapping>(object)?.into());
            "RoleMapping"
        }
        "NotificationRule" => {
            catalog
                .notification_rules
                .push(typed::<NotificationRule>(object)?.into());
            "NotificationRule"
        }
        other => return Err(format!("unknown kind {other:?}")),
    })
}

/// A Secret's values: `stringData` as written, `data` base64-decoded (a value that does not
/// decode to UTF-8 text is left out, as if the key had none).
fn read_secret_values(object: &Value, into: &mut SecretValues) {
    use base64::Engine;
    let namespace = namespace_of(object);
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let decoded = |v: &str| {
        let bytes = base64::engine::general_purpose::STANDARD.decode(v).ok()?;
        String::from_utf8(bytes).ok()
    };
    // As the API server does, stringData wins over data for the same key.
    for (field, decode) in [("data", true), ("stringData", false)] {
        let Some(map) = object.get(field).and_then(Value::as_object) else {
            continue;
        };
        for (key, value) in map {
            let value = value.as_str().and_then(|v| {
                if decode {
                    decoded(v)
                } else {
                    Some(v.to_string())
                }
            });
            if let Some(value) = value {
                into.0
                    .insert((namespace.clone(), name.to_string(), key.clone()), value);
            }
        }
    }
}

/// The key names of a Secret (the catalog, which reference checks read, holds no values).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_are_read_and_never_debug_printed() {
        let object: Value = serde_yaml_ng::from_str(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: n}\n\
             data: {a: c2VjcmV0LWE=, b: c2VjcmV0LWI=, bad: '***'}\nstringData: {b: secret-c}\n",
        )
        .unwrap();
        let mut values = SecretValues::default();
        read_secret_values(&object, &mut values);
        assert_eq!(values.get("n", "s", "a"), Some("secret-a"));
        assert_eq!(
            values.get("n", "s", "b"),
            Some("secret-c"),
            "stringData wins"
        );
        assert_eq!(values.get("n", "s", "bad"), None);
        let shown = format!("{values:?}");
        assert!(!shown.contains("secret-"), "{shown}");
        assert!(shown.contains("\"a\""), "{shown}");
    }

    #[test]
    fn the_nesting_estimate_skips_quotes_and_comments() {
        assert_eq!(flow_depth("a: {b: [1, {c: 2}]}\n"), 3);
        assert_eq!(flow_depth("a: '[[[[' # {{{{\nb: \"\\\"[[[\"\n"), 0);
        assert_eq!(flow_depth("a: it's [x]\n"), 1);
        assert_eq!(flow_depth("a: [{b: ']]]]'}, [[c]]]\n"), 3);
    }

    #[test]
    fn long_findings_keep_their_ends() {
        let short = "x is wrong".to_string();
        assert_eq!(cut(short.clone()), short);
        let long = format!("\"{}\" is longer than 63 characters", "é".repeat(10_000));
        let cut = cut(long);
        assert!(cut.chars().count() < LONGEST_FINDING, "{cut}");
        assert!(cut.starts_with("\"éé"), "{cut}");
        assert!(cut.ends_with("é\" is longer than 63 characters"), "{cut}");
        assert!(cut.contains("(9571 characters cut)"), "{cut}");
    }
}

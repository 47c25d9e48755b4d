//! Whether `up` talks to the real Discord and Kaltura or to its built-in sandboxes, and why:
//! the sandboxes when asked (`--sandbox`) or when a credential the workloads need is missing
//! or still a placeholder (`examples/secrets.yaml` writes `REPLACE-WITH-...`).

use kd_controller::manifests::Loaded;
use kd_controller::reconcile::render::Rendered;
use kd_controller::reconcile::workloads::referenced_secrets;
use std::fmt;

/// What a placeholder value starts with in the examples.
const PLACEHOLDER: &str = "REPLACE-WITH-";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    Sandbox { why: String },
    Real,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Sandbox { why } => write!(
                f,
                "sandbox: the built-in Discord and Kaltura sandboxes, because {why}"
            ),
            Mode::Real => write!(
                f,
                "real: Discord and Kaltura themselves, with the credentials of the folder's Secrets"
            ),
        }
    }
}

/// The mode for a folder that loaded without errors.
pub fn decide(loaded: &Loaded, rendered: &[Rendered], asked: bool) -> Mode {
    if asked {
        return Mode::Sandbox {
            why: "--sandbox was given".into(),
        };
    }
    let mut wanting = Vec::new();
    for r in rendered {
        let Some(app) = loaded.catalog.applications.iter().find(|a| {
            a.metadata.name.as_deref() == Some(&r.application.name)
                && a.metadata.namespace.as_deref().unwrap_or("default") == r.application.namespace
        }) else {
            continue;
        };
        for secret in referenced_secrets(app, r) {
            let value =
                loaded
                    .secret_values
                    .get(&r.application.namespace, &secret.name, &secret.key);
            let state = match value {
                None => "is not in the folder",
                Some(v) if v.trim().is_empty() => "is empty",
                Some(v) if v.starts_with(PLACEHOLDER) => "holds a placeholder",
                Some(_) => continue,
            };
            wanting.push(format!(
                "Secret {}/{} key {} {state}",
                r.application.namespace, secret.name, secret.key
            ));
        }
    }
    if wanting.is_empty() {
        Mode::Real
    } else {
        Mode::Sandbox {
            why: wanting.join(", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kd_controller::manifests;
    use kd_controller::reconcile::render::render;
    use std::path::Path;

    fn examples() -> Loaded {
        manifests::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")).unwrap()
    }

    #[test]
    fn the_examples_run_on_the_sandboxes_and_say_which_secret_made_it_so() {
        let loaded = examples();
        let rendered = render(&loaded.catalog);
        let Mode::Sandbox { why } = decide(&loaded, &rendered, false) else {
            panic!("placeholders mean the sandboxes");
        };
        assert_eq!(
            why,
            "Secret kaltura/discord-campus-bot key botToken holds a placeholder, \
             Secret kaltura/discord-campus-bot key clientSecret holds a placeholder, \
             Secret kaltura/kaltura-campus key adminSecret holds a placeholder"
        );
    }

    #[test]
    fn real_values_mean_the_real_services_unless_the_sandbox_is_asked_for() {
        let mut loaded = examples();
        for value in loaded.secret_values.0.values_mut() {
            *value = "a-real-looking-credential".into();
        }
        let rendered = render(&loaded.catalog);
        assert_eq!(decide(&loaded, &rendered, false), Mode::Real);
        assert_eq!(
            decide(&loaded, &rendered, true).to_string(),
            "sandbox: the built-in Discord and Kaltura sandboxes, because --sandbox was given"
        );
        loaded
            .secret_values
            .0
            .retain(|(_, _, key), _| key != "adminSecret");
        let Mode::Sandbox { why } = decide(&loaded, &rendered, false) else {
            panic!("a missing credential means the sandboxes");
        };
        assert_eq!(
            why,
            "Secret kaltura/kaltura-campus key adminSecret is not in the folder"
        );
    }
}

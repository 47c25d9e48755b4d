//! The `kaltura-discord bot` and `serve` binaries as deployed: mounted-style secrets and a
//! runtime-config file in a temporary folder, the sandboxes' URLs, HTTP on a free port.

use kd_core::config::RuntimeConfig;
use kd_sandbox_discord::{Config, DiscordSandbox, GuildCreated, NewGuild, NewUser};
use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use kd_testing::process::Running;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The outside world a workload process runs against: both sandboxes and one guild with one
/// member, `ada`, who has no roles.
pub struct Outside {
    pub discord: DiscordSandbox,
    pub kaltura: KalturaSandbox,
    pub guild: GuildCreated,
    pub user: u64,
}

impl Outside {
    pub async fn start() -> Self {
        Self::start_with(Config::default()).await
    }

    /// The same world, with the Discord sandbox set up by `config` (TLS, timings).
    pub async fn start_with(config: Config) -> Self {
        let discord = DiscordSandbox::start(config)
            .await
            .expect("Discord sandbox starts");
        let kaltura = KalturaSandbox::start(SandboxConfig::default())
            .await
            .expect("Kaltura sandbox starts");
        let guild = discord
            .create_guild(NewGuild {
                name: "Physics".into(),
                ..NewGuild::default()
            })
            .unwrap();
        let user = discord
            .create_user(NewUser {
                username: "ada".into(),
                ..NewUser::default()
            })
            .unwrap()
            .id;
        discord
            .put_member(guild.id, user, Default::default())
            .unwrap();
        Self {
            discord,
            kaltura,
            guild,
            user,
        }
    }
}

/// How a workload process is started and reaches Discord, beyond the sandbox's own URLs.
#[derive(Default)]
pub struct Reach<'a> {
    /// Discord's REST API elsewhere (`host:port` or a URL), e.g. a relay that plays an outage
    /// (the bot only).
    pub rest: Option<String>,
    /// Environment added to the process (`SSL_CERT_FILE` for a private CA).
    pub env: Vec<(&'a str, &'a std::ffi::OsStr)>,
    /// A program and its arguments to start the binary through (then `bin` and its own): what
    /// a pod's runtime does around it (a user, mounts). The config and secrets are then made
    /// readable by any user, as a pod's mounted ConfigMaps and Secrets are (mode 0644).
    pub wrapper: Vec<String>,
}

/// The EndpointSlice Kubernetes makes for Service `service` once its one pod is ready, here a
/// process on this machine at `port`, as YAML for `kubectl apply`.
pub fn endpoint_slice(namespace: &str, service: &str, port: u16) -> String {
    format!(
        r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: {service}-abcde
  namespace: {namespace}
  labels: {{kubernetes.io/service-name: {service}}}
addressType: IPv4
ports: [{{name: http, port: {port}, protocol: TCP}}]
endpoints: [{{addresses: ["127.0.0.1"], conditions: {{ready: true}}}}]
"#
    )
}

/// A workload process (`bot` or `serve`).
pub struct WorkloadProcess {
    pub process: Running,
    pub port: u16,
    pub config_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl WorkloadProcess {
    /// Starts `bin bot` against the sandboxes with `config`; `extra` arguments are appended
    /// (a `--store` among them replaces the SQLite file of its own, a `--config-map` the
    /// config file: the process then reads its config from the Kubernetes API).
    pub fn bot(
        bin: &str,
        discord: &DiscordSandbox,
        kaltura: &KalturaSandbox,
        config: &RuntimeConfig,
        extra: &[&str],
        stdout: Stdio,
    ) -> Self {
        Self::bot_with(
            bin,
            discord,
            kaltura,
            config,
            extra,
            Reach::default(),
            stdout,
        )
    }

    /// Like [`WorkloadProcess::bot`], reaching Discord as `reach` says.
    pub fn bot_with(
        bin: &str,
        discord: &DiscordSandbox,
        kaltura: &KalturaSandbox,
        config: &RuntimeConfig,
        extra: &[&str],
        reach: Reach,
        stdout: Stdio,
    ) -> Self {
        let rest = (reach.rest.clone()).unwrap_or_else(|| discord.base_url().to_string());
        let command = [
            "bot",
            "--discord-rest",
            &rest,
            "--discord-gateway",
            discord.gateway_url(),
        ];
        Self::spawn(
            &reach, bin, &command, discord, kaltura, config, extra, stdout,
        )
    }

    /// Starts `bin serve` in front of the sandboxes with `config`; `extra` arguments are appended.
    pub fn serve(
        bin: &str,
        discord: &DiscordSandbox,
        kaltura: &KalturaSandbox,
        config: &RuntimeConfig,
        extra: &[&str],
        stdout: Stdio,
    ) -> Self {
        Self::serve_with(
            bin,
            discord,
            kaltura,
            config,
            extra,
            Reach::default(),
            stdout,
        )
    }

    /// Like [`WorkloadProcess::serve`], started as `reach` says (through a wrapper, say).
    pub fn serve_with(
        bin: &str,
        discord: &DiscordSandbox,
        kaltura: &KalturaSandbox,
        config: &RuntimeConfig,
        extra: &[&str],
        reach: Reach,
        stdout: Stdio,
    ) -> Self {
        let api = format!("{}/api/v10", discord.base_url());
        let command = ["serve", "--discord-api", &api];
        Self::spawn(
            &reach, bin, &command, discord, kaltura, config, extra, stdout,
        )
    }

    #[allow(clippy::too_many_arguments)] // One private constructor behind the public ones.
    fn spawn(
        reach: &Reach,
        bin: &str,
        command: &[&str],
        discord: &DiscordSandbox,
        kaltura: &KalturaSandbox,
        config: &RuntimeConfig,
        extra: &[&str],
        stdout: Stdio,
    ) -> Self {
        let Reach { wrapper, env, .. } = reach;
        let dir = tempfile::tempdir().unwrap();
        let secrets = [
            ("discord", "botToken", discord.bot_token()),
            ("kaltura", "adminSecret", kaltura.admin_secret().to_string()),
        ];
        for (secret, key, value) in secrets {
            mount_secret(&dir.path().join(secret), key, &value, 0);
        }
        let config_file = dir.path().join("runtime.json");
        std::fs::write(&config_file, config.to_json()).unwrap();
        if !wrapper.is_empty() {
            readable_by_all(dir.path());
        }
        let port = kd_testing::free_port();
        let mut program = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut program = Command::new(first);
                program.args(rest).arg(bin);
                program
            }
            None => Command::new(bin),
        };
        let config_args = if extra.contains(&"--config-map") {
            vec![]
        } else {
            vec!["--config".into(), config_file.clone().into_os_string()]
        };
        let process = Running::spawn(
            program
                .args(command)
                .args(config_args)
                .arg("--secrets-dir")
                .arg(dir.path())
                .args(if extra.contains(&"--store") {
                    vec![]
                } else {
                    let sqlite = format!("sqlite://{}", dir.path().join("store.db").display());
                    vec!["--store".to_string(), sqlite]
                })
                .args(["--listen", &format!("127.0.0.1:{port}")])
                .args(extra)
                .envs(env.iter().copied())
                .stdout(stdout)
                // Start-up errors show in the test's output.
                .stderr(Stdio::inherit()),
        );
        Self {
            process,
            port,
            config_file,
            _dir: dir,
        }
    }

    /// Changes one key of a mounted Secret as the kubelet does: a new timestamped folder, then
    /// `..data` swapped to it in one rename.
    pub fn rotate_secret(&self, secret: &str, key: &str, value: &str) {
        let folder = self._dir.path().join(secret);
        let generation = std::fs::read_dir(&folder).unwrap().count();
        mount_secret(&folder, key, value, generation);
    }

    /// Replaces the config file, as a ConfigMap update does.
    pub fn write_config(&self, config: &RuntimeConfig) {
        std::fs::write(&self.config_file, config.to_json()).unwrap();
    }

    /// The base URL of its HTTP port.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET path` on its HTTP port (the whole response); None while it is not listening yet.
    pub fn get(&self, path: &str) -> Option<String> {
        kd_testing::http::get(self.port, path)
    }

    /// Waits until `/readyz` answers 200: for the bot, its store and gateway are up, so an
    /// interaction sent now reaches it (registered commands alone don't say that).
    pub async fn ready(&self) {
        kd_testing::wait("the process to be ready")
            .timeout(Duration::from_secs(30))
            .until(async || {
                self.get("/readyz")
                    .filter(|r| r.starts_with("HTTP/1.1 200"))
                    .map(drop)
            })
            .await;
    }

    /// One sample of its Prometheus text, by its full name with labels.
    pub fn metric(&self, sample: &str) -> Option<f64> {
        kd_testing::http::metric(kd_testing::http::body(&self.get("/metrics")?)?, sample)
    }
}

/// One key of a Secret volume in the kubelet's layout: `key -> ..data/key`,
/// `..data -> ..<generation>`, the value in `..<generation>/key`, with the trailing newline
/// mounted values often have.
/// Folders 0755 and files 0644 under `root`.
fn readable_by_all(root: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.unwrap();
        let mode = match entry.file_type() {
            t if t.is_symlink() => continue,
            t if t.is_dir() => 0o755,
            _ => 0o644,
        };
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

fn mount_secret(folder: &std::path::Path, key: &str, value: &str, generation: usize) {
    let version = format!("..{generation}");
    std::fs::create_dir_all(folder.join(&version)).unwrap();
    std::fs::write(folder.join(&version).join(key), format!("{value}\n")).unwrap();
    let swap = folder.join("..data_tmp");
    std::os::unix::fs::symlink(&version, &swap).unwrap();
    std::fs::rename(&swap, folder.join("..data")).unwrap();
    let link = folder.join(key);
    if std::fs::symlink_metadata(&link).is_err() {
        std::os::unix::fs::symlink(format!("..data/{key}"), link).unwrap();
    }
}

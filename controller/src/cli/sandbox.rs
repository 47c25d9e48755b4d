//! `kaltura-discord sandbox ...`: run an emulator of an outside service in the foreground.
use anyhow::Context;
use kd_sandbox_discord::{Config, DiscordSandbox};
use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use kd_sandbox_kubernetes::KubernetesSandbox;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    target: Target,
}

#[derive(clap::Subcommand)]
enum Target {
    /// Kaltura: api_v3 with seeded data, the player's calls, a playable clip, and fault knobs.
    #[command(after_long_help = kaltura_help())]
    Kaltura(KalturaArgs),
    /// Discord: REST under /api/v10, the Gateway at /gateway, OAuth2, and a control API.
    #[command(after_long_help = discord_help())]
    Discord(DiscordArgs),
    /// Kubernetes: the API subset the operator uses (discovery, CRDs, watch, apply), for kubectl and kube-rs.
    Kubernetes(KubernetesArgs),
}

#[derive(clap::Args)]
struct KubernetesArgs {
    /// Address to serve the API on (plain HTTP).
    #[arg(long, default_value = "127.0.0.1:8092")]
    listen: SocketAddr,
    /// Bearer token the API accepts; random (and printed once) when not given.
    #[arg(long, env = "KD_SANDBOX_KUBERNETES_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Where to write a kubeconfig for kubectl and kube-rs (default: kubeconfig in the current folder).
    #[arg(long, default_value = "kubeconfig")]
    kubeconfig: PathBuf,
    /// Refuse requests without a token. kubectl sends no credentials to an http:// server, so
    /// with this only token-sending clients (kube-rs, curl) get in.
    #[arg(long)]
    require_token: bool,
}

#[derive(clap::Args)]
struct KalturaArgs {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    #[arg(long)]
    partner_id: Option<i64>,
    /// Admin secret to accept; a random one is made (and printed) when absent.
    #[arg(long, env = "KALTURA_SANDBOX_ADMIN_SECRET", hide_env_values = true)]
    admin_secret: Option<String>,
    /// MP4 every entry plays (default: target/tools/media/clip.mp4 when present).
    #[arg(long)]
    media_clip: Option<PathBuf>,
    /// Where each entry's own clip (its name and a timecode burnt in, its duration) is made with
    /// ffmpeg on first play and kept; it wins over --media-clip (default:
    /// target/tools/media/clips when target/tools/media exists).
    #[arg(long, value_name = "DIR")]
    clips_dir: Option<PathBuf>,
    /// Base URL to advertise in media and thumbnail URLs (when behind a proxy).
    #[arg(long)]
    public_url: Option<String>,
}

#[derive(clap::Args)]
struct DiscordArgs {
    /// Address to serve REST, the Gateway and the control API on.
    #[arg(long, default_value = "127.0.0.1:8091")]
    listen: SocketAddr,
    /// Address of the Activity's origin: the host page that plays the Discord client for the
    /// Embedded App SDK, and the URL-mapping proxy (set the mappings through the control API).
    #[arg(long, default_value = "127.0.0.1:8093")]
    activity_listen: SocketAddr,
    /// Application (and OAuth2 client) id; random when not given.
    #[arg(long, env = "KD_SANDBOX_DISCORD_APPLICATION_ID")]
    application_id: Option<u64>,
    /// Bot token the sandbox accepts; random (and printed once) when not given.
    #[arg(long, env = "KD_SANDBOX_DISCORD_BOT_TOKEN", hide_env_values = true)]
    bot_token: Option<String>,
    /// OAuth2 client secret; random (and printed once) when not given.
    #[arg(long, env = "KD_SANDBOX_DISCORD_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
}

fn discord_help() -> String {
    control_help(kd_sandbox_discord::control::ROUTES)
}

fn kaltura_help() -> String {
    control_help(kd_sandbox_kaltura::control::ROUTES)
}

fn control_help(routes: &[(&str, &str, &str)]) -> String {
    let routes: Vec<String> = routes
        .iter()
        .map(|(method, path, about)| format!("  {method:<11} {path}\n              {about}"))
        .collect();
    format!("Control API (JSON):\n{}", routes.join("\n"))
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.target {
        Target::Kaltura(args) => run_kaltura(args),
        Target::Discord(args) => run_discord(args),
        Target::Kubernetes(args) => run_kubernetes(args),
    }
}

fn run_kubernetes(args: KubernetesArgs) -> anyhow::Result<ExitCode> {
    let generated_token = args.token.is_none();
    let config = kd_sandbox_kubernetes::Config {
        listen: args.listen,
        token: args.token,
        anonymous: !args.require_token,
        ..kd_sandbox_kubernetes::Config::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let sandbox = KubernetesSandbox::start(config)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        sandbox
            .write_kubeconfig(&args.kubeconfig)
            .with_context(|| format!("writing {}", args.kubeconfig.display()))?;
        println!("Kubernetes sandbox");
        println!("  API server    {}", sandbox.base_url());
        println!("  Kubeconfig    {}", args.kubeconfig.display());
        println!(
            "  Try           kubectl --kubeconfig {} get namespaces",
            args.kubeconfig.display()
        );
        // Printed once so curl or a client can be pointed at it; a given token is never echoed.
        if generated_token {
            println!("  Token         {}", sandbox.token());
        }
        tokio::select! {
            () = sandbox.wait() => anyhow::bail!("the sandbox server stopped"),
            _ = super::stop_signal()? => Ok(ExitCode::SUCCESS),
        }
    })
}

fn run_discord(args: DiscordArgs) -> anyhow::Result<ExitCode> {
    let generated_token = args.bot_token.is_none();
    let generated_secret = args.client_secret.is_none();
    let config = Config {
        listen: args.listen,
        activity_listen: args.activity_listen,
        application_id: args.application_id,
        bot_token: args.bot_token,
        client_secret: args.client_secret,
        ..Config::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let sandbox = DiscordSandbox::start(config)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        println!("Discord sandbox");
        println!("  REST          {}/api/v10", sandbox.base_url());
        println!("  Gateway       {}", sandbox.gateway_url());
        println!("  Control API   {}/_sandbox", sandbox.base_url());
        println!("  Application   {}", sandbox.application_id());
        println!("  Activity      {}", sandbox.activity_origin());
        println!(
            "  Host page     {}/.discord/host?user_id=USER&channel_id=VOICE_CHANNEL",
            sandbox.activity_origin()
        );
        // Printed once so a bot can be pointed at the sandbox; these are the sandbox's own made-up credentials.
        if generated_token {
            println!("  Bot token     {}", sandbox.bot_token());
        }
        if generated_secret {
            println!("  Client secret {}", sandbox.client_secret());
        }
        tokio::select! {
            () = sandbox.wait() => anyhow::bail!("the sandbox server stopped"),
            _ = super::stop_signal()? => Ok(ExitCode::SUCCESS),
        }
    })
}

fn run_kaltura(args: KalturaArgs) -> anyhow::Result<ExitCode> {
    let defaults = SandboxConfig::default();
    let media_clip = args
        .media_clip
        .or_else(|| Some(PathBuf::from("target/tools/media/clip.mp4")).filter(|p| p.exists()));
    let clips_dir = args.clips_dir.or_else(|| {
        Some(PathBuf::from("target/tools/media"))
            .filter(|p| p.exists())
            .map(|p| p.join("clips"))
    });
    let config = SandboxConfig {
        partner_id: args.partner_id.unwrap_or(defaults.partner_id),
        admin_secret: args.admin_secret.unwrap_or(defaults.admin_secret.clone()),
        media_clip,
        clips_dir: clips_dir.clone(),
        listen: args.listen,
        public_url: args.public_url,
        ..defaults
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let sandbox = KalturaSandbox::start(config).await?;
        // The sandbox is a local development tool: printing its own throw-away secret is the point.
        println!("Kaltura sandbox listening on {}", sandbox.base_url());
        println!("service url:  {}", sandbox.base_url());
        println!("partner id:   {}", sandbox.partner_id());
        println!("admin secret: {}", sandbox.admin_secret());
        println!("user secret:  {}", sandbox.user_secret());
        println!("control api:  {}/_sandbox", sandbox.base_url());
        match &clips_dir {
            Some(dir) => println!("clips:        one per entry, in {}", dir.display()),
            None => println!("clips:        none (--clips-dir DIR for one per entry)"),
        }
        super::stop_signal()?.await;
        sandbox.stop().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

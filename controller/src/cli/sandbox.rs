//! `kaltura-discord sandbox ...`: the emulators of the outside world, for local runs.

use anyhow::Context;
use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// A Kaltura api_v3 emulator with seeded data, the player's calls and a playable clip.
    Kaltura(KalturaArgs),
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
    /// Base URL to advertise in media and thumbnail URLs (when behind a proxy).
    #[arg(long)]
    public_url: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::Kaltura(kaltura) => run_kaltura(kaltura),
    }
}

fn run_kaltura(args: KalturaArgs) -> anyhow::Result<ExitCode> {
    let defaults = SandboxConfig::default();
    let media_clip = args
        .media_clip
        .or_else(|| Some(PathBuf::from("target/tools/media/clip.mp4")).filter(|p| p.exists()));
    let config = SandboxConfig {
        partner_id: args.partner_id.unwrap_or(defaults.partner_id),
        admin_secret: args.admin_secret.unwrap_or(defaults.admin_secret.clone()),
        media_clip,
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
        tokio::signal::ctrl_c()
            .await
            .context("waiting for Ctrl-C")?;
        sandbox.stop().await;
        anyhow::Ok(ExitCode::SUCCESS)
    })
}

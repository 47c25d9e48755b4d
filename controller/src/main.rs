//! `kaltura-discord`: one binary for every way of running the project.

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kaltura-discord",
    version,
    about = "Kaltura video in Discord, declared in Git and reconciled on Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the CustomResourceDefinitions as YAML, or write one file per kind to a folder.
    Crds(cli::crds::Args),
    /// Check a folder of manifests against the CRD schemas, their CEL rules and each other.
    Validate(cli::validate::Args),
    /// Print (or write) the runtime config each application's bot runs, rendered from manifests.
    Render(cli::render::Args),
    /// Run the Discord bot of one application from a rendered runtime config.
    Bot(cli::bot::Args),
    /// Serve join links, the REST API (/api/v1) and its OpenAPI document for one application.
    Serve(cli::serve::Args),
    /// Run the Kubernetes operator: deploy each application's bot and Activity, write status.
    Operator(cli::operator::Args),
    /// Run everything from a folder of manifests: the reconcile core, bot, API and Activity, and
    /// without real credentials the Discord and Kaltura sandboxes and a console page.
    #[cfg(feature = "sandbox")]
    Up(cli::up::Args),
    /// Print the resources `up` runs with their conditions, as `kubectl get` would.
    Status(cli::status::Args),
    /// Kaltura tools: make and inspect Kaltura Sessions (KS).
    Kaltura(cli::kaltura::Args),
    /// Run an emulator of an outside service (Kaltura, Discord, Kubernetes) for local development and tests.
    #[cfg(feature = "sandbox")]
    Sandbox(cli::sandbox::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crds(args) => cli::crds::run(args),
        Command::Validate(args) => cli::validate::run(args),
        Command::Render(args) => cli::render::run(args),
        Command::Bot(args) => cli::bot::run(args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Operator(args) => cli::operator::run(args),
        #[cfg(feature = "sandbox")]
        Command::Up(args) => cli::up::run(args),
        Command::Status(args) => cli::status::run(args),
        Command::Kaltura(args) => cli::kaltura::run(args),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => cli::sandbox::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

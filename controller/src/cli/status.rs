//! `kaltura-discord status`: every resource `up` runs, with its conditions, as `kubectl get`
//! prints them in a cluster (the CRDs' printer columns), from the state folder.

use k8s_openapi::jiff::Timestamp;
use kd_controller::local::{state::State, table};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The state folder of `kaltura-discord up`.
    #[arg(long, value_name = "DIR", default_value = ".kaltura-discord")]
    state: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let state = State::read(&args.state).map_err(anyhow::Error::msg)?;
    if state.objects.is_empty() {
        eprintln!(
            "no resources in {}: start `kaltura-discord up` first",
            State::path(&args.state).display()
        );
        return Ok(ExitCode::FAILURE);
    }
    print!(
        "{}",
        table::tables(&kd_crds::crds(), &state.objects, Timestamp::now())
    );
    if !state.refused.is_empty() {
        println!("\nThe folder's last edit was refused; the configuration above keeps running:");
        for finding in &state.refused {
            println!("  {finding}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

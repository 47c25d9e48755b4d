//! `kaltura-discord validate <folder>`: admission and reference checks without a cluster.

use kd_controller::manifests;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A folder of manifests (searched recursively for .yaml/.yml) or one file.
    path: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = manifests::load(&args.path)?;
    for report in &loaded.reports {
        println!("{report}");
    }
    let errors = loaded.errors().count();
    if errors > 0 {
        eprintln!(
            "{errors} problem(s) in {} resource(s) from {} file(s)",
            loaded.resources, loaded.files
        );
        return Ok(ExitCode::FAILURE);
    }
    let warnings = loaded.reports.len();
    let note = if warnings > 0 {
        format!(" ({warnings} warning(s))")
    } else {
        String::new()
    };
    println!(
        "OK: {} resource(s) in {} file(s){note}",
        loaded.resources, loaded.files
    );
    Ok(ExitCode::SUCCESS)
}

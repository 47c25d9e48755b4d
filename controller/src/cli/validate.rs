//! `kaltura-discord validate <folder>`: admission and reference checks without a cluster.

use kd_controller::manifests::{self, Loaded};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A folder of manifests (searched recursively for .yaml/.yml) or one file.
    path: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = manifests::load(&args.path)?;
    Ok(if print_findings(&loaded) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints every finding (warnings on stdout, the error count on stderr) and whether the
/// manifests are usable; `up` refuses a folder with exactly these words.
pub fn print_findings(loaded: &Loaded) -> bool {
    for report in &loaded.reports {
        println!("{report}");
    }
    let errors = loaded.errors().count();
    if errors > 0 {
        eprintln!(
            "{errors} problem(s) in {} resource(s) from {} file(s)",
            loaded.resources, loaded.files
        );
        return false;
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
    true
}

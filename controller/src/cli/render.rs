//! `kaltura-discord render <folder>`: the runtime configuration each DiscordApplication's bot
//! runs, as the operator renders it (the embedded mode and ConfigMaps use the same files).

use anyhow::Context;
use kd_controller::{manifests, reconcile::render};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// A folder of manifests (or one file).
    path: PathBuf,
    /// Write `<namespace>.<application>.json` files here instead of printing.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let loaded = manifests::load(&args.path)?;
    if loaded.errors().count() > 0 {
        for report in loaded.errors() {
            eprintln!("{report}");
        }
        eprintln!(
            "nothing rendered: fix the problems above (`kaltura-discord validate` shows them all)"
        );
        return Ok(ExitCode::FAILURE);
    }
    let rendered = render::render(&loaded.catalog);
    if rendered.is_empty() {
        anyhow::bail!("no DiscordApplication in {}", args.path.display());
    }
    match args.out {
        None => {
            for r in &rendered {
                println!("{}", r.config.to_json());
            }
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for r in &rendered {
                let file = dir.join(format!(
                    "{}.{}.json",
                    r.application.namespace, r.application.name
                ));
                std::fs::write(&file, r.config.to_json())
                    .with_context(|| format!("writing {}", file.display()))?;
                println!("wrote {} (revision {})", file.display(), r.config.revision);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

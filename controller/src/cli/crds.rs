//! `kaltura-discord crds`: the CRD YAML, printed or written one file per kind.

use anyhow::Context;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// Write `<plural>.<group>.yaml` files into this folder instead of printing one stream.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let crds = kd_crds::crds();
    match args.out {
        None => {
            let docs: Vec<String> = crds.iter().map(kd_crds::crd_yaml).collect();
            print!("---\n{}", docs.join("---\n"));
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for crd in &crds {
                let file = dir.join(kd_crds::crd_file_name(crd));
                std::fs::write(&file, kd_crds::crd_yaml(crd))
                    .with_context(|| format!("writing {}", file.display()))?;
                println!("wrote {}", file.display());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

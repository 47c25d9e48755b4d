//! The YAML files of a manifest folder, found and read defensively: the folder may be a Git
//! checkout, a mounted ConfigMap or anything a user points `validate` at, so symlink loops,
//! FIFOs, devices and huge files end in a finding, never in a hang or a huge allocation.

use kd_crds::references::Severity;
use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// The largest manifest file read. Kubernetes refuses objects of more than about 1.5 MiB, and
/// parsing takes 90 to 230 times a file's size in memory (measured on 1 MiB files).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Something under the folder that was not read, and why.
#[derive(Debug)]
pub struct Skipped {
    pub path: PathBuf,
    pub severity: Severity,
    pub message: String,
}

/// The YAML files under a folder (or the one file given), in a stable order, each once.
#[derive(Debug, Default)]
pub struct Found {
    pub files: Vec<PathBuf>,
    pub skipped: Vec<Skipped>,
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    )
}

/// Walks `root`, following symlinks (mounted ConfigMaps are made of them) but never a loop, and
/// never into a folder outside `root` (`up -> ..` or a link to `/` would walk the disk).
pub fn yaml_files(root: &Path) -> Found {
    let inside = std::fs::canonicalize(root).ok();
    let mut outside = Vec::new();
    let mut found = Found::default();
    let mut seen = HashSet::new();
    let walk = WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            let leaves = entry.depth() > 0
                && entry.path_is_symlink()
                && entry.file_type().is_dir()
                && !std::fs::canonicalize(entry.path())
                    .is_ok_and(|target| inside.as_ref().is_some_and(|r| target.starts_with(r)));
            if leaves {
                outside.push(entry.path().to_path_buf());
            }
            !leaves
        });
    for entry in walk {
        match entry {
            Ok(entry) => {
                if entry.file_type().is_dir() || !is_yaml(entry.path()) {
                    continue;
                }
                // One file reached by several names (a symlink, a ConfigMap's `..data`) is read once.
                let identity = std::fs::canonicalize(entry.path())
                    .unwrap_or_else(|_| entry.path().to_path_buf());
                if seen.insert(identity) {
                    found.files.push(entry.into_path());
                }
            }
            Err(err) => {
                let path = err.path().unwrap_or(root).to_path_buf();
                if let Some(ancestor) = err.loop_ancestor() {
                    found.skipped.push(Skipped {
                        message: format!(
                            "symlink loop: leads back to {}; not followed",
                            ancestor.display()
                        ),
                        path,
                        severity: Severity::Warning,
                    });
                } else if is_yaml(&path)
                    || err
                        .io_error()
                        .is_none_or(|e| e.kind() != std::io::ErrorKind::NotFound)
                {
                    let message = match err.io_error() {
                        Some(io) => format!("cannot be read: {io}"),
                        None => format!("cannot be read: {err}"),
                    };
                    found.skipped.push(Skipped {
                        path,
                        severity: Severity::Error,
                        message,
                    });
                }
            }
        }
    }
    found
        .skipped
        .extend(outside.into_iter().map(|path| Skipped {
            path,
            severity: Severity::Warning,
            message: format!(
                "symlink to a folder outside {}; not followed",
                root.display()
            ),
        }));
    found
}

/// What a non-regular file is, for the finding.
fn kind_of(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    let _ = file_type;
    "not a regular file"
}

/// The text of a regular file of at most [`MAX_FILE_BYTES`]; anything else is refused before
/// it is opened (opening a FIFO waits for a writer, a device never ends).
pub fn read(path: &Path) -> Result<String, String> {
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot be read: {e}"))?;
    if !metadata.is_file() {
        return Err(format!(
            "is {}, not a regular file; not read",
            kind_of(metadata.file_type())
        ));
    }
    let too_big = |size: u64| {
        format!(
            "is {size} bytes, more than the {MAX_FILE_BYTES} bytes a manifest file may have; not read"
        )
    };
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_big(metadata.len()));
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be read: {e}"))?;
    let mut bytes = Vec::new();
    // The file may grow between the check and the read.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big(bytes.len() as u64));
    }
    String::from_utf8(bytes).map_err(|_| "is not UTF-8 text; not read".to_string())
}

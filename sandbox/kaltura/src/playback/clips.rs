//! One clip per entry, generated with ffmpeg on first play and cached on disk: the entry's name
//! and id and a running timecode burnt in, a colour and tone of its own, and the entry's
//! duration as its length, so a test can tell from the screen and the media element which entry
//! plays and where.

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Entries longer than this are cut to it (the seed's clips are 60 to 120 s).
pub const MAX_SECONDS: i64 = 600;

/// Changes whenever the clip's layout does, so cached clips of an older look are not reused.
const LOOK: u32 = 1;

/// What one entry's clip shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipSpec {
    pub entry_id: String,
    pub label: String,
    pub seconds: i64,
    /// Background colour, `RRGGBB`.
    pub color: String,
    pub tone_hz: u32,
}

impl ClipSpec {
    pub fn of(entry: &Value) -> ClipSpec {
        let entry_id = entry["id"].as_str().unwrap_or_default().to_owned();
        let name = entry["name"].as_str().unwrap_or_default();
        let label: String = name.chars().take(42).collect();
        let seconds = entry["duration"]
            .as_i64()
            .unwrap_or(60)
            .clamp(1, MAX_SECONDS);
        // A stable hash of the id picks a dark colour and a tone, so neighbours differ.
        let hash = entry_id.bytes().fold(2_166_136_261u32, |h, b| {
            (h ^ b as u32).wrapping_mul(16_777_619)
        });
        let color = format!(
            "{:02x}{:02x}{:02x}",
            0x20 + (hash & 0x5f),
            0x20 + ((hash >> 8) & 0x5f),
            0x40 + ((hash >> 16) & 0x5f)
        );
        ClipSpec {
            entry_id,
            label,
            seconds,
            color,
            tone_hz: 220 + (hash >> 24) % 64 * 10,
        }
    }

    /// The file name: the id and everything that shapes the clip, so a changed entry gets a new clip.
    pub fn file_name(&self) -> String {
        let hash = format!("{LOOK}|{}|{}|{}", self.label, self.seconds, self.color)
            .bytes()
            .fold(2_166_136_261u32, |h, b| {
                (h ^ b as u32).wrapping_mul(16_777_619)
            });
        format!("{}-{:08x}.mp4", self.entry_id, hash)
    }

    /// ffmpeg's arguments; the label comes from a text file so no name needs filter escaping.
    pub fn ffmpeg_args(&self, label_file: &Path, id_file: &Path, out: &Path) -> Vec<String> {
        let s = self.seconds;
        let text = |file: &Path, y: u32, size: u32| {
            format!(
                "drawtext=textfile='{}':expansion=none:x=12:y={y}:fontsize={size}:fontcolor=white",
                file.display()
            )
        };
        let filters = [
            text(label_file, 12, 13),
            text(id_file, 32, 12),
            "drawtext=text='%{pts\\:hms}':x=12:y=96:fontsize=36:fontcolor=white".to_owned(),
        ]
        .join(",");
        [
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            &format!("color=c=0x{}:size=320x180:rate=10:duration={s}", self.color),
            "-f",
            "lavfi",
            "-i",
            &format!("sine=frequency={}:duration={s}", self.tone_hz),
            "-vf",
            &filters,
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-profile:v",
            "baseline",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "10",
            "-c:a",
            "aac",
            "-b:a",
            "48k",
            "-shortest",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([out.display().to_string()])
        .collect()
    }
}

/// The clip cache: a folder of generated clips, one generation at a time per entry.
#[derive(Debug)]
pub struct Clips {
    dir: PathBuf,
    generating: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Clips {
    pub fn new(dir: PathBuf) -> Clips {
        Clips {
            dir,
            generating: Mutex::new(HashMap::new()),
        }
    }

    /// The entry's clip, generating it first when it is not there yet.
    pub async fn clip_for(&self, entry: &Value) -> Result<PathBuf, String> {
        let spec = ClipSpec::of(entry);
        let path = self.dir.join(spec.file_name());
        if path.exists() {
            return Ok(path);
        }
        let gate = self
            .generating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(spec.entry_id.clone())
            .or_default()
            .clone();
        let _one_at_a_time = gate.lock().await;
        if path.exists() {
            return Ok(path);
        }
        let dir = self.dir.clone();
        let target = path.clone();
        tokio::task::spawn_blocking(move || generate(&spec, &dir, &target))
            .await
            .map_err(|e| format!("clip generation stopped: {e}"))??;
        Ok(path)
    }
}

/// Runs ffmpeg into a temporary file and renames it, so readers (also other processes sharing
/// the folder) never see half a clip.
fn generate(spec: &ClipSpec, dir: &Path, target: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("clip folder {}: {e}", dir.display()))?;
    let unique = format!("{}.{}", std::process::id(), rand::random::<u32>());
    let label = dir.join(format!("{}.{unique}.label", spec.entry_id));
    let id = dir.join(format!("{}.{unique}.id", spec.entry_id));
    let partial = dir.join(format!("{}.{unique}.part", spec.entry_id));
    std::fs::write(&label, &spec.label).map_err(|e| e.to_string())?;
    std::fs::write(&id, format!("{}  ({} s)", spec.entry_id, spec.seconds))
        .map_err(|e| e.to_string())?;
    let output = std::process::Command::new("ffmpeg")
        .args(spec.ffmpeg_args(&label, &id, &partial))
        .output();
    let _ = std::fs::remove_file(&label);
    let _ = std::fs::remove_file(&id);
    let result = match output {
        Ok(out) if out.status.success() => {
            std::fs::rename(&partial, target).map_err(|e| e.to_string())
        }
        Ok(out) => Err(format!(
            "ffmpeg failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!(
            "ffmpeg could not run (is it installed? .ci/setup.d/kaltura.sh): {e}"
        )),
    };
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_entry_gets_its_own_look_and_its_duration() {
        let a = ClipSpec::of(
            &json!({"id": "0_aaaa1111", "name": "PHYS 101 Lecture 2: Newton's Laws", "duration": 73}),
        );
        let b = ClipSpec::of(&json!({"id": "0_bbbb2222", "name": "Other", "duration": 9000}));
        assert_eq!(a.seconds, 73);
        assert_eq!(b.seconds, MAX_SECONDS);
        assert_ne!(a.color, b.color);
        assert_ne!(a.file_name(), b.file_name());
        let args = a.ffmpeg_args(
            Path::new("/t/l"),
            Path::new("/t/i"),
            Path::new("/t/out.part"),
        );
        assert!(args.iter().any(|x| x.contains("duration=73")));
        assert!(
            args.iter().any(|x| x.contains("textfile='/t/l'")),
            "names never go through filter escaping"
        );
        assert_eq!(args.last().unwrap(), "/t/out.part");
    }
}

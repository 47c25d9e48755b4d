//! SHA-256 of a value's JSON, serialized straight into the hash: the config parts and the
//! statuses of thousands of guilds are not built in memory to be hashed.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Feeds what serde writes to the hash.
struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The SHA-256 of `value` as compact JSON.
pub fn json_sha256(value: &impl Serialize) -> [u8; 32] {
    let mut out = HashWriter(Sha256::new());
    serde_json::to_writer(&mut out, value).expect("the value serializes");
    out.0.finalize().into()
}

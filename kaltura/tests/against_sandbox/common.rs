//! Shared set-up: a sandbox and clients for it.

use kd_kaltura::{Client, ClientConfig, Ks, Privileges, Secret, SessionType};
use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const OTHER_PARTNER: i64 = 777;
pub const OTHER_SECRET: &str = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f";

pub async fn sandbox() -> KalturaSandbox {
    KalturaSandbox::start(SandboxConfig {
        other_partners: vec![(OTHER_PARTNER, OTHER_SECRET.to_string())],
        ..SandboxConfig::default()
    })
    .await
    .expect("sandbox starts")
}

pub fn config(sandbox: &KalturaSandbox) -> ClientConfig {
    ClientConfig {
        retry_backoff: Duration::from_millis(10),
        timeout: Duration::from_secs(5),
        ..ClientConfig::new(sandbox.base_url(), sandbox.partner_id())
    }
}

pub fn client(sandbox: &KalturaSandbox) -> Client {
    Client::new(config(sandbox)).expect("client")
}

pub fn secret(sandbox: &KalturaSandbox) -> Secret {
    Secret::new(sandbox.admin_secret())
}

/// A client with an admin KS from `session.start`.
pub async fn admin(sandbox: &KalturaSandbox) -> Client {
    let client = client(sandbox);
    let ks = client
        .session_start(
            &secret(sandbox),
            "tester",
            SessionType::Admin,
            3600,
            &Privileges::default(),
        )
        .await
        .expect("session.start");
    client.with_ks(ks)
}

/// A client with a user KS from `session.start`.
pub async fn user(sandbox: &KalturaSandbox, user_id: &str) -> (Client, Ks) {
    let client = client(sandbox);
    let ks = client
        .session_start(
            &secret(sandbox),
            user_id,
            SessionType::User,
            3600,
            &Privileges::default(),
        )
        .await
        .expect("session.start");
    (client.with_ks(ks.clone()), ks)
}

pub fn tools_dir() -> PathBuf {
    std::env::var_os("KD_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools"))
}

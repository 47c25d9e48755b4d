//! The gateway shards as the Discord sandbox sees them, for the tests and the benchmark of
//! bot replicas sharing them.

use kd_sandbox_discord::Sandbox;
use kd_testing::wait;
use std::collections::BTreeMap;
use std::time::Duration;

/// Whether each of the `shards` shards has exactly one connected session; else how many each
/// has.
pub fn each_connected_once(discord: &Sandbox, shards: u64) -> Result<(), String> {
    let mut connected: BTreeMap<u64, usize> = BTreeMap::new();
    for session in discord.gateway_sessions().iter().filter(|s| s.connected) {
        if session.shard[1] != shards {
            return Err(format!(
                "a session of {} shards: {session:?}",
                session.shard[1]
            ));
        }
        *connected.entry(session.shard[0]).or_default() += 1;
    }
    let once = (0..shards).all(|shard| connected.get(&shard) == Some(&1));
    once.then_some(())
        .ok_or_else(|| format!("connected sessions per shard: {connected:?}"))
}

/// Waits until each shard has exactly one connected session.
pub async fn until_each_connected_once(discord: &Sandbox, shards: u64, within: Duration) {
    wait("each shard connected by one replica")
        .timeout(within)
        .explain(|| {
            each_connected_once(discord, shards)
                .err()
                .unwrap_or_default()
        })
        .until(async || each_connected_once(discord, shards).ok())
        .await;
}

/// After a replica was killed: waits until Discord sees its sessions closed (the socket
/// gone), then until every shard is connected again, by the replicas left.
pub async fn until_served_again(discord: &Sandbox, shards: u64, within: Duration) {
    wait("the killed replica's sessions closed")
        .timeout(Duration::from_secs(5))
        .until(async || each_connected_once(discord, shards).err())
        .await;
    until_each_connected_once(discord, shards, within).await;
}

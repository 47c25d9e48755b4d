//! The bot's gateway shard leases as Kubernetes Leases (`coordination.k8s.io/v1`), in the
//! bot's namespace: one Lease per shard (`<app>-shard-<shards>-<n>`, the session its holder
//! left in annotations) and one per replica alive (`<app>-replica-<name>`). Every decision is
//! one write whose precondition the API server checks (a JSON patch `test` of the holder or of
//! the resourceVersion read, or a create), so two replicas racing cannot both win.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kd_bot::shards::{Answer, Coordination, LeaseService, SavedSession, ShardHolder, Timings};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Every lease of an application carries this label, with the application's name.
const APP_LABEL: &str = "kaltura-discord.io/shard-leases";
/// `shard` or `replica`.
const KIND_LABEL: &str = "kaltura-discord.io/lease";
const SHARDS_LABEL: &str = "kaltura-discord.io/shards";
const SHARD_LABEL: &str = "kaltura-discord.io/shard";
const SESSION_ID: &str = "kaltura-discord.io/session-id";
const SEQUENCE: &str = "kaltura-discord.io/sequence";
const RESUME_URL: &str = "kaltura-discord.io/resume-url";

/// The Leases of one application's bot in `namespace`.
pub struct KubernetesLeases {
    api: Api<Lease>,
    app: String,
}

impl KubernetesLeases {
    pub fn new(client: Client, namespace: &str, app: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            app: app.to_string(),
        }
    }
}

impl LeaseService for KubernetesLeases {
    fn leases(&self, shards: u32) -> Box<dyn Coordination> {
        Box::new(ShardLeases {
            api: self.api.clone(),
            app: self.app.clone(),
            shards,
        })
    }

    fn timings(&self) -> Timings {
        Timings::kubernetes()
    }
}

struct ShardLeases {
    api: Api<Lease>,
    app: String,
    shards: u32,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn seconds(ttl: Duration) -> i32 {
    ttl.as_secs().max(1) as i32
}

/// Whether the lease still runs: renewed within its duration.
fn live(lease: &Lease) -> bool {
    let Some(spec) = &lease.spec else {
        return false;
    };
    match (&spec.renew_time, spec.lease_duration_seconds) {
        (Some(renewed), Some(duration)) => {
            renewed.0 + SignedDuration::from_secs(i64::from(duration)) > Timestamp::now()
        }
        _ => false,
    }
}

/// Whether a replica's Lease ran out more than [`FORGOTTEN_AFTER`] ago.
fn long_gone(lease: &Lease) -> bool {
    let renewed = lease.spec.as_ref().and_then(|s| s.renew_time.as_ref());
    renewed.is_none_or(|r| r.0 + FORGOTTEN_AFTER < Timestamp::now())
}

/// How long a dead replica's Lease is kept (it shows in `kubectl get leases` meanwhile).
const FORGOTTEN_AFTER: SignedDuration = SignedDuration::from_secs(300);

fn holder(lease: &Lease) -> &str {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .unwrap_or_default()
}

fn session_of(lease: &Lease) -> Option<SavedSession> {
    let annotations = lease.metadata.annotations.as_ref()?;
    Some(SavedSession {
        session_id: annotations.get(SESSION_ID)?.clone(),
        sequence: annotations.get(SEQUENCE)?.parse().ok()?,
        resume_url: annotations.get(RESUME_URL).cloned(),
    })
}

/// A JSON pointer to annotation `key`.
fn annotation_path(key: &str) -> String {
    format!(
        "/metadata/annotations/{}",
        key.replace('~', "~0").replace('/', "~1")
    )
}

/// The patch operations that write `session` into the lease's annotations.
fn session_ops(session: Option<&SavedSession>) -> Vec<Value> {
    let Some(session) = session else {
        return Vec::new();
    };
    let mut ops = vec![
        json!({"op": "add", "path": annotation_path(SESSION_ID), "value": session.session_id}),
        json!({"op": "add", "path": annotation_path(SEQUENCE), "value": session.sequence.to_string()}),
    ];
    if let Some(url) = &session.resume_url {
        ops.push(json!({"op": "add", "path": annotation_path(RESUME_URL), "value": url}));
    }
    ops
}

/// Whether the API server refused a write for its precondition (another replica won).
fn lost_race(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if [409, 422].contains(&status.code))
}

impl ShardLeases {
    fn shard_name(&self, shard: u32) -> String {
        format!("{}-shard-{}-{shard}", self.app, self.shards)
    }

    fn replica_name(&self, replica: &str) -> String {
        format!("{}-replica-{replica}", self.app)
    }

    fn labels(&self, kind: &str, shard: Option<u32>) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::from([
            (APP_LABEL.to_string(), self.app.clone()),
            (KIND_LABEL.to_string(), kind.to_string()),
        ]);
        if let Some(shard) = shard {
            labels.insert(SHARDS_LABEL.into(), self.shards.to_string());
            labels.insert(SHARD_LABEL.into(), shard.to_string());
        }
        labels
    }

    async fn list(&self, kind: &str) -> kube::Result<Vec<Lease>> {
        let mut selector = format!("{APP_LABEL}={},{KIND_LABEL}={kind}", self.app);
        if kind == "shard" {
            selector.push_str(&format!(",{SHARDS_LABEL}={}", self.shards));
        }
        Ok(self
            .api
            .list(&ListParams::default().labels(&selector))
            .await?
            .items)
    }

    /// Applies `ops` to lease `name` if it is still `replica`'s; whether it was.
    async fn patch_held(
        &self,
        name: &str,
        replica: &str,
        mut ops: Vec<Value>,
    ) -> kube::Result<bool> {
        ops.insert(
            0,
            json!({"op": "test", "path": "/spec/holderIdentity", "value": replica}),
        );
        self.patch(name, ops).await
    }

    /// A JSON patch; false when its `test` failed (or the lease is gone).
    async fn patch(&self, name: &str, ops: Vec<Value>) -> kube::Result<bool> {
        let patch = serde_json::from_value(Value::Array(ops)).map_err(kube::Error::SerdeError)?;
        match self
            .api
            .patch(name, &PatchParams::default(), &Patch::<()>::Json(patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if lost_race(&e) || matches!(&e, kube::Error::Api(s) if s.code == 404) => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }
}

fn text(error: kube::Error) -> String {
    error.to_string()
}

impl Coordination for ShardLeases {
    fn look(&self) -> Answer<'_, (Vec<String>, Vec<ShardHolder>)> {
        Box::pin(async move {
            let replicas = self.list("replica").await.map_err(text)?;
            // A replica that died leaves its Lease behind: gone a while, it is cleared.
            for dead in replicas.iter().filter(|l| long_gone(l)) {
                if let Some(name) = &dead.metadata.name {
                    let _ = self.api.delete(name, &DeleteParams::default()).await;
                }
            }
            let mut live_replicas: Vec<String> = replicas
                .iter()
                .filter(|l| live(l))
                .map(|l| holder(l).to_string())
                .filter(|h| !h.is_empty())
                .collect();
            live_replicas.sort();
            let shards = self.list("shard").await.map_err(text)?;
            let mut holders: Vec<ShardHolder> = shards
                .iter()
                .filter_map(|lease| {
                    let shard = lease
                        .metadata
                        .labels
                        .as_ref()?
                        .get(SHARD_LABEL)?
                        .parse()
                        .ok()?;
                    Some(ShardHolder {
                        shard,
                        holder: holder(lease).to_string(),
                        live: live(lease),
                    })
                })
                .collect();
            holders.sort_by_key(|h| h.shard);
            Ok((live_replicas, holders))
        })
    }

    fn heartbeat<'a>(&'a self, replica: &'a str, ttl: Duration) -> Answer<'a, ()> {
        Box::pin(async move {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.replica_name(replica)),
                    labels: Some(self.labels("replica", None)),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(replica.to_string()),
                    lease_duration_seconds: Some(seconds(ttl)),
                    renew_time: Some(now()),
                    ..LeaseSpec::default()
                }),
            };
            let params = PatchParams::apply("kaltura-discord-bot").force();
            self.api
                .patch(&self.replica_name(replica), &params, &Patch::Apply(&lease))
                .await
                .map(drop)
                .map_err(text)
        })
    }

    fn renew<'a>(
        &'a self,
        replica: &'a str,
        ttl: Duration,
        sessions: &'a [(u32, SavedSession)],
    ) -> Answer<'a, Vec<u32>> {
        Box::pin(async move {
            let mut held = Vec::new();
            for lease in self.list("shard").await.map_err(text)? {
                if holder(&lease) != replica {
                    continue;
                }
                let Some(shard) = lease
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(SHARD_LABEL)?.parse::<u32>().ok())
                else {
                    continue;
                };
                let session = sessions.iter().find(|(s, _)| *s == shard).map(|(_, s)| s);
                let mut ops = vec![
                    json!({"op": "replace", "path": "/spec/renewTime", "value": now()}),
                    json!({"op": "replace", "path": "/spec/leaseDurationSeconds", "value": seconds(ttl)}),
                ];
                ops.extend(session_ops(session));
                let name = self.shard_name(shard);
                if self.patch_held(&name, replica, ops).await.map_err(text)? {
                    held.push(shard);
                }
            }
            held.sort_unstable();
            Ok(held)
        })
    }

    fn take<'a>(
        &'a self,
        shard: u32,
        replica: &'a str,
        ttl: Duration,
    ) -> Answer<'a, Option<Option<SavedSession>>> {
        Box::pin(async move {
            let name = self.shard_name(shard);
            let spec = LeaseSpec {
                holder_identity: Some(replica.to_string()),
                lease_duration_seconds: Some(seconds(ttl)),
                acquire_time: Some(now()),
                renew_time: Some(now()),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            };
            let Some(lease) = self.api.get_opt(&name).await.map_err(text)? else {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        labels: Some(self.labels("shard", Some(shard))),
                        annotations: Some(BTreeMap::new()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(spec),
                };
                return match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(Some(None)),
                    Err(e) if lost_race(&e) => Ok(None),
                    Err(e) => Err(text(e)),
                };
            };
            if holder(&lease) != replica && live(&lease) {
                return Ok(None);
            }
            let transitions = lease
                .spec
                .as_ref()
                .and_then(|s| s.lease_transitions)
                .unwrap_or(0);
            let ops = vec![
                json!({"op": "test", "path": "/metadata/resourceVersion", "value": lease.metadata.resource_version}),
                json!({"op": "replace", "path": "/spec", "value": LeaseSpec {
                    lease_transitions: Some(transitions + i32::from(holder(&lease) != replica)),
                    ..spec
                }}),
            ];
            match self.patch(&name, ops).await.map_err(text)? {
                true => Ok(Some(session_of(&lease))),
                false => Ok(None),
            }
        })
    }

    fn release<'a>(
        &'a self,
        shard: u32,
        replica: &'a str,
        session: Option<&'a SavedSession>,
    ) -> Answer<'a, ()> {
        Box::pin(async move {
            // Run out at once, and held by nobody, so no renewal of this replica's brings it
            // back.
            let mut ops = vec![
                json!({"op": "replace", "path": "/spec/renewTime", "value": MicroTime(Timestamp::UNIX_EPOCH)}),
                json!({"op": "replace", "path": "/spec/holderIdentity", "value": ""}),
            ];
            ops.extend(session_ops(session));
            self.patch_held(&self.shard_name(shard), replica, ops)
                .await
                .map(drop)
                .map_err(text)
        })
    }

    fn leave<'a>(&'a self, replica: &'a str) -> Answer<'a, ()> {
        Box::pin(async move {
            match self
                .api
                .delete(&self.replica_name(replica), &DeleteParams::default())
                .await
            {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
                Err(e) => Err(text(e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotation_keys_are_escaped_as_json_pointers() {
        assert_eq!(
            annotation_path(SESSION_ID),
            "/metadata/annotations/kaltura-discord.io~1session-id"
        );
    }

    #[test]
    fn a_session_is_read_back_from_the_annotations_its_patch_writes() {
        let session = SavedSession {
            session_id: "abc".into(),
            sequence: 42,
            resume_url: Some("wss://gateway.example".into()),
        };
        let ops = session_ops(Some(&session));
        let annotations: BTreeMap<String, String> = ops
            .iter()
            .map(|op| {
                let key = op["path"].as_str().unwrap().rsplit('/').next().unwrap();
                (
                    key.replace("~1", "/"),
                    op["value"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let lease = Lease {
            metadata: ObjectMeta {
                annotations: Some(annotations),
                ..ObjectMeta::default()
            },
            ..Lease::default()
        };
        assert_eq!(session_of(&lease), Some(session));
        assert!(session_ops(None).is_empty());
    }
}

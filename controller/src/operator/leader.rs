//! Leader election on a `coordination.k8s.io` Lease, so that of several operator replicas only
//! one reconciles and writes. kube-lease-manager acquires and renews the Lease; before each pass
//! the holder also reads the Lease back and goes on only while the API server says it holds an
//! unexpired lock, so a replica cut off from the API server (which cannot renew) stops writing
//! by the time a stand-by may take over.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::{Api, Client};
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a stopping replica waits for the API server to take its release.
const RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Which Lease to hold, as whom, and for how long after each renewal.
#[derive(Clone, Debug)]
pub struct Election {
    pub namespace: String,
    pub name: String,
    /// Unique per replica: the pod name.
    pub identity: String,
    /// The lock's validity after a renewal; a stand-by takes over at most this long after the
    /// holder stopped renewing.
    pub duration: Duration,
}

impl Election {
    /// Renew this long before the lock expires: a third of the duration, as client-go's
    /// defaults (15 s lease, renewal 5 s before) do.
    fn grace(&self) -> u64 {
        (self.duration.as_secs() / 3).max(1)
    }
}

pub struct Leadership {
    election: Election,
    leases: Api<Lease>,
    state: watch::Receiver<bool>,
    manager: JoinHandle<Result<LeaseManager, LeaseManagerError>>,
}

impl Leadership {
    /// Creates the Lease if needed and starts competing for it in the background.
    pub async fn start(client: &Client, election: Election) -> Result<Self, LeaseManagerError> {
        let manager = LeaseManagerBuilder::new(client.clone(), &election.name)
            .with_namespace(&election.namespace)
            .with_identity(&election.identity)
            .with_duration(election.duration.as_secs().max(2))
            .with_grace(election.grace())
            .build()
            .await?;
        let (state, manager) = manager.watch().await;
        Ok(Self {
            leases: Api::namespaced(client.clone(), &election.namespace),
            election,
            state,
            manager,
        })
    }

    /// Gives the Lease up (when this replica holds it), so a stand-by takes over at once
    /// instead of after the lease duration: what a rolling update of the operator needs.
    pub async fn release(self) {
        // The manager releases the lock when its last receiver is gone.
        drop(self.state);
        match tokio::time::timeout(RELEASE_WAIT, self.manager).await {
            Ok(Ok(Ok(_))) => tracing::info!(
                identity = self.election.identity,
                "released the leader Lease"
            ),
            Ok(Ok(Err(error))) => {
                tracing::warn!(%error, "releasing the leader Lease failed; it expires instead")
            }
            Ok(Err(error)) => tracing::warn!(%error, "the lease manager failed"),
            Err(_) => {
                tracing::warn!("releasing the leader Lease took too long; it expires instead")
            }
        }
    }

    pub fn identity(&self) -> &str {
        &self.election.identity
    }

    /// Whether this replica may write now: the lease manager holds the lock and the API server
    /// confirms it is ours and unexpired.
    pub async fn confirmed(&self) -> bool {
        if !*self.state.borrow() {
            return false;
        }
        match self.leases.get(&self.election.name).await {
            Ok(lease) => holds(&lease, &self.election.identity, Timestamp::now()),
            Err(error) => {
                tracing::warn!(%error, "reading the leader Lease failed; not writing");
                false
            }
        }
    }

    /// Resolves when the lease manager reports a change of holder.
    pub async fn changed(&mut self) {
        if self.state.changed().await.is_err() {
            // The manager's task ended (it never does while we hold the receiver): stand by.
            std::future::pending::<()>().await;
        }
    }

    /// Waits until the lease manager says this replica holds the lock.
    pub async fn acquired(&mut self) {
        if self.state.wait_for(|leading| *leading).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Whether `lease` is held by `identity` and its last renewal is still valid at `now`.
fn holds(lease: &Lease, identity: &str, now: Timestamp) -> bool {
    let Some(spec) = &lease.spec else {
        return false;
    };
    let (Some(holder), Some(renewed), Some(seconds)) = (
        spec.holder_identity.as_deref(),
        spec.renew_time.as_ref(),
        spec.lease_duration_seconds,
    ) else {
        return false;
    };
    holder == identity && renewed.0 + SignedDuration::from_secs(seconds.into()) > now
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::coordination::v1::LeaseSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;

    fn lease(holder: Option<&str>, renewed: Timestamp, seconds: i32) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(String::from),
                renew_time: Some(MicroTime(renewed)),
                lease_duration_seconds: Some(seconds),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn only_the_holder_of_an_unexpired_lock_may_write() {
        let renewed: Timestamp = "2026-12-02T06:00:00Z".parse().unwrap();
        let at = |secs: i64| renewed + SignedDuration::from_secs(secs);
        let ours = lease(Some("operator-a"), renewed, 15);
        assert!(holds(&ours, "operator-a", at(14)));
        assert!(!holds(&ours, "operator-a", at(15)), "expired");
        assert!(!holds(&ours, "operator-b", at(1)), "someone else's");
        assert!(!holds(&lease(None, renewed, 15), "operator-a", at(1)));
        assert!(!holds(&Lease::default(), "operator-a", at(1)));
    }

    #[test]
    fn renewal_leaves_a_third_of_the_duration() {
        let election = |secs| Election {
            namespace: "ns".into(),
            name: "l".into(),
            identity: "a".into(),
            duration: Duration::from_secs(secs),
        };
        assert_eq!(election(15).grace(), 5);
        assert_eq!(election(2).grace(), 1);
    }
}

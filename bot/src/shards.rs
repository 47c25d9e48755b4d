//! Which gateway shards this replica connects. When several replicas share an application, a
//! coordination service decides ([`Coordination`]: Kubernetes Leases in a cluster, the
//! PostgreSQL store's lease rows elsewhere): each replica renews a lease per shard it holds and
//! shares the shards fairly with the replicas alive. A replica that leaves lets its shards go
//! with their sessions saved, so the next holder resumes them (op 6) and Discord replays what
//! was dispatched meanwhile; one that dies loses its leases when they run out. [`plan`] is the
//! decision, as data; [`Keeper`] carries it out.

use futures_util::future::BoxFuture;
use kd_store::Store;
pub use kd_store::{SavedSession, ShardHolder};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// How shard leases are kept.
#[derive(Clone, Debug)]
pub struct Timings {
    /// How long a lease lasts unrenewed: how soon the shards of a replica that died are
    /// served again (within this and one `look`).
    pub ttl: Duration,
    /// How often a replica looks for shards to take or give: how soon a shard let go is
    /// taken up.
    pub look: Duration,
    /// How often it renews its leases (and saves its shards' sessions with them).
    pub renew: Duration,
}

impl Timings {
    /// For the store: a look is two indexed reads, so it looks, renews and saves often.
    pub fn store() -> Self {
        Self {
            ttl: Duration::from_secs(5),
            look: Duration::from_millis(250),
            renew: Duration::from_millis(250),
        }
    }

    /// For Kubernetes Leases: every renewal is a write per shard to the API server (etcd),
    /// so they go every 2 s, as leader election's do, with a lease of 6 s.
    pub fn kubernetes() -> Self {
        Self {
            ttl: Duration::from_secs(6),
            look: Duration::from_millis(500),
            renew: Duration::from_secs(2),
        }
    }
}

/// A coordination service's answer or why it gave none.
pub type Answer<'a, T> = BoxFuture<'a, Result<T, String>>;

/// Where replicas agree on who holds which shard: every call decides atomically, so two
/// replicas racing for a shard cannot both win.
pub trait Coordination: Send + Sync {
    /// The replicas alive (sorted) and every shard's lease.
    fn look(&self) -> Answer<'_, (Vec<String>, Vec<ShardHolder>)>;
    /// Notes `replica` alive for `ttl` more.
    fn heartbeat<'a>(&'a self, replica: &'a str, ttl: Duration) -> Answer<'a, ()>;
    /// Renews the leases `replica` holds for `ttl`, saving the sessions given with them;
    /// the shards it still holds.
    fn renew<'a>(
        &'a self,
        replica: &'a str,
        ttl: Duration,
        sessions: &'a [(u32, SavedSession)],
    ) -> Answer<'a, Vec<u32>>;
    /// Takes `shard` when its lease is free, run out or already `replica`'s: Some(the session
    /// its last holder left), None when another holds it.
    fn take<'a>(
        &'a self,
        shard: u32,
        replica: &'a str,
        ttl: Duration,
    ) -> Answer<'a, Option<Option<SavedSession>>>;
    /// Lets go of `shard`, leaving `session` for the next holder.
    fn release<'a>(
        &'a self,
        shard: u32,
        replica: &'a str,
        session: Option<&'a SavedSession>,
    ) -> Answer<'a, ()>;
    /// `replica` is leaving the replica list.
    fn leave<'a>(&'a self, replica: &'a str) -> Answer<'a, ()>;
}

/// A coordination service outside the store, for an application's shards.
pub trait LeaseService: Send + Sync {
    /// The leases of a `shards`-shard layout.
    fn leases(&self, shards: u32) -> Box<dyn Coordination>;
    fn timings(&self) -> Timings;
}

/// The store's lease rows (`kd_store`'s shards), for one application's `shards` shards.
pub struct StoreLeases {
    pub store: Store,
    pub application_id: String,
    pub shards: u32,
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

impl Coordination for StoreLeases {
    fn look(&self) -> Answer<'_, (Vec<String>, Vec<ShardHolder>)> {
        Box::pin(async move {
            let app = &self.application_id;
            let live = self.store.live_replicas(app).await;
            let holders = self.store.shard_holders(app, self.shards).await;
            Ok((
                live.map_err(|e| e.to_string())?,
                holders.map_err(|e| e.to_string())?,
            ))
        })
    }

    fn heartbeat<'a>(&'a self, replica: &'a str, ttl: Duration) -> Answer<'a, ()> {
        Box::pin(async move {
            let app = &self.application_id;
            let beat = self.store.replica_heartbeat(app, replica, ms(ttl)).await;
            beat.map_err(|e| e.to_string())
        })
    }

    fn renew<'a>(
        &'a self,
        replica: &'a str,
        ttl: Duration,
        sessions: &'a [(u32, SavedSession)],
    ) -> Answer<'a, Vec<u32>> {
        Box::pin(async move {
            let (app, shards) = (&self.application_id, self.shards);
            let held = self.store.renew_shards(app, shards, replica, ms(ttl)).await;
            let held = held.map_err(|e| e.to_string())?;
            for (shard, session) in sessions {
                let saved = self
                    .store
                    .save_session(app, shards, *shard, replica, session);
                saved.await.map_err(|e| e.to_string())?;
            }
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
            let (app, shards) = (&self.application_id, self.shards);
            let taken = self.store.take_shard(app, shards, shard, replica, ms(ttl));
            taken.await.map_err(|e| e.to_string())
        })
    }

    fn release<'a>(
        &'a self,
        shard: u32,
        replica: &'a str,
        session: Option<&'a SavedSession>,
    ) -> Answer<'a, ()> {
        Box::pin(async move {
            let (app, shards) = (&self.application_id, self.shards);
            let released = self
                .store
                .release_shard(app, shards, shard, replica, session);
            released.await.map_err(|e| e.to_string())
        })
    }

    fn leave<'a>(&'a self, replica: &'a str) -> Answer<'a, ()> {
        Box::pin(async move {
            let left = self
                .store
                .replica_leave(&self.application_id, replica)
                .await;
            left.map_err(|e| e.to_string())
        })
    }
}

/// What a replica does next.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Shards to try to take, its own earlier leases first (a restart under the same name).
    pub take: Vec<u32>,
    /// Shards to let go of: it holds more than its share.
    pub release: Vec<u32>,
}

/// This replica's share of `total` shards among the `live` replicas (sorted; it is among
/// them): `total / n`, one more for the first `total % n`.
pub fn share(total: u32, me: &str, live: &[String]) -> u32 {
    let n = live.len().max(1) as u32;
    let index = live.iter().position(|r| r == me).unwrap_or(live.len()) as u32;
    total / n + u32::from(index < total % n)
}

/// What `me`, running `running` (each shard with whether it has a session to hand over),
/// does given the leases `holders` and the replicas `live`. It lets go of shards with a session
/// first: one still waiting to identify would cost its next holder another identify.
pub fn plan(
    total: u32,
    me: &str,
    live: &[String],
    holders: &[ShardHolder],
    running: &BTreeMap<u32, bool>,
) -> Plan {
    let quota = share(total, me, live) as usize;
    if running.len() > quota {
        let mut surplus: Vec<(bool, u32)> = running.iter().map(|(s, r)| (!r, *s)).collect();
        surplus.sort_by_key(|(waiting, shard)| (*waiting, std::cmp::Reverse(*shard)));
        let release = surplus.into_iter().map(|(_, shard)| shard);
        return Plan {
            take: Vec::new(),
            release: release.take(running.len() - quota).collect(),
        };
    }
    let lease: BTreeMap<u32, &ShardHolder> = holders.iter().map(|h| (h.shard, h)).collect();
    let mut free: Vec<(bool, u32)> = (0..total)
        .filter(|shard| !running.contains_key(shard))
        .filter_map(|shard| match lease.get(&shard) {
            None => Some((false, shard)),
            Some(h) if h.holder == me => Some((true, shard)),
            Some(h) if !h.live => Some((false, shard)),
            Some(_) => None,
        })
        .collect();
    // Its own leases first, then by shard.
    free.sort_by_key(|(own, shard)| (!own, *shard));
    Plan {
        take: free
            .into_iter()
            .map(|(_, shard)| shard)
            .take(quota - running.len())
            .collect(),
        release: Vec::new(),
    }
}

/// Where a running shard's session stands, for the next holder: updated by its task after
/// every event, saved by the keeper every look.
#[derive(Debug, Default)]
pub struct Progress(Mutex<Option<SavedSession>>);

impl Progress {
    /// Notes the session after an event; allocates only when the session itself changed.
    pub fn note(&self, session_id: &str, sequence: u64, resume_url: Option<&str>) {
        let mut saved = self.0.lock().expect("progress lock");
        match saved.as_mut() {
            Some(s) if s.session_id == session_id => {
                s.sequence = sequence;
                if s.resume_url.as_deref() != resume_url {
                    s.resume_url = resume_url.map(str::to_string);
                }
            }
            _ => {
                *saved = Some(SavedSession {
                    session_id: session_id.to_string(),
                    sequence,
                    resume_url: resume_url.map(str::to_string),
                })
            }
        }
    }

    pub fn get(&self) -> Option<SavedSession> {
        self.0.lock().expect("progress lock").clone()
    }
}

/// A shard being served: stop it with `stop`, and `done` gives its last session.
pub struct Running {
    pub stop: oneshot::Sender<()>,
    pub done: JoinHandle<Option<SavedSession>>,
    pub progress: std::sync::Arc<Progress>,
}

/// What a keeper holds between looks.
#[derive(Default)]
struct Held {
    running: BTreeMap<u32, Running>,
    /// The sequence saved last, per shard.
    saved: BTreeMap<u32, u64>,
    /// The share last told to `holding`.
    told: Option<u32>,
    /// When the leases were renewed last.
    renewed: Option<Instant>,
}

/// Starts serving shard `id` (resuming `session` when given).
pub type Start<'a> = dyn Fn(u32, Option<SavedSession>) -> Running + Send + Sync + 'a;

/// What a keeper tells the bot as its shards change.
pub trait Holding: Send + Sync {
    /// It is about to connect shards and will then hold `shards`: done once the bot can
    /// serve their guilds (it keeps only the config of the guilds on its shards).
    fn taking<'a>(&'a self, shards: &'a BTreeSet<u32>) -> BoxFuture<'a, ()>;
    /// It holds `held`, of a share of `share` (the report carries them).
    fn held(&self, held: &BTreeSet<u32>, share: u32);
}

/// Keeps this replica's share of the shards through `leases` until `leaving` turns true, then
/// lets them all go, sessions saved.
pub struct Keeper<'a> {
    pub leases: &'a dyn Coordination,
    pub total: u32,
    pub replica: &'a str,
    pub timings: Timings,
    pub holding: &'a dyn Holding,
}

impl Keeper<'_> {
    pub async fn run(&self, start: &Start<'_>, mut leaving: watch::Receiver<bool>) {
        let mut held = Held::default();
        let mut failing = false;
        let mut ticks = tokio::time::interval(self.timings.look);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::info!(
            replica = self.replica,
            shards = self.total,
            "sharing the gateway shards with the other replicas"
        );
        // Replicas started together (a new Deployment) first see each other, so that each
        // takes its share at once instead of one taking every shard and handing most over
        // before they could identify.
        if let Err(error) = self.leases.heartbeat(self.replica, self.timings.ttl).await {
            tracing::warn!(%error, "announcing this replica failed");
        }
        tokio::select! {
            () = tokio::time::sleep(self.timings.look * 4) => {}
            _ = leaving.changed() => {}
        }
        while !*leaving.borrow() {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = leaving.changed() => break,
            }
            match self.look(&mut held, start).await {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("shard leases are renewed again");
                }
                Ok(()) => {}
                // Nobody else can take a shard while the store is out either: keep serving.
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "renewing shard leases failed; serving the shards held meanwhile");
                }
                Err(_) => {}
            }
        }
        let shards: Vec<u32> = held.running.keys().copied().collect();
        tracing::info!(?shards, "leaving: handing the shards over");
        // Every shard at once: the next holders resume them as each is let go.
        let handovers = held
            .running
            .into_iter()
            .map(|(shard, run)| self.release(shard, run));
        futures_util::future::join_all(handovers).await;
        if let Err(error) = self.leases.leave(self.replica).await {
            tracing::warn!(%error, "leaving the replica list failed; the others notice in a lease's time");
        }
        self.holding.held(&BTreeSet::new(), 0);
    }

    /// One look: heartbeat, renew, save sessions, then take or give as [`plan`] says.
    async fn look(&self, state: &mut Held, start: &Start<'_>) -> Result<(), String> {
        let (total, me, ttl) = (self.total, self.replica, self.timings.ttl);
        let Held {
            running,
            saved,
            told,
            renewed,
        } = state;
        let mut changed = false;
        if renewed.is_none_or(|at| at.elapsed() >= self.timings.renew) {
            self.leases.heartbeat(me, ttl).await?;
            let sessions: Vec<(u32, SavedSession)> = running
                .iter()
                .filter_map(|(shard, run)| Some((*shard, run.progress.get()?)))
                .filter(|(shard, session)| saved.get(shard) != Some(&session.sequence))
                .collect();
            let held = self.leases.renew(me, ttl, &sessions).await?;
            *renewed = Some(Instant::now());
            for (shard, session) in sessions {
                saved.insert(shard, session.sequence);
            }
            changed |= self.drop_lost(running, saved, &held);
        }
        let (live, holders) = self.leases.look().await?;
        let held: Vec<u32> = holders
            .iter()
            .filter(|h| h.holder == me)
            .map(|h| h.shard)
            .collect();
        changed |= self.drop_lost(running, saved, &held);
        let mine: BTreeMap<u32, bool> = running
            .iter()
            .map(|(shard, run)| (*shard, run.progress.get().is_some()))
            .collect();
        let next = plan(total, me, &live, &holders, &mine);
        let releases = next.release.iter().filter_map(|shard| {
            saved.remove(shard);
            Some(self.release(*shard, running.remove(shard)?))
        });
        futures_util::future::join_all(releases).await;
        let mut taken = Vec::new();
        for shard in next.take {
            if let Some(session) = self.leases.take(shard, me, ttl).await? {
                taken.push((shard, session));
            }
        }
        if !taken.is_empty() {
            let shards = running.keys().chain(taken.iter().map(|(s, _)| s)).copied();
            self.prepare(&shards.collect()).await?;
        }
        let took = !taken.is_empty();
        for (shard, session) in taken {
            tracing::info!(
                shard,
                resume = session.is_some(),
                "took the shard's lease; connecting"
            );
            running.insert(shard, start(shard, session));
        }
        let share = share(total, me, &live);
        if changed || took || !next.release.is_empty() || *told != Some(share) {
            *told = Some(share);
            self.holding.held(&running.keys().copied().collect(), share);
        }
        Ok(())
    }

    /// Has the bot ready the guilds of `shards`, renewing the leases meanwhile (reading their
    /// config may take longer than a lease lasts).
    async fn prepare(&self, shards: &BTreeSet<u32>) -> Result<(), String> {
        let ready = self.holding.taking(shards);
        tokio::pin!(ready);
        loop {
            tokio::select! {
                () = &mut ready => return Ok(()),
                () = tokio::time::sleep(self.timings.renew) => {
                    self.leases.renew(self.replica, self.timings.ttl, &[]).await?;
                }
            }
        }
    }

    /// Disconnects the shards running here that are not among those it `held`; whether any.
    fn drop_lost(
        &self,
        running: &mut BTreeMap<u32, Running>,
        saved: &mut BTreeMap<u32, u64>,
        held: &[u32],
    ) -> bool {
        let lost: Vec<u32> = running
            .keys()
            .filter(|s| !held.contains(s))
            .copied()
            .collect();
        for &shard in &lost {
            // Another replica took it over (its lease ran out while the coordination service
            // was out of reach): that one serves it now.
            tracing::warn!(shard, "the shard's lease was taken over; disconnecting");
            if let Some(run) = running.remove(&shard) {
                let _ = run.stop.send(());
            }
            saved.remove(&shard);
        }
        !lost.is_empty()
    }

    /// Stops serving `shard` and lets its lease go with its session for the next holder.
    async fn release(&self, shard: u32, run: Running) {
        let _ = run.stop.send(());
        let session = match run.done.await {
            Ok(session) => session,
            Err(_) => run.progress.get(),
        };
        let released = self
            .leases
            .release(shard, self.replica, session.as_ref())
            .await;
        match released {
            Ok(()) => tracing::info!(shard, "let the shard go for another replica to resume"),
            Err(error) => {
                tracing::warn!(shard, %error, "letting a shard go failed; another replica takes it when its lease runs out")
            }
        }
    }
}

/// This replica's name in the shard leases and in status: the host (a pod's name) and the
/// process, so a container restarted in its pod takes its own leases back at once.
pub fn replica_name() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "bot".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn held(pairs: &[(u32, &str, bool)]) -> Vec<ShardHolder> {
        pairs
            .iter()
            .map(|(shard, holder, live)| ShardHolder {
                shard: *shard,
                holder: holder.to_string(),
                live: *live,
            })
            .collect()
    }

    #[test]
    fn the_shares_add_up_to_every_shard() {
        for total in [1, 12, 40, 41] {
            for n in 1..=5 {
                let names: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
                let sum: u32 = names.iter().map(|me| share(total, me, &names)).sum();
                assert_eq!(sum, total, "{total} shards over {n}");
            }
        }
        assert_eq!(share(12, "b", &live(&["a", "b", "c"])), 4);
        assert_eq!(share(13, "a", &live(&["a", "b", "c"])), 5);
        assert_eq!(share(13, "c", &live(&["a", "b", "c"])), 4);
    }

    #[test]
    fn a_replica_alone_takes_every_free_shard() {
        let plan = plan(4, "a", &live(&["a"]), &[], &BTreeMap::new());
        assert_eq!(plan.take, [0, 1, 2, 3]);
    }

    #[test]
    fn a_newcomer_takes_free_and_expired_leases_only_up_to_its_share() {
        // b holds 0-5 alive; 6-11 were c's, which died (expired).
        let mut leases: Vec<_> = (0..6).map(|s| (s, "b", true)).collect();
        leases.extend((6..12).map(|s| (s, "c", false)));
        let plan = plan(
            12,
            "a",
            &live(&["a", "b"]),
            &held(&leases),
            &BTreeMap::new(),
        );
        assert_eq!(plan.take, [6, 7, 8, 9, 10, 11]);
        assert!(plan.release.is_empty());
    }

    #[test]
    fn a_replica_over_its_share_lets_the_surplus_go() {
        // Shards 0-9 connected, 10 and 11 still waiting to identify.
        let running: BTreeMap<u32, bool> = (0..12).map(|s| (s, s < 10)).collect();
        let leases: Vec<_> = (0..12).map(|s| (s, "a", true)).collect();
        let plan = plan(12, "a", &live(&["a", "b", "c"]), &held(&leases), &running);
        assert_eq!(
            plan.release,
            [9, 8, 7, 6, 5, 4, 3, 2],
            "the resumable ones go, the waiting ones stay"
        );
        assert!(plan.take.is_empty());
    }

    #[test]
    fn a_restarted_replica_takes_its_own_leases_back_first() {
        let leases = held(&[(0, "b", false), (5, "a", true), (6, "a", false)]);
        let plan = plan(8, "a", &live(&["a", "b"]), &leases, &BTreeMap::new());
        assert_eq!(plan.take, [5, 6, 0, 1]);
    }

    #[test]
    fn progress_keeps_the_latest_session() {
        let progress = Progress::default();
        assert_eq!(progress.get(), None);
        progress.note("s1", 3, Some("wss://r"));
        progress.note("s1", 9, Some("wss://r"));
        assert_eq!(
            progress.get(),
            Some(SavedSession {
                session_id: "s1".into(),
                sequence: 9,
                resume_url: Some("wss://r".into())
            })
        );
        progress.note("s2", 1, None);
        assert_eq!(progress.get().unwrap().session_id, "s2");
    }
}

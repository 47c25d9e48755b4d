//! Server-side apply of each application's workload objects, and pruning of the ones it no
//! longer wants. Applying skips objects whose content was applied recently unchanged, so a
//! reconcile woken by our own status writes costs no API calls.
//!
//! Applications are applied side by side, each in a task of its own within a bounded time, and
//! a pass waits for them only briefly, so one application's slow or failing API calls never
//! hold up the others or the pass; one that failed waits out an exponential backoff
//! ([`backoff::APPLY`]) before it is tried again, unless what it would apply changes meanwhile.

use super::backoff::{self, APPLY};
use crate::error::{Error, Result};
use crate::reconcile::workloads::{INSTANCE_LABEL, MANAGED_BY, Workload};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kd_crds::references::ObjectKey;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use kube::{Api, Client};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub const FIELD_MANAGER: &str = "kaltura-discord-operator";
/// Re-apply unchanged objects (and prune strays) this often, to repair hand edits and
/// deletions; in between, a pass that wants what was applied sends nothing.
const REAPPLY: Duration = Duration::from_secs(300);
/// How long a pass waits for the attempts it started: with a healthy API server they end in
/// milliseconds, and the status of this pass shows them; a slow one goes on in the background.
const PASS_WAIT: Duration = Duration::from_secs(2);
/// How long one application's apply and prune may take: an API server that hangs on one of
/// its objects gets an error (and a backoff) after this long, not a task that waits for ever.
const BOUND: Duration = Duration::from_secs(30);

/// Kinds the operator creates and prunes. Volume claims are never pruned: they hold data.
fn pruned() -> [ApiResource; 7] {
    [
        ApiResource::erase::<ServiceAccount>(&()),
        ApiResource::erase::<Role>(&()),
        ApiResource::erase::<RoleBinding>(&()),
        ApiResource::erase::<ConfigMap>(&()),
        ApiResource::erase::<Service>(&()),
        ApiResource::erase::<Deployment>(&()),
        ApiResource::erase::<PodDisruptionBudget>(&()),
    ]
}

/// One application's objects for this pass.
pub struct Work {
    pub app: ObjectKey,
    pub objects: Vec<Workload>,
}

/// What one application's apply came to in a pass.
pub enum Outcome {
    Applied,
    /// It failed in this pass (counted, logged, an Event).
    Failed(Arc<Error>),
    /// Its last attempt failed in an earlier pass (counted there), and no attempt ended since:
    /// the status keeps that error while the retry waits or runs.
    Waiting(Arc<Error>),
}

/// The last failure of an application's apply, and when to try again.
#[derive(Debug)]
struct Failure {
    /// Failures in a row of the same objects.
    count: u32,
    retry_at: Instant,
    /// Digest of the objects that failed: other objects are tried at once.
    input: String,
}

impl Failure {
    /// Whether objects with digest `input` should be applied at `now`.
    fn due(&self, input: &str, now: Instant) -> bool {
        self.input != input || now >= self.retry_at
    }

    /// The failure after `previous` (the count restarts when the objects changed).
    fn after(previous: Option<&Failure>, input: String, now: Instant, jitter: f64) -> Failure {
        let count = previous.filter(|p| p.input == input).map_or(0, |p| p.count) + 1;
        Failure {
            count,
            retry_at: now + APPLY.jittered(count, jitter),
            input,
        }
    }
}

/// The content digest and time of each object applied (`namespace/kind/name`), to skip
/// unchanged ones. An attempt takes it along and hands it back.
#[derive(Default)]
struct Applied(HashMap<String, (String, Instant)>);

/// What one attempt came to: filled in by its task before it wakes the loop.
struct Attempt {
    applied: Applied,
    input: String,
    result: Result<()>,
}

type Slot = Arc<Mutex<Option<Attempt>>>;

/// One application: its cache, the attempt under way, its backoff and what it came to last.
#[derive(Default)]
struct Application {
    applied: Applied,
    running: Option<(JoinHandle<()>, Slot)>,
    failure: Option<Failure>,
    last: Option<Result<(), Arc<Error>>>,
    /// The input of the last attempt that succeeded, and when it ended.
    settled: Option<(String, Instant)>,
}

impl Drop for Application {
    fn drop(&mut self) {
        if let Some((task, _)) = &self.running {
            task.abort();
        }
    }
}

/// Applies each application in a task of its own: a pass starts the attempts that are due,
/// waits for them up to [`PASS_WAIT`] and takes whatever came back; an attempt still under way
/// after that goes on and wakes the loop when it ends.
pub struct Applier {
    client: Client,
    applications: BTreeMap<ObjectKey, Application>,
    /// Bumped when an attempt ends.
    changes: watch::Sender<()>,
}

impl Applier {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            applications: BTreeMap::new(),
            changes: watch::channel(()).0,
        }
    }

    /// Resolves once an attempt has ended that no pass took in yet (at once if one has): the
    /// attempts a pass waited for wake nothing, those that outlasted it start the next pass.
    pub async fn ended(&self) {
        let mut changes = self.changes.subscribe();
        while !self.applications.values().any(Application::ended) {
            // `changed` fails only once the sender is dropped, and `self` holds it.
            if changes.changed().await.is_err() {
                return;
            }
        }
    }

    /// Forgets everything (stopping the attempts under way): after leadership changed hands,
    /// another replica may have changed anything.
    pub fn reset(&mut self) {
        self.applications.clear();
    }

    /// Starts the due attempts of `work` and returns, for every application, what its attempts
    /// came to since the last pass (in order; the last one counts) or else what it came to
    /// last; none for one whose first attempt is still under way. Forgets applications no
    /// longer in `work`.
    pub async fn apply(&mut self, work: Vec<Work>) -> Vec<(ObjectKey, Outcome)> {
        let mut changes = self.changes.subscribe();
        self.applications
            .retain(|app, _| work.iter().any(|w| &w.app == app));
        let mut outcomes = self.collect();
        let now = Instant::now();
        for w in work {
            let state = self.applications.entry(w.app.clone()).or_default();
            let input = digest(&w.objects);
            let waiting = state.failure.as_ref().is_some_and(|f| !f.due(&input, now));
            // What was applied is still wanted: nothing to send, nor to prune, until REAPPLY.
            let settled = state
                .settled
                .as_ref()
                .is_some_and(|(i, at)| *i == input && now.duration_since(*at) < REAPPLY);
            if state.running.is_none() && !waiting && !settled {
                let applied = std::mem::take(&mut state.applied);
                state.running = Some(start(&self.client, &self.changes, w, input, applied));
            }
        }
        let deadline = tokio::time::Instant::now() + PASS_WAIT;
        while self.applications.values().any(Application::under_way) {
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                break;
            }
        }
        outcomes.extend(self.collect());
        for (app, state) in &self.applications {
            if outcomes.iter().all(|(a, _)| a != app) {
                match &state.last {
                    Some(Ok(())) => outcomes.push((app.clone(), Outcome::Applied)),
                    Some(Err(error)) => {
                        outcomes.push((app.clone(), Outcome::Waiting(error.clone())))
                    }
                    None => {}
                }
            }
        }
        outcomes
    }

    /// When the earliest backoff ends: a pass is due then even without a change.
    pub fn next_retry(&self) -> Option<Instant> {
        self.applications
            .values()
            .filter_map(|a| a.failure.as_ref().map(|f| f.retry_at))
            .min()
    }

    /// Takes the attempts that ended: their outcomes, and the backoff of those that failed.
    fn collect(&mut self) -> Vec<(ObjectKey, Outcome)> {
        let mut outcomes = Vec::new();
        let now = Instant::now();
        for (app, state) in &mut self.applications {
            let Some(attempt) = state
                .running
                .as_ref()
                .and_then(|(_, slot)| slot.lock().expect("attempt lock").take())
            else {
                continue;
            };
            state.running = None;
            state.applied = attempt.applied;
            let outcome = match attempt.result {
                Ok(()) => {
                    state.failure = None;
                    state.last = Some(Ok(()));
                    state.settled = Some((attempt.input, now));
                    Outcome::Applied
                }
                Err(error) => {
                    state.settled = None;
                    let error = Arc::new(error);
                    let failure = Failure::after(
                        state.failure.as_ref(),
                        attempt.input,
                        now,
                        backoff::jitter(),
                    );
                    tracing::info!(
                        application = %app.name,
                        failures = failure.count,
                        retry_in_ms = failure.retry_at.saturating_duration_since(now).as_millis() as u64,
                        "backing off"
                    );
                    state.failure = Some(failure);
                    state.last = Some(Err(error.clone()));
                    Outcome::Failed(error)
                }
            };
            outcomes.push((app.clone(), outcome));
        }
        outcomes
    }
}

/// Spawns one attempt, bounded by [`BOUND`]; it fills its slot, then wakes `changes`.
fn start(
    client: &Client,
    changes: &watch::Sender<()>,
    work: Work,
    input: String,
    mut applied: Applied,
) -> (JoinHandle<()>, Slot) {
    let slot = Slot::default();
    let (client, changes, done) = (client.clone(), changes.clone(), slot.clone());
    let task = tokio::spawn(async move {
        let Work { app, objects } = work;
        let attempt = applied.apply(&client, &app.namespace, &app.name, &objects);
        let result = tokio::time::timeout(BOUND, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(Error::ApplyTimedOut {
                    application: app.name.clone(),
                    after: BOUND,
                })
            });
        *done.lock().expect("attempt lock") = Some(Attempt {
            applied,
            input,
            result,
        });
        changes.send_replace(());
    });
    (task, slot)
}

impl Application {
    /// Whether an attempt runs and has not handed in its result yet.
    fn under_way(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|(_, slot)| slot.lock().expect("attempt lock").is_none())
    }

    /// Whether an attempt handed in its result and no pass took it yet.
    fn ended(&self) -> bool {
        self.running
            .as_ref()
            .is_some_and(|(_, slot)| slot.lock().expect("attempt lock").is_some())
    }
}

impl Applied {
    /// Applies `objects` (all in `namespace`, of application `app`) and deletes the operator's
    /// other objects of that application.
    async fn apply(
        &mut self,
        client: &Client,
        namespace: &str,
        app: &str,
        objects: &[Workload],
    ) -> Result<()> {
        let mut wanted = BTreeSet::new();
        for object in objects {
            let (resource, meta) = object.identity();
            let (kind, name) = (
                resource.kind.as_str(),
                meta.name.as_deref().unwrap_or_default(),
            );
            let id = format!("{namespace}/{kind}/{name}");
            wanted.insert((kind.to_string(), name.to_string()));
            let digest = object.digest();
            if self
                .0
                .get(&id)
                .is_some_and(|(d, at)| *d == digest && at.elapsed() < REAPPLY)
            {
                continue;
            }
            let body = serde_json::to_value(object).expect("k8s-openapi objects serialize");
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &resource);
            let params = PatchParams::apply(FIELD_MANAGER).force();
            if let Err(error) = api.patch(name, &params, &Patch::Apply(&body)).await {
                self.0.remove(&id);
                return Err(Error::Apply {
                    kind: kind.to_string(),
                    name: name.to_string(),
                    error,
                });
            }
            tracing::info!(namespace, kind, name, "applied");
            self.0.insert(id, (digest, Instant::now()));
        }
        self.prune(client, namespace, app, &wanted).await
    }

    async fn prune(
        &mut self,
        client: &Client,
        namespace: &str,
        app: &str,
        wanted: &BTreeSet<(String, String)>,
    ) -> Result<()> {
        let selector = format!("{}={},{INSTANCE_LABEL}={app}", MANAGED_BY.0, MANAGED_BY.1);
        for resource in pruned() {
            let kind = resource.kind.as_str();
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &resource);
            let existing = api
                .list_metadata(&ListParams::default().labels(&selector))
                .await
                .map_err(|error| Error::Prune {
                    kind: kind.to_string(),
                    name: "*".into(),
                    error,
                })?;
            for object in existing {
                let Some(name) = object.metadata.name else {
                    continue;
                };
                if wanted.contains(&(kind.to_string(), name.clone())) {
                    continue;
                }
                api.delete(&name, &DeleteParams::background())
                    .await
                    .map_err(|error| Error::Prune {
                        kind: kind.to_string(),
                        name: name.clone(),
                        error,
                    })?;
                self.0.remove(&format!("{namespace}/{kind}/{name}"));
                tracing::info!(namespace, kind, name, "pruned");
            }
        }
        Ok(())
    }
}

/// Digest of everything an application's objects say: a change retries at once. Serialized
/// straight into the hash: the config parts are megabytes with thousands of guilds.
fn digest(objects: &[Workload]) -> String {
    let mut hash = Sha256::new();
    for object in objects {
        hash.update(object.digest());
    }
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::stub::{self, Answer};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// An API server that never answers a request whose path names `slow`, answers one that
    /// names `late` after 3 s (a patch), refuses with 409 one that names `broken` (counting those), and
    /// takes everything else at once.
    async fn api_server() -> (Client, Arc<AtomicUsize>) {
        let broken = Arc::new(AtomicUsize::new(0));
        let counter = broken.clone();
        let url = stub::serve(move |head| {
            let counter = counter.clone();
            async move {
                let line = head.lines().next().unwrap_or_default().to_string();
                if line.starts_with("PATCH") && line.contains("late") {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
                if line.contains("slow") {
                    std::future::pending::<()>().await;
                }
                if line.contains("broken") {
                    counter.fetch_add(1, Ordering::SeqCst);
                    Answer::json(
                        "409 Conflict",
                        r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"the object has been modified","reason":"Conflict","code":409}"#,
                    )
                } else if line.starts_with("PATCH") {
                    Answer::json(
                        "200 OK",
                        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
                    )
                } else {
                    Answer::json(
                        "200 OK",
                        r#"{"apiVersion":"v1","kind":"List","metadata":{},"items":[]}"#,
                    )
                }
            }
        })
        .await;
        let client = Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        (client, broken)
    }

    fn work(app: &str) -> Work {
        let config = ConfigMap {
            metadata: ObjectMeta {
                name: Some(format!("{app}-config")),
                namespace: Some("kaltura".into()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        Work {
            app: ObjectKey {
                kind: "DiscordApplication",
                namespace: "kaltura".into(),
                name: app.into(),
            },
            objects: vec![Workload::ConfigMap(config, "empty".into())],
        }
    }

    fn outcome<'a>(outcomes: &'a [(ObjectKey, Outcome)], app: &str) -> Option<&'a Outcome> {
        outcomes
            .iter()
            .rev()
            .find(|(k, _)| k.name == app)
            .map(|(_, o)| o)
    }

    #[tokio::test]
    async fn a_hanging_application_holds_neither_the_others_nor_the_pass() {
        let (client, _) = api_server().await;
        let mut applier = Applier::new(client);
        let started = Instant::now();
        let outcomes = applier.apply(vec![work("good"), work("slow")]).await;
        let took = started.elapsed();
        assert!(
            took < PASS_WAIT + Duration::from_millis(500),
            "the pass took {took:?}"
        );
        assert!(matches!(outcome(&outcomes, "good"), Some(Outcome::Applied)));
        assert!(
            outcome(&outcomes, "slow").is_none(),
            "its first attempt is still under way"
        );
        // The next pass starts no second attempt of it, and the good one is still applied.
        let outcomes = applier.apply(vec![work("good"), work("slow")]).await;
        assert!(matches!(outcome(&outcomes, "good"), Some(Outcome::Applied)));
        assert!(outcome(&outcomes, "slow").is_none());
        // Attempts a pass took in wake nothing (else every pass would start the next).
        let woken = tokio::time::timeout(Duration::from_millis(300), applier.ended()).await;
        assert!(woken.is_err(), "nothing ended since the pass");
    }

    #[tokio::test]
    async fn an_application_applied_as_wanted_sends_nothing_until_it_changes() {
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        let url = stub::serve(move |head| {
            counter.fetch_add(1, Ordering::SeqCst);
            let patch = head.starts_with("PATCH");
            async move {
                if patch {
                    Answer::json(
                        "200 OK",
                        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#,
                    )
                } else {
                    Answer::json(
                        "200 OK",
                        r#"{"apiVersion":"v1","kind":"List","metadata":{},"items":[]}"#,
                    )
                }
            }
        })
        .await;
        let client = Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let mut applier = Applier::new(client);
        let outcomes = applier.apply(vec![work("good")]).await;
        assert!(matches!(outcome(&outcomes, "good"), Some(Outcome::Applied)));
        let first = requests.load(Ordering::SeqCst);
        assert!(
            first > 1,
            "the object applied and the others listed for pruning"
        );
        // Passes that want the same: no patch, no prune lists, still applied.
        for _ in 0..3 {
            let outcomes = applier.apply(vec![work("good")]).await;
            assert!(matches!(outcome(&outcomes, "good"), Some(Outcome::Applied)));
        }
        assert_eq!(requests.load(Ordering::SeqCst), first);
        let mut edited = work("good");
        if let Workload::ConfigMap(map, digest) = &mut edited.objects[0] {
            map.data = Some([("k".to_string(), "v".to_string())].into());
            *digest = "k=v".into();
        }
        applier.apply(vec![edited]).await;
        assert!(
            requests.load(Ordering::SeqCst) > first,
            "a change is applied"
        );
    }

    #[tokio::test]
    async fn an_attempt_that_outlasts_its_pass_wakes_the_loop_when_it_ends() {
        let (client, _) = api_server().await;
        let mut applier = Applier::new(client);
        let outcomes = applier.apply(vec![work("late")]).await;
        assert!(outcome(&outcomes, "late").is_none(), "still under way");
        tokio::time::timeout(Duration::from_secs(5), applier.ended())
            .await
            .expect("woken when it ended");
        let outcomes = applier.apply(vec![work("late")]).await;
        assert!(matches!(outcome(&outcomes, "late"), Some(Outcome::Applied)));
    }

    #[tokio::test]
    async fn a_refused_application_is_counted_once_then_waits_its_backoff() {
        let (client, refusals) = api_server().await;
        let mut applier = Applier::new(client);
        let outcomes = applier.apply(vec![work("good"), work("broken")]).await;
        let Some(Outcome::Failed(error)) = outcome(&outcomes, "broken") else {
            panic!("the refusal is a fresh failure");
        };
        assert_eq!((error.step(), error.reason()), ("apply", "conflict"));
        assert!(matches!(outcome(&outcomes, "good"), Some(Outcome::Applied)));
        let retry = applier.next_retry().expect("a retry is planned");
        assert!(
            retry > Instant::now() + Duration::from_millis(700),
            "about 1 s away"
        );

        // Passes before the retry is due send nothing and keep saying the same error.
        let outcomes = applier.apply(vec![work("good"), work("broken")]).await;
        let Some(Outcome::Waiting(again)) = outcome(&outcomes, "broken") else {
            panic!("waiting for the retry");
        };
        assert_eq!(again.to_string(), error.to_string());
        assert_eq!(refusals.load(Ordering::SeqCst), 1);

        // Other objects (an edit may be the fix) are tried at once.
        let mut edited = work("broken");
        if let Workload::ConfigMap(map, digest) = &mut edited.objects[0] {
            map.data = Some([("k".to_string(), "v".to_string())].into());
            *digest = "k=v".into();
        }
        let outcomes = applier.apply(vec![work("good"), edited]).await;
        assert!(matches!(
            outcome(&outcomes, "broken"),
            Some(Outcome::Failed(_))
        ));
        assert_eq!(refusals.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failure_waits_its_backoff_unless_the_objects_change() {
        let now = Instant::now();
        let first = Failure::after(None, "a".into(), now, 0.0);
        assert_eq!(
            (first.count, first.retry_at - now),
            (1, Duration::from_secs(1))
        );
        assert!(!first.due("a", now + Duration::from_millis(999)));
        assert!(first.due("a", now + Duration::from_secs(1)));
        assert!(first.due("b", now), "other objects are tried at once");

        let later = now + Duration::from_secs(1);
        let second = Failure::after(Some(&first), "a".into(), later, 0.0);
        assert_eq!(
            (second.count, second.retry_at - later),
            (2, Duration::from_secs(2))
        );
        let changed = Failure::after(Some(&second), "b".into(), later, 0.0);
        assert_eq!(changed.count, 1, "new objects start the schedule over");
    }
}

//! The bots' `/status` reports, followed by long polls: one task per ready endpoint of a bot
//! Service asks with the last report's ETag and is answered when the report changes (or after
//! [`WAIT`] with 304), so a new report is in the cache within a round trip and wakes the
//! reconcile loop. A pass reads the cache and never waits on a bot.

use super::backoff::REPORT;
use crate::error::{Error, Result};
use crate::reconcile::status::merge;
use kd_core::report::BotReport;
use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a bot holds a poll whose report did not change (the bot caps it at 60 s).
const WAIT: Duration = Duration::from_secs(30);
/// How long connecting, or an answer beyond the poll's wait, may take.
const SLACK: Duration = Duration::from_secs(2);
/// A bot too old to hold polls answers at once: poll it this often instead.
const UNHELD: Duration = Duration::from_secs(1);
/// How long a pass waits for the first answer of an endpoint it has not heard yet, so that a
/// restart or a new replica does not flash "no bot report yet" into status.
const FIRST_ANSWER: Duration = Duration::from_secs(1);

/// The latest answer of one endpoint (shared: passes read it, most often unchanged).
type Answer = Result<Arc<BotReport>, Arc<reqwest::Error>>;

/// A merged report and the replicas' reports it was made of.
type Merged = (Vec<Arc<BotReport>>, Arc<BotReport>);

pub struct Reports {
    http: reqwest::Client,
    /// Latest answer by URL; a URL followed but not heard yet has none.
    cache: Arc<Mutex<HashMap<String, Answer>>>,
    followers: HashMap<String, JoinHandle<()>>,
    /// The last merge of each set of endpoints, with the reports it was made of: replicas'
    /// reports of thousands of guilds are merged again only when one of them changed.
    merged: Mutex<HashMap<Vec<String>, Merged>>,
    /// Bumped when an answer changes.
    changes: watch::Sender<()>,
}

impl Reports {
    pub fn new() -> Result<Self> {
        // reqwest is built without a TLS provider of its own, even for plain http.
        kd_kaltura::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(SLACK)
            .build()
            .map_err(Error::HttpClient)?;
        Ok(Self {
            http,
            cache: Arc::default(),
            followers: HashMap::new(),
            merged: Mutex::default(),
            changes: watch::channel(()).0,
        })
    }

    /// Sees every change of a followed report (or of the error reading it).
    pub fn changes(&self) -> watch::Receiver<()> {
        self.changes.subscribe()
    }

    /// Follows exactly `urls`: starts a follower for each new one, stops those of endpoints
    /// gone (and forgets what they said).
    pub fn follow(&mut self, urls: &[String]) {
        self.followers.retain(|url, task| {
            let keep = urls.contains(url);
            if !keep {
                task.abort();
            }
            keep
        });
        self.cache
            .lock()
            .expect("report cache lock")
            .retain(|url, _| urls.contains(url));
        self.merged
            .lock()
            .expect("merge cache lock")
            .retain(|set, _| set.iter().all(|url| urls.contains(url)));
        for url in urls {
            if !self.followers.contains_key(url) {
                let follower = Follower {
                    http: self.http.clone(),
                    url: url.clone(),
                    cache: self.cache.clone(),
                    changes: self.changes.clone(),
                };
                self.followers
                    .insert(url.clone(), tokio::spawn(follower.run()));
            }
        }
    }

    /// Waits (up to [`FIRST_ANSWER`]) until every followed endpoint has answered once; at once
    /// when all have, as in every pass but those after an endpoint appeared.
    pub async fn first_answers(&self) {
        let mut changes = self.changes.subscribe();
        let all_heard = || {
            let cache = self.cache.lock().expect("report cache lock");
            self.followers.keys().all(|url| cache.contains_key(url))
        };
        let _ = tokio::time::timeout(FIRST_ANSWER, async {
            while !all_heard() {
                if changes.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }

    /// The merged report of `urls` (an application's endpoints), or why there is none; None
    /// while none of them answered yet.
    pub fn collect(&self, urls: &[String]) -> Option<Result<Arc<BotReport>>> {
        if urls.is_empty() {
            return Some(Err(Error::NoBotPod));
        }
        let cache = self.cache.lock().expect("report cache lock");
        let mut reports = Vec::new();
        for url in urls {
            match cache.get(url) {
                Some(Ok(report)) => reports.push(report.clone()),
                Some(Err(error)) => {
                    return Some(Err(Error::BotReport {
                        url: url.clone(),
                        error: error.clone(),
                    }));
                }
                None => {}
            }
        }
        drop(cache);
        let mut merged = self.merged.lock().expect("merge cache lock");
        if let Some((from, report)) = merged.get(urls)
            && from.len() == reports.len()
            && from.iter().zip(&reports).all(|(a, b)| Arc::ptr_eq(a, b))
        {
            return Some(Ok(report.clone()));
        }
        let report = merge(&reports)?;
        merged.insert(urls.to_vec(), (reports, report.clone()));
        Some(Ok(report))
    }
}

impl Drop for Reports {
    fn drop(&mut self) {
        self.followers.values().for_each(JoinHandle::abort);
    }
}

/// One endpoint's long poll.
struct Follower {
    http: reqwest::Client,
    url: String,
    cache: Arc<Mutex<HashMap<String, Answer>>>,
    changes: watch::Sender<()>,
}

/// What one poll came to.
enum Poll {
    /// A report, with its ETag when the bot holds polls.
    Changed(Arc<BotReport>, Option<String>),
    /// 304: the report is still the one we have.
    Unchanged,
}

impl Follower {
    async fn run(self) {
        let mut etag: Option<String> = None;
        let mut failures = 0;
        loop {
            match self.poll(etag.as_deref()).await {
                Ok(Poll::Changed(report, tag)) => {
                    failures = 0;
                    let held = tag.is_some();
                    etag = tag;
                    self.store(Ok(report));
                    if !held {
                        tokio::time::sleep(UNHELD).await;
                    }
                }
                Ok(Poll::Unchanged) => failures = 0,
                Err(error) => {
                    failures += 1;
                    etag = None;
                    tracing::debug!(url = %self.url, %error, failures, "reading a bot report failed");
                    // A pooled connection can break on its own (the bot closed it while idle):
                    // one failure is retried at once before status hears of it.
                    if failures > 1 {
                        self.store(Err(Arc::new(error)));
                        tokio::time::sleep(REPORT.delay(failures - 1)).await;
                    }
                }
            }
        }
    }

    async fn poll(&self, etag: Option<&str>) -> reqwest::Result<Poll> {
        let mut request = self.http.get(&self.url).timeout(SLACK);
        if let Some(etag) = etag {
            request = request
                .header(IF_NONE_MATCH, etag)
                .query(&[("wait", WAIT.as_secs())])
                .timeout(WAIT + SLACK);
        }
        let response = request
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(reqwest::Error::without_url)?;
        if response.status() == StatusCode::NOT_MODIFIED {
            return Ok(Poll::Unchanged);
        }
        let tag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let report = response.json().await.map_err(reqwest::Error::without_url)?;
        Ok(Poll::Changed(Arc::new(report), tag))
    }

    /// Keeps `answer`, waking the loop only when it differs from the last one (an error by
    /// its words: a bot down for minutes does not wake it on every retry).
    fn store(&self, answer: Answer) {
        let mut cache = self.cache.lock().expect("report cache lock");
        let same = match (cache.get(&self.url), &answer) {
            (Some(Ok(old)), Ok(new)) => old == new,
            (Some(Err(old)), Err(new)) => old.to_string() == new.to_string(),
            _ => false,
        };
        if !same {
            cache.insert(self.url.clone(), answer);
            drop(cache);
            self.changes.send_replace(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operator::stub::{self, Answer};

    /// A bot whose report runs the revision in `revision`, holding polls as the real one does.
    async fn bot(revision: watch::Receiver<String>) -> String {
        let url = stub::serve(move |head| {
            let mut revision = revision.clone();
            async move {
                let tag = |r: &str| format!("\"{r}\"");
                let seen = head.lines().find_map(|l| {
                    let (name, value) = l.split_once(": ")?;
                    name.eq_ignore_ascii_case("if-none-match")
                        .then(|| value.to_string())
                });
                let current = revision.borrow_and_update().clone();
                if seen == Some(tag(&current)) {
                    let wait = tokio::time::timeout(WAIT, revision.changed()).await;
                    if wait.is_err() {
                        return Answer::json("304 Not Modified", "");
                    }
                }
                let current = revision.borrow().clone();
                let report = BotReport {
                    revision: current.clone(),
                    ..BotReport::default()
                };
                Answer {
                    headers: vec![("etag", tag(&current))],
                    ..Answer::json("200 OK", serde_json::to_string(&report).unwrap())
                }
            }
        })
        .await;
        format!("{url}/status")
    }

    fn revision(answer: Option<Result<Arc<BotReport>>>) -> String {
        answer
            .expect("answered")
            .expect("a report")
            .revision
            .clone()
    }

    #[tokio::test]
    async fn a_changed_report_is_in_the_cache_within_a_round_trip_of_the_bot() {
        let (running, revision_rx) = watch::channel("r1".to_string());
        let url = bot(revision_rx).await;
        let mut reports = Reports::new().unwrap();
        let mut changes = reports.changes();
        reports.follow(std::slice::from_ref(&url));
        reports.first_answers().await;
        assert_eq!(revision(reports.collect(std::slice::from_ref(&url))), "r1");

        // The follower's poll is held; a new revision answers it, and the loop is woken.
        tokio::time::sleep(Duration::from_millis(100)).await;
        changes.borrow_and_update();
        let sent = std::time::Instant::now();
        running.send_replace("r2".into());
        tokio::time::timeout(Duration::from_secs(1), changes.changed())
            .await
            .expect("woken")
            .unwrap();
        let took = sent.elapsed();
        assert!(took < Duration::from_millis(200), "took {took:?}");
        assert_eq!(revision(reports.collect(std::slice::from_ref(&url))), "r2");

        // An endpoint gone is forgotten; an application without any has no bot pod.
        reports.follow(&[]);
        assert!(reports.collect(std::slice::from_ref(&url)).is_none());
        assert!(matches!(reports.collect(&[]), Some(Err(Error::NoBotPod))));
    }

    #[tokio::test]
    async fn an_unreachable_bot_is_in_the_cache_with_why() {
        // A port nobody listens on any more.
        let url = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/status", listener.local_addr().unwrap())
        };
        let mut reports = Reports::new().unwrap();
        reports.follow(std::slice::from_ref(&url));
        reports.first_answers().await;
        let answer = reports.collect(std::slice::from_ref(&url));
        let Some(Err(error @ Error::BotReport { .. })) = answer else {
            panic!("an error: {answer:?}");
        };
        let words = error.to_string();
        assert!(
            words.starts_with(&format!("reading the bot report at {url} failed: ")),
            "{words}"
        );
    }
}

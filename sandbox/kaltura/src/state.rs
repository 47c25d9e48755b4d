//! The sandbox's accounts, data and test knobs.

use crate::seed;
use crate::webhook::Notifier;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// A Kaltura account: sessions signed with either secret are accepted.
#[derive(Clone)]
pub struct Partner {
    pub id: i64,
    pub name: String,
    pub admin_secret: String,
    pub user_secret: String,
}

impl std::fmt::Debug for Partner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partner")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Objects, as the JSON Kaltura returns for them.
#[derive(Debug, Default)]
pub struct Store {
    pub entries: Vec<Value>,
    pub users: Vec<Value>,
    pub roles: Vec<Value>,
    pub categories: Vec<Value>,
    pub resources: Vec<Value>,
    pub events: Vec<Value>,
    pub event_resources: Vec<Value>,
    pub templates: Vec<Value>,
    next_entry: u64,
    next_id: i64,
}

impl Store {
    pub fn seeded(partner_id: i64, base_url: &str) -> Store {
        let seed = seed::seed(partner_id, base_url);
        let mut store = Store {
            entries: seed.entries,
            users: seed.users,
            roles: seed.roles,
            categories: seed.categories,
            next_id: 5_000,
            next_entry: 1_000,
            ..Store::default()
        };
        store.count_category_entries();
        store
    }

    /// Next id for schedule objects.
    pub fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// A fresh entry id, in Kaltura's `0_xxxxxxxx` form.
    pub fn next_entry_id(&mut self) -> String {
        self.next_entry += 1;
        seed::entry_id(self.next_entry)
    }

    fn count_category_entries(&mut self) {
        for category in &mut self.categories {
            let id = category["id"].as_i64().unwrap_or_default().to_string();
            let count = self
                .entries
                .iter()
                .filter(|e| {
                    e["categoriesIds"]
                        .as_str()
                        .is_some_and(|ids| ids.split(',').any(|c| c == id))
                })
                .count();
            category["entriesCount"] = count.into();
        }
    }
}

/// Test knobs, changeable while the sandbox runs.
#[derive(Debug, Default)]
pub struct Knobs {
    latency_ms: AtomicU64,
    /// Share of api_v3 requests that fail with HTTP 500, in parts per thousand.
    error_permille: AtomicU32,
    down: AtomicBool,
    esearch_disabled: AtomicBool,
    /// The next N api_v3 requests fail with HTTP 500 (deterministic, for retry tests).
    fail_next: AtomicU32,
    /// api_v3 requests received, failed ones included.
    requests: AtomicU64,
}

impl Knobs {
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms
            .store(latency.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    /// `rate` in 0.0..=1.0.
    pub fn set_error_rate(&self, rate: f64) {
        let permille = (rate.clamp(0.0, 1.0) * 1000.0).round() as u32;
        self.error_permille.store(permille, Ordering::Relaxed);
    }

    /// Fail the next `n` api_v3 requests with HTTP 500.
    pub fn fail_next(&self, n: u32) {
        self.fail_next.store(n, Ordering::Relaxed);
    }

    /// Whether this request fails: a pending `fail_next`, else a draw against the error rate.
    pub fn should_fail(&self) -> bool {
        let pending = self
            .fail_next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        if pending.is_ok() {
            return true;
        }
        let permille = self.error_permille.load(Ordering::Relaxed);
        permille > 0 && rand::random_range(0..1000) < permille
    }

    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// api_v3 requests received so far (including refused and failed ones).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// When down, every api_v3 request is answered 503.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Make eSearch unavailable to the partner, as on accounts without the plugin.
    pub fn set_esearch_enabled(&self, enabled: bool) {
        self.esearch_disabled.store(!enabled, Ordering::Relaxed);
    }

    pub fn esearch_enabled(&self) -> bool {
        !self.esearch_disabled.load(Ordering::Relaxed)
    }
}

/// Everything a request handler sees.
pub struct Sandbox {
    pub partners: Vec<Partner>,
    pub store: Mutex<Store>,
    pub knobs: Knobs,
    pub base_url: String,
    pub media_clip: Option<PathBuf>,
    pub clips: Option<crate::playback::clips::Clips>,
    pub notifier: Notifier,
}

impl Sandbox {
    pub fn partner(&self, id: i64) -> Option<&Partner> {
        self.partners.iter().find(|p| p.id == id)
    }

    pub fn primary(&self) -> &Partner {
        &self.partners[0]
    }

    pub fn secrets_of(&self, id: i64) -> Option<Vec<String>> {
        self.partner(id)
            .map(|p| vec![p.admin_secret.clone(), p.user_secret.clone()])
    }

    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panicking handler must not take the whole sandbox down with it.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

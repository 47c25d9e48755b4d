//! The sandbox's accounts, data and test knobs.

use crate::faults::Knobs;
use crate::seed;
use crate::webhook::Notifier;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Mutex;

/// A Kaltura account: sessions signed with either secret are accepted. `admin_secret` is the one
/// it started with; [`Sandbox::admin_secret`] is the one in force.
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

    /// The partner's admin secret now (the control API may have rotated it).
    pub fn admin_secret(&self, partner: &Partner) -> String {
        self.knobs
            .rotated_secret(partner.id)
            .unwrap_or_else(|| partner.admin_secret.clone())
    }

    pub fn secrets_of(&self, id: i64) -> Option<Vec<String>> {
        self.partner(id)
            .map(|p| vec![self.admin_secret(p), p.user_secret.clone()])
    }

    pub fn store(&self) -> std::sync::MutexGuard<'_, Store> {
        // A panicking handler must not take the whole sandbox down with it.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

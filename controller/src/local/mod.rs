//! The folder backend of the reconcile core (`kaltura-discord up`): the resources come from a
//! folder of manifests instead of the API server, and their status goes to a state folder
//! instead of the status subresource. Render and status are the operator's own
//! (`reconcile::render`, `reconcile::status`); this module only keeps what the API server would
//! keep: each resource's last status and creation time.

pub mod state;
pub mod table;
pub mod watch;

use crate::reconcile::status::Statuses;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kd_crds::references::{Catalog, ObjectKey};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde_json::Value;
use state::State;
use std::sync::Arc;

fn key_of<K: ResourceExt>(kind: &'static str, obj: &K) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: obj.namespace().unwrap_or_else(|| "default".into()),
        name: obj.name_any(),
    }
}

/// Gives each resource of `catalog` the status and creation time the state folder kept for it,
/// as the API server hands them to the operator, so conditions keep their transition times
/// across edits and restarts.
pub fn restore(catalog: &mut Catalog, previous: &State) {
    fn each<K>(kind: &'static str, items: &mut [Arc<K>], previous: &State)
    where
        K: Resource + ResourceExt + HasStatus + Clone,
    {
        for item in items {
            let item = Arc::make_mut(item);
            let Some(old) = previous.object(&key_of(kind, item)) else {
                continue;
            };
            if let Some(created) = old
                .pointer("/metadata/creationTimestamp")
                .and_then(|v| serde_json::from_value::<Time>(v.clone()).ok())
            {
                item.meta_mut().creation_timestamp = Some(created);
            }
            if let Some(status) = old.get("status") {
                item.set_status_json(status.clone());
            }
        }
    }
    each("KalturaPartner", &mut catalog.partners, previous);
    each("DiscordApplication", &mut catalog.applications, previous);
    each("GuildConfig", &mut catalog.guilds, previous);
    each("RoleMapping", &mut catalog.role_mappings, previous);
    each(
        "NotificationRule",
        &mut catalog.notification_rules,
        previous,
    );
}

/// The resources with their new statuses, as `kubectl get -o json` would show them; a
/// resource seen for the first time is created `now`.
pub fn objects(catalog: &Catalog, statuses: Statuses, now: &Time) -> Vec<Value> {
    fn each<K, S>(items: &[Arc<K>], statuses: Vec<(ObjectKey, S)>, now: &Time, out: &mut Vec<Value>)
    where
        K: Resource<DynamicType = ()> + ResourceExt + Serialize + Clone,
        S: Serialize,
    {
        for (item, (_, status)) in items.iter().zip(statuses) {
            let mut item = (**item).clone();
            item.meta_mut()
                .creation_timestamp
                .get_or_insert_with(|| now.clone());
            let Ok(mut value) = serde_json::to_value(&item) else {
                continue;
            };
            value["apiVersion"] = K::api_version(&()).into();
            value["kind"] = K::kind(&()).into();
            value["status"] = serde_json::to_value(status).unwrap_or_default();
            out.push(value);
        }
    }
    // `status::compute` lists each kind's statuses in the catalog's order.
    let mut out = Vec::new();
    each(&catalog.partners, statuses.partners, now, &mut out);
    each(&catalog.applications, statuses.applications, now, &mut out);
    each(&catalog.guilds, statuses.guilds, now, &mut out);
    each(
        &catalog.role_mappings,
        statuses.role_mappings,
        now,
        &mut out,
    );
    each(
        &catalog.notification_rules,
        statuses.notification_rules,
        now,
        &mut out,
    );
    out
}

/// Setting a resource's status from the JSON the state folder kept.
trait HasStatus {
    fn set_status_json(&mut self, status: Value);
}

macro_rules! has_status {
    ($($kind:ty),*) => {$(
        impl HasStatus for $kind {
            fn set_status_json(&mut self, status: Value) {
                // A status written by an older version that no longer reads is dropped, as a
                // fresh start would have it.
                self.status = serde_json::from_value(status).ok();
            }
        }
    )*};
}

has_status!(
    kd_crds::KalturaPartner,
    kd_crds::DiscordApplication,
    kd_crds::GuildConfig,
    kd_crds::RoleMapping,
    kd_crds::NotificationRule
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests;
    use crate::reconcile::render::render;
    use crate::reconcile::status::{Observed, compute};
    use k8s_openapi::jiff::Timestamp;
    use kd_crds::references::check;
    use std::path::Path;

    fn at(seconds: i64) -> Time {
        Time(Timestamp::from_second(seconds).unwrap())
    }

    fn examples() -> Catalog {
        manifests::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples"))
            .unwrap()
            .catalog
    }

    fn pass(previous: &State, now: i64) -> State {
        let mut catalog = examples();
        restore(&mut catalog, previous);
        let statuses = compute(
            &catalog,
            &check(&catalog),
            &render(&catalog),
            &Observed::default(),
            &at(now),
        );
        State {
            objects: objects(&catalog, statuses, &at(now)),
            ..State::default()
        }
    }

    #[test]
    fn creation_and_transition_times_survive_a_restart() {
        let first = pass(&State::default(), 100);
        assert_eq!(
            first.objects.len(),
            8,
            "partner, application, 2 guilds, 2 mappings, 2 rules"
        );
        let reread: State = serde_json::from_str(&serde_json::to_string(&first).unwrap()).unwrap();
        let second = pass(&reread, 500);
        assert_eq!(second, first, "an unchanged world keeps every time");
        let guild = second
            .object(&ObjectKey {
                kind: "GuildConfig",
                namespace: "kaltura".into(),
                name: "physics-101".into(),
            })
            .unwrap();
        assert_eq!(guild["kind"], "GuildConfig");
        assert_eq!(guild["apiVersion"], "kaltura-discord.io/v1alpha1");
        assert_eq!(
            guild["metadata"]["creationTimestamp"],
            "1970-01-01T00:01:40Z"
        );
        assert_eq!(
            guild["status"]["conditions"][0]["reason"],
            "BotNotReporting"
        );
    }
}

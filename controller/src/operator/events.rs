//! Kubernetes Events (`events.k8s.io/v1`) on every condition flip and every failed apply, through
//! kube-runtime's [`Recorder`], which folds a repeat of the same event (type, reason, action,
//! object) within minutes into one Event whose series count grows, as client-go does.
//! Messages come from conditions and errors, which never carry a secret's value. Publishing is
//! best effort and off the reconcile path: a queue feeds one background task.

use crate::reconcile::conditions::reasons;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Client;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// The `reportingController` of our Events.
pub const CONTROLLER: &str = "kaltura-discord-operator";

/// One Event to publish, as data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    pub reason: String,
    pub action: &'static str,
    pub note: String,
}

/// One Notice per condition whose status changed from `previous`: Normal when it turned True,
/// Warning otherwise (every condition of ours is good when True), but for a GuildConfig being
/// deleted, which is not ready on purpose. A new condition is told only when it is not True:
/// a cold start of thousands of healthy objects is no news, and their Events would crowd out
/// the few that are.
pub fn flips(previous: &[Condition], next: &[Condition]) -> Vec<Notice> {
    next.iter()
        .filter(|c| match previous.iter().find(|p| p.type_ == c.type_) {
            Some(p) => p.status != c.status,
            None => c.status != "True",
        })
        .map(|c| Notice {
            warning: c.status != "True" && c.reason != reasons::DELETING,
            reason: c.reason.clone(),
            action: "Reconcile",
            note: truncate(format!("{} is {}: {}", c.type_, c.status, c.message)),
        })
        .collect()
}

/// A failed step of a pass on the object it concerns.
pub fn failed(reason: &str, error: &dyn std::error::Error) -> Notice {
    Notice {
        warning: true,
        reason: reason.into(),
        action: "Apply",
        note: truncate(error.to_string()),
    }
}

/// The API server refuses an Event note over 1 kB.
fn truncate(mut note: String) -> String {
    const MAX: usize = 1024;
    if note.len() > MAX {
        let mut end = MAX - 3;
        while !note.is_char_boundary(end) {
            end -= 1;
        }
        note.truncate(end);
        note.push_str("...");
    }
    note
}

/// Events waiting to be published; beyond this many, new ones are dropped (and logged), so a
/// burst (thousands of resources changing at once) never slows a reconcile pass.
const QUEUE: usize = 1024;

/// Publishes Events in the background, in order.
#[derive(Clone)]
pub struct Events {
    queue: mpsc::Sender<(ObjectReference, Notice)>,
    dropped: Arc<AtomicU64>,
}

impl Events {
    /// `instance` names this replica (its pod name) in `reportingInstance`.
    pub fn new(client: Client, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: CONTROLLER.into(),
            instance,
        };
        let recorder = Recorder::new(client, reporter);
        let (queue, mut pending) = mpsc::channel::<(ObjectReference, Notice)>(QUEUE);
        tokio::spawn(async move {
            while let Some((regarding, notice)) = pending.recv().await {
                let event = Event {
                    type_: if notice.warning {
                        EventType::Warning
                    } else {
                        EventType::Normal
                    },
                    reason: notice.reason,
                    note: Some(notice.note),
                    action: notice.action.into(),
                    secondary: None,
                };
                if let Err(error) = recorder.publish(&event, &regarding).await {
                    tracing::warn!(%error, object = ?regarding.name, "publishing an Event failed");
                }
            }
        });
        Self {
            queue,
            dropped: Arc::default(),
        }
    }

    /// Queues `notices` about `regarding`.
    pub fn publish(&self, regarding: &ObjectReference, notices: Vec<Notice>) {
        for notice in notices {
            if self.queue.try_send((regarding.clone(), notice)).is_err() {
                // Once per thousand: a cold start of thousands of resources drops many.
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped % 1000 == 1 {
                    tracing::warn!(
                        dropped,
                        "too many Events waiting; dropping new ones (counted since start)"
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
            last_transition_time: Time("2026-12-02T06:00:00Z".parse().unwrap()),
            observed_generation: Some(1),
        }
    }

    #[test]
    fn a_notice_for_each_flip_and_none_for_an_unchanged_or_merely_reworded_condition() {
        let before = [
            condition("Ready", "True", "Ready", "serving"),
            condition("CommandsRegistered", "True", "Registered", "7 commands"),
            condition(
                "CredentialsValid",
                "False",
                "WrongSecret",
                "Kaltura says no",
            ),
        ];
        let after = [
            condition("Ready", "False", "RegistrationFailed", "Missing Access"),
            condition("CommandsRegistered", "True", "Registered", "8 commands"),
            condition("CredentialsValid", "True", "Verified", "Campus"),
            condition("Synced", "True", "Synced", "new and fine"),
            condition("Delivering", "False", "NoChannel", "new and failing"),
        ];
        let notices = flips(&before, &after);
        let notes: Vec<(bool, &str)> = notices
            .iter()
            .map(|n| (n.warning, n.note.as_str()))
            .collect();
        assert_eq!(
            notes,
            [
                (true, "Ready is False: Missing Access"),
                (false, "CredentialsValid is True: Campus"),
                (true, "Delivering is False: new and failing"),
            ]
        );
        assert!(flips(&after, &after).is_empty());
        let deleting = [condition("Ready", "False", "Deleting", "being deleted")];
        assert!(
            !flips(&before, &deleting)[0].warning,
            "a deletion is no warning"
        );
    }

    #[test]
    fn notes_are_cut_to_the_api_servers_limit_on_a_character_boundary() {
        let long = "é".repeat(600);
        let notice = flips(&[], &[condition("Ready", "False", "InvalidSpec", &long)]).remove(0);
        assert!(notice.note.len() <= 1024 && notice.note.ends_with("..."));
    }
}

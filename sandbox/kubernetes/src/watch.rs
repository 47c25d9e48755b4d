//! Watches: a chunked stream of newline-delimited JSON events (`ADDED`, `MODIFIED`, `DELETED`,
//! `BOOKMARK`, `ERROR`), resumable from a resourceVersion still in the history.

use crate::objects::at_version;
use crate::resource::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Event, EventKind, Store};
use crate::table::{self, Include};
use axum::body::{Body, Bytes};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

/// How often a watch that allows bookmarks gets one (the API server: about once a minute).
const BOOKMARK_EVERY: Duration = Duration::from_secs(15);

/// What a watch asked for.
pub struct WatchRequest {
    pub rt: Arc<ResourceType>,
    /// `None`: every namespace.
    pub namespace: Option<String>,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    /// `None` or `"0"`: start with the current state as `ADDED` events.
    pub resource_version: Option<String>,
    pub send_initial_events: bool,
    pub bookmarks: bool,
    pub timeout: Option<Duration>,
    /// `Some` when the client asked for Table events (`kubectl get -w`).
    pub table: Option<Include>,
}

impl WatchRequest {
    fn selects(&self, group: &str, plural: &str, namespace: &str, obj: &Value) -> bool {
        group == self.rt.storage_group()
            && plural == self.rt.plural
            && self.namespace.as_deref().is_none_or(|ns| ns == namespace)
            && self.labels.matches(obj["metadata"].get("labels"))
            && self.fields.matches(obj)
    }

    /// How `event` looks through this watch's selectors: an object that starts matching is
    /// ADDED, one that stops matching is DELETED, as the API server's watch cache reports them.
    fn event_type(&self, event: &Event) -> Option<&'static str> {
        let key = &event.key;
        let now = self.selects(&key.group, &key.plural, &key.namespace, &event.object);
        let before = event
            .previous
            .as_ref()
            .is_some_and(|p| self.selects(&key.group, &key.plural, &key.namespace, p));
        match (event.kind, before, now) {
            (EventKind::Modified, true, true) => Some("MODIFIED"),
            (EventKind::Modified, true, false) => Some("DELETED"),
            (EventKind::Modified, false, true) | (EventKind::Added, _, true) => Some("ADDED"),
            (EventKind::Deleted, _, true) => Some("DELETED"),
            _ => None,
        }
    }

    fn line(&self, kind: &str, obj: Value) -> Bytes {
        let obj = at_version(&self.rt, obj);
        let object = match self.table {
            Some(include) => table::table(&self.rt, &[obj], include, json!({})),
            None => obj,
        };
        let mut line =
            serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }

    fn bookmark(&self, revision: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": metadata});
        let mut line =
            serde_json::to_vec(&json!({"type": "BOOKMARK", "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }
}

fn error_line(err: &ApiError) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": "ERROR", "object": err.to_status()}))
        .unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

struct Stream {
    request: WatchRequest,
    pending: VecDeque<Bytes>,
    changes: Option<broadcast::Receiver<Event>>,
    deadline: Option<Instant>,
    next_bookmark: Instant,
    revision: u64,
}

/// Starts a watch (under the store lock, so no change falls between the snapshot and the stream).
pub fn start(store: &Store, request: WatchRequest) -> Body {
    let mut pending = VecDeque::new();
    let now = store.revision();
    let from_state = matches!(request.resource_version.as_deref(), None | Some("" | "0"))
        || request.send_initial_events;
    let changes = if from_state {
        for (key, obj) in store.list(
            request.rt.storage_group(),
            &request.rt.plural,
            request.namespace.as_deref(),
        ) {
            if request.selects(&key.group, &key.plural, &key.namespace, obj) {
                pending.push_back(request.line("ADDED", obj.clone()));
            }
        }
        if request.send_initial_events && request.bookmarks {
            pending.push_back(request.bookmark(now, true));
        }
        store.changes_since(now).map(|(_, rx)| rx)
    } else {
        let since = request
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok());
        match since.and_then(|since| store.changes_since(since)) {
            Some((past, rx)) => {
                for event in past {
                    if let Some(kind) = request.event_type(&event) {
                        pending.push_back(request.line(kind, event.object));
                    }
                }
                Some(rx)
            }
            None => {
                let wanted = request.resource_version.clone().unwrap_or_default();
                let err = match since {
                    Some(_) => {
                        ApiError::gone(format!("too old resource version: {wanted} ({now})"))
                    }
                    None => ApiError::bad_request(format!("invalid resource version {wanted:?}")),
                };
                pending.push_back(error_line(&err));
                None
            }
        }
    };
    let stream = Stream {
        deadline: request.timeout.map(|t| Instant::now() + t),
        next_bookmark: Instant::now() + BOOKMARK_EVERY,
        request,
        pending,
        changes,
        revision: now,
    };
    Body::from_stream(futures_util::stream::unfold(stream, next))
}

async fn next(mut s: Stream) -> Option<(Result<Bytes, std::convert::Infallible>, Stream)> {
    loop {
        if let Some(line) = s.pending.pop_front() {
            return Some((Ok(line), s));
        }
        let changes = s.changes.as_mut()?;
        let deadline = s.deadline;
        let bookmark_at = s.next_bookmark;
        tokio::select! {
            received = changes.recv() => match received {
                Ok(event) => {
                    s.revision = event.revision;
                    if let Some(kind) = s.request.event_type(&event) {
                        s.pending.push_back(s.request.line(kind, event.object));
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // Too slow a reader lost events: make it relist, as the API server would.
                    s.pending.push_back(error_line(&ApiError::gone("watch fell too far behind")));
                    s.changes = None;
                }
                Err(RecvError::Closed) => s.changes = None,
            },
            () = sleep_until(deadline) => s.changes = None,
            () = tokio::time::sleep_until(bookmark_at) => {
                s.next_bookmark = Instant::now() + BOOKMARK_EVERY;
                if s.request.bookmarks {
                    s.pending.push_back(s.request.bookmark(s.revision, false));
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

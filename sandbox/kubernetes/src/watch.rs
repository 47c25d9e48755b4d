//! Watches: a chunked stream of newline-delimited JSON events (`ADDED`, `MODIFIED`, `DELETED`,
//! `BOOKMARK`, `ERROR`), resumable from a resourceVersion still in the history.

use crate::objects::{Served, at_version};
use crate::resource::ResourceType;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::{Event, EventKind, Store};
use crate::table::{self, Include};
use axum::body::{Body, Bytes};
use serde::Serialize;
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

    fn line(&self, kind: &str, obj: &Value) -> Bytes {
        let api_version = self.rt.api_version();
        if self.table.is_none()
            && let Some(object) = Served::of(&self.rt, &api_version, obj)
        {
            return to_line(&Line { kind, object });
        }
        let obj = at_version(&self.rt, obj.clone());
        let object = match self.table {
            Some(include) => table::table(&self.rt, &[obj], include, json!({})),
            None => obj,
        };
        to_line(&json!({"type": kind, "object": object}))
    }

    /// [`Self::line`] of a change, shared with the other watches that send the same one.
    fn event_line(&self, kind: &'static str, event: &Event) -> Bytes {
        if self.table.is_some() {
            // Tables are per watch (their columns and `includeObject`), and rare.
            return self.line(kind, &event.object);
        }
        event.lines.get_or_encode(kind, &self.rt.api_version(), || {
            self.line(kind, &event.object)
        })
    }

    fn bookmark(&self, revision: u64, initial_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = json!({"kind": self.rt.kind, "apiVersion": self.rt.api_version(), "metadata": metadata});
        to_line(&json!({"type": "BOOKMARK", "object": object}))
    }
}

/// A watch event as the API server writes it: `{"type": ..., "object": ...}`.
#[derive(Serialize)]
struct Line<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    object: Served<'a>,
}

/// One newline-terminated JSON line of the stream.
fn to_line(value: &impl Serialize) -> Bytes {
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

fn error_line(err: &ApiError) -> Bytes {
    to_line(&json!({"type": "ERROR", "object": err.to_status()}))
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
                pending.push_back(request.line("ADDED", obj));
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
                        pending.push_back(request.event_line(kind, &event));
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
                        s.pending.push_back(s.request.event_line(kind, &event));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::{self, FieldValidation, PatchKind, WriteContext};
    use crate::resource;
    use futures_util::StreamExt;

    fn ctx() -> WriteContext {
        WriteContext {
            dry_run: false,
            validation: FieldValidation::Strict,
            manager: "test".into(),
            now: "2026-01-01T00:00:00Z".into(),
            status: false,
        }
    }

    fn request(store: &Store, plural: &str) -> WatchRequest {
        WatchRequest {
            rt: store.find_type("", "v1", plural).unwrap(),
            namespace: Some("default".into()),
            labels: LabelSelector::default(),
            fields: FieldSelector::default(),
            resource_version: Some(store.revision().to_string()),
            send_initial_events: false,
            bookmarks: false,
            timeout: None,
            table: None,
        }
    }

    async fn next_line(body: &mut axum::body::BodyDataStream) -> Value {
        let line = body.next().await.unwrap().unwrap();
        assert_eq!(line.last(), Some(&b'\n'));
        serde_json::from_slice(&line).unwrap()
    }

    #[tokio::test]
    async fn watches_of_one_change_get_the_same_line_encoded_once() {
        let mut store = Store::new(resource::builtins());
        objects::seed(&mut store, "2026-01-01T00:00:00Z");
        let rt = store.find_type("", "v1", "configmaps").unwrap();
        let mut first = start(&store, request(&store, "configmaps")).into_data_stream();
        let mut second = start(&store, request(&store, "configmaps")).into_data_stream();
        let cm = json!({"metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v"}});
        let created = objects::create(&mut store, &rt, "default", cm, &ctx()).unwrap();
        let change = json!({"data": {"k": "w"}});
        objects::patch(
            &mut store,
            &rt,
            "default",
            "c",
            PatchKind::Merge,
            &change,
            &ctx(),
        )
        .unwrap();

        let added = first.next().await.unwrap().unwrap();
        assert_eq!(second.next().await.unwrap().unwrap(), added);
        let line: Value = serde_json::from_slice(&added).unwrap();
        assert_eq!(line, json!({"type": "ADDED", "object": created.object}));
        let first_modified = first.next().await.unwrap().unwrap();
        let second_modified = second.next().await.unwrap().unwrap();
        // One encoding, shared: both watches send the very same buffer.
        assert_eq!(first_modified.as_ptr(), second_modified.as_ptr());
        let modified: Value = serde_json::from_slice(&first_modified).unwrap();
        assert_eq!(modified["type"], "MODIFIED");
        assert_eq!(modified["object"]["data"], json!({"k": "w"}));
        assert_eq!(modified["object"]["apiVersion"], "v1");
        assert_eq!(modified["object"]["kind"], "ConfigMap");
        // A watch resuming from the history sends that buffer too.
        let mut request = request(&store, "configmaps");
        request.resource_version = Some(created_revision(&added).to_string());
        let mut resumed = start(&store, request).into_data_stream();
        let resumed = resumed.next().await.unwrap().unwrap();
        assert_eq!(resumed.as_ptr(), first_modified.as_ptr());
    }

    #[tokio::test]
    async fn a_selector_watch_encodes_its_own_event_type() {
        let mut store = Store::new(resource::builtins());
        objects::seed(&mut store, "2026-01-01T00:00:00Z");
        let rt = store.find_type("", "v1", "configmaps").unwrap();
        let cm = json!({"metadata": {"name": "c", "labels": {"a": "1"}}});
        objects::create(&mut store, &rt, "default", cm, &ctx()).unwrap();
        let mut all = start(&store, request(&store, "configmaps")).into_data_stream();
        let mut selected = request(&store, "configmaps");
        selected.labels = LabelSelector::parse("a=2").unwrap();
        let mut selected = start(&store, selected).into_data_stream();
        let relabel = json!({"metadata": {"labels": {"a": "2"}}});
        objects::patch(
            &mut store,
            &rt,
            "default",
            "c",
            PatchKind::Merge,
            &relabel,
            &ctx(),
        )
        .unwrap();
        let modified = next_line(&mut all).await;
        let added = next_line(&mut selected).await;
        assert_eq!(
            (modified["type"].as_str(), added["type"].as_str()),
            (Some("MODIFIED"), Some("ADDED"))
        );
        assert_eq!(modified["object"], added["object"]);
    }

    fn created_revision(line: &[u8]) -> u64 {
        let line: Value = serde_json::from_slice(line).unwrap();
        line["object"]["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }
}

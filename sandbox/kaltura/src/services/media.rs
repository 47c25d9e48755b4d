//! `media` / `baseEntry` list, get, count, update, and eSearch `searchEntry`.

use super::{Call, apply_update, id_matches, list_response, notifications, order_by, paginate};
use crate::params::Params;
use crate::state::Sandbox;
use crate::wire::{ApiException, CallResult};
use serde_json::{Value, json};

fn text_of(entry: &Value, field: &str) -> String {
    entry[field].as_str().unwrap_or_default().to_lowercase()
}

fn csv_contains(list: &str, wanted: &str) -> bool {
    list.split(',').map(str::trim).any(|item| item == wanted)
}

/// Kaltura's free text: every word must appear in the name, tags or description.
fn free_text_matches(entry: &Value, query: &str) -> bool {
    let haystack = format!(
        "{} {} {}",
        text_of(entry, "name"),
        text_of(entry, "tags"),
        text_of(entry, "description")
    );
    query
        .to_lowercase()
        .split_whitespace()
        .all(|word| haystack.contains(word))
}

fn filter_matches(entry: &Value, filter: &Params<'_>) -> bool {
    let text = |key: &str| filter.text(key);
    type Check = fn(&Value, &str) -> bool;
    let checks: [(Option<String>, Check); 13] = [
        (text("freeText"), free_text_matches),
        (text("nameLike"), |e, v| {
            text_of(e, "name").contains(&v.to_lowercase())
        }),
        (text("nameMultiLikeOr"), |e, v| {
            v.split(',')
                .any(|w| text_of(e, "name").contains(&w.trim().to_lowercase()))
        }),
        (text("tagsLike"), |e, v| {
            text_of(e, "tags").contains(&v.to_lowercase())
        }),
        (text("tagsMultiLikeOr"), |e, v| {
            v.split(',')
                .any(|w| text_of(e, "tags").contains(&w.trim().to_lowercase()))
        }),
        (text("categoriesIdsMatchOr"), |e, v| {
            let ids = e["categoriesIds"].as_str().unwrap_or_default();
            v.split(',').any(|c| csv_contains(ids, c.trim()))
        }),
        (text("userIdEqual"), |e, v| e["userId"].as_str() == Some(v)),
        (text("statusEqual"), |e, v| e["status"].as_str() == Some(v)),
        (text("statusIn"), |e, v| {
            csv_contains(v, e["status"].as_str().unwrap_or_default())
        }),
        (text("idEqual"), |e, v| e["id"].as_str() == Some(v)),
        (text("redirectFromEntryId"), |e, v| {
            e["id"].as_str() == Some(v)
        }),
        (text("idIn"), |e, v| {
            csv_contains(v, e["id"].as_str().unwrap_or_default())
        }),
        (text("mediaTypeEqual"), |e, v| {
            id_matches(&e["mediaType"], v)
        }),
    ];
    checks
        .iter()
        .all(|(wanted, check)| wanted.as_deref().is_none_or(|v| check(entry, v)))
}

/// `KalturaEntryDisplayInSearchType::SYSTEM`: Kaltura leaves such entries (e.g. the template
/// entry of a scheduled recording) out of every list and search; `get` still finds them.
const DISPLAY_IN_SEARCH_SYSTEM: i64 = -1;

fn listed(entry: &Value) -> bool {
    entry["displayInSearch"].as_i64() != Some(DISPLAY_IN_SEARCH_SYSTEM)
}

fn matching(call: &Call<'_>) -> Vec<Value> {
    let filter = call.params.obj("filter");
    let store = call.sandbox.store();
    let mut found: Vec<Value> = store
        .entries
        .iter()
        .filter(|e| listed(e))
        .filter(|e| filter.as_ref().is_none_or(|f| filter_matches(e, f)))
        .cloned()
        .collect();
    let order = filter
        .as_ref()
        .and_then(|f| f.text("orderBy"))
        .unwrap_or_else(|| "-createdAt".to_string());
    order_by(&mut found, Some(order));
    found
}

pub fn list(call: &Call<'_>) -> CallResult {
    let found = matching(call);
    let (page, total) = paginate(found, call.params.obj("pager"));
    let object_type = if call.service == "media" {
        "KalturaMediaListResponse"
    } else {
        "KalturaBaseEntryListResponse"
    };
    Ok(list_response(object_type, page, total))
}

pub fn count(call: &Call<'_>) -> CallResult {
    Ok(matching(call).len().into())
}

pub fn get(call: &Call<'_>) -> CallResult {
    let id = call.required("entryId")?;
    let store = call.sandbox.store();
    store
        .entries
        .iter()
        .find(|e| e["id"].as_str() == Some(id.as_str()))
        .cloned()
        .ok_or_else(|| ApiException::entry_not_found(&id))
}

/// Add an entry (no content yet: status NO_CONTENT "7"); raises OBJECT_ADDED.
pub fn add(call: &Call<'_>) -> CallResult {
    let input = call
        .params
        .obj("entry")
        .ok_or_else(|| ApiException::missing_parameter("entry"))?;
    if input.text("name").is_none() {
        return Err(ApiException::property_null("name"));
    }
    let owner = call
        .session
        .as_ref()
        .map(|s| s.user_id.clone())
        .unwrap_or_default();
    Ok(create(call.sandbox, call.partner_id(), &owner, input))
}

/// A new entry as Kaltura stores it before any media arrives (status "7", NO_CONTENT), with
/// `input`'s fields; raises OBJECT_ADDED.
pub(crate) fn create(sandbox: &Sandbox, partner_id: i64, owner: &str, input: Params<'_>) -> Value {
    let entry = {
        let mut store = sandbox.store();
        let id = store.next_entry_id();
        let now = crate::now();
        let base = &sandbox.base_url;
        let mut entry = json!({
            "objectType": "KalturaMediaEntry", "id": id, "name": "", "description": "", "tags": "",
            "partnerId": partner_id, "userId": owner, "creatorId": owner, "categories": "", "categoriesIds": "",
            "status": "7", "type": "1", "mediaType": 1, "duration": 0, "msDuration": 0, "plays": 0, "views": 0,
            "displayInSearch": 1, "createdAt": now, "updatedAt": now,
            "thumbnailUrl": format!("{base}/p/{partner_id}/thumbnail/entry_id/{id}"),
        });
        apply_update(
            &mut entry,
            Some(input),
            &["id", "partnerId", "createdAt", "status"],
        );
        store.entries.push(entry.clone());
        entry
    };
    notifications::emit(
        sandbox,
        notifications::OBJECT_ADDED,
        notifications::ENTRY_OBJECT,
        &entry,
    );
    entry
}

/// The fields of a template entry a scheduled recording takes over (its owner, metadata and
/// where it is published).
const FROM_TEMPLATE: &[&str] = &[
    "name",
    "description",
    "tags",
    "userId",
    "creatorId",
    "categories",
    "categoriesIds",
];

/// What a meeting's room does when its recording is uploaded: an entry made from the schedule
/// event's template entry (its `templateEntryId`) is added (OBJECT_ADDED), then becomes READY
/// with the meeting's length so far (OBJECT_CHANGED). Returns the ready entry.
pub fn record(sandbox: &Sandbox, event_id: i64) -> Result<Value, String> {
    let (partner_id, started, template) = {
        let store = sandbox.store();
        let event = store
            .events
            .iter()
            .find(|e| e["id"] == event_id)
            .ok_or_else(|| format!("no schedule event {event_id}"))?;
        let template_id = event["templateEntryId"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| format!("schedule event {event_id} has no templateEntryId"))?;
        let template = store
            .entries
            .iter()
            .find(|e| e["id"] == template_id)
            .cloned()
            .ok_or_else(|| format!("no template entry {template_id}"))?;
        let started = event["startDate"].as_i64().unwrap_or_default();
        let partner_id = event["partnerId"].as_i64().unwrap_or_default();
        (partner_id, started, template)
    };
    let mut input = json!({"templateEntryId": template["id"]});
    for field in FROM_TEMPLATE {
        input[*field] = template[*field].clone();
    }
    let owner = template["userId"].as_str().unwrap_or_default();
    let entry = create(sandbox, partner_id, owner, Params(&input));
    let length = (crate::now() - started).max(1);
    let ready = json!({"status": "2", "duration": length, "msDuration": length * 1000});
    let id = entry["id"].as_str().unwrap_or_default();
    change(sandbox, id, Some(Params(&ready))).map_err(|e| e.message)
}

/// Update an entry; also how tests move an entry's status (e.g. to READY "2"); raises OBJECT_CHANGED.
pub fn update(call: &Call<'_>) -> CallResult {
    let id = call.required("entryId")?;
    let update = call
        .params
        .obj("mediaEntry")
        .or_else(|| call.params.obj("baseEntry"));
    change(call.sandbox, &id, update)
}

/// Applies `update` to entry `id` and raises OBJECT_CHANGED.
pub(crate) fn change(sandbox: &Sandbox, id: &str, update: Option<Params<'_>>) -> CallResult {
    let mut store = sandbox.store();
    let entry = store
        .entries
        .iter_mut()
        .find(|e| e["id"].as_str() == Some(id))
        .ok_or_else(|| ApiException::entry_not_found(id))?;
    apply_update(entry, update, &["id", "partnerId", "createdAt"]);
    entry["updatedAt"] = crate::now().into();
    let entry = entry.clone();
    drop(store);
    notifications::emit(
        sandbox,
        notifications::OBJECT_CHANGED,
        notifications::ENTRY_OBJECT,
        &entry,
    );
    Ok(entry)
}

/// Which entry fields a unified eSearch item looks at, with the weight of a hit.
const UNIFIED_FIELDS: &[(&str, u32)] = &[("name", 3), ("tags", 2), ("description", 1)];

struct Hit {
    field: &'static str,
    weight: u32,
}

/// Evaluate an eSearch operator or item against an entry; `None` when it does not match.
fn evaluate(entry: &Value, node: &Params<'_>) -> Option<Vec<Hit>> {
    let kind = node.object_type().unwrap_or_default();
    if kind.ends_with("Operator") {
        let children: Vec<Option<Vec<Hit>>> = node
            .list("searchItems")
            .into_iter()
            .map(|child| evaluate(entry, &Params(child)))
            .collect();
        return match node.int("operator").unwrap_or(1) {
            2 => {
                let hits: Vec<Hit> = children.into_iter().flatten().flatten().collect();
                (!hits.is_empty()).then_some(hits)
            }
            3 => children.iter().all(Option::is_none).then(Vec::new),
            _ => children
                .into_iter()
                .collect::<Option<Vec<Vec<Hit>>>>()
                .map(|all| all.into_iter().flatten().collect()),
        };
    }
    let term = node.str("searchTerm").unwrap_or_default().to_lowercase();
    let item_type = node.int("itemType").unwrap_or(2);
    let fields: Vec<(&'static str, u32)> = match node.text("fieldName") {
        Some(name) => UNIFIED_FIELDS
            .iter()
            .chain(&[("userId", 1), ("id", 1)])
            .filter(|(f, _)| entry_field(&name) == *f)
            .copied()
            .collect(),
        None => UNIFIED_FIELDS.to_vec(),
    };
    let hits: Vec<Hit> = fields
        .into_iter()
        .filter(|(field, _)| {
            let value = text_of(entry, field);
            match item_type {
                1 => value == term,
                3 => value.starts_with(&term),
                4 => !value.is_empty(),
                _ => !term.is_empty() && term.split_whitespace().all(|w| value.contains(w)),
            }
        })
        .map(|(field, weight)| Hit { field, weight })
        .collect();
    (!hits.is_empty()).then_some(hits)
}

/// `KalturaESearchEntryFieldName` values to entry fields.
fn entry_field(name: &str) -> &str {
    match name {
        "user_id" => "userId",
        "entry_id" => "id",
        other => other,
    }
}

fn highlight(entry: &Value, hits: &[Hit], term: &str) -> Vec<Value> {
    let mut fields: Vec<&str> = hits.iter().map(|h| h.field).collect();
    fields.dedup();
    fields
        .into_iter()
        .map(|field| {
            let text = entry[field].as_str().unwrap_or_default();
            let marked = mark(text, term);
            json!({"objectType": "KalturaESearchHighlight", "fieldName": field,
                   "hits": [{"objectType": "KalturaString", "value": marked}]})
        })
        .collect()
}

/// Wrap case-insensitive occurrences of the search words in `<em>`, as Elasticsearch does.
fn mark(text: &str, term: &str) -> String {
    let lower = text.to_lowercase();
    let mut marks = vec![false; text.len()];
    for word in term.to_lowercase().split_whitespace() {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(word) {
            let start = from + pos;
            marks[start..start + word.len()]
                .iter_mut()
                .for_each(|m| *m = true);
            from = start + word.len();
        }
    }
    let mut out = String::new();
    let mut open = false;
    for (i, c) in text.char_indices() {
        // Lower-casing may change byte lengths for non-ASCII text; only mark when aligned.
        let marked = lower.len() == text.len() && marks[i];
        if marked && !open {
            out.push_str("<em>");
            open = true;
        } else if !marked && open {
            out.push_str("</em>");
            open = false;
        }
        out.push(c);
    }
    if open {
        out.push_str("</em>");
    }
    out
}

fn first_term(node: &Params<'_>) -> String {
    if let Some(term) = node.text("searchTerm") {
        return term;
    }
    node.list("searchItems")
        .into_iter()
        .map(|child| first_term(&Params(child)))
        .find(|t| !t.is_empty())
        .unwrap_or_default()
}

fn wants_highlight(node: &Params<'_>) -> bool {
    node.bool("addHighlight").unwrap_or(false)
        || node
            .list("searchItems")
            .into_iter()
            .any(|child| wants_highlight(&Params(child)))
}

pub fn esearch(call: &Call<'_>) -> CallResult {
    let search = call
        .params
        .obj("searchParams")
        .ok_or_else(|| ApiException::missing_parameter("searchParams"))?;
    let operator = search
        .obj("searchOperator")
        .ok_or_else(|| ApiException::missing_parameter("searchOperator"))?;
    let term = first_term(&operator);
    let with_highlight = wants_highlight(&operator);
    let mut scored: Vec<(u32, Value)> = {
        let store = call.sandbox.store();
        store
            .entries
            .iter()
            .filter(|e| listed(e))
            .filter_map(|entry| {
                let hits = evaluate(entry, &operator)?;
                let score = hits.iter().map(|h| h.weight).sum();
                let highlights = if with_highlight {
                    highlight(entry, &hits, &term)
                } else {
                    Vec::new()
                };
                Some((
                    score,
                    json!({"objectType": "KalturaESearchEntryResult", "object": entry,
                           "highlight": highlights, "itemsData": []}),
                ))
            })
            .collect()
    };
    scored.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    let results: Vec<Value> = scored.into_iter().map(|(_, v)| v).collect();
    let (page, total) = paginate(results, call.params.obj("pager"));
    Ok(list_response("KalturaESearchEntryResponse", page, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_words() {
        assert_eq!(
            mark("Newton's Laws of Motion", "laws motion"),
            "Newton's <em>Laws</em> of <em>Motion</em>"
        );
    }
}

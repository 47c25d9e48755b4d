//! The schedule plugin: resources (rooms), events (meetings) and the links between them.

use super::{Call, apply_update, id_matches, list_response, order_by, paginate};
use crate::params::Params;
use crate::wire::{ApiException, CallResult};
use serde_json::{Value, json};

const ACTIVE: i64 = 2;
const CANCELLED: i64 = 1;
const DELETED: i64 = 3;
const READ_ONLY: &[&str] = &["id", "partnerId", "createdAt", "status"];

fn event_not_found(id: &str) -> ApiException {
    ApiException::new(
        "SCHEDULE_EVENT_NOT_FOUND",
        "Schedule event id [@ID@] not found",
        &[("ID", id.into())],
    )
}

fn resource_not_found(id: &str) -> ApiException {
    ApiException::new(
        "SCHEDULE_RESOURCE_NOT_FOUND",
        "Schedule resource id [@ID@] not found",
        &[("ID", id.into())],
    )
}

/// Tags match as whole comma-separated words, as Kaltura's tag search does.
fn has_any_tag(object: &Value, wanted: &str) -> bool {
    let tags = object["tags"].as_str().unwrap_or_default().to_lowercase();
    wanted
        .split(',')
        .map(|w| w.trim().to_lowercase())
        .any(|w| !w.is_empty() && tags.split(',').map(str::trim).any(|t| t == w))
}

pub fn resource_add(call: &Call<'_>) -> CallResult {
    let input = call
        .params
        .obj("scheduleResource")
        .ok_or_else(|| ApiException::missing_parameter("scheduleResource"))?;
    let name = input
        .text("name")
        .ok_or_else(|| ApiException::property_null("name"))?;
    let mut store = call.sandbox.store();
    let now = crate::now();
    let mut resource = json!({
        "objectType": input.object_type().unwrap_or_else(|| "KalturaLocationScheduleResource".into()),
        "id": store.next_id(), "partnerId": call.partner_id(), "name": name, "tags": "",
        "status": ACTIVE, "createdAt": now, "updatedAt": now,
    });
    apply_update(&mut resource, Some(input), READ_ONLY);
    store.resources.push(resource.clone());
    Ok(resource)
}

fn find_resource(call: &Call<'_>, id: &str) -> CallResult {
    call.sandbox
        .store()
        .resources
        .iter()
        .find(|r| id_matches(&r["id"], id))
        .cloned()
        .ok_or_else(|| resource_not_found(id))
}

pub fn resource_get(call: &Call<'_>) -> CallResult {
    find_resource(call, &call.required("scheduleResourceId")?)
}

pub fn resource_list(call: &Call<'_>) -> CallResult {
    let tags = call
        .params
        .obj("filter")
        .and_then(|f| f.text("tagsMultiLikeOr"));
    let found: Vec<Value> = call
        .sandbox
        .store()
        .resources
        .iter()
        .filter(|r| tags.as_ref().is_none_or(|t| has_any_tag(r, t)))
        .cloned()
        .collect();
    let (page, total) = paginate(found, call.params.obj("pager"));
    Ok(list_response(
        "KalturaScheduleResourceListResponse",
        page,
        total,
    ))
}

pub fn event_add(call: &Call<'_>) -> CallResult {
    let input = call
        .params
        .obj("scheduleEvent")
        .ok_or_else(|| ApiException::missing_parameter("scheduleEvent"))?;
    let summary = input
        .text("summary")
        .ok_or_else(|| ApiException::property_null("summary"))?;
    let start = input
        .int("startDate")
        .ok_or_else(|| ApiException::property_null("startDate"))?;
    let end = input
        .int("endDate")
        .ok_or_else(|| ApiException::property_null("endDate"))?;
    if end < start {
        return Err(ApiException::new(
            "INVALID_SCHEDULE_END_BEFORE_START",
            "Schedule event end date @END@ is before start date @START@",
            &[("START", start.to_string()), ("END", end.to_string())],
        ));
    }
    let session_user = call
        .session
        .as_ref()
        .map(|s| s.user_id.clone())
        .unwrap_or_default();
    let mut store = call.sandbox.store();
    let now = crate::now();
    let mut event = json!({
        "objectType": input.object_type().unwrap_or_else(|| "KalturaRecordScheduleEvent".into()),
        "id": store.next_id(), "partnerId": call.partner_id(), "summary": summary,
        "status": ACTIVE, "startDate": start, "endDate": end, "duration": end - start,
        "recurrenceType": 0, "tags": "", "ownerId": session_user, "sequence": 1,
        "createdAt": now, "updatedAt": now,
    });
    apply_update(&mut event, Some(input), READ_ONLY);
    store.events.push(event.clone());
    Ok(event)
}

fn with_event(call: &Call<'_>, change: impl FnOnce(&mut Value)) -> CallResult {
    let id = call.required("scheduleEventId")?;
    let mut store = call.sandbox.store();
    let event = store
        .events
        .iter_mut()
        .find(|e| id_matches(&e["id"], &id) && e["status"] != DELETED)
        .ok_or_else(|| event_not_found(&id))?;
    change(event);
    Ok(event.clone())
}

pub fn event_get(call: &Call<'_>) -> CallResult {
    with_event(call, |_| {})
}

pub fn event_update(call: &Call<'_>) -> CallResult {
    let update = call.params.obj("scheduleEvent");
    with_event(call, |event| {
        apply_update(event, update, READ_ONLY);
        event["sequence"] = (event["sequence"].as_i64().unwrap_or(1) + 1).into();
        event["updatedAt"] = crate::now().into();
    })
}

pub fn event_cancel(call: &Call<'_>) -> CallResult {
    with_event(call, |event| {
        event["status"] = CANCELLED.into();
        event["updatedAt"] = crate::now().into();
    })
}

pub fn event_delete(call: &Call<'_>) -> CallResult {
    with_event(call, |event| event["status"] = DELETED.into()).map(|_| Value::Null)
}

fn event_matches(event: &Value, filter: &Params<'_>) -> bool {
    let int = |key: &str| filter.int(key);
    let num = |key: &str| event[key].as_i64().unwrap_or_default();
    filter
        .text("tagsMultiLikeOr")
        .is_none_or(|t| has_any_tag(event, &t))
        && filter.text("tagsLike").is_none_or(|t| {
            event["tags"]
                .as_str()
                .unwrap_or_default()
                .to_lowercase()
                .contains(&t.to_lowercase())
        })
        && int("statusEqual").is_none_or(|s| num("status") == s)
        && filter
            .text("statusIn")
            .is_none_or(|s| s.split(',').any(|x| x.trim() == num("status").to_string()))
        && int("idEqual").is_none_or(|id| num("id") == id)
        && int("startDateLessThanOrEqual").is_none_or(|t| num("startDate") <= t)
        && int("startDateGreaterThanOrEqual").is_none_or(|t| num("startDate") >= t)
        && int("endDateGreaterThanOrEqual").is_none_or(|t| num("endDate") >= t)
        && int("endDateLessThanOrEqual").is_none_or(|t| num("endDate") <= t)
        && filter
            .text("ownerIdEqual")
            .is_none_or(|o| event["ownerId"].as_str() == Some(o.as_str()))
}

pub fn event_list(call: &Call<'_>) -> CallResult {
    let filter = call.params.obj("filter");
    let mut found: Vec<Value> = call
        .sandbox
        .store()
        .events
        .iter()
        .filter(|e| e["status"] != DELETED)
        .filter(|e| filter.as_ref().is_none_or(|f| event_matches(e, f)))
        .cloned()
        .collect();
    order_by(&mut found, filter.as_ref().and_then(|f| f.text("orderBy")));
    let (page, total) = paginate(found, call.params.obj("pager"));
    Ok(list_response(
        "KalturaScheduleEventListResponse",
        page,
        total,
    ))
}

pub fn link_add(call: &Call<'_>) -> CallResult {
    let input = call
        .params
        .obj("scheduleEventResource")
        .ok_or_else(|| ApiException::missing_parameter("scheduleEventResource"))?;
    let event_id = input
        .int("eventId")
        .ok_or_else(|| ApiException::property_null("eventId"))?;
    let resource_id = input
        .int("resourceId")
        .ok_or_else(|| ApiException::property_null("resourceId"))?;
    let mut store = call.sandbox.store();
    if !store.events.iter().any(|e| e["id"] == event_id) {
        return Err(event_not_found(&event_id.to_string()));
    }
    if !store.resources.iter().any(|r| r["id"] == resource_id) {
        return Err(resource_not_found(&resource_id.to_string()));
    }
    let now = crate::now();
    let link = json!({
        "objectType": "KalturaScheduleEventResource", "eventId": event_id, "resourceId": resource_id,
        "partnerId": call.partner_id(), "createdAt": now, "updatedAt": now,
    });
    store.event_resources.push(link.clone());
    Ok(link)
}

pub fn link_list(call: &Call<'_>) -> CallResult {
    let filter = call.params.obj("filter");
    let event = filter.as_ref().and_then(|f| f.int("eventIdEqual"));
    let resource = filter.as_ref().and_then(|f| f.int("resourceIdEqual"));
    let mut found: Vec<Value> = call
        .sandbox
        .store()
        .event_resources
        .iter()
        .filter(|l| {
            event.is_none_or(|e| l["eventId"] == e) && resource.is_none_or(|r| l["resourceId"] == r)
        })
        .cloned()
        .collect();
    order_by(&mut found, Some("+eventId".into()));
    let (page, total) = paginate(found, call.params.obj("pager"));
    Ok(list_response(
        "KalturaScheduleEventResourceListResponse",
        page,
        total,
    ))
}

//! api_v3 services: dispatch by `service.action`, session checks, then the handlers.

pub(crate) mod media;
mod notifications;
mod partner;
mod player;
mod schedule;
mod session;
mod users;

pub(crate) use media::record;

use crate::ks::{self, KsReason, Session};
use crate::params::Params;
use crate::state::Sandbox;
use crate::wire::{ApiException, CallResult};
use serde_json::Value;

/// Who may call an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// No KS needed (session.start, widget sessions).
    Open,
    /// Any valid KS of the partner.
    Session,
    /// An admin KS (type 2).
    Admin,
}

/// One call being served.
pub struct Call<'a> {
    pub sandbox: &'a Sandbox,
    pub service: &'a str,
    pub params: Params<'a>,
    pub session: Option<Session>,
}

impl Call<'_> {
    /// A required string parameter.
    pub fn required(&self, name: &str) -> Result<String, ApiException> {
        self.params
            .text(name)
            .ok_or_else(|| ApiException::missing_parameter(name))
    }

    /// The partner the call acts for: the session's, or the `partnerId` parameter.
    pub fn partner_id(&self) -> i64 {
        self.session
            .as_ref()
            .map(|s| s.partner_id)
            .or_else(|| self.params.int("partnerId"))
            .unwrap_or_else(|| self.sandbox.primary().id)
    }
}

type Handler = fn(&Call<'_>) -> CallResult;

fn route(service: &str, action: &str) -> Option<(Access, Handler)> {
    use Access::*;
    let found: (Access, Handler) = match (service, action) {
        ("session", "start") => (Open, session::start),
        ("session", "startwidgetsession") => (Open, session::start_widget),
        ("session", "get") => (Session, session::get),
        ("session", "end") => (Session, session::end),
        ("partner", "get") => (Admin, partner::get),
        ("media", "list") | ("baseentry", "list") => (Session, media::list),
        ("media", "get") | ("baseentry", "get") => (Session, media::get),
        ("media", "count") | ("baseentry", "count") => (Session, media::count),
        ("media", "update") | ("baseentry", "update") => (Admin, media::update),
        ("media", "add") => (Admin, media::add),
        ("baseentry", "getplaybackcontext") => (Session, player::playback_context),
        ("metadata_metadata", "list") => (Session, player::metadata_list),
        ("elasticsearch_esearch", "searchentry") => (Session, media::esearch),
        ("user", "add") => (Admin, users::add),
        ("user", "get") => (Session, users::get),
        ("user", "update") => (Admin, users::update),
        ("user", "delete") => (Admin, users::delete),
        ("user", "list") => (Admin, users::list),
        ("userrole", "list") => (Admin, users::role_list),
        ("userrole", "get") => (Admin, users::role_get),
        ("category", "list") => (Session, users::category_list),
        ("category", "get") => (Session, users::category_get),
        ("schedule_scheduleresource", "add") => (Admin, schedule::resource_add),
        ("schedule_scheduleresource", "get") => (Admin, schedule::resource_get),
        ("schedule_scheduleresource", "list") => (Admin, schedule::resource_list),
        ("schedule_scheduleevent", "add") => (Admin, schedule::event_add),
        ("schedule_scheduleevent", "get") => (Session, schedule::event_get),
        ("schedule_scheduleevent", "list") => (Session, schedule::event_list),
        ("schedule_scheduleevent", "update") => (Admin, schedule::event_update),
        ("schedule_scheduleevent", "cancel") => (Admin, schedule::event_cancel),
        ("schedule_scheduleevent", "delete") => (Admin, schedule::event_delete),
        ("schedule_scheduleeventresource", "add") => (Admin, schedule::link_add),
        ("schedule_scheduleeventresource", "list") => (Session, schedule::link_list),
        ("eventnotification_eventnotificationtemplate", "add") => (Admin, notifications::add),
        ("eventnotification_eventnotificationtemplate", "get") => (Admin, notifications::get),
        ("eventnotification_eventnotificationtemplate", "update") => (Admin, notifications::update),
        ("eventnotification_eventnotificationtemplate", "updatestatus") => {
            (Admin, notifications::update_status)
        }
        ("eventnotification_eventnotificationtemplate", "delete") => (Admin, notifications::delete),
        ("eventnotification_eventnotificationtemplate", "list") => (Admin, notifications::list),
        _ => return None,
    };
    Some(found)
}

const SERVICES: &[&str] = &[
    "session",
    "partner",
    "media",
    "baseentry",
    "metadata_metadata",
    "elasticsearch_esearch",
    "user",
    "userrole",
    "category",
    "schedule_scheduleresource",
    "schedule_scheduleevent",
    "schedule_scheduleeventresource",
    "eventnotification_eventnotificationtemplate",
];

/// Serve one api_v3 call with its (already reference-resolved) parameters.
pub fn dispatch(
    sandbox: &Sandbox,
    service: &str,
    action: &str,
    params: &Value,
    now: i64,
) -> CallResult {
    let service_key = service.to_ascii_lowercase();
    let action_key = action.to_ascii_lowercase();
    let Some((access, handler)) = route(&service_key, &action_key) else {
        if SERVICES.contains(&service_key.as_str()) {
            return Err(ApiException::new(
                "ACTION_DOES_NOT_EXISTS",
                "Action \"@ACTION@\" does not exists for service \"@SERVICE@\"",
                &[("ACTION", action.into()), ("SERVICE", service.into())],
            ));
        }
        return Err(ApiException::new(
            "SERVICE_DOES_NOT_EXISTS",
            "Service \"@SERVICE@\" does not exists",
            &[("SERVICE", service.into())],
        ));
    };
    let params = Params(params);
    // Kaltura refuses every call of a blocked partner, session.start included.
    if let Some(refusal) = params
        .int("partnerId")
        .and_then(|id| sandbox.knobs.partner_status(id).refusal())
    {
        return Err(refusal);
    }
    let session = match access {
        Access::Open => None,
        Access::Session | Access::Admin => {
            let session = authenticate(sandbox, &params, now)?;
            let ks = params.text("ks").unwrap_or_default();
            crate::faults::refused_ks(&service_key, &ks)?;
            Some(session)
        }
    };
    if access == Access::Admin && !session.as_ref().is_some_and(Session::is_admin) {
        return Err(ApiException::service_forbidden(&format!(
            "{service}->{action}"
        )));
    }
    if service_key == "elasticsearch_esearch" && !sandbox.knobs.esearch_enabled() {
        return Err(ApiException::service_forbidden(&format!(
            "{service}->{action}"
        )));
    }
    handler(&Call {
        sandbox,
        service: &service_key,
        params,
        session,
    })
}

fn authenticate(sandbox: &Sandbox, params: &Params<'_>, now: i64) -> Result<Session, ApiException> {
    let Some(ks) = params.text("ks") else {
        return Err(ApiException::new(
            "MISSING_KS",
            "Missing KS, session not established",
            &[],
        ));
    };
    let refuse = |reason: KsReason| ApiException::invalid_ks(&ks, reason.code(), reason.name());
    let session = ks::check(&ks, now, |pid| sandbox.secrets_of(pid)).map_err(refuse)?;
    // A KS of one partner cannot act for another.
    if let Some(requested) = params.int("partnerId").filter(|p| *p > 0)
        && requested != session.partner_id
    {
        return Err(refuse(KsReason::InvalidPartner));
    }
    Ok(session)
}

/// Whether a numeric or string id field equals `id` as sent (ids arrive as strings from forms).
pub fn id_matches(value: &Value, id: &str) -> bool {
    match value {
        Value::Number(n) => n.as_i64().is_some_and(|n| id.trim().parse() == Ok(n)),
        Value::String(s) => s == id,
        _ => false,
    }
}

/// Apply a Kaltura pager (`pageSize` default 30, at most 500; `pageIndex` 1-based).
pub fn paginate(items: Vec<Value>, pager: Option<Params<'_>>) -> (Vec<Value>, usize) {
    let total = items.len();
    let size = pager
        .as_ref()
        .and_then(|p| p.int("pageSize"))
        .filter(|s| *s > 0)
        .unwrap_or(30)
        .min(500) as usize;
    let index = pager
        .as_ref()
        .and_then(|p| p.int("pageIndex"))
        .filter(|i| *i > 0)
        .unwrap_or(1) as usize;
    let page = items
        .into_iter()
        .skip((index - 1) * size)
        .take(size)
        .collect();
    (page, total)
}

/// A `*ListResponse`.
pub fn list_response(object_type: &str, objects: Vec<Value>, total: usize) -> Value {
    serde_json::json!({"objects": objects, "totalCount": total, "objectType": object_type})
}

/// Sort by Kaltura's `orderBy` (`+field` ascending, `-field` descending).
pub fn order_by(items: &mut [Value], order: Option<String>) {
    let Some(order) = order.filter(|o| o.len() > 1) else {
        return;
    };
    let (descending, field) = match order.split_at(1) {
        ("-", f) => (true, f.to_string()),
        ("+", f) => (false, f.to_string()),
        _ => (false, order.clone()),
    };
    items.sort_by(|a, b| {
        let ordering = compare(&a[&field], &b[&field]);
        if descending {
            ordering.reverse()
        } else {
            ordering
        }
    });
}

fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .cmp(&b.as_str().unwrap_or_default().to_lowercase()),
    }
}

/// Merge the non-null fields of `update` (minus read-only ones) into `target`.
pub fn apply_update(target: &mut Value, update: Option<Params<'_>>, read_only: &[&str]) {
    let (Some(update), Some(target)) =
        (update.and_then(|u| u.0.as_object()), target.as_object_mut())
    else {
        return;
    };
    for (key, value) in update {
        if key == "objectType" || read_only.contains(&key.as_str()) || value.is_null() {
            continue;
        }
        let typed = coerce_like(target.get(key), value);
        target.insert(key.clone(), typed);
    }
}

/// Form fields and the Python client send every scalar as a string; store it with the type the
/// field already has so JSON answers keep Kaltura's types.
fn coerce_like(existing: Option<&Value>, value: &Value) -> Value {
    let Value::String(text) = value else {
        return value.clone();
    };
    match existing {
        Some(Value::Number(_)) => text
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| text.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| value.clone()),
        Some(Value::Bool(_)) => {
            Value::Bool(matches!(text.to_ascii_lowercase().as_str(), "1" | "true"))
        }
        _ => value.clone(),
    }
}

//! `eventnotification_eventnotificationtemplate` for HTTP templates, and dispatch: when an entry is
//! added or changed, every ACTIVE template for that event posts a signed notification.
//!
//! Simplification: template `eventConditions` are not evaluated; OBJECT_CHANGED fires on every
//! change (a receiver tells "entry ready" by the entry's status "2").

use super::{Call, apply_update, id_matches, list_response, paginate};
use crate::state::Sandbox;
use crate::webhook::{Algo, BodyStyle, Outgoing, PayloadFormat, notification};
use crate::wire::{ApiException, CallResult};
use serde_json::{Value, json};

const DISABLED: i64 = 1;
const ACTIVE: i64 = 2;
const DELETED: i64 = 3;
/// `KalturaEventNotificationEventObjectType::ENTRY`.
pub const ENTRY_OBJECT: &str = "1";
/// `KalturaEventNotificationEventType` values the sandbox raises.
pub const OBJECT_ADDED: &str = "2";
pub const OBJECT_CHANGED: &str = "3";

fn not_found(id: &str) -> ApiException {
    ApiException::new(
        "EVENT_NOTIFICATION_TEMPLATE_NOT_FOUND",
        "Event notification template id [@ID@] not found",
        &[("ID", id.into())],
    )
}

pub fn add(call: &Call<'_>) -> CallResult {
    let input = call
        .params
        .obj("eventNotificationTemplate")
        .ok_or_else(|| ApiException::missing_parameter("eventNotificationTemplate"))?;
    if input.text("url").is_none() {
        return Err(ApiException::property_null("url"));
    }
    let mut store = call.sandbox.store();
    let now = crate::now();
    let mut template = json!({
        "objectType": "KalturaHttpNotificationTemplate", "id": store.next_id(), "partnerId": call.partner_id(),
        "name": "", "systemName": "", "type": "httpNotification.Http", "status": DISABLED,
        "eventType": "", "eventObjectType": "", "url": "", "method": 2,
        "automaticDispatchEnabled": true, "manualDispatchEnabled": false,
        "createdAt": now, "updatedAt": now,
    });
    apply_update(
        &mut template,
        Some(input),
        &["id", "partnerId", "createdAt"],
    );
    store.templates.push(template.clone());
    Ok(template)
}

fn with_template(call: &Call<'_>, change: impl FnOnce(&mut Value)) -> CallResult {
    let id = call.required("id")?;
    let mut store = call.sandbox.store();
    let template = store
        .templates
        .iter_mut()
        .find(|t| id_matches(&t["id"], &id) && t["status"] != DELETED)
        .ok_or_else(|| not_found(&id))?;
    change(template);
    Ok(template.clone())
}

pub fn get(call: &Call<'_>) -> CallResult {
    with_template(call, |_| {})
}

pub fn update(call: &Call<'_>) -> CallResult {
    let input = call.params.obj("eventNotificationTemplate");
    with_template(call, |template| {
        apply_update(template, input, &["id", "partnerId", "createdAt", "status"]);
        template["updatedAt"] = crate::now().into();
    })
}

pub fn update_status(call: &Call<'_>) -> CallResult {
    let status = call
        .params
        .int("status")
        .filter(|s| [DISABLED, ACTIVE].contains(s))
        .ok_or_else(|| ApiException::missing_parameter("status"))?;
    with_template(call, |template| template["status"] = status.into())
}

pub fn delete(call: &Call<'_>) -> CallResult {
    with_template(call, |template| template["status"] = DELETED.into()).map(|_| Value::Null)
}

pub fn list(call: &Call<'_>) -> CallResult {
    let found: Vec<Value> = call
        .sandbox
        .store()
        .templates
        .iter()
        .filter(|t| t["status"] != DELETED)
        .cloned()
        .collect();
    let (page, total) = paginate(found, call.params.obj("pager"));
    Ok(list_response(
        "KalturaEventNotificationTemplateListResponse",
        page,
        total,
    ))
}

/// Post `object` to every active template listening for `event_type` on `object_type`.
pub fn emit(sandbox: &Sandbox, event_type: &str, object_type: &str, object: &Value) {
    let templates: Vec<Value> = sandbox
        .store()
        .templates
        .iter()
        .filter(|t| {
            t["status"] == ACTIVE
                && id_matches(&t["eventType"], event_type)
                && id_matches(&t["eventObjectType"], object_type)
        })
        .cloned()
        .collect();
    for template in templates {
        let outgoing = outgoing(sandbox, &template, event_type, object_type, object);
        let notifier = sandbox.notifier.clone();
        tokio::spawn(async move { notifier.deliver(outgoing).await });
    }
}

fn outgoing(
    sandbox: &Sandbox,
    template: &Value,
    event_type: &str,
    object_type: &str,
    object: &Value,
) -> Outgoing {
    let text = |key: &str| template[key].as_str().unwrap_or_default().to_string();
    let id = template["id"].as_i64().unwrap_or_default();
    let partner_id = template["partnerId"].as_i64().unwrap_or_default();
    let format = match template["data"]["format"]
        .as_i64()
        .or_else(|| text_int(&template["data"]["format"]))
    {
        Some(2) => PayloadFormat::Xml,
        _ => PayloadFormat::Json,
    };
    let style = if text("contentType").contains("json") {
        BodyStyle::Raw
    } else {
        BodyStyle::Form
    };
    let algo = match template["secureHashingAlgo"]
        .as_i64()
        .or_else(|| text_int(&template["secureHashingAlgo"]))
    {
        Some(1) => Algo::Sha1,
        Some(2) => Algo::Sha256,
        Some(3) => Algo::Sha512,
        _ => Algo::LegacySha1,
    };
    let secret = Some(text("signSecret"))
        .filter(|s| !s.is_empty())
        .or_else(|| sandbox.partner(partner_id).map(|p| sandbox.admin_secret(p)));
    Outgoing {
        url: text("url"),
        notification: notification(
            event_type,
            object_type,
            object.clone(),
            (id, &text("name"), &text("systemName")),
            sandbox.notifier.next_job(),
            partner_id,
        ),
        style,
        format,
        secret,
        algo,
    }
}

fn text_int(value: &Value) -> Option<i64> {
    value.as_str().and_then(|s| s.parse().ok())
}

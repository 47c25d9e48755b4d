//! `session`: start (secret -> KS), startWidgetSession (the player's anonymous session), get, end.

use super::Call;
use crate::ks;
use crate::wire::{ApiException, CallResult};
use serde_json::{Value, json};

pub fn start(call: &Call<'_>) -> CallResult {
    let secret = call.required("secret")?;
    let partner_id = call
        .params
        .int("partnerId")
        .ok_or_else(|| ApiException::missing_parameter("partnerId"))?;
    let Some(partner) = call.sandbox.partner(partner_id) else {
        return Err(ApiException::new(
            "INVALID_PARTNER_ID",
            "Invalid partner id \"@PARTNER_ID@\"",
            &[("PARTNER_ID", partner_id.to_string())],
        ));
    };
    let session_type = call.params.int("type").unwrap_or(0);
    // Only the admin secret may open an admin session; either secret opens a user session.
    let admin_secret = call.sandbox.admin_secret(partner);
    let accepted = secret == admin_secret || (session_type == 0 && secret == partner.user_secret);
    if !accepted {
        return Err(ApiException::new(
            "START_SESSION_ERROR",
            "Error while starting session for partner [@PARTNER_ID@]",
            &[("PARTNER_ID", partner_id.to_string())],
        ));
    }
    let expiry_secs = call
        .params
        .int("expiry")
        .filter(|e| *e > 0)
        .unwrap_or(86_400);
    let user = call.params.str("userId").unwrap_or_default();
    let privileges = call.params.str("privileges").unwrap_or_default();
    let ks = ks::issue(
        &admin_secret,
        partner.id,
        &user,
        session_type,
        crate::now() + expiry_secs,
        &privileges,
    );
    Ok(Value::String(ks))
}

/// What the player calls without a KS: `widgetId` is `_{partnerId}`.
pub fn start_widget(call: &Call<'_>) -> CallResult {
    let widget = call.required("widgetId")?;
    let partner = widget
        .strip_prefix('_')
        .and_then(|p| p.parse::<i64>().ok())
        .and_then(|pid| call.sandbox.partner(pid))
        .ok_or_else(|| {
            ApiException::new(
                "INVALID_WIDGET_ID",
                "Invalid widget id \"@WIDGET_ID@\"",
                &[("WIDGET_ID", widget.clone())],
            )
        })?;
    let expiry = call
        .params
        .int("expiry")
        .filter(|e| *e > 0)
        .unwrap_or(86_400);
    let ks = ks::issue(
        &call.sandbox.admin_secret(partner),
        partner.id,
        "0",
        0,
        crate::now() + expiry,
        "view:*,widget:1",
    );
    Ok(
        json!({"objectType": "KalturaStartWidgetSessionResponse", "partnerId": partner.id, "ks": ks, "userId": "0"}),
    )
}

pub fn get(call: &Call<'_>) -> CallResult {
    let session = call.session.as_ref().expect("session checked by dispatch");
    let privileges: Vec<String> = session
        .privileges
        .iter()
        .map(|(k, v)| {
            if v.is_empty() {
                k.clone()
            } else {
                format!("{k}:{v}")
            }
        })
        .collect();
    Ok(json!({
        "objectType": "KalturaSessionInfo", "ks": call.params.str("ks"), "partnerId": session.partner_id,
        "userId": session.user_id, "expiry": session.expiry, "sessionType": session.session_type,
        "privileges": privileges.join(","),
    }))
}

pub fn end(_call: &Call<'_>) -> CallResult {
    Ok(Value::Null)
}

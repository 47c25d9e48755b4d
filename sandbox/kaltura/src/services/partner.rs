//! `partner.get`: the account's own record (an admin session of that partner only).

use super::Call;
use crate::wire::{ApiException, CallResult};
use serde_json::json;

pub fn get(call: &Call<'_>) -> CallResult {
    let own = call.partner_id();
    let id = call.params.int("id").unwrap_or(own);
    let partner = call
        .sandbox
        .partner(id)
        .filter(|p| p.id == own)
        .ok_or_else(|| {
            ApiException::new(
                "INVALID_PARTNER_ID",
                "Invalid partner id \"@PARTNER_ID@\"",
                &[("PARTNER_ID", id.to_string())],
            )
        })?;
    Ok(json!({
        "objectType": "KalturaPartner",
        "id": partner.id,
        "name": partner.name,
        "status": call.sandbox.knobs.partner_status(partner.id).code(),
    }))
}

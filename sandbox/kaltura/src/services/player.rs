//! What the Kaltura OVP player asks for besides `baseEntry.list`: the playback context (sources and
//! flavors, or a block action when the entry's access control refuses the KS) and custom
//! metadata (none here).

use super::{Call, list_response};
use crate::wire::{ApiException, CallResult};
use serde_json::json;

/// The flavor id every entry has (one flavor: its clip).
pub const FLAVOR_ID: &str = "0_clip0001";

pub fn playback_context(call: &Call<'_>) -> CallResult {
    let id = call.required("entryId")?;
    let entry = call
        .sandbox
        .store()
        .entries
        .iter()
        .find(|e| e["id"].as_str() == Some(id.as_str()))
        .filter(|e| e["partnerId"].as_i64() == Some(call.partner_id()))
        .cloned()
        .ok_or_else(|| ApiException::entry_not_found(&id))?;
    if crate::playback::may_play(&entry, call.session.as_ref()).is_err() {
        return Ok(crate::playback::blocked_context());
    }
    let pid = entry["partnerId"]
        .as_i64()
        .unwrap_or_else(|| call.partner_id());
    let base = &call.sandbox.base_url;
    let url = format!(
        "{base}/p/{pid}/sp/{pid}00/playManifest/entryId/{id}/protocol/http/format/url/flavorIds/{FLAVOR_ID}/a.mp4"
    );
    Ok(json!({
        "objectType": "KalturaPlaybackContext",
        "sources": [{
            "objectType": "KalturaPlaybackSource", "deliveryProfileId": 1, "format": "url",
            "protocols": "http,https", "flavorIds": FLAVOR_ID, "url": url, "drm": [],
        }],
        "playbackCaptions": [],
        "flavorAssets": [{
            "objectType": "KalturaFlavorAsset", "id": FLAVOR_ID, "entryId": id, "partnerId": pid,
            "flavorParamsId": 0, "width": 320, "height": 180, "bitrate": 300, "frameRate": 25,
            "isOriginal": true, "isWeb": true, "containerFormat": "isom", "videoCodecId": "avc1",
            "status": 2, "fileExt": "mp4", "tags": "source,web,mbr,mobile", "label": "Source",
            "language": "Undefined", "size": 400,
        }],
        "actions": [],
        "messages": [],
        "bumperData": [],
    }))
}

pub fn metadata_list(_call: &Call<'_>) -> CallResult {
    Ok(list_response("KalturaMetadataListResponse", Vec::new(), 0))
}

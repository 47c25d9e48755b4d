//! Who may play an entry, and what plays: access-control profiles with Kaltura's KS restriction
//! (`sview:<entryId>` plays that entry only), the refusals the player and playManifest see, and
//! one distinct clip per entry.

pub mod clips;

use crate::ks::{self, KsReason, Session};
use crate::state::Sandbox;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tower::ServiceExt;
use tower_http::services::ServeFile;

/// The partner's access-control profiles: the default one lets anyone watch (what public event
/// videos use); the protected one is Kaltura's KS restriction with the view privilege.
pub const OPEN_PROFILE: i64 = 1;
pub const KS_PROTECTED_PROFILE: i64 = 2;

/// Why an entry may not play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The KS itself is refused (malformed, expired, another partner's).
    Ks(KsReason),
    /// No KS, a widget session, or a KS whose privileges do not cover this entry.
    SessionRestricted,
}

/// Whether a session may play an entry of `partner_id`. Admin sessions play everything of their
/// partner; user sessions need `sview:<entryId>` or `sview:*`; widget sessions never pass a
/// KS restriction.
pub fn may_play(entry: &Value, session: Option<&Session>) -> Result<(), Denial> {
    let partner_id = entry["partnerId"].as_i64().unwrap_or_default();
    if let Some(session) = session
        && session.partner_id != partner_id
    {
        return Err(Denial::Ks(KsReason::InvalidPartner));
    }
    if entry["accessControlId"].as_i64() != Some(KS_PROTECTED_PROFILE) {
        return Ok(());
    }
    let Some(session) = session else {
        return Err(Denial::SessionRestricted);
    };
    if session.privileges.contains_key("widget") {
        return Err(Denial::SessionRestricted);
    }
    let id = entry["id"].as_str().unwrap_or_default();
    let viewable = session
        .privileges
        .get("sview")
        .is_some_and(|v| v == "*" || v == id);
    if session.is_admin() || viewable {
        Ok(())
    } else {
        Err(Denial::SessionRestricted)
    }
}

/// `baseEntry.getPlaybackContext` for a refused session: no sources, a block action and the
/// `SESSION_RESTRICTED` message the player turns into its BLOCK_ACTION error (2001).
pub fn blocked_context() -> Value {
    json!({
        "objectType": "KalturaPlaybackContext",
        "sources": [],
        "playbackCaptions": [],
        "flavorAssets": [],
        "actions": [{"objectType": "KalturaAccessControlBlockAction", "type": 1}],
        "messages": [{
            "objectType": "KalturaAccessControlMessage",
            "message": "Un authorized session",
            "code": "SESSION_RESTRICTED",
        }],
        "bumperData": [],
    })
}

/// The KS a playManifest URL carries: the `/ks/{ks}` path segment or `?ks=`.
fn manifest_ks(rest: &str, query: Option<&str>) -> Option<String> {
    let mut segments = rest.split('/');
    while let Some(segment) = segments.next() {
        if segment == "ks" {
            return segments.next().map(str::to_owned);
        }
    }
    query.and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "ks")
            .map(|(_, v)| v.into_owned())
    })
}

fn manifest_entry_id(rest: &str) -> Option<&str> {
    let mut segments = rest.split('/');
    segments.find(|s| *s == "entryId")?;
    segments.next()
}

fn refuse(status: StatusCode, why: &str) -> Response {
    (status, why.to_owned()).into_response()
}

/// `/p/{partner}/sp/{sp}/playManifest/entryId/{id}/.../ks/{ks}/a.mp4`: checks the KS against
/// the entry's access control, then serves the entry's clip (Range requests work).
pub async fn serve_manifest(
    sandbox: &Sandbox,
    partner: &str,
    rest: &str,
    request: Request,
) -> Response {
    let Some(entry_id) = manifest_entry_id(rest) else {
        return refuse(StatusCode::NOT_FOUND, "no entryId in the playManifest URL");
    };
    let entry = sandbox
        .store()
        .entries
        .iter()
        .find(|e| e["id"].as_str() == Some(entry_id))
        .cloned();
    let Some(entry) = entry
        .filter(|e| e["partnerId"].as_i64().map(|p| p.to_string()).as_deref() == Some(partner))
    else {
        return refuse(StatusCode::NOT_FOUND, "entry not found");
    };
    let session = match manifest_ks(rest, request.uri().query()) {
        Some(ks) => match ks::check(&ks, crate::now(), |pid| sandbox.secrets_of(pid)) {
            Ok(session) => Some(session),
            Err(reason) => {
                return refuse(
                    StatusCode::FORBIDDEN,
                    &format!("INVALID_KS {},{}", reason.code(), reason.name()),
                );
            }
        },
        None => None,
    };
    match may_play(&entry, session.as_ref()) {
        Ok(()) => {}
        Err(Denial::Ks(reason)) => {
            return refuse(
                StatusCode::FORBIDDEN,
                &format!("INVALID_KS {},{}", reason.code(), reason.name()),
            );
        }
        Err(Denial::SessionRestricted) => {
            return refuse(
                StatusCode::FORBIDDEN,
                "ACCESS_CONTROL_RESTRICTED: a KS with the view privilege for this entry is required",
            );
        }
    }
    let clip = match (&sandbox.clips, &sandbox.media_clip) {
        (Some(clips), _) => match clips.clip_for(&entry).await {
            Ok(path) => path,
            Err(err) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &err),
        },
        (None, Some(shared)) => shared.clone(),
        (None, None) => {
            return refuse(
                StatusCode::NOT_FOUND,
                "the sandbox was started without media",
            );
        }
    };
    match ServeFile::new_with_mime(clip, &"video/mp4".parse().expect("static mime"))
        .oneshot(request)
        .await
    {
        Ok(response) => response.map(Body::new).into_response(),
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn entry(id: &str, profile: i64) -> Value {
        json!({"id": id, "partnerId": 7, "accessControlId": profile})
    }

    fn session(partner_id: i64, session_type: i64, privileges: &[(&str, &str)]) -> Session {
        Session {
            partner_id,
            user_id: "ann".into(),
            session_type,
            expiry: i64::MAX,
            privileges: privileges
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn sview_plays_that_entry_only() {
        let a = entry("0_a", KS_PROTECTED_PROFILE);
        let b = entry("0_b", KS_PROTECTED_PROFILE);
        let viewer = session(7, 0, &[("sview", "0_a")]);
        assert_eq!(may_play(&a, Some(&viewer)), Ok(()));
        assert_eq!(may_play(&b, Some(&viewer)), Err(Denial::SessionRestricted));
        assert_eq!(
            may_play(&b, Some(&session(7, 0, &[("sview", "*")]))),
            Ok(())
        );
        assert_eq!(may_play(&b, Some(&session(7, 2, &[]))), Ok(()), "admin");
        assert_eq!(
            may_play(&b, Some(&session(7, 0, &[]))),
            Err(Denial::SessionRestricted)
        );
        assert_eq!(may_play(&b, None), Err(Denial::SessionRestricted));
        let widget = session(7, 0, &[("view", "*"), ("widget", "1")]);
        assert_eq!(may_play(&a, Some(&widget)), Err(Denial::SessionRestricted));
    }

    #[test]
    fn open_entries_play_for_anyone_of_the_partner_but_not_for_other_partners() {
        let open = entry("0_e", OPEN_PROFILE);
        assert_eq!(may_play(&open, None), Ok(()));
        let widget = session(7, 0, &[("view", "*"), ("widget", "1")]);
        assert_eq!(may_play(&open, Some(&widget)), Ok(()));
        let foreign = session(8, 2, &[("sview", "0_e")]);
        assert_eq!(
            may_play(&open, Some(&foreign)),
            Err(Denial::Ks(KsReason::InvalidPartner))
        );
    }

    #[test]
    fn the_manifest_ks_comes_from_the_path_or_the_query() {
        let rest = "entryId/0_a/protocol/http/format/url/flavorIds/x/ks/djJ8/a.mp4";
        assert_eq!(manifest_entry_id(rest), Some("0_a"));
        assert_eq!(manifest_ks(rest, None).as_deref(), Some("djJ8"));
        assert_eq!(
            manifest_ks("entryId/0_a/a.mp4", Some("uiConfId=1&ks=abc")).as_deref(),
            Some("abc")
        );
        assert_eq!(manifest_ks("entryId/0_a/a.mp4", None), None);
    }
}

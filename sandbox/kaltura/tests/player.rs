//! The requests the Kaltura OVP player (kaltura-player-js, OVP provider) makes to play an entry,
//! replayed byte-for-byte in shape: one JSON multirequest with widget session, baseEntry.list,
//! getPlaybackContext and metadata.list chained by `{N:result:...}`; then the progressive URL the
//! player builds from the flavor assets (PlaySourceUrlBuilder), fetched with a Range header.

use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Each test its own clip folder: generated clips are reused within the test only.
fn clips_dir(test: &str) -> PathBuf {
    let dir = kd_browser::tools().join("media/test-clips").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn response_profile() -> Value {
    json!({
        "fields": "id,referenceId,name,description,thumbnailUrl,dataUrl,duration,msDuration,flavorParamsIds,mediaType,type,tags,dvrStatus,externalSourceType,status,createdAt,updatedAt,endDate,plays,views,downloadUrl,creatorId",
        "type": 1
    })
}

/// Without a KS the player opens a widget session first and chains its `ks` into every call.
fn player_multirequest(partner_id: i64, entry_id: &str) -> Value {
    json!({
        "apiVersion": "3.3.0", "format": 1, "ks": "", "clientTag": "html5:v3.17.95", "partnerId": partner_id,
        "1": {"service": "session", "action": "startWidgetSession", "widgetId": format!("_{partner_id}")},
        "2": {"service": "baseEntry", "action": "list", "ks": "{1:result:ks}",
              "filter": {"redirectFromEntryId": entry_id}, "responseProfile": response_profile()},
        "3": {"service": "baseEntry", "action": "getPlaybackContext", "entryId": "{2:result:objects:0:id}",
              "ks": "{1:result:ks}", "contextDataParams": {"objectType": "KalturaContextDataParams", "flavorTags": "all"}},
        "4": {"service": "metadata_metadata", "action": "list", "ks": "{1:result:ks}",
              "filter": {"objectType": "KalturaMetadataFilter", "objectIdEqual": "{2:result:objects:0:id}", "metadataObjectTypeEqual": "1"}},
    })
}

/// With a KS (`provider.ks`) the player sends it at the top and skips the widget session.
fn player_multirequest_with_ks(partner_id: i64, entry_id: &str, ks: &str) -> Value {
    json!({
        "apiVersion": "3.3.0", "format": 1, "ks": ks, "clientTag": "html5:v3.17.95", "partnerId": partner_id,
        "1": {"service": "baseEntry", "action": "list",
              "filter": {"redirectFromEntryId": entry_id}, "responseProfile": response_profile()},
        "2": {"service": "baseEntry", "action": "getPlaybackContext", "entryId": "{1:result:objects:0:id}",
              "contextDataParams": {"objectType": "KalturaContextDataParams", "flavorTags": "all"}},
        "3": {"service": "metadata_metadata", "action": "list",
              "filter": {"objectType": "KalturaMetadataFilter", "objectIdEqual": "{1:result:objects:0:id}", "metadataObjectTypeEqual": "1"}},
    })
}

/// A viewer's playback KS as a product backend mints it: user session, `sview:<entry>`.
async fn viewer_ks(
    http: &reqwest::Client,
    sandbox: &KalturaSandbox,
    partner_id: i64,
    secret: &str,
    privileges: &str,
    expiry: i64,
) -> String {
    let answer: Value = http
        .post(format!(
            "{}/api_v3/service/session/action/start",
            sandbox.base_url()
        ))
        .form(&[
            ("format", "1"),
            ("secret", secret),
            ("partnerId", &partner_id.to_string()),
            ("type", "0"),
            ("userId", "viewer@campus"),
            ("expiry", &expiry.to_string()),
            ("privileges", privileges),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer
        .as_str()
        .expect("session.start answers a KS")
        .to_owned()
}

async fn multirequest(
    http: &reqwest::Client,
    sandbox: &KalturaSandbox,
    body: &Value,
) -> Vec<Value> {
    let answer: Value = http
        .post(format!(
            "{}/api_v3/service/multirequest",
            sandbox.base_url()
        ))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer
        .as_array()
        .expect("multirequest answers an array")
        .clone()
}

/// PlaySourceUrlBuilder: origin of serviceUrl + p/{pid}/sp/{pid}00/playManifest/..., `/ks/{ks}`
/// spliced in when the player has a KS.
fn play_url(sandbox: &KalturaSandbox, pid: i64, entry_id: &str, ks: Option<&str>) -> String {
    let ks = ks.map(|ks| format!("/ks/{ks}")).unwrap_or_default();
    format!(
        "{}/p/{pid}/sp/{pid}00/playManifest/entryId/{entry_id}/protocol/http/format/url/flavorIds/0_clip0001{ks}/a.mp4?uiConfId=123",
        sandbox.base_url()
    )
}

/// The length of an MP4, read by ffprobe (comes with ffmpeg).
fn probe_seconds(bytes: &[u8]) -> f64 {
    let file = std::env::temp_dir().join(format!("kd-probe-{}.mp4", rand::random::<u64>()));
    std::fs::write(&file, bytes).unwrap();
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&file)
        .output()
        .expect("ffprobe runs");
    let _ = std::fs::remove_file(&file);
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn entry_named(sandbox: &KalturaSandbox, part: &str) -> Value {
    sandbox
        .entries()
        .into_iter()
        .find(|e| e["name"].as_str().unwrap().contains(part))
        .unwrap()
}

#[tokio::test]
async fn each_entry_plays_its_own_clip_with_a_viewer_ks() {
    let sandbox = KalturaSandbox::start(SandboxConfig {
        clips_dir: Some(clips_dir("own_clip")),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    kd_sandbox_kaltura::install_crypto_provider();
    let http = reqwest::Client::new();
    let pid = sandbox.partner_id();
    let mut sizes = std::collections::HashSet::new();
    let entries: Vec<Value> = sandbox.entries().into_iter().step_by(9).collect();
    for entry in &entries {
        let id = entry["id"].as_str().unwrap();
        let ks = viewer_ks(
            &http,
            &sandbox,
            pid,
            sandbox.user_secret(),
            &format!("sview:{id}"),
            600,
        )
        .await;
        let results =
            multirequest(&http, &sandbox, &player_multirequest_with_ks(pid, id, &ks)).await;
        assert_eq!(results.len(), 3, "{results:?}");
        assert!(
            results.iter().all(|r| r.get("code").is_none()),
            "{results:?}"
        );
        assert_eq!(results[0]["objects"][0]["id"], id);
        assert_eq!(results[0]["objectType"], "KalturaBaseEntryListResponse");
        let context = &results[1];
        assert_eq!(context["objectType"], "KalturaPlaybackContext");
        assert_eq!(context["actions"], json!([]));
        let source = &context["sources"][0];
        assert_eq!(source["format"], "url");
        assert!(
            source["protocols"]
                .as_str()
                .unwrap()
                .split(',')
                .any(|p| p == "http")
        );
        let flavor = &context["flavorAssets"][0];
        assert_eq!(flavor["fileExt"], "mp4");
        assert!(flavor["width"].as_i64().unwrap() > 0 && flavor["height"].as_i64().unwrap() > 0);
        assert_eq!(results[2]["totalCount"], 0);

        let url = play_url(&sandbox, pid, id, Some(&ks));
        let whole = http.get(&url).send().await.unwrap();
        assert_eq!(whole.status(), 200, "{}", whole.text().await.unwrap());
        assert_eq!(whole.headers()["content-type"], "video/mp4");
        let bytes = whole.bytes().await.unwrap();
        assert_eq!(&bytes[4..8], b"ftyp", "an MP4 file");
        let seconds = probe_seconds(&bytes);
        let duration = entry["duration"].as_f64().unwrap();
        assert!(
            (seconds - duration).abs() < 0.5,
            "{id}: clip {seconds} s, entry {duration} s"
        );
        sizes.insert(bytes.len());
        let part = http
            .get(&url)
            .header("Range", "bytes=0-99")
            .send()
            .await
            .unwrap();
        assert_eq!(part.status(), 206);
        assert_eq!(part.bytes().await.unwrap().len(), 100);

        let thumb = http
            .get(entry["thumbnailUrl"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(thumb.headers()["content-type"], "image/svg+xml");
    }
    assert_eq!(sizes.len(), entries.len(), "each entry its own clip");
}

#[tokio::test]
async fn a_viewer_ks_plays_its_entry_only_and_bad_sessions_are_refused_as_kaltura_does() {
    let foreign_secret = "f".repeat(32);
    let sandbox = KalturaSandbox::start(SandboxConfig {
        clips_dir: Some(clips_dir("scoping")),
        other_partners: vec![(999, foreign_secret.clone())],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    kd_sandbox_kaltura::install_crypto_provider();
    let http = reqwest::Client::new();
    let pid = sandbox.partner_id();
    let newton = entry_named(&sandbox, "Newton");
    let energy = entry_named(&sandbox, "Work, Energy");
    let keynote = entry_named(&sandbox, "Keynote");
    let (a, b) = (
        newton["id"].as_str().unwrap(),
        energy["id"].as_str().unwrap(),
    );
    let ks_a = viewer_ks(
        &http,
        &sandbox,
        pid,
        sandbox.user_secret(),
        &format!("sview:{a}"),
        600,
    )
    .await;

    // The KS for A plays A and nothing else: the player gets a block action, playManifest a 403.
    let other = multirequest(&http, &sandbox, &player_multirequest_with_ks(pid, b, &ks_a)).await;
    assert_eq!(other[0]["objects"][0]["id"], b, "listing is not playing");
    assert_eq!(other[1]["sources"], json!([]));
    assert_eq!(other[1]["actions"][0]["type"], 1, "a block action");
    assert_eq!(other[1]["messages"][0]["code"], "SESSION_RESTRICTED");
    let refused = http
        .get(play_url(&sandbox, pid, b, Some(&ks_a)))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("ACCESS_CONTROL_RESTRICTED")
    );
    assert_eq!(
        http.get(play_url(&sandbox, pid, a, Some(&ks_a)))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(play_url(&sandbox, pid, a, None))
            .send()
            .await
            .unwrap()
            .status(),
        403,
        "a private lecture needs a KS"
    );

    // A widget session (the player without a KS) cannot play a lecture but plays a public event.
    let anonymous = multirequest(&http, &sandbox, &player_multirequest(pid, a)).await;
    assert_eq!(anonymous[2]["messages"][0]["code"], "SESSION_RESTRICTED");
    let public = multirequest(
        &http,
        &sandbox,
        &player_multirequest(pid, keynote["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(public[2]["actions"], json!([]), "{public:?}");
    assert_eq!(
        http.get(play_url(
            &sandbox,
            pid,
            keynote["id"].as_str().unwrap(),
            None
        ))
        .send()
        .await
        .unwrap()
        .status(),
        200
    );

    // An admin KS and sview:* play any entry of the partner.
    for privileges in ["", "sview:*"] {
        let session_type = if privileges.is_empty() { "2" } else { "0" };
        let secret = if privileges.is_empty() {
            sandbox.admin_secret()
        } else {
            sandbox.user_secret()
        };
        let answer: Value = http
            .post(format!(
                "{}/api_v3/service/session/action/start",
                sandbox.base_url()
            ))
            .form(&[
                ("format", "1"),
                ("secret", secret),
                ("partnerId", &pid.to_string()),
                ("type", session_type),
                ("privileges", privileges),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let ks = answer.as_str().unwrap();
        assert_eq!(
            http.get(play_url(&sandbox, pid, b, Some(ks)))
                .send()
                .await
                .unwrap()
                .status(),
            200,
            "{privileges:?}"
        );
    }

    // Another partner's KS, even with sview for the entry, is refused as that partner's.
    let foreign = viewer_ks(
        &http,
        &sandbox,
        999,
        &foreign_secret,
        &format!("sview:{a}"),
        600,
    )
    .await;
    let results = multirequest(
        &http,
        &sandbox,
        &player_multirequest_with_ks(pid, a, &foreign),
    )
    .await;
    assert_eq!(results[0]["code"], "INVALID_KS", "{results:?}");
    assert!(
        results[0]["message"]
            .as_str()
            .unwrap()
            .contains("-2,INVALID_PARTNER")
    );
    let refused = http
        .get(play_url(&sandbox, pid, a, Some(&foreign)))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("-2,INVALID_PARTNER"));

    // An expired KS: INVALID_KS -5,EXPIRED from the API and from playManifest.
    let short = viewer_ks(
        &http,
        &sandbox,
        pid,
        sandbox.user_secret(),
        &format!("sview:{a}"),
        1,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let results = multirequest(
        &http,
        &sandbox,
        &player_multirequest_with_ks(pid, a, &short),
    )
    .await;
    assert_eq!(results[0]["code"], "INVALID_KS");
    assert!(
        results[0]["message"]
            .as_str()
            .unwrap()
            .contains("-5,EXPIRED"),
        "{results:?}"
    );
    let refused = http
        .get(play_url(&sandbox, pid, a, Some(&short)))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.text().await.unwrap().contains("-5,EXPIRED"));
}

#[tokio::test]
async fn the_player_sees_errors_for_missing_entries_and_widgets() {
    let sandbox = KalturaSandbox::start(SandboxConfig::default())
        .await
        .unwrap();
    kd_sandbox_kaltura::install_crypto_provider();
    let http = reqwest::Client::new();
    let url = format!("{}/api_v3/service/multirequest", sandbox.base_url());
    let results: Value = http
        .post(&url)
        .json(&player_multirequest(sandbox.partner_id(), "0_gone0000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(results[1]["totalCount"], 0);
    assert_eq!(results[2]["code"], "ENTRY_ID_NOT_FOUND");
    let bad_widget: Value = http
        .post(&url)
        .json(&player_multirequest(999, "0_gone0000"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad_widget[0]["code"], "INVALID_WIDGET_ID");
    // Without a clip the media URL says so instead of serving garbage.
    let media = http
        .get(format!(
            "{}/p/1/sp/100/playManifest/entryId/x/a.mp4",
            sandbox.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(media.status(), 404);
}

/// Runs the real player bundle in headless Chromium against the sandbox; the JSON summary.
async fn player_in_chromium(
    sandbox: &KalturaSandbox,
    entry_id: &str,
    ks: &str,
    expect: &str,
    screenshot: &str,
) -> Value {
    let bundle = kd_browser::tools().join("player/package/dist/kaltura-ovp-player.js");
    kd_browser::require(&bundle, "the Kaltura player bundle");
    kd_browser::Script::new(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/player_in_chromium.js"),
    )
    .env("KALTURA_URL", sandbox.base_url())
    .env("KALTURA_PARTNER_ID", sandbox.partner_id().to_string())
    .env("ENTRY_ID", entry_id)
    .env("KS", ks)
    .env("EXPECT", expect)
    .env("SCREENSHOT", kd_browser::artifacts().join(screenshot))
    .env("PLAYER_BUNDLE", &bundle)
    .run()
    .await
}

/// The real player bundle in headless Chromium plays an entry with the viewer's KS, shows that
/// entry's clip, and refuses another entry with the player's BLOCK_ACTION error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_kaltura_player_plays_an_entry_in_chromium() {
    let sandbox = KalturaSandbox::start(SandboxConfig {
        clips_dir: Some(clips_dir("chromium")),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    kd_sandbox_kaltura::install_crypto_provider();
    let http = reqwest::Client::new();
    let pid = sandbox.partner_id();
    let entry = entry_named(&sandbox, "Newton");
    let id = entry["id"].as_str().unwrap();
    let ks = viewer_ks(
        &http,
        &sandbox,
        pid,
        sandbox.user_secret(),
        &format!("sview:{id}"),
        600,
    )
    .await;
    let summary = player_in_chromium(
        &sandbox,
        id,
        &ks,
        "play",
        "kaltura_player_entry-desktop.png",
    )
    .await;
    assert_eq!(summary["name"], entry["name"]);
    assert!(summary["currentTime"].as_f64().unwrap() > 1.0, "{summary}");
    let duration = entry["duration"].as_f64().unwrap();
    assert!(
        (summary["duration"].as_f64().unwrap() - duration).abs() < 0.5,
        "the entry's own {duration} s clip: {summary}"
    );
    let src = summary["src"].as_str().unwrap();
    assert!(
        src.starts_with(&format!("{}/p/{pid}/sp/", sandbox.base_url())),
        "{src}"
    );
    assert!(src.contains(id), "{src}");
    assert!(
        src.contains(&format!("/ks/{ks}/")),
        "the player sends the KS to playManifest: {src}"
    );
    let requests: Vec<&str> = summary["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        requests.contains(&"/api_v3/service/multirequest"),
        "{requests:?}"
    );

    let other = entry_named(&sandbox, "Work, Energy");
    let blocked = player_in_chromium(
        &sandbox,
        other["id"].as_str().unwrap(),
        &ks,
        "blocked",
        "kaltura_player_blocked-desktop.png",
    )
    .await;
    assert_eq!(blocked["code"], 7002, "LOAD_FAILED: {blocked}");
    assert_eq!(blocked["cause"]["code"], 2001, "BLOCK_ACTION: {blocked}");
    assert_eq!(
        blocked["cause"]["messages"][0]["code"], "SESSION_RESTRICTED",
        "{blocked}"
    );
}

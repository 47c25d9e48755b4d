//! The requests the Kaltura OVP player (kaltura-player-js, OVP provider) makes to play an entry,
//! replayed byte-for-byte in shape: one JSON multirequest with widget session, baseEntry.list,
//! getPlaybackContext and metadata.list chained by `{N:result:...}`; then the progressive URL the
//! player builds from the flavor assets (PlaySourceUrlBuilder), fetched with a Range header.

use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn clip() -> PathBuf {
    let tools = std::env::var_os("KD_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools"));
    let clip = tools.join("media/clip.mp4");
    assert!(
        clip.exists(),
        "{} missing — run .ci/setup (or .ci/setup.d/kaltura.sh)",
        clip.display()
    );
    clip
}

fn player_multirequest(partner_id: i64, entry_id: &str) -> Value {
    let response_profile = json!({
        "fields": "id,referenceId,name,description,thumbnailUrl,dataUrl,duration,msDuration,flavorParamsIds,mediaType,type,tags,dvrStatus,externalSourceType,status,createdAt,updatedAt,endDate,plays,views,downloadUrl,creatorId",
        "type": 1
    });
    json!({
        "apiVersion": "3.3.0", "format": 1, "ks": "", "clientTag": "html5:v3.17.95", "partnerId": partner_id,
        "1": {"service": "session", "action": "startWidgetSession", "widgetId": format!("_{partner_id}")},
        "2": {"service": "baseEntry", "action": "list", "ks": "{1:result:ks}",
              "filter": {"redirectFromEntryId": entry_id}, "responseProfile": response_profile},
        "3": {"service": "baseEntry", "action": "getPlaybackContext", "entryId": "{2:result:objects:0:id}",
              "ks": "{1:result:ks}", "contextDataParams": {"objectType": "KalturaContextDataParams", "flavorTags": "all"}},
        "4": {"service": "metadata_metadata", "action": "list", "ks": "{1:result:ks}",
              "filter": {"objectType": "KalturaMetadataFilter", "objectIdEqual": "{2:result:objects:0:id}", "metadataObjectTypeEqual": "1"}},
    })
}

#[tokio::test]
async fn the_player_can_load_and_play_every_entry() {
    let sandbox = KalturaSandbox::start(SandboxConfig {
        media_clip: Some(clip()),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    kd_sandbox_kaltura::install_crypto_provider();
    let http = reqwest::Client::new();
    let service_url = format!("{}/api_v3", sandbox.base_url());
    let pid = sandbox.partner_id();
    let clip_len = std::fs::metadata(clip()).unwrap().len();
    for entry in sandbox.entries().iter().step_by(7) {
        let id = entry["id"].as_str().unwrap();
        let results: Value = http
            .post(format!("{service_url}/service/multirequest"))
            .header("Content-Type", "application/json")
            .body(player_multirequest(pid, id).to_string())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let results = results.as_array().expect("multirequest answers an array");
        assert_eq!(results.len(), 4, "{results:?}");
        assert!(
            results.iter().all(|r| r.get("code").is_none()),
            "{results:?}"
        );
        let ks = results[0]["ks"].as_str().unwrap();
        assert_eq!(results[1]["objects"][0]["id"], id);
        assert_eq!(results[1]["objectType"], "KalturaBaseEntryListResponse");
        let context = &results[2];
        assert_eq!(context["objectType"], "KalturaPlaybackContext");
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
        assert_eq!(results[3]["totalCount"], 0);

        // PlaySourceUrlBuilder: origin of serviceUrl + p/{pid}/sp/{pid}00/playManifest/...
        let play_url = format!(
            "{}/p/{pid}/sp/{pid}00/playManifest/entryId/{id}/protocol/http/format/url/flavorIds/{}/ks/{ks}/a.mp4?uiConfId=123",
            sandbox.base_url(),
            flavor["id"].as_str().unwrap()
        );
        let whole = http.get(&play_url).send().await.unwrap();
        assert_eq!(whole.status(), 200);
        assert_eq!(whole.headers()["content-type"], "video/mp4");
        let bytes = whole.bytes().await.unwrap();
        assert_eq!(bytes.len() as u64, clip_len);
        assert_eq!(&bytes[4..8], b"ftyp", "an MP4 file");
        let part = http
            .get(&play_url)
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

/// The real player bundle in headless Chromium loads an entry from the sandbox and plays it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_kaltura_player_plays_an_entry_in_chromium() {
    let tools = clip().parent().unwrap().parent().unwrap().to_path_buf();
    let chromium = PathBuf::from("/usr/bin/chromium");
    let bundle = tools.join("player/package/dist/kaltura-ovp-player.js");
    let modules = tools.join("node/node_modules");
    for (path, what) in [
        (&chromium, "chromium"),
        (&bundle, "the Kaltura player bundle"),
        (
            &modules.join("playwright-core/package.json"),
            "npm playwright-core",
        ),
    ] {
        assert!(
            path.exists(),
            "{what} missing at {} — run .ci/setup (or .ci/setup.d/kaltura.sh)",
            path.display()
        );
    }
    let sandbox = KalturaSandbox::start(SandboxConfig {
        media_clip: Some(clip()),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let entry = sandbox
        .entries()
        .into_iter()
        .find(|e| e["name"].as_str().unwrap().contains("Newton"))
        .unwrap();
    let mut command = std::process::Command::new("node");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/player_in_chromium.js"))
        .env("NODE_PATH", &modules)
        .env("KALTURA_URL", sandbox.base_url())
        .env("KALTURA_PARTNER_ID", sandbox.partner_id().to_string())
        .env("ENTRY_ID", entry["id"].as_str().unwrap())
        .env("PLAYER_BUNDLE", &bundle)
        .env("CHROMIUM", &chromium);
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "player did not play:\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["name"], entry["name"]);
    assert!(summary["currentTime"].as_f64().unwrap() > 1.0, "{summary}");
    assert!(
        (summary["duration"].as_f64().unwrap() - 10.0).abs() < 0.5,
        "the 10 s clip: {summary}"
    );
    let src = summary["src"].as_str().unwrap();
    assert!(
        src.starts_with(&format!(
            "{}/p/{}/sp/",
            sandbox.base_url(),
            sandbox.partner_id()
        )),
        "{src}"
    );
    assert!(src.contains(entry["id"].as_str().unwrap()), "{src}");
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
}

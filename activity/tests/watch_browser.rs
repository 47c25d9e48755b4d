//! Watch Together in Chromium with everything real: the built browser app on the real
//! `@discord/embedded-app-sdk` inside the Discord sandbox's host page, the real Kaltura player
//! playing each entry's own clip from the Kaltura sandbox, the Activity server and the bot.
//! Three participants, then a late joiner; positions are read from each page's media element.

mod support;

use serde_json::json;
use support::browser::BrowserRoom;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_participants_follow_the_host_through_the_discord_host_page() {
    let room = BrowserRoom::start("watch_together", 1).await;
    let world = &room.server.world;
    let late = room.others[0];
    let hosts = json!([
        room.host_page(world.teacher, "desktop"),
        room.host_page(world.student, "desktop"),
        room.host_page(world.admin, "mobile"),
        room.host_page(late, "desktop"),
    ]);
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("web/tests/browser/watch_together.cjs");
    let s = kd_browser::Script::new(script)
        .env("HOSTS", hosts.to_string())
        .env("NEXT_ENTRY", &room.entries[1])
        .run()
        .await;

    let ids = s["ids"].as_array().unwrap();
    assert_eq!(
        ids,
        &[world.teacher, world.student, world.admin, late]
            .map(|u| json!(u.to_string()))
            .to_vec(),
        "each page signed in as its Discord user"
    );
    assert_eq!(
        s["firstHost"],
        world.teacher.to_string(),
        "the first to join hosts"
    );
    assert_eq!(
        s["entries"],
        json!([room.entries[0], room.entries[1]]),
        "{s}"
    );
    assert_eq!(
        s["viewerRefused"],
        json!({"code": "forbidden", "seqUnchanged": true})
    );
    assert_eq!(s["forged"]["code"], 4001, "{s}");
    let new_host = s["newHost"].as_str().unwrap();
    assert!(
        [world.student, world.admin, late]
            .map(|u| u.to_string())
            .contains(&new_host.to_string()),
        "a remaining member took over: {new_host}"
    );
    for step in [
        "play",
        "pause",
        "seekPaused",
        "seekPlaying",
        "lateJoin",
        "entryChange",
        "pauseByNewHost",
    ] {
        let ms = s[step]["ms"]
            .as_f64()
            .unwrap_or_else(|| panic!("{step}: {s}"));
        assert!(ms <= 10_000.0, "{step} took {ms} ms to converge");
    }
    assert_eq!(s["pageErrors"], json!([]), "{s}");
    let artifacts = kd_browser::artifacts();
    for name in ["host-desktop", "viewer-desktop", "viewer-mobile"] {
        let shot = artifacts.join(format!("watch_together-{name}.png"));
        assert!(shot.exists(), "{}", shot.display());
    }
}

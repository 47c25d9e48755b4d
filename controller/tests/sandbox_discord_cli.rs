//! `kaltura-discord sandbox discord`, run as a developer would: it prints where the Activity's
//! origin is, and the host page answers there.

use kd_testing::process::Running;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn sandbox_discord_prints_its_activity_origin_and_serves_the_host_page_there() {
    let mut sandbox = Running::spawn(
        Command::new(env!("CARGO_BIN_EXE_kaltura-discord"))
            .args(["sandbox", "discord", "--listen", "127.0.0.1:0"])
            .args(["--activity-listen", "127.0.0.1:0"])
            .stdout(Stdio::piped()),
    );
    let lines = BufReader::new(sandbox.child.stdout.take().unwrap()).lines();
    let printed: Vec<String> = lines
        .map(Result::unwrap)
        .take_while(|l| !l.starts_with("  Bot token"))
        .collect();
    let origin = printed
        .iter()
        .find_map(|l| l.strip_prefix("  Activity      "))
        .unwrap_or_else(|| panic!("no Activity line in {printed:?}"));
    let port: u16 = origin
        .strip_prefix("http://127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("an origin on loopback: {origin}"));
    assert!(
        printed.contains(&format!(
            "  Host page     {origin}/.discord/host?user_id=USER&channel_id=VOICE_CHANNEL"
        )),
        "{printed:?}"
    );
    let page = kd_testing::http::get(port, "/.discord/host").expect("the host page answers");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<html"), "{page}");
}

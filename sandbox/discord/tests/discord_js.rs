//! A second, independent client: discord.js from npm logs in, gets READY and the guild, and
//! sends a message that the sandbox then holds.

mod common;

use common::{guild_with_member, sandbox};
use serde_json::Value;
use std::path::PathBuf;

fn node_modules() -> PathBuf {
    let tools = std::env::var_os("KD_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tools"));
    let modules = tools.join("node/node_modules");
    assert!(
        modules.join("discord.js/package.json").exists(),
        "discord.js is not installed in {}: run .ci/setup",
        modules.display()
    );
    modules
}

#[tokio::test]
async fn discord_js_logs_in_receives_the_guild_and_sends_a_message() {
    let modules = node_modules();
    let sandbox = sandbox().await;
    let (guild, _) = guild_with_member(&sandbox);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/discord_js/login.cjs");
    let mut command = std::process::Command::new("node");
    command
        .arg(script)
        .env("NODE_PATH", modules)
        .env("KD_DISCORD_API", format!("{}/api", sandbox.base_url()))
        .env("KD_DISCORD_TOKEN", sandbox.bot_token())
        .env("KD_DISCORD_GUILD", guild.id.to_string())
        .env("KD_DISCORD_CHANNEL", guild.general_channel_id.to_string());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "discord.js failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let report: Value =
        serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("a JSON report");
    assert_eq!(report["user"], sandbox.bot_user_id().to_string());
    assert_eq!(report["guild"], "Physics 101");
    assert_eq!(report["channels"], 2);
    assert_eq!(report["roles"], 2);

    let messages = sandbox.messages(guild.general_channel_id).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["id"], report["message"]);
    assert_eq!(messages[0]["content"], "hello from discord.js");
    assert_eq!(messages[0]["embeds"][0]["title"], "embed");
    // It found the gateway through /gateway/bot, like against Discord.
    assert!(
        sandbox
            .requests()
            .iter()
            .any(|r| r.path == "/api/v10/gateway/bot" && r.status == 200)
    );
}

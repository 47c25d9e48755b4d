//! Watch Together in Chromium: the whole world (bot, both sandboxes, the Activity server with the
//! built browser app) and the Discord sandbox's Activity origin mapped as Discord maps it
//! (`/` to the Activity server, `/kaltura` to Kaltura), so each participant is one host page.

use super::Server;
use super::watch::{Activity, entries, launch, timings};
use kd_activity::ApiOptions;
use kd_sandbox_discord::{MemberSpec, NewUser, UrlMapping};
use kd_sandbox_kaltura::SandboxConfig;
use kd_tests::World;
use std::path::{Path, PathBuf};

/// The browser app as `.ci/setup.d/web.sh` builds it.
pub fn web_dist() -> PathBuf {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/dist");
    kd_browser::require(&dist.join("index.html"), "the built browser app");
    dist
}

pub struct BrowserRoom {
    pub server: Server,
    pub activity: Activity,
    /// The sandbox's entries: the Activity launched on the first.
    pub entries: Vec<String>,
    /// Members besides the teacher, the student and the admin, with no roles.
    pub others: Vec<u64>,
}

impl BrowserRoom {
    /// The teacher launches the Activity with `/kaltura-watch` in the voice channel; each entry
    /// plays its own clip (made once under the tools' `media/test-clips/<clips>`).
    pub async fn start(clips: &str, others: usize) -> Self {
        let tools = kd_browser::tools();
        kd_browser::require(
            &tools.join("player/package/dist/kaltura-ovp-player.js"),
            "the Kaltura player bundle",
        );
        let kaltura = SandboxConfig {
            clips_dir: Some(tools.join("media/test-clips").join(clips)),
            ..SandboxConfig::default()
        };
        let world = World::start_with_kaltura(kaltura).await;
        let others = (0..others)
            .map(|i| {
                let user = world
                    .discord
                    .create_user(NewUser {
                        username: format!("viewer{i}"),
                        ..NewUser::default()
                    })
                    .unwrap()
                    .id;
                world
                    .discord
                    .put_member(world.guild.id, user, MemberSpec::default())
                    .unwrap();
                user
            })
            .collect();
        let server = Server::start_in(
            world,
            ApiOptions {
                web_dist: Some(web_dist()),
                watch_timings: timings(),
                ..ApiOptions::default()
            },
        )
        .await;
        let authority = |url: &str| url.trim_start_matches("http://").to_string();
        server.world.discord.set_url_mappings(vec![
            UrlMapping {
                prefix: "/".into(),
                target: authority(&server.base),
            },
            UrlMapping {
                prefix: "/kaltura".into(),
                target: authority(server.world.kaltura.base_url()),
            },
        ]);
        let entries = entries(&server);
        let activity = launch(&server, server.world.teacher, &entries[0]).await;
        Self {
            server,
            activity,
            entries,
            others,
        }
    }

    /// The host page of `user` in the voice channel (`desktop` or `mobile`).
    pub fn host_page(&self, user: u64, platform: &str) -> String {
        self.server.world.discord.activity_host_url(
            user,
            self.server.world.guild.voice_channel_id,
            platform,
        )
    }
}

//! `/join/<token>` end to end: links the bot hands out in Discord open through the server, which
//! mints the Kaltura session at that moment; every refusal is a plain page.

use kd_core::command::Command;
mod support;

use kd_core::join_token::{AUDIENCE, ISSUER, JoinClaims, JoinKey};
use kd_kaltura::{Secret, ks};
use kd_tests::{World, buttons, message_of};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Answer, Server};

/// A member's personal link from `/kaltura-join`, as a path on the server.
async fn bot_join_link(world: &World, user: u64, meeting_id: &str) -> String {
    let view = world
        .run(
            user,
            Command::Join.name(),
            &[("meeting-id", json!(meeting_id))],
        )
        .await;
    let url = message_of(&view)["components"][0]["components"][0]["url"]
        .as_str()
        .expect("a link button")
        .to_string();
    url.strip_prefix("https://watch.example.org")
        .expect("on the public URL")
        .to_string()
}

async fn start_meeting(world: &World) -> String {
    let started = world
        .run(
            world.teacher,
            Command::Start.name(),
            &[("type", json!("meeting")), ("title", json!("Optics"))],
        )
        .await;
    buttons(&started)[0]
        .strip_prefix("kd:join:")
        .unwrap()
        .to_string()
}

async fn open(server: &Server, path: &str) -> Answer {
    server.send(server.request(Method::GET, path, None)).await
}

fn assert_page(page: &Answer, status: StatusCode, says: &str) {
    assert_eq!(page.status, status, "{}", page.text);
    assert!(page.text.contains(says), "{}", page.text);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html"),
        "a page, not JSON"
    );
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    for leak in ["panicked", "Error(", "src/", "ks="] {
        assert!(!page.text.contains(leak), "{leak} in {}", page.text);
    }
}

/// The KS in a Kaltura launch URL, verified with the partner's secret.
fn launch_ks(server: &Server, location: &str) -> ks::KsFields {
    let partner = server.world.kaltura.partner_id();
    let prefix = format!("https://{partner}.kaf.kaltura.com/virtualEvent/launch?ks=");
    let ks = location
        .strip_prefix(&prefix)
        .expect("a Kaltura launch URL");
    ks::verify(
        ks,
        partner,
        &[Secret::new(server.world.kaltura.admin_secret())],
    )
    .expect("a KS Kaltura accepts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_from_the_bot_open_with_a_session_for_that_member_and_role() {
    let server = Server::start().await;
    let world = &server.world;
    let meeting = start_meeting(world).await;

    let student_link = bot_join_link(world, world.student, &meeting).await;
    let opened = open(&server, &student_link).await;
    assert_eq!(opened.status, StatusCode::SEE_OTHER, "{}", opened.text);
    let fields = launch_ks(&server, opened.header("location").unwrap());
    assert_eq!(fields.user_id, format!("discord-{}", world.student));
    assert_eq!(fields.session_type, ks::SessionType::User);
    assert_eq!(fields.privileges.get("eventId"), Some(meeting.as_str()));
    assert_eq!(fields.privileges.get("role"), Some("viewerRole"));
    assert_eq!(fields.privileges.get("firstName"), Some("bob"));
    let lifetime = fields.expiry - ks::unix_now();
    assert!((4 * 3600 - 60..=4 * 3600).contains(&lifetime), "{lifetime}");

    let teacher_link = bot_join_link(world, world.teacher, &meeting).await;
    let opened = open(&server, &teacher_link).await;
    let fields = launch_ks(&server, opened.header("location").unwrap());
    assert_eq!(fields.privileges.get("role"), Some("adminRole"));
    assert_eq!(fields.user_id, format!("discord-{}", world.teacher));

    // Opening twice mints a fresh session each time (the link is personal, not one-shot).
    let again = open(&server, &student_link).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);

    // Ended through the bot: the registry knows, the link says so.
    let ended = world
        .run(
            world.teacher,
            Command::End.name(),
            &[("meeting-id", json!(meeting))],
        )
        .await;
    assert!(kd_tests::content(&ended).starts_with("Ended"));
    assert_page(
        &open(&server, &student_link).await,
        StatusCode::GONE,
        "This meeting has ended",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tampered_foreign_and_stale_links_get_clear_pages() {
    let server = Server::start().await;
    let world = &server.world;
    let meeting = start_meeting(world).await;
    let key = JoinKey::derive(&world.discord.bot_token());
    let now = ks::unix_now();
    let claims = JoinClaims {
        sub: world.student.to_string(),
        guild: world.guild_key(),
        meeting: meeting.clone(),
        partner: "campus".into(),
        role: "viewer".into(),
        name: "bob".into(),
        aud: AUDIENCE.into(),
        iss: ISSUER.into(),
        iat: now,
        exp: now + 600,
    };
    let path = |token: String| format!("/join/{token}");
    assert_eq!(
        open(&server, &path(key.sign(&claims))).await.status,
        StatusCode::SEE_OTHER
    );

    let expired = JoinClaims {
        iat: now - 1200,
        exp: now - 600,
        ..claims.clone()
    };
    assert_page(
        &open(&server, &path(key.sign(&expired))).await,
        StatusCode::GONE,
        "This link has expired",
    );

    let mut tampered = key.sign(&claims);
    let len = tampered.len();
    tampered.replace_range(len - 4.., "AAAA");
    assert_page(
        &open(&server, &path(tampered)).await,
        StatusCode::BAD_REQUEST,
        "This link is not valid",
    );
    // Claims changed after signing (a viewer making themselves admin).
    let good = key.sign(&claims);
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged_claims = {
        use base64::Engine;
        let mut forged = claims.clone();
        forged.role = "admin".into();
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&forged).unwrap())
    };
    parts[1] = &forged_claims;
    assert_page(
        &open(&server, &path(parts.join("."))).await,
        StatusCode::BAD_REQUEST,
        "This link is not valid",
    );
    assert_page(
        &open(&server, &path(JoinKey::derive("another-bot").sign(&claims))).await,
        StatusCode::BAD_REQUEST,
        "This link is not valid",
    );
    assert_page(
        &open(&server, "/join/not-a-token").await,
        StatusCode::BAD_REQUEST,
        "This link is not valid",
    );

    // A meeting id Kaltura has no active meeting for.
    let unknown = JoinClaims {
        meeting: "424242".into(),
        ..claims.clone()
    };
    assert_page(
        &open(&server, &path(key.sign(&unknown))).await,
        StatusCode::GONE,
        "This meeting has ended",
    );

    // The member left the server.
    world
        .discord
        .remove_member(world.guild.id, world.student)
        .unwrap();
    assert_page(
        &open(&server, &path(key.sign(&claims))).await,
        StatusCode::FORBIDDEN,
        "You are not in this server any more",
    );

    // Kaltura unreachable.
    let teacher = JoinClaims {
        sub: world.teacher.to_string(),
        ..claims.clone()
    };
    world.kaltura.knobs().set_down(true);
    assert_page(
        &open(&server, &path(key.sign(&teacher))).await,
        StatusCode::BAD_GATEWAY,
        "Kaltura cannot be reached",
    );
    world.kaltura.knobs().set_down(false);

    // The guild moved to another partner: links naming the old one stop working.
    world.reconfigure(|c| {
        let partner = c.partners["campus"].clone();
        c.partners.insert("other".into(), partner);
        c.guilds.get_mut(&world.guild_key()).unwrap().partner = "other".into();
    });
    assert_page(
        &open(&server, &path(key.sign(&teacher))).await,
        StatusCode::NOT_FOUND,
        "not set up",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_meeting_ended_in_kaltura_directly_is_refused_too() {
    let server = Server::start().await;
    let world = &server.world;
    let student = server.token(world.student).await;
    let teacher = server.token(world.teacher).await;
    let created = server
        .post(
            "/api/v1/meetings",
            &teacher,
            json!({"type": "classroom", "title": "Lab"}),
        )
        .await;
    let id = created.json()["id"].as_str().unwrap().to_string();
    let link = server
        .post(
            &format!("/api/v1/meetings/{id}/join-link"),
            &student,
            json!({}),
        )
        .await
        .json();
    let path = link["url"]
        .as_str()
        .unwrap()
        .strip_prefix("https://watch.example.org")
        .unwrap()
        .to_string();
    assert_eq!(open(&server, &path).await.status, StatusCode::SEE_OTHER);

    // Cancelled in Kaltura (KMC), not through us: the registry does not know, Kaltura does.
    let partner = server.world.config.borrow().partners["campus"].clone();
    let admin = kd_kaltura::Client::new(kd_kaltura::ClientConfig::new(
        partner.service_url.clone(),
        partner.partner_id,
    ))
    .unwrap()
    .with_ks(ks::generate_v2(
        &Secret::new(world.kaltura.admin_secret()),
        &ks::KsRequest::new(partner.partner_id, ks::SessionType::Admin),
    ));
    admin.meeting_end(id.parse().unwrap()).await.unwrap();
    assert_page(
        &open(&server, &path).await,
        StatusCode::GONE,
        "This meeting has ended",
    );
}

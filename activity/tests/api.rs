//! The REST API end to end: a running server in front of the Discord and Kaltura sandboxes,
//! called over HTTP. Every route and its error paths, with the slash commands' rules.

use kd_core::command::Command;
mod support;

use kd_activity::ApiOptions;
use kd_activity::auth::{API_AUDIENCE, ApiClaims, api_key};
use kd_core::join_token::ISSUER;
use kd_core::roles::GuildRole;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::Server;

fn claims(server: &Server, user: u64, expires_in: i64) -> ApiClaims {
    let now = kd_kaltura::ks::unix_now();
    ApiClaims {
        sub: user.to_string(),
        guild: server.world.guild_key(),
        name: "Ada".into(),
        roles: vec![],
        kaltura_role: "viewer".into(),
        aud: API_AUDIENCE.into(),
        iss: ISSUER.into(),
        iat: now - 60,
        exp: now + expires_in,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_token_exchange_maps_roles_and_refuses_what_it_must() {
    let server = Server::start().await;
    let world = &server.world;
    let guild = world.guild_key();

    let teacher = server
        .exchange(&server.discord_access_token(world.teacher).await, &guild)
        .await;
    assert_eq!(teacher.status, StatusCode::OK, "{}", teacher.text);
    let body = teacher.json();
    assert_eq!(body["kalturaRole"], "moderator");
    assert_eq!(body["tokenType"], "Bearer");
    assert_eq!(body["expiresIn"], 900);
    assert_eq!(body["userId"], world.teacher.to_string());
    let claims: ApiClaims = api_key(&world.discord.bot_token())
        .verify(body["token"].as_str().unwrap())
        .unwrap();
    assert_eq!(claims.roles.len(), 1);
    assert_eq!(claims.roles[0].name, "Teacher");

    let student = server
        .exchange(&server.discord_access_token(world.student).await, &guild)
        .await;
    assert_eq!(student.json()["kalturaRole"], "viewer");

    let bad = server.exchange("not-a-discord-token", &guild).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.code(), "invalid_discord_token");

    // A user Discord knows who is not in the guild.
    let stranger = world
        .discord
        .create_user(kd_sandbox_discord::NewUser {
            username: "eve".into(),
            ..Default::default()
        })
        .unwrap()
        .id;
    let outsider = server
        .exchange(&server.discord_access_token(stranger).await, &guild)
        .await;
    assert_eq!(outsider.status, StatusCode::FORBIDDEN);
    assert_eq!(outsider.code(), "not_a_member");

    let elsewhere = server
        .exchange(&server.discord_access_token(world.teacher).await, "42")
        .await;
    assert_eq!(elsewhere.status, StatusCode::FORBIDDEN);
    assert_eq!(elsewhere.code(), "guild_not_configured");

    let not_an_id = server.exchange("x", "../../users/@me").await;
    assert_eq!(not_an_id.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_an_id.code(), "invalid_request");

    let token_route = "/api/v1/auth/token";
    let malformed = server
        .send(
            server
                .request(Method::POST, token_route, None)
                .header("content-type", "application/json")
                .body("{\"accessToken\": "),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert_eq!(malformed.code(), "invalid_request");

    let unknown_field = server
        .send(
            server
                .request(Method::POST, token_route, None)
                .json(&json!({"accessToken": "a", "guildId": guild, "admin": true})),
        )
        .await;
    assert_eq!(unknown_field.status, StatusCode::BAD_REQUEST);

    let not_json = server
        .send(
            server
                .request(Method::POST, token_route, None)
                .header("content-type", "text/plain")
                .body("hello"),
        )
        .await;
    assert_eq!(not_json.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(not_json.code(), "unsupported_media_type");

    let huge = server
        .send(
            server
                .request(Method::POST, token_route, None)
                .json(&json!({"accessToken": "a".repeat(64 * 1024), "guildId": guild})),
        )
        .await;
    assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(huge.code(), "payload_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_tokens_are_checked_for_key_expiry_audience_and_shape() {
    let server = Server::start().await;
    let bot_token = server.world.discord.bot_token();
    let meetings = "/api/v1/meetings";

    let missing = server
        .send(server.request(Method::GET, meetings, None))
        .await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.code(), "missing_token");

    let valid = api_key(&bot_token).sign(&claims(&server, server.world.student, 600));
    assert_eq!(server.get(meetings, &valid).await.status, StatusCode::OK);

    let other_key = api_key("another-bot-token").sign(&claims(&server, server.world.student, 600));
    let answer = server.get(meetings, &other_key).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.code(), "invalid_token");

    let expired = api_key(&bot_token).sign(&claims(&server, server.world.student, -120));
    let answer = server.get(meetings, &expired).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.code(), "token_expired");

    let mut wrong_audience = claims(&server, server.world.student, 600);
    wrong_audience.aud = kd_core::join_token::AUDIENCE.into();
    let answer = server
        .get(meetings, &api_key(&bot_token).sign(&wrong_audience))
        .await;
    assert_eq!(answer.code(), "invalid_token");

    // A join token is signed with the join key: it never works as an API token.
    let join =
        kd_core::join_token::JoinKey::derive(&bot_token).sign(&kd_core::join_token::JoinClaims {
            sub: server.world.student.to_string(),
            guild: server.world.guild_key(),
            meeting: "1".into(),
            partner: "campus".into(),
            role: "viewer".into(),
            name: "Bob".into(),
            aud: API_AUDIENCE.into(),
            iss: ISSUER.into(),
            iat: 0,
            exp: kd_kaltura::ks::unix_now() + 600,
        });
    assert_eq!(server.get(meetings, &join).await.code(), "invalid_token");

    let mut tampered = valid.clone();
    tampered.replace_range(valid.len() - 4.., "AAAA");
    assert_eq!(
        server.get(meetings, &tampered).await.code(),
        "invalid_token"
    );
    assert_eq!(
        server.get(meetings, "garbage").await.code(),
        "invalid_token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meetings_follow_the_slash_commands_rules() {
    let server = Server::start().await;
    let world = &server.world;
    let teacher = server.token(world.teacher).await;
    let student = server.token(world.student).await;
    let admin = server.token(world.admin).await;
    let new = json!({"type": "webinar", "title": " Optics ", "description": "Lenses"});

    let denied = server.post("/api/v1/meetings", &student, new.clone()).await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN);
    assert_eq!(denied.code(), "role_required");
    assert!(
        denied.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Teacher")
    );
    assert!(
        world.kaltura.schedule_events().is_empty(),
        "a denied start creates nothing"
    );

    let created = server.post("/api/v1/meetings", &teacher, new).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let meeting = created.json();
    assert_eq!(
        meeting["title"], "Optics",
        "trimmed like the command's option"
    );
    assert_eq!(meeting["type"], "webinar");
    assert_eq!(meeting["description"], "Lenses");
    assert_eq!(meeting["createdBy"], world.teacher.to_string());
    let id = meeting["id"].as_str().unwrap().to_string();
    assert_eq!(world.kaltura.schedule_events().len(), 1);
    let record = world
        .store
        .meeting(&world.guild_key(), &id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.created_by, world.teacher.to_string());

    for bad in [
        json!({"type": "party", "title": "x"}),
        json!({"type": "meeting", "title": "   "}),
        json!({"type": "meeting", "title": "x".repeat(101)}),
        json!({"type": "meeting"}),
    ] {
        let answer = server.post("/api/v1/meetings", &teacher, bad.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            answer.text
        );
        assert_eq!(answer.code(), "invalid_request");
    }

    let listed = server.get("/api/v1/meetings", &student).await;
    assert_eq!(listed.status, StatusCode::OK);
    let meetings = listed.json()["meetings"].as_array().unwrap().clone();
    assert_eq!(meetings.len(), 1);
    assert_eq!(meetings[0]["id"], id.as_str());

    let one = server
        .get(&format!("/api/v1/meetings/{id}"), &student)
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["title"], "Optics");
    let unknown = server.get("/api/v1/meetings/999999", &student).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.code(), "meeting_not_found");
    let not_an_id = server.get("/api/v1/meetings/12ab", &student).await;
    assert_eq!(not_an_id.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_an_id.code(), "invalid_request");

    let link = server
        .post(
            &format!("/api/v1/meetings/{id}/join-link"),
            &student,
            json!({}),
        )
        .await;
    assert_eq!(link.status, StatusCode::OK, "{}", link.text);
    let url = link.json()["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("https://watch.example.org/join/"), "{url}");

    // The student is neither the starter nor a moderator.
    let not_owner = server
        .post(&format!("/api/v1/meetings/{id}/end"), &student, json!({}))
        .await;
    assert_eq!(not_owner.status, StatusCode::FORBIDDEN);
    assert_eq!(not_owner.code(), "not_meeting_owner");

    // The admin role maps to no Kaltura moderator role here, and `/kaltura-end` is open to all,
    // so only the starter may end it; the starter does.
    assert_eq!(
        server
            .post(&format!("/api/v1/meetings/{id}/end"), &admin, json!({}))
            .await
            .code(),
        "not_meeting_owner"
    );
    let ended = server
        .post(&format!("/api/v1/meetings/{id}/end"), &teacher, json!({}))
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text);
    assert_eq!(ended.json()["id"], id.as_str());
    assert!(matches!(
        world
            .store
            .meeting(&world.guild_key(), &id)
            .await
            .unwrap()
            .unwrap()
            .state,
        kd_store::MeetingState::Ended { .. }
    ));
    assert_eq!(
        server
            .get(&format!("/api/v1/meetings/{id}"), &student)
            .await
            .code(),
        "meeting_not_found"
    );
    assert_eq!(
        server
            .post(
                &format!("/api/v1/meetings/{id}/join-link"),
                &student,
                json!({})
            )
            .await
            .code(),
        "meeting_not_found"
    );

    // The link made before the end no longer opens.
    let path = url.strip_prefix("https://watch.example.org").unwrap();
    let page = server.send(server.request(Method::GET, path, None)).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(
        page.text.contains("This meeting has ended"),
        "{}",
        page.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_ends_anyones_meeting_and_restricted_commands_stay_restricted() {
    let server = Server::start().await;
    let world = &server.world;
    // Anyone may run /kaltura-start here, but the role mapping decides who may host: Admins
    // map to moderator, students stay viewers. Joining is for Teachers only.
    world.reconfigure(|c| {
        let guild = c.guilds.get_mut(&world.guild_key()).unwrap();
        guild.permissions.remove(Command::Start.name());
        guild
            .permissions
            .insert(Command::Join.name().into(), vec!["Teacher".into()]);
        guild.roles.rules.push(kd_crds::role_mapping::RoleRule {
            discord_role: kd_crds::role_mapping::RoleSelector {
                name: Some("Admins".into()),
                id: None,
            },
            kaltura_role: "moderator".into(),
            priority: 5,
        });
    });
    let teacher = server.token(world.teacher).await;
    let student = server.token(world.student).await;
    let admin = server.token(world.admin).await;
    let refused = server
        .post(
            "/api/v1/meetings",
            &student,
            json!({"type": "meeting", "title": "Study group"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text);
    assert_eq!(refused.code(), "moderator_required");
    let created = server
        .post(
            "/api/v1/meetings",
            &admin,
            json!({"type": "meeting", "title": "Study group"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    let id = created.json()["id"].as_str().unwrap().to_string();

    let join = server
        .post(
            &format!("/api/v1/meetings/{id}/join-link"),
            &student,
            json!({}),
        )
        .await;
    assert_eq!(join.status, StatusCode::FORBIDDEN);
    assert_eq!(join.code(), "role_required");

    // The teacher maps to moderator: may end the admin's meeting.
    let ended = server
        .post(&format!("/api/v1/meetings/{id}/end"), &teacher, json!({}))
        .await;
    assert_eq!(ended.status, StatusCode::OK, "{}", ended.text);
    assert!(
        server.get("/api/v1/meetings", &student).await.json()["meetings"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn features_turned_off_in_git_or_from_discord_close_their_routes() {
    let server = Server::start().await;
    let world = &server.world;
    let student = server.token(world.student).await;
    assert_eq!(
        server
            .get("/api/v1/videos?q=physics", &student)
            .await
            .status,
        StatusCode::OK
    );
    // A guild admin turns video search off from Discord (a delegated override).
    world
        .store
        .set_override(&world.guild_key(), "features.videoSearch", "false", "1")
        .await
        .unwrap();
    let off = server.get("/api/v1/videos?q=physics", &student).await;
    assert_eq!(off.status, StatusCode::FORBIDDEN);
    assert_eq!(off.code(), "feature_disabled");

    world.reconfigure(|c| {
        c.guilds
            .get_mut(&world.guild_key())
            .unwrap()
            .features
            .meetings = false;
    });
    let meetings = server.get("/api/v1/meetings", &student).await;
    assert_eq!(meetings.code(), "feature_disabled");

    // The guild's GuildConfig is removed: its tokens stop working for it.
    world.reconfigure(|c| {
        c.guilds.clear();
    });
    let gone = server.get("/api/v1/meetings", &student).await;
    assert_eq!(gone.status, StatusCode::FORBIDDEN);
    assert_eq!(gone.code(), "guild_not_configured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn videos_search_get_and_playback() {
    let server = Server::start().await;
    let world = &server.world;
    let student = server.token(world.student).await;

    let found = server
        .get("/api/v1/videos?q=and&limit=2&page=1", &student)
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.text);
    let body = found.json();
    let videos = body["videos"].as_array().unwrap();
    assert_eq!(videos.len(), 2);
    assert_eq!(body["limit"], 2);
    assert!(body["total"].as_i64().unwrap() > 2);
    let entry = videos[0]["id"].as_str().unwrap().to_string();
    let second = server
        .get("/api/v1/videos?q=and&limit=2&page=2", &student)
        .await;
    assert_ne!(
        second.json()["videos"][0]["id"],
        entry.as_str(),
        "pages differ"
    );

    let nothing = server.get("/api/v1/videos?q=zzzqqq", &student).await;
    assert_eq!(nothing.json()["total"], 0);

    for bad in [
        "/api/v1/videos",
        "/api/v1/videos?q=a&limit=9",
        "/api/v1/videos?q=a&limit=0",
        "/api/v1/videos?q=a&page=0",
        "/api/v1/videos?q=a&page=abc",
        "/api/v1/videos?q=%20%20",
    ] {
        let answer = server.get(bad, &student).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            answer.text
        );
        assert_eq!(answer.code(), "invalid_request");
    }
    let long = format!("/api/v1/videos?q={}", "a".repeat(61));
    assert_eq!(server.get(&long, &student).await.code(), "invalid_request");

    let one = server
        .get(&format!("/api/v1/videos/{entry}"), &student)
        .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["id"], entry.as_str());
    assert_eq!(one.json()["name"], videos[0]["name"]);

    let missing = server.get("/api/v1/videos/0_doesnotexist", &student).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.code(), "video_not_found");
    let not_an_id = server.get("/api/v1/videos/a-b", &student).await;
    assert_eq!(not_an_id.code(), "invalid_request");

    let playback = server
        .get(&format!("/api/v1/videos/{entry}/playback"), &student)
        .await;
    assert_eq!(playback.status, StatusCode::OK);
    assert_eq!(
        playback.json()["playerUrl"],
        format!(
            "{}/index.php/extwidget/preview/partner_id/{}/uiconf_id/4242/entry_id/{entry}/embed/dynamic",
            world.kaltura.base_url(),
            world.kaltura.partner_id()
        )
    );
    assert_eq!(
        server
            .get("/api/v1/videos/0_doesnotexist/playback", &student)
            .await
            .code(),
        "video_not_found"
    );

    // Search restricted to Teachers, as `/kaltura-video-search` would be.
    world.reconfigure(|c| {
        c.guilds
            .get_mut(&world.guild_key())
            .unwrap()
            .permissions
            .insert(Command::VideoSearch.name().into(), vec!["Teacher".into()]);
    });
    assert_eq!(
        server.get("/api/v1/videos?q=and", &student).await.code(),
        "role_required"
    );
    let teacher = server.token(world.teacher).await;
    assert_eq!(
        server.get("/api/v1/videos?q=and", &teacher).await.status,
        StatusCode::OK
    );

    // Kaltura down: a clear 502 in the error shape, not a hang or a 500.
    world.kaltura.knobs().set_down(true);
    let down = server.get("/api/v1/videos?q=and", &teacher).await;
    assert_eq!(down.status, StatusCode::BAD_GATEWAY);
    assert_eq!(down.code(), "kaltura_unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_rate_limits_answer_429_with_retry_after() {
    let server = Server::start_with(ApiOptions {
        rate_per_minute: 1.try_into().unwrap(),
        rate_burst: 3.try_into().unwrap(),
        ..ApiOptions::default()
    })
    .await;
    let bot_token = server.world.discord.bot_token();
    let student = api_key(&bot_token).sign(&claims(&server, server.world.student, 600));
    let teacher = api_key(&bot_token).sign(&claims(&server, server.world.teacher, 600));
    for _ in 0..3 {
        assert_eq!(
            server.get("/api/v1/meetings", &student).await.status,
            StatusCode::OK
        );
    }
    let limited = server.get("/api/v1/meetings", &student).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.code(), "rate_limited");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Another user is not affected.
    assert_eq!(
        server.get("/api/v1/meetings", &teacher).await.status,
        StatusCode::OK
    );

    // Join links are limited per member too, with a page rather than JSON.
    let now = kd_kaltura::ks::unix_now();
    let join =
        kd_core::join_token::JoinKey::derive(&bot_token).sign(&kd_core::join_token::JoinClaims {
            sub: server.world.admin.to_string(),
            guild: server.world.guild_key(),
            meeting: "424242".into(),
            partner: "campus".into(),
            role: "viewer".into(),
            name: "cyd".into(),
            aud: kd_core::join_token::AUDIENCE.into(),
            iss: ISSUER.into(),
            iat: now,
            exp: now + 600,
        });
    let open = || server.send(server.request(Method::GET, &format!("/join/{join}"), None));
    for _ in 0..3 {
        assert_eq!(open().await.status, StatusCode::GONE, "no such meeting");
    }
    let page = open().await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.text.contains("Too many tries"), "{}", page.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_headers_and_unknown_routes() {
    let allowed = "https://app.example.org";
    let server = Server::start_with(ApiOptions {
        cors_origins: vec![allowed.into()],
        ..ApiOptions::default()
    })
    .await;
    let preflight = |origin: &'static str| {
        server
            .request(Method::OPTIONS, "/api/v1/meetings", None)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
    };
    let ok = server.send(preflight(allowed)).await;
    assert!(ok.status.is_success(), "{}", ok.status);
    assert_eq!(ok.header("access-control-allow-origin"), Some(allowed));
    let methods = ok
        .header("access-control-allow-methods")
        .unwrap()
        .to_lowercase();
    assert!(
        methods.contains("post") && methods.contains("get"),
        "{methods}"
    );
    let headers = ok
        .header("access-control-allow-headers")
        .unwrap()
        .to_lowercase();
    assert!(headers.contains("authorization"), "{headers}");

    let other = server.send(preflight("https://evil.example.com")).await;
    assert_eq!(other.header("access-control-allow-origin"), None);

    let student = server.token(server.world.student).await;
    let answer = server
        .send(
            server
                .request(Method::GET, "/api/v1/meetings", Some(&student))
                .header("origin", allowed),
        )
        .await;
    assert_eq!(answer.header("access-control-allow-origin"), Some(allowed));
    assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(answer.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let csp = answer.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("frame-ancestors https://discord.com"), "{csp}");

    let nowhere = server.get("/api/v1/nothing-here", &student).await;
    assert_eq!(nowhere.status, StatusCode::NOT_FOUND);
    assert_eq!(nowhere.code(), "not_found");
    let wrong_method = server
        .send(server.request(Method::DELETE, "/api/v1/meetings", Some(&student)))
        .await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.code(), "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let server = Server::start().await;
    let get = |path: &'static str| server.send(server.request(Method::GET, path, None));
    let health = get("/healthz").await;
    assert_eq!(
        (health.status, health.text.as_str()),
        (StatusCode::OK, "ok")
    );
    let ready = get("/readyz").await;
    assert_eq!(
        (ready.status, ready.text.as_str()),
        (StatusCode::OK, "ready")
    );

    let student = server.token(server.world.student).await;
    server.get("/api/v1/meetings/12345", &student).await;
    let metrics = get("/metrics").await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(
        metrics.text.contains(
            "kaltura_discord_api_requests_total{route=\"/api/v1/meetings/{meeting_id}\",method=\"GET\",status=\"404\"} 1"
        ),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("kaltura_discord_api_request_seconds_bucket")
    );
    assert!(
        !metrics.text.contains("12345"),
        "raw paths stay out of labels"
    );

    server.world.store.pool_close().await;
    let not_ready = get("/readyz").await;
    assert_eq!(not_ready.status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_roles_are_read_from_discord_at_exchange_time() {
    let server = Server::start().await;
    let world = &server.world;
    // The student is given the Teacher role in Discord: their next token maps to moderator.
    let key = api_key(&world.discord.bot_token());
    let teacher: ApiClaims = key.verify(&server.token(world.teacher).await).unwrap();
    let teacher_role: u64 = teacher.roles[0].id.parse().unwrap();
    world
        .discord
        .put_member(
            world.guild.id,
            world.student,
            kd_sandbox_discord::MemberSpec {
                roles: vec![teacher_role],
                nick: Some("Bobby".into()),
            },
        )
        .unwrap();
    let access = server.discord_access_token(world.student).await;
    let answer = server.exchange(&access, &world.guild_key()).await;
    assert_eq!(answer.json()["kalturaRole"], "moderator");
    let claims: ApiClaims = key
        .verify(answer.json()["token"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        claims.name, "Bobby",
        "the guild nickname is the display name"
    );
    assert_eq!(
        claims.roles,
        vec![GuildRole {
            id: teacher_role.to_string(),
            name: "Teacher".into()
        }]
    );
}

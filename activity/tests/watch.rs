//! Watch Together without a browser: the Activity's sign-in against the Discord sandbox, and
//! participants speaking the websocket protocol of PROTOCOL.md to a running server.

mod support;

use futures_util::SinkExt;
use kd_activity::ApiOptions;
use kd_activity::watch::session::{SESSION_AUDIENCE, SessionClaims, session_key};
use reqwest::StatusCode;
use serde_json::json;
use support::Server;
use support::watch::{
    Activity, Client, all_report, close_code, entries, launch, now_ms, position_at, raw, session,
    timings, token_answer,
};
use tokio_tungstenite::tungstenite::Message;

async fn server() -> Server {
    Server::start_with(ApiOptions {
        watch_timings: timings(),
        ..ApiOptions::default()
    })
    .await
}

/// The teacher (moderator) launches the Activity on the first entry; the others enter it.
async fn room(server: &Server, others: &[u64]) -> (Activity, Vec<Client>) {
    let world = &server.world;
    let entry = entries(server)[0].clone();
    let activity = launch(server, world.teacher, &entry).await;
    let mut clients = Vec::new();
    for user in std::iter::once(&world.teacher).chain(others) {
        clients.push(activity.join(server, *user, &server.base).await);
    }
    (activity, clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_follows_play_pause_seek_and_entry_changes_and_late_joiners_land_where_the_host_is()
 {
    let server = server().await;
    let world = &server.world;
    let all = entries(&server);
    let (activity, mut clients) = room(&server, &[world.student]).await;
    let welcome = &clients[0].welcome;
    assert_eq!(welcome["v"], 1);
    assert_eq!(welcome["room"]["host"], world.teacher.to_string());
    assert_eq!(
        welcome["room"]["timeline"]["entry_id"], all[0],
        "the room starts on what /kaltura-watch queued"
    );
    assert_eq!(welcome["room"]["timeline"]["state"], "paused");
    assert_eq!(
        welcome["room"]["queue"],
        json!([]),
        "the launching entry left the queue"
    );
    assert_eq!(welcome["config"]["max_frame_bytes"], 4096);
    all_report(&mut clients).await;

    // Clock sync: the four timestamps.
    clients[1]
        .send(json!({"type": "time", "id": 7, "t0": 123.5}))
        .await;
    let time = clients[1].next_of("time").await;
    assert_eq!(
        (time["id"].clone(), time["t0"].clone()),
        (json!(7), json!(123.5))
    );
    let (t1, t2) = (time["t1"].as_f64().unwrap(), time["t2"].as_f64().unwrap());
    assert!(t1 <= t2 && (now_ms() - t2).abs() < 5000.0, "{time}");

    // Play: everyone waits for everyone, then starts at one instant in the future.
    clients[0].send(json!({"type": "play"})).await;
    for c in clients.iter_mut() {
        let waiting = c.timeline_in("waiting").await;
        assert_eq!(
            waiting["waiting"]["pending"].as_array().unwrap().len(),
            2,
            "{waiting}"
        );
    }
    for c in clients.iter_mut() {
        c.ready().await;
    }
    let mut anchors = Vec::new();
    for c in clients.iter_mut() {
        let playing = c.timeline_in("playing").await;
        anchors.push((playing["anchor"].as_f64().unwrap(), playing["seq"].clone()));
    }
    assert_eq!(anchors[0], anchors[1], "one timeline for everyone");
    assert!(
        anchors[0].0 > now_ms() - 1000.0,
        "the start is scheduled, not in the past"
    );

    // Pause, then seek while paused: everyone lands on the same position.
    clients[0].send(json!({"type": "pause"})).await;
    for c in clients.iter_mut() {
        c.timeline_in("paused").await;
    }
    clients[0]
        .send(json!({"type": "seek", "position": 30.0}))
        .await;
    for c in clients.iter_mut() {
        let t = c
            .next_where("timeline", |m| m["timeline"]["position"] == 30.0)
            .await;
        assert_eq!(t["timeline"]["state"], "paused");
    }

    // Play again; a late joiner lands where the host is.
    clients[0].send(json!({"type": "play"})).await;
    for c in clients.iter_mut() {
        c.timeline_in("waiting").await;
        c.ready().await;
    }
    for c in clients.iter_mut() {
        c.timeline_in("playing").await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let late = activity.join(&server, world.admin, &server.base).await;
    let now = now_ms();
    let at = position_at(&late.timeline, now);
    let host_at = position_at(&clients[0].timeline, now);
    assert_eq!(late.timeline["state"], "playing");
    assert!(
        at > 30.0 && (at - host_at).abs() < 0.001,
        "late joiner at {at}, host at {host_at}"
    );
    clients.push(late);

    // A seek while playing; a joiner after it lands after the seek.
    clients[0]
        .send(json!({"type": "seek", "position": 80.0}))
        .await;
    for c in clients.iter_mut() {
        c.next_where("timeline", |m| m["timeline"]["position"] == 80.0)
            .await;
    }
    let after = activity.join(&server, world.admin, &server.base).await;
    assert!(
        position_at(&after.timeline, now_ms()) >= 80.0,
        "{}",
        after.timeline
    );

    // The queue: anyone adds, the host changes the entry, everyone follows.
    clients[1]
        .send(json!({"type": "queue_add", "entry_id": all[1]}))
        .await;
    for c in clients.iter_mut().take(2) {
        let queue = c
            .queue_until(|q| q.as_array().is_some_and(|q| !q.is_empty()))
            .await;
        assert_eq!(queue[0]["entry_id"], all[1]);
        assert_eq!(queue[0]["added_by"], world.student.to_string());
    }
    clients[0].send(json!({"type": "skip"})).await;
    for c in clients.iter_mut().take(2) {
        let t = c
            .next_where("timeline", |m| m["timeline"]["entry_id"] == all[1])
            .await;
        assert_eq!(t["timeline"]["position"], 0.0);
        assert!(t["timeline"]["title"].is_string(), "Kaltura's title: {t}");
        c.queue_until(|q| *q == json!([])).await;
    }
    // Presence shows everyone with their state.
    let presence = clients[0]
        .presence_until(|p| p["members"].as_array().is_some_and(|m| m.len() == 3))
        .await;
    let student = presence["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"].as_str() == Some(world.student.to_string().as_str()))
        .unwrap()
        .clone();
    assert_eq!(
        (student["role"].clone(), student["control"].clone()),
        (json!("viewer"), json!(false))
    );
    assert_eq!(student["quality"], "good");
    assert_eq!(student["state"], "paused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_host_and_moderators_control_and_the_host_hands_over_or_fails_over() {
    let server = server().await;
    let world = &server.world;
    let (_activity, mut clients) = room(&server, &[world.student, world.admin]).await;
    all_report(&mut clients).await;
    let [teacher, student, admin] =
        [world.teacher, world.student, world.admin].map(|u| u.to_string());

    // A viewer cannot control; nothing changes for anyone.
    let seq = clients[1].timeline["seq"].clone();
    clients[1]
        .send(json!({"type": "seek", "position": 10.0, "req": 5}))
        .await;
    let error = clients[1].next_of("error").await;
    assert_eq!(
        (
            error["code"].clone(),
            error["request"].clone(),
            error["req"].clone()
        ),
        (json!("forbidden"), json!("seek"), json!(5))
    );
    clients[1].send(json!({"type": "skip"})).await;
    assert_eq!(clients[1].next_of("error").await["code"], "forbidden");
    assert_eq!(clients[0].timeline["seq"], seq);

    // Anyone may ask; the host (and moderators) hear it; the host hands over.
    clients[1].send(json!({"type": "request_host"})).await;
    assert_eq!(clients[0].next_of("host_request").await["from"], student);
    clients[0]
        .send(json!({"type": "handover", "to": student}))
        .await;
    for c in clients.iter_mut() {
        c.presence_until(|p| p["host"] == student).await;
    }
    clients[1]
        .send(json!({"type": "seek", "position": 12.0}))
        .await;
    clients[0]
        .next_where("timeline", |m| m["timeline"]["position"] == 12.0)
        .await;

    // The host leaves: a moderator (the teacher) takes over at once.
    let host = clients.remove(1);
    host.leave().await;
    for c in clients.iter_mut() {
        c.presence_until(|p| p["host"] == teacher).await;
    }
    // The host drops: held for the grace period, then the next one takes over.
    let dropped = clients.remove(0);
    dropped.vanish();
    let held = clients[0]
        .presence_until(|p| {
            p["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["user_id"] == teacher && m["connected"] == false)
        })
        .await;
    assert_eq!(held["host"], teacher, "held during the grace period");
    clients[0].presence_until(|p| p["host"] == admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_viewer_delays_the_start_by_the_ready_timeout_only() {
    let server = server().await;
    let (_activity, mut clients) = room(&server, &[server.world.student]).await;
    all_report(&mut clients).await;
    clients[0]
        .send(json!({"type": "play", "position": 5.0}))
        .await;
    clients[0].timeline_in("waiting").await;
    clients[1].timeline_in("waiting").await;
    let asked = now_ms();
    clients[0].ready().await;
    // The student never gets ready.
    let playing = clients[1].timeline_in("playing").await;
    let waited = now_ms() - asked;
    assert!(
        (1000.0..5000.0).contains(&waited),
        "started after {waited} ms (timeout 1500)"
    );
    assert_eq!(playing["position"], 5.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_checks_discord_and_forged_or_expired_sessions_are_refused() {
    let server = server().await;
    let world = &server.world;
    let all = entries(&server);
    let activity = launch(&server, world.teacher, &all[0]).await;

    // The student is in the guild but not in the Activity.
    let outsider = token_answer(&server, world.student, &activity).await;
    assert_eq!(
        (outsider.status, outsider.code()),
        (StatusCode::FORBIDDEN, "not_a_participant".into())
    );
    // Another channel than the instance's.
    let elsewhere = Activity {
        channel_id: world.guild.general_channel_id.to_string(),
        ..Activity {
            ..activity_clone(&activity)
        }
    };
    let wrong = token_answer(&server, world.teacher, &elsewhere).await;
    assert_eq!(wrong.code(), "not_a_participant");
    let gone = Activity {
        instance_id: "i-0-gc-1-2".into(),
        ..activity_clone(&activity)
    };
    assert_eq!(
        token_answer(&server, world.teacher, &gone).await.code(),
        "instance_not_found"
    );
    let bad_code = server
        .send(
            server
                .request(reqwest::Method::POST, "/api/token", None)
                .json(&json!({
                    "code": "not-a-code", "instance_id": activity.instance_id,
                    "guild_id": activity.guild_id, "channel_id": activity.channel_id,
                })),
        )
        .await;
    assert_eq!(
        (bad_code.status, bad_code.code()),
        (StatusCode::UNAUTHORIZED, "invalid_code".into())
    );
    let malformed = server
        .send(
            server
                .request(reqwest::Method::POST, "/api/token", None)
                .json(&json!({"code": "x"})),
        )
        .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);

    let answer = token_answer(&server, world.teacher, &activity).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let body = answer.json();
    assert_eq!(
        (body["kaltura_role"].clone(), body["can_control"].clone()),
        (json!("moderator"), json!(true))
    );
    assert!(body["access_token"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(body["ws_path"], "/api/watch/ws");
    let session = body["session"].as_str().unwrap().to_string();

    // Forged (another key) and expired sessions never join.
    let claims: SessionClaims = session_key(&world.discord.bot_token())
        .verify(&session)
        .unwrap();
    let forged = session_key("not-the-bot-token").sign(&claims);
    let expired = session_key(&world.discord.bot_token()).sign(&SessionClaims {
        exp: claims.iat - 3600,
        ..claims.clone()
    });
    assert_eq!(claims.aud, SESSION_AUDIENCE);
    for token in [forged.as_str(), expired.as_str(), "garbage"] {
        let mut ws = raw(&server.base).await;
        ws.send(Message::text(
            json!({"type": "hello", "v": 1, "token": token}).to_string(),
        ))
        .await
        .unwrap();
        assert_eq!(close_code(&mut ws).await, Some(4001), "{token}");
    }

    // Playback: a KS for the viewer and that entry only, for entries of the room only.
    let _host = Client::connect(&server.base, &session).await;
    let playback = |entry: &str, token: &str| {
        server.send(
            server
                .request(reqwest::Method::POST, "/api/watch/playback", Some(token))
                .json(&json!({"entry_id": entry})),
        )
    };
    let ok = playback(&all[0], &session).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    let ks = ok.json()["ks"].as_str().unwrap().to_string();
    let fields = kd_kaltura::ks::decode(
        &ks,
        &[kd_kaltura::Secret::new(world.kaltura.admin_secret())],
    )
    .unwrap();
    assert_eq!(fields.user_id, format!("discord_{}", world.teacher));
    assert_eq!(fields.privileges.get("sview"), Some(all[0].as_str()));
    assert!(fields.expiry - kd_kaltura::ks::unix_now() <= 600);
    let other = playback(&all[2], &session).await;
    assert_eq!(
        (other.status, other.code()),
        (StatusCode::FORBIDDEN, "entry_not_in_room".into())
    );
    assert_eq!(playback(&all[0], &forged).await.code(), "invalid_session");
    assert_eq!(playback(&all[0], &expired).await.code(), "invalid_session");
}

fn activity_clone(a: &Activity) -> Activity {
    Activity {
        instance_id: a.instance_id.clone(),
        guild_id: a.guild_id.clone(),
        channel_id: a.channel_id.clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_clients_are_closed_alone_and_the_room_plays_on() {
    let server = server().await;
    let world = &server.world;
    let (activity, mut clients) = room(&server, &[world.student]).await;
    all_report(&mut clients).await;
    let student = session(&server, world.student, &activity).await;

    // Each bad client joins the room (as the student, in a second tab) and misbehaves.
    let cases: Vec<(&str, Vec<Message>, Option<u16>)> = vec![
        ("malformed", vec![Message::text("{not json")], Some(4000)),
        (
            "unknown type",
            vec![Message::text(r#"{"type":"dance"}"#)],
            Some(4000),
        ),
        ("binary", vec![Message::binary(vec![1, 2, 3])], Some(4000)),
        (
            "oversize",
            vec![Message::text(format!(
                r#"{{"type":"report","pad":"{}"}}"#,
                "x".repeat(5000)
            ))],
            Some(1009),
        ),
        (
            "flood",
            (0..200)
                .map(|i| Message::text(json!({"type": "time", "id": i, "t0": 1.0}).to_string()))
                .collect(),
            Some(4008),
        ),
    ];
    for (name, frames, code) in cases {
        let mut ws = raw(&server.base).await;
        ws.send(Message::text(
            json!({"type": "hello", "v": 1, "token": student}).to_string(),
        ))
        .await
        .unwrap();
        for frame in frames {
            if ws.send(frame).await.is_err() {
                break;
            }
        }
        assert_eq!(close_code(&mut ws).await, code, "{name}");
    }
    let mut v2 = raw(&server.base).await;
    v2.send(Message::text(
        json!({"type": "hello", "v": 2, "token": student}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(close_code(&mut v2).await, Some(4003));
    let mut no_hello = raw(&server.base).await;
    no_hello
        .send(Message::text(
            json!({"type": "time", "id": 1, "t0": 1.0}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(
        close_code(&mut no_hello).await,
        Some(4000),
        "hello must come first"
    );

    // A participant who never syncs its clock nor reports holds no one up.
    let _silent = activity.join(&server, world.admin, &server.base).await;
    // The student's tab was replaced by the bad clients: connect it again.
    clients[1] = Client::connect(&server.base, &student).await;
    clients[1].report("paused", 0.0).await;
    clients[0].send(json!({"type": "play"})).await;
    let waiting = clients[0].timeline_in("waiting").await;
    assert!(
        !waiting["waiting"]["pending"]
            .as_array()
            .unwrap()
            .contains(&json!(world.admin.to_string())),
        "{waiting}"
    );
    for c in clients.iter_mut() {
        c.ready().await;
    }
    for c in clients.iter_mut() {
        c.timeline_in("playing").await;
    }
    // The host never saw any of it: no error, no close, and the room is intact.
    let presence = clients[0]
        .presence_until(|p| p["members"].as_array().is_some_and(|m| m.len() == 3))
        .await;
    assert_eq!(presence["host"], world.teacher.to_string());
    let metrics = server
        .send(server.request(reqwest::Method::GET, "/metrics", None))
        .await
        .text;
    assert!(
        metrics.contains("watch_closes_total{code=\"4008\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "watch_participants{{guild=\"{}\"}} 3",
            world.guild.id
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains(&format!(
            "watch_sessions_total{{guild=\"{}\"}} 1",
            world.guild.id
        )),
        "{metrics}"
    );
}

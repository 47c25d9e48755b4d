//! Two Activity replicas on one PostgreSQL: participants of one Activity instance connected to
//! different replicas are in one room and see the same thing as on one replica. Each replica is
//! a server of its own (own store pool, own LISTEN connection, own rooms in memory); they share
//! nothing but the database.

mod support;

use kd_activity::ApiOptions;
use kd_store::Store;
use serde_json::json;
use support::Server;
use support::watch::{all_report, entries, launch, now_ms, position_at, timings};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn participants_on_two_replicas_are_in_one_room() {
    let options = ApiOptions {
        watch_timings: timings(),
        ..ApiOptions::default()
    };
    let server = Server::start_with(options.clone()).await;
    let world = &server.world;
    let url = support::postgres_database("kd_watch_replicas").await;
    let (a, _) = support::serve(world, options.clone(), Store::open(&url).await.unwrap()).await;
    let (b, _) = support::serve(world, options, Store::open(&url).await.unwrap()).await;
    let all = entries(&server);
    let activity = launch(&server, world.teacher, &all[0]).await;
    // What /kaltura-watch queued, in the replicas' store.
    let shared = Store::open(&url).await.unwrap();
    shared
        .queue_watch(
            &activity.guild_id,
            &activity.channel_id,
            &all[0],
            &world.teacher.to_string(),
        )
        .await
        .unwrap();
    let [teacher, student, admin] =
        [world.teacher, world.student, world.admin].map(|u| u.to_string());

    let mut clients = vec![
        activity.join(&server, world.teacher, &a).await,
        activity.join(&server, world.student, &b).await,
    ];
    assert_eq!(
        clients[1].welcome["room"]["host"], teacher,
        "one room: the first joiner on A is host on B"
    );
    assert_eq!(clients[1].welcome["room"]["timeline"]["entry_id"], all[0]);
    all_report(&mut clients).await;
    // Reports made on A reach B's presence (the replicas' digests).
    clients[1]
        .presence_until(|p| {
            p["members"]
                .as_array()
                .unwrap()
                .iter()
                .all(|m| m["state"] == "paused")
        })
        .await;

    // Play through wait-for-ready across replicas: one anchor for both.
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
        anchors.push(c.timeline_in("playing").await["anchor"].clone());
    }
    assert_eq!(anchors[0], anchors[1]);

    // Pause and seek from A; B follows. A viewer on B cannot control.
    clients[0].send(json!({"type": "pause"})).await;
    clients[1].timeline_in("paused").await;
    clients[0]
        .send(json!({"type": "seek", "position": 40.0}))
        .await;
    clients[1]
        .next_where("timeline", |m| m["timeline"]["position"] == 40.0)
        .await;
    clients[1]
        .send(json!({"type": "seek", "position": 1.0}))
        .await;
    assert_eq!(clients[1].next_of("error").await["code"], "forbidden");

    // Queue from B, skip from A: both see the new entry.
    clients[1]
        .send(json!({"type": "queue_add", "entry_id": all[1]}))
        .await;
    clients[0]
        .queue_until(|q| q.as_array().is_some_and(|q| q.len() == 1))
        .await;
    clients[0].send(json!({"type": "skip"})).await;
    for c in clients.iter_mut() {
        c.next_where("timeline", |m| m["timeline"]["entry_id"] == all[1])
            .await;
    }
    clients[0]
        .send(json!({"type": "play", "position": 10.0}))
        .await;
    for c in clients.iter_mut() {
        c.timeline_in("waiting").await;
        c.ready().await;
    }
    for c in clients.iter_mut() {
        c.timeline_in("playing").await;
    }

    // A late joiner on B lands where the host on A is.
    let late = activity.join(&server, world.admin, &b).await;
    let now = now_ms();
    let (at, host_at) = (
        position_at(&late.timeline, now),
        position_at(&clients[0].timeline, now),
    );
    assert!(
        at >= 10.0 && (at - host_at).abs() < 0.001,
        "late joiner at {at}, host at {host_at}"
    );
    clients.push(late);

    // Hand-over across replicas, then the host (on B) leaves: the moderator on A takes over.
    clients[0]
        .send(json!({"type": "handover", "to": student}))
        .await;
    for c in clients.iter_mut() {
        c.presence_until(|p| p["host"] == student).await;
    }
    clients.remove(1).leave().await;
    for c in clients.iter_mut() {
        c.presence_until(|p| p["host"] == teacher).await;
    }
    // The host on A drops: held for the grace period, then the admin on B takes over.
    clients.remove(0).vanish();
    let held = clients[0]
        .presence_until(|p| {
            p["members"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["user_id"] == teacher && m["connected"] == false)
        })
        .await;
    assert_eq!(held["host"], teacher);
    clients[0].presence_until(|p| p["host"] == admin).await;
    shared.pool_close().await;
}

//! Unmodified twilight-gateway against the sandbox: identify, READY, GUILD_CREATE, dispatches,
//! resume after a dropped connection (also by a new `Shard`), op 7 and op 9, two sessions of
//! one shard.

mod common;

use common::{
    TIMEOUT, guild_with_member, http, next_dispatch, parse, sandbox, shard, wait_dispatch,
};
use kd_sandbox_discord::{MemberSpec, NewGuild, NewRole};
use twilight_gateway::Intents;
use twilight_model::gateway::event::DispatchEvent;

const INTENTS: Intents = Intents::GUILDS
    .union(Intents::GUILD_MEMBERS)
    .union(Intents::GUILD_MESSAGES)
    .union(Intents::MESSAGE_CONTENT);

#[tokio::test]
async fn identifies_and_receives_ready_then_guild_create() {
    let sandbox = sandbox().await;
    let (guild, _) = guild_with_member(&sandbox);
    let mut shard = shard(&sandbox, INTENTS);

    let ready = next_dispatch(&mut shard).await;
    assert_eq!((ready.t.as_str(), ready.s), ("READY", 1));
    let DispatchEvent::Ready(ready_event) = parse(&ready) else {
        panic!("not READY")
    };
    assert_eq!(ready_event.user.id.get(), sandbox.bot_user_id());
    assert_eq!(ready_event.application.id.get(), sandbox.application_id());
    assert_eq!(ready_event.resume_gateway_url, sandbox.gateway_url());
    assert_eq!(
        ready_event
            .guilds
            .iter()
            .map(|g| g.id.get())
            .collect::<Vec<_>>(),
        vec![guild.id]
    );

    let created = next_dispatch(&mut shard).await;
    assert_eq!((created.t.as_str(), created.s), ("GUILD_CREATE", 2));
    let DispatchEvent::GuildCreate(guild_create) = parse(&created) else {
        panic!("not GUILD_CREATE")
    };
    let twilight_model::gateway::payload::incoming::GuildCreate::Available(available) =
        *guild_create
    else {
        panic!("guild unavailable")
    };
    assert_eq!(available.name, "Physics 101");
    assert_eq!(available.channels.len(), 2);
    assert_eq!(available.members.len(), 3);
    assert!(
        available
            .roles
            .iter()
            .any(|r| r.id.get() == guild.everyone_role_id)
    );
    let session = shard.session().expect("twilight holds a session");
    assert_eq!(session.sequence(), 2);
    assert_eq!(sandbox.gateway_sessions()[0].session_id, session.id());
}

#[tokio::test]
async fn live_changes_arrive_as_twilight_events() {
    let sandbox = sandbox().await;
    let (guild, ann) = guild_with_member(&sandbox);
    let mut shard = shard(&sandbox, INTENTS);
    wait_dispatch(&mut shard, "GUILD_CREATE").await;

    let role = sandbox
        .create_role(
            guild.id,
            NewRole {
                name: "Teacher".into(),
                ..NewRole::default()
            },
        )
        .unwrap();
    sandbox
        .put_member(
            guild.id,
            ann,
            MemberSpec {
                roles: vec![role.id],
                nick: Some("Prof".into()),
            },
        )
        .unwrap();
    let update = wait_dispatch(&mut shard, "GUILD_MEMBER_UPDATE").await;
    let DispatchEvent::MemberUpdate(member) = parse(&update) else {
        panic!("not GUILD_MEMBER_UPDATE")
    };
    assert_eq!(
        member.roles.iter().map(|r| r.get()).collect::<Vec<_>>(),
        vec![role.id]
    );
    assert_eq!(member.nick.as_deref(), Some("Prof"));

    sandbox
        .send_message_as(guild.general_channel_id, ann, "hello bot")
        .unwrap();
    let message = wait_dispatch(&mut shard, "MESSAGE_CREATE").await;
    let DispatchEvent::MessageCreate(message) = parse(&message) else {
        panic!("not MESSAGE_CREATE")
    };
    assert_eq!(message.content, "hello bot");
    assert_eq!(message.author.id.get(), ann);

    // Joining a new guild and leaving it.
    let other = sandbox
        .create_guild(NewGuild {
            name: "Chemistry".into(),
            ..NewGuild::default()
        })
        .unwrap();
    let joined = wait_dispatch(&mut shard, "GUILD_CREATE").await;
    assert_eq!(joined.d["id"], other.id.to_string());
    parse(&joined);
    sandbox
        .remove_member(other.id, sandbox.bot_user_id())
        .unwrap();
    let left = wait_dispatch(&mut shard, "GUILD_DELETE").await;
    let DispatchEvent::GuildDelete(deleted) = parse(&left) else {
        panic!("not GUILD_DELETE")
    };
    assert_eq!(deleted.id.get(), other.id);
    assert!(!deleted.unavailable.unwrap_or(false));

    // Invited back: GUILD_CREATE again.
    let spec = MemberSpec {
        roles: vec![other.bot_role_id],
        nick: None,
    };
    sandbox
        .put_member(other.id, sandbox.bot_user_id(), spec)
        .unwrap();
    let rejoined = wait_dispatch(&mut shard, "GUILD_CREATE").await;
    assert_eq!(rejoined.d["id"], other.id.to_string());
}

#[tokio::test]
async fn intents_filter_dispatches() {
    let sandbox = sandbox().await;
    let (guild, ann) = guild_with_member(&sandbox);
    let mut shard = shard(&sandbox, Intents::GUILDS);
    wait_dispatch(&mut shard, "GUILD_CREATE").await;
    sandbox
        .send_message_as(guild.general_channel_id, ann, "not for you")
        .unwrap();
    sandbox
        .put_member(
            guild.id,
            ann,
            MemberSpec {
                roles: vec![],
                nick: Some("x".into()),
            },
        )
        .unwrap();
    let channel = sandbox
        .create_channel(
            guild.id,
            kd_sandbox_discord::NewChannel {
                name: "news".into(),
                kind: 0,
            },
        )
        .unwrap();
    // Without GUILD_MESSAGES and GUILD_MEMBERS, the next dispatch is the channel creation.
    let next = next_dispatch(&mut shard).await;
    assert_eq!(next.t, "CHANNEL_CREATE");
    assert_eq!(next.d["id"], channel.id.to_string());
}

#[tokio::test]
async fn message_content_is_empty_without_its_intent_unless_the_bot_is_mentioned() {
    let sandbox = sandbox().await;
    let (guild, ann) = guild_with_member(&sandbox);
    let mut shard = shard(&sandbox, Intents::GUILDS | Intents::GUILD_MESSAGES);
    wait_dispatch(&mut shard, "GUILD_CREATE").await;
    sandbox
        .send_message_as(guild.general_channel_id, ann, "private words")
        .unwrap();
    let hidden = wait_dispatch(&mut shard, "MESSAGE_CREATE").await;
    assert_eq!(hidden.d["content"], "");
    let mention = format!("<@{}> hello", sandbox.bot_user_id());
    sandbox
        .send_message_as(guild.general_channel_id, ann, mention.clone())
        .unwrap();
    let shown = wait_dispatch(&mut shard, "MESSAGE_CREATE").await;
    assert_eq!(shown.d["content"], mention.as_str());
}

/// Drops the connection while dispatches are in flight and more happen while it is down: each
/// arrives exactly once, in order, with increasing seq, after a RESUMED (no second READY).
#[tokio::test]
async fn resumes_after_a_dropped_connection_without_losing_a_dispatch() {
    let sandbox = sandbox().await;
    let (guild, ann) = guild_with_member(&sandbox);
    let mut shard = shard(&sandbox, INTENTS);
    wait_dispatch(&mut shard, "GUILD_CREATE").await;

    for i in 0..3 {
        sandbox
            .send_message_as(guild.general_channel_id, ann, format!("m{i}"))
            .unwrap();
    }
    assert_eq!(sandbox.drop_gateway_connections(), 1);
    for i in 3..6 {
        sandbox
            .send_message_as(guild.general_channel_id, ann, format!("m{i}"))
            .unwrap();
    }

    let mut contents = vec![];
    let mut seqs = vec![];
    let mut others = vec![];
    while contents.len() < 6 {
        let dispatch = next_dispatch(&mut shard).await;
        if dispatch.t == "MESSAGE_CREATE" {
            contents.push(dispatch.d["content"].as_str().unwrap().to_owned());
            seqs.push(dispatch.s);
        } else {
            others.push(dispatch.t);
        }
    }
    assert_eq!(contents, ["m0", "m1", "m2", "m3", "m4", "m5"]);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert_eq!(seqs[0], 3, "READY=1, GUILD_CREATE=2, then the messages");
    let resumed = if others.contains(&"RESUMED".to_owned()) {
        true
    } else {
        wait_dispatch(&mut shard, "RESUMED").await.s == 9
    };
    assert!(resumed);
    assert!(
        !others.contains(&"READY".to_owned()),
        "twilight resumed, not re-identified: {others:?}"
    );
    let sessions = sandbox.gateway_sessions();
    assert_eq!(sessions.len(), 1);
    assert!(sessions[0].connected);
    assert_eq!(shard.session().unwrap().id(), sessions[0].session_id);
}

#[tokio::test]
async fn op7_reconnect_resumes_the_same_session() {
    let sandbox = sandbox().await;
    let (guild, ann) = guild_with_member(&sandbox);
    let mut shard = shard(&sandbox, INTENTS);
    wait_dispatch(&mut shard, "GUILD_CREATE").await;
    let session_id = shard.session().unwrap().id().to_owned();

    assert_eq!(sandbox.send_reconnect(), 1);
    let resumed = wait_dispatch(&mut shard, "RESUMED").await;
    assert_eq!(resumed.s, 3);
    assert_eq!(shard.session().unwrap().id(), session_id);
    sandbox
        .send_message_as(guild.general_channel_id, ann, "after reconnect")
        .unwrap();
    let message = wait_dispatch(&mut shard, "MESSAGE_CREATE").await;
    assert_eq!(
        (message.s, message.d["content"].as_str()),
        (4, Some("after reconnect"))
    );
}

#[tokio::test]
async fn op9_invalid_session_makes_twilight_identify_again() {
    let sandbox = sandbox().await;
    guild_with_member(&sandbox);
    let mut shard = shard(&sandbox, INTENTS);
    wait_dispatch(&mut shard, "GUILD_CREATE").await;
    let first = shard.session().unwrap().id().to_owned();

    assert_eq!(sandbox.invalidate_sessions(false), 1);
    let ready = wait_dispatch(&mut shard, "READY").await;
    assert_eq!(ready.s, 1, "a new session counts from 1");
    assert_ne!(ready.d["session_id"], first.as_str());
    wait_dispatch(&mut shard, "GUILD_CREATE").await;
}

/// Two twilight shards split the guilds by `(guild_id >> 22) % shard_count`, as Discord does.
#[tokio::test]
async fn shards_each_get_their_own_guilds() {
    let sandbox = sandbox().await;
    let mut by_shard: [Vec<u64>; 2] = [vec![], vec![]];
    while by_shard.iter().any(Vec::is_empty) {
        let guild = sandbox
            .create_guild(NewGuild {
                name: "g".into(),
                ..NewGuild::default()
            })
            .unwrap();
        by_shard[((guild.id >> 22) % 2) as usize].push(guild.id);
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    for (index, expected) in by_shard.iter().enumerate() {
        let config = twilight_gateway::ConfigBuilder::new(sandbox.bot_token(), Intents::GUILDS)
            .proxy_url(sandbox.gateway_url().to_owned())
            .build();
        let mut shard = twilight_gateway::Shard::with_config(
            twilight_gateway::ShardId::new(index as u32, 2),
            config,
        );
        let ready = wait_dispatch(&mut shard, "READY").await;
        let mut ids: Vec<u64> = ready.d["guilds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["id"].as_str().unwrap().parse().unwrap())
            .collect();
        ids.sort_unstable();
        assert_eq!(&ids, expected, "shard {index}");
        assert_eq!(ready.d["shard"], serde_json::json!([index, 2]));
    }
}

/// What `GET /gateway/bot` says about the session start limit, read by twilight-http.
async fn session_start_limit(
    sandbox: &kd_sandbox_discord::DiscordSandbox,
) -> twilight_model::gateway::SessionStartLimit {
    http(sandbox)
        .gateway()
        .authed()
        .await
        .unwrap()
        .model()
        .await
        .unwrap()
        .session_start_limit
}

/// A session outlives its connection and its process: a new `Shard` given the first one's
/// session and resume URL resumes it and gets the dispatch sent while nobody was connected.
#[tokio::test]
async fn a_new_shard_resumes_the_session_of_a_dropped_one_and_gets_what_it_missed() {
    let sandbox = sandbox().await;
    let (guild, ann) = guild_with_member(&sandbox);
    let fresh = session_start_limit(&sandbox).await;
    assert_eq!(
        (
            fresh.total,
            fresh.remaining,
            fresh.max_concurrency,
            fresh.reset_after
        ),
        (1000, 1000, 1, 86_400_000)
    );

    let mut first = shard(&sandbox, INTENTS);
    wait_dispatch(&mut first, "GUILD_CREATE").await;
    let session = first.session().unwrap().clone();
    let resume_url = first.resume_url().unwrap().to_owned();
    drop(first);
    tokio::time::timeout(TIMEOUT, async {
        while sandbox.gateway_sessions()[0].connected {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the sandbox sees the connection go");
    sandbox
        .send_message_as(guild.general_channel_id, ann, "while nobody listened")
        .unwrap();

    let config = twilight_gateway::ConfigBuilder::new(sandbox.bot_token(), INTENTS)
        .proxy_url(sandbox.gateway_url().to_owned())
        .session(session.clone())
        .resume_url(resume_url)
        .build();
    let mut second = twilight_gateway::Shard::with_config(twilight_gateway::ShardId::ONE, config);
    let missed = next_dispatch(&mut second).await;
    assert_eq!(
        (missed.t.as_str(), missed.s, missed.d["content"].as_str()),
        ("MESSAGE_CREATE", 3, Some("while nobody listened"))
    );
    let resumed = next_dispatch(&mut second).await;
    assert_eq!((resumed.t.as_str(), resumed.s), ("RESUMED", 4));
    assert_eq!(second.session().unwrap().id(), session.id());

    let used = session_start_limit(&sandbox).await;
    assert_eq!(
        used.remaining, 999,
        "the identify counted, the resume did not"
    );
    assert!(
        used.reset_after < 86_400_000 && used.reset_after > 86_000_000,
        "{used:?}"
    );
}

/// Discord keeps both sessions of a shard identified twice (as in a hand-over between two
/// processes) and sends the shard's dispatches to each. With `max_concurrency` 1 the second
/// identify within 5 s gets op 9 first; twilight's own queue then waits and identifies again.
#[tokio::test]
async fn two_sessions_of_one_shard_both_get_its_dispatches() {
    let sandbox = sandbox().await;
    let (guild, ann) = guild_with_member(&sandbox);
    let mut first = shard(&sandbox, INTENTS);
    wait_dispatch(&mut first, "GUILD_CREATE").await;
    let mut second = shard(&sandbox, INTENTS);
    wait_dispatch(&mut second, "GUILD_CREATE").await;
    assert_ne!(
        first.session().unwrap().id(),
        second.session().unwrap().id()
    );
    let sessions = sandbox.gateway_sessions();
    assert_eq!(sessions.len(), 2);
    assert!(sessions.iter().all(|s| s.connected && s.shard == [0, 1]));

    sandbox
        .send_message_as(guild.general_channel_id, ann, "to both")
        .unwrap();
    for shard in [&mut first, &mut second] {
        let message = wait_dispatch(shard, "MESSAGE_CREATE").await;
        assert_eq!(message.d["content"], "to both");
    }
    assert_eq!(session_start_limit(&sandbox).await.remaining, 998);
}

//! Members act through the control API; the app (twilight-gateway + twilight-http) answers.
//! Covers commands with options, buttons, autocomplete, modals, deferred responses, follow-ups,
//! permissions from roles, type 12 (launch activity) and Discord's deadlines.

mod common;

use common::{api_code, guild_with_member, http, parse, sandbox, shard, start, wait_dispatch};
use kd_sandbox_discord::{
    Config, DiscordSandbox, GuildCreated, MemberSpec, NewCommandInteraction,
    NewComponentInteraction, NewModalSubmit, NewRole, permission,
};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use twilight_gateway::{Intents, Shard};
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::gateway::event::DispatchEvent;
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;

struct App {
    sandbox: DiscordSandbox,
    guild: GuildCreated,
    ann: u64,
    client: twilight_http::Client,
    shard: Shard,
}

async fn app(config: Config) -> App {
    let sandbox = start(config).await;
    let (guild, ann) = guild_with_member(&sandbox);
    let client = http(&sandbox);
    let commands: Vec<twilight_model::application::command::Command> = serde_json::from_value(json!([
        {"type": 1, "name": "kaltura-start", "description": "Start a meeting", "version": "1", "options": [
            {"type": 3, "name": "title", "description": "Title", "required": true, "autocomplete": true},
            {"type": 5, "name": "private", "description": "Only invited"}
        ]},
        {"type": 1, "name": "kaltura-end", "description": "End a meeting", "version": "1", "default_member_permissions": "8", "options": []}
    ]))
    .unwrap();
    client
        .interaction(Id::new(sandbox.application_id()))
        .set_guild_commands(Id::new(guild.id), &commands)
        .await
        .unwrap();
    let mut shard = shard(&sandbox, Intents::GUILDS);
    wait_dispatch(&mut shard, "GUILD_CREATE").await;
    App {
        sandbox,
        guild,
        ann,
        client,
        shard,
    }
}

impl App {
    fn command(&self, name: &str, options: serde_json::Value) -> NewCommandInteraction {
        NewCommandInteraction {
            guild_id: self.guild.id,
            channel_id: self.guild.general_channel_id,
            user_id: self.ann,
            name: name.into(),
            options: serde_json::from_value(options).unwrap(),
            ..NewCommandInteraction::default()
        }
    }

    async fn next_interaction(&mut self) -> Interaction {
        let dispatch = wait_dispatch(&mut self.shard, "INTERACTION_CREATE").await;
        match parse(&dispatch) {
            DispatchEvent::InteractionCreate(interaction) => interaction.0,
            other => panic!("{other:?}"),
        }
    }

    async fn respond(
        &self,
        interaction: &Interaction,
        kind: InteractionResponseType,
        data: Option<InteractionResponseData>,
    ) -> Result<(), twilight_http::Error> {
        let response = InteractionResponse { kind, data };
        self.client
            .interaction(Id::new(self.sandbox.application_id()))
            .create_response(interaction.id, &interaction.token, &response)
            .await
            .map(|_| ())
    }
}

fn text(content: &str) -> Option<InteractionResponseData> {
    Some(InteractionResponseData {
        content: Some(content.into()),
        ..InteractionResponseData::default()
    })
}

#[tokio::test]
async fn command_reply_button_update_followup_and_edit() {
    let mut app = app(Config::default()).await;
    let invoked = app
        .sandbox
        .invoke_command(app.command(
            "kaltura-start",
            json!([{"name": "title", "value": "Lecture"}, {"name": "private", "value": true}]),
        ))
        .unwrap();
    let interaction = app.next_interaction().await;
    assert_eq!(interaction.id.get(), invoked.id);
    assert_eq!(interaction.token, invoked.token);
    assert_eq!(interaction.kind, InteractionType::ApplicationCommand);
    let Some(InteractionData::ApplicationCommand(data)) = &interaction.data else {
        panic!("no command data")
    };
    assert_eq!(data.name, "kaltura-start");
    assert_eq!(
        format!("{:?}", data.options[0].value),
        r#"String("Lecture")"#
    );
    assert_eq!(format!("{:?}", data.options[1].value), "Boolean(true)");
    let member = interaction.member.as_ref().unwrap();
    assert_eq!(
        member.permissions.unwrap().bits(),
        permission::EVERYONE_DEFAULT
    );

    let button = serde_json::from_value(json!({"type": 1, "components": [{"type": 2, "style": 1, "label": "Join", "custom_id": "join"}]})).unwrap();
    let reply = InteractionResponseData {
        content: Some("Started".into()),
        components: Some(vec![button]),
        ..InteractionResponseData::default()
    };
    app.respond(
        &interaction,
        InteractionResponseType::ChannelMessageWithSource,
        Some(reply),
    )
    .await
    .unwrap();
    let view = app.sandbox.interaction(invoked.id).unwrap();
    let original = view.original.clone().unwrap();
    assert_eq!(original["content"], "Started");
    assert_eq!(original["type"], 20);
    assert_eq!(original["interaction_metadata"]["name"], "kaltura-start");

    let again = app
        .respond(
            &interaction,
            InteractionResponseType::ChannelMessageWithSource,
            text("twice"),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&again), 40060);

    // A member presses the button; the app updates the message in place.
    let message_id: u64 = original["id"].as_str().unwrap().parse().unwrap();
    let pressed = app
        .sandbox
        .press_component(NewComponentInteraction {
            message_id,
            user_id: app.ann,
            custom_id: "join".into(),
            values: vec![],
        })
        .unwrap();
    let component = app.next_interaction().await;
    assert_eq!(component.kind, InteractionType::MessageComponent);
    let Some(InteractionData::MessageComponent(data)) = &component.data else {
        panic!("no component data")
    };
    assert_eq!(data.custom_id, "join");
    assert_eq!(component.message.as_ref().unwrap().id.get(), message_id);
    app.respond(
        &component,
        InteractionResponseType::UpdateMessage,
        text("Joined: ann"),
    )
    .await
    .unwrap();
    let messages = app.sandbox.messages(app.guild.general_channel_id).unwrap();
    assert_eq!(messages.len(), 1, "updated in place");
    assert_eq!(messages[0]["content"], "Joined: ann");
    assert_eq!(
        app.sandbox
            .interaction(pressed.id)
            .unwrap()
            .original
            .unwrap()["id"],
        original["id"]
    );

    // Follow-up and an edit of the original response through the interaction webhook.
    let webhook = app
        .client
        .interaction(Id::new(app.sandbox.application_id()));
    let followup = webhook
        .create_followup(&interaction.token)
        .content("the link")
        .await
        .unwrap()
        .model()
        .await
        .unwrap();
    assert_eq!(followup.content, "the link");
    let edited = webhook
        .update_response(&interaction.token)
        .content(Some("Started (2)"))
        .await
        .unwrap()
        .model()
        .await
        .unwrap();
    assert_eq!(edited.content, "Started (2)");
    let fetched = webhook
        .response(&interaction.token)
        .await
        .unwrap()
        .model()
        .await
        .unwrap();
    assert_eq!(fetched.content, "Started (2)");
    let view = app.sandbox.interaction(invoked.id).unwrap();
    assert_eq!(view.followups[0]["content"], "the link");
}

#[tokio::test]
async fn deferred_response_is_loading_until_edited() {
    let mut app = app(Config::default()).await;
    let invoked = app
        .sandbox
        .invoke_command(app.command("kaltura-start", json!([{"name": "title", "value": "x"}])))
        .unwrap();
    let interaction = app.next_interaction().await;
    let ephemeral = Some(InteractionResponseData {
        flags: Some(twilight_model::channel::message::MessageFlags::EPHEMERAL),
        ..InteractionResponseData::default()
    });
    app.respond(
        &interaction,
        InteractionResponseType::DeferredChannelMessageWithSource,
        ephemeral,
    )
    .await
    .unwrap();
    let loading = app
        .sandbox
        .interaction(invoked.id)
        .unwrap()
        .original
        .unwrap();
    assert_eq!(loading["flags"], 64 | 128);
    let webhook = app
        .client
        .interaction(Id::new(app.sandbox.application_id()));
    webhook
        .update_response(&interaction.token)
        .content(Some("done"))
        .await
        .unwrap();
    let done = app
        .sandbox
        .interaction(invoked.id)
        .unwrap()
        .original
        .unwrap();
    assert_eq!(
        (done["content"].as_str(), done["flags"].as_u64()),
        (Some("done"), Some(64))
    );
    // Ephemeral responses are not in the channel's public history.
    let public = app
        .client
        .channel_messages(Id::new(app.guild.general_channel_id))
        .await
        .unwrap()
        .models()
        .await
        .unwrap();
    assert!(public.is_empty());
}

#[tokio::test]
async fn autocomplete_then_modal_submit() {
    let mut app = app(Config::default()).await;
    let mut typing = app.command("kaltura-start", json!([{"name": "title", "value": "Lec"}]));
    typing.focused = Some("title".into());
    let typed = app.sandbox.autocomplete(typing).unwrap();
    let interaction = app.next_interaction().await;
    assert_eq!(
        interaction.kind,
        InteractionType::ApplicationCommandAutocomplete
    );
    let Some(InteractionData::ApplicationCommand(data)) = &interaction.data else {
        panic!("no data")
    };
    assert_eq!(
        format!("{:?}", data.options[0].value),
        r#"Focused("Lec", String)"#
    );
    let choices = serde_json::from_value(json!([{"name": "Lecture 1", "value": "l1"}])).unwrap();
    let result = InteractionResponseData {
        choices: Some(choices),
        ..InteractionResponseData::default()
    };
    let wrong = app
        .respond(
            &interaction,
            InteractionResponseType::ChannelMessageWithSource,
            text("no"),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&wrong), 50035, "autocomplete only takes type 8");
    app.respond(
        &interaction,
        InteractionResponseType::ApplicationCommandAutocompleteResult,
        Some(result),
    )
    .await
    .unwrap();
    assert_eq!(
        app.sandbox.interaction(typed.id).unwrap().callback.unwrap()["data"]["choices"][0]["name"],
        "Lecture 1"
    );

    let invoked = app
        .sandbox
        .invoke_command(app.command("kaltura-start", json!([{"name": "title", "value": "x"}])))
        .unwrap();
    let interaction = app.next_interaction().await;
    let input = serde_json::from_value(json!({"type": 1, "components": [{"type": 4, "custom_id": "topic", "style": 1, "label": "Topic"}]})).unwrap();
    let modal = InteractionResponseData {
        custom_id: Some("details".into()),
        title: Some("Details".into()),
        components: Some(vec![input]),
        ..InteractionResponseData::default()
    };
    app.respond(&interaction, InteractionResponseType::Modal, Some(modal))
        .await
        .unwrap();
    let values = BTreeMap::from([("topic".to_owned(), "Optics".to_owned())]);
    app.sandbox
        .submit_modal(NewModalSubmit {
            interaction_id: invoked.id,
            values,
        })
        .unwrap();
    let submitted = app.next_interaction().await;
    assert_eq!(submitted.kind, InteractionType::ModalSubmit);
    let Some(InteractionData::ModalSubmit(data)) = &submitted.data else {
        panic!("no modal data")
    };
    assert_eq!(data.custom_id, "details");
    assert!(format!("{:?}", data.components).contains("Optics"));
    app.respond(
        &submitted,
        InteractionResponseType::ChannelMessageWithSource,
        text("Saved"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn permissions_come_from_roles_and_gate_commands() {
    let mut app = app(Config::default()).await;
    let denied = app
        .sandbox
        .invoke_command(app.command("kaltura-end", json!([])))
        .unwrap_err();
    assert_eq!(
        denied.code, 50013,
        "default_member_permissions ADMINISTRATOR hides the command"
    );

    let teacher = app
        .sandbox
        .create_role(
            app.guild.id,
            NewRole {
                name: "Teacher".into(),
                permissions: permission::ADMINISTRATOR,
                ..NewRole::default()
            },
        )
        .unwrap();
    app.sandbox
        .put_member(
            app.guild.id,
            app.ann,
            MemberSpec {
                roles: vec![teacher.id],
                nick: None,
            },
        )
        .unwrap();
    app.sandbox
        .invoke_command(app.command("kaltura-end", json!([])))
        .unwrap();
    let interaction = app.next_interaction().await;
    let member = interaction.member.unwrap();
    assert_eq!(
        member.roles.iter().map(|r| r.get()).collect::<Vec<_>>(),
        vec![teacher.id]
    );
    assert_eq!(
        member.permissions.unwrap(),
        twilight_model::guild::Permissions::all()
    );
}

#[tokio::test]
async fn interaction_permissions_include_channel_overwrites() {
    use kd_sandbox_discord::OverwriteSpec;
    let mut app = app(Config::default()).await;
    let channel = app.guild.general_channel_id;
    let deny_send = OverwriteSpec {
        kind: 0,
        allow: 0,
        deny: permission::SEND_MESSAGES,
    };
    app.sandbox
        .set_channel_overwrite(channel, app.guild.everyone_role_id, deny_send)
        .unwrap();
    app.sandbox
        .invoke_command(app.command("kaltura-start", json!([{"name": "title", "value": "x"}])))
        .unwrap();
    let interaction = app.next_interaction().await;
    let member_perms = interaction.member.unwrap().permissions.unwrap().bits();
    assert_eq!(
        member_perms,
        permission::EVERYONE_DEFAULT & !permission::SEND_MESSAGES
    );
    assert_eq!(
        interaction.app_permissions.unwrap().bits() & permission::SEND_MESSAGES,
        0
    );

    let deny_commands = OverwriteSpec {
        kind: 1,
        allow: 0,
        deny: permission::USE_APPLICATION_COMMANDS,
    };
    app.sandbox
        .set_channel_overwrite(channel, app.ann, deny_commands)
        .unwrap();
    let denied = app
        .sandbox
        .invoke_command(app.command("kaltura-start", json!([{"name": "title", "value": "x"}])))
        .unwrap_err();
    assert_eq!(denied.code, 50013);
}

#[tokio::test]
async fn late_response_and_expired_token_get_discord_errors() {
    let config = Config {
        // Short, but with room for a loaded CI machine on the timely paths.
        interaction_deadline: Duration::from_millis(1500),
        interaction_token_lifetime: Duration::from_millis(3000),
        ..Config::default()
    };
    let mut app = app(config).await;
    app.sandbox
        .invoke_command(app.command("kaltura-start", json!([{"name": "title", "value": "x"}])))
        .unwrap();
    let late = app.next_interaction().await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let err = app
        .respond(
            &late,
            InteractionResponseType::ChannelMessageWithSource,
            text("late"),
        )
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 10062);

    app.sandbox
        .invoke_command(app.command("kaltura-start", json!([{"name": "title", "value": "y"}])))
        .unwrap();
    let timely = app.next_interaction().await;
    app.respond(
        &timely,
        InteractionResponseType::DeferredChannelMessageWithSource,
        None,
    )
    .await
    .unwrap();
    let webhook = app
        .client
        .interaction(Id::new(app.sandbox.application_id()));
    webhook
        .update_response(&timely.token)
        .content(Some("in time"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let err = webhook
        .update_response(&timely.token)
        .content(Some("too late"))
        .await
        .unwrap_err();
    assert_eq!(api_code(&err), 50027);
}

/// twilight-model has no type 12, so the app sends it raw, as the product will.
#[tokio::test]
async fn launch_activity_creates_an_instance_the_app_can_look_up() {
    let sandbox = sandbox().await;
    let (guild, ann) = guild_with_member(&sandbox);
    let commands = json!([{"type": 1, "name": "watch", "description": "Watch together"}]);
    let api = format!("{}/api/v10", sandbox.base_url());
    let auth = format!("Bot {}", sandbox.bot_token());
    let http = common::web();
    let put = http
        .put(format!(
            "{api}/applications/{}/guilds/{}/commands",
            sandbox.application_id(),
            guild.id
        ))
        .header("authorization", &auth)
        .json(&commands)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let spec = NewCommandInteraction {
        guild_id: guild.id,
        channel_id: guild.voice_channel_id,
        user_id: ann,
        name: "watch".into(),
        ..NewCommandInteraction::default()
    };
    let invoked = sandbox.invoke_command(spec).unwrap();
    let callback = http
        .post(format!(
            "{api}/interactions/{}/{}/callback?with_response=true",
            invoked.id, invoked.token
        ))
        .json(&json!({"type": 12}))
        .send()
        .await
        .unwrap();
    assert_eq!(callback.status(), 200);
    let body: serde_json::Value = callback.json().await.unwrap();
    let instance_id = body["resource"]["activity_instance"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        sandbox
            .interaction(invoked.id)
            .unwrap()
            .activity_instance_id
            .as_deref(),
        Some(instance_id.as_str())
    );

    let lookup = http
        .get(format!(
            "{api}/applications/{}/activity-instances/{instance_id}",
            sandbox.application_id()
        ))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(lookup.status(), 200);
    let instance: serde_json::Value = lookup.json().await.unwrap();
    assert_eq!(
        instance["location"]["channel_id"],
        guild.voice_channel_id.to_string()
    );
    assert_eq!(instance["users"], json!([ann.to_string()]));

    assert!(
        sandbox
            .set_activity_participant(&instance_id, ann, false)
            .unwrap()
            .is_none(),
        "the last one left"
    );
    let gone = http
        .get(format!(
            "{api}/applications/{}/activity-instances/{instance_id}",
            sandbox.application_id()
        ))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

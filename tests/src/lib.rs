//! A whole world for end-to-end tests: the Discord and Kaltura sandboxes, a guild with roles
//! and members, and the bot connected to both with a runtime config for that guild.

pub mod postgres;
pub mod process;
pub mod shards;

use kd_bot::runtime::{Bot, BotOptions};
use kd_core::command::Command;
use kd_core::config::{
    ApplicationRuntime, GuildRuntime, PartnerRuntime, RoleTable, RuleRuntime, RuntimeConfig,
};
use kd_core::secrets::SecretMap;
use kd_crds::guild::{Channels, Features, Overridable, Templates};
use kd_crds::notification::{Event, NotificationRuleSpec};
use kd_crds::role_mapping::{RoleRule, RoleSelector};
use kd_crds::{LocalRef, SecretKeyRef};
use kd_sandbox_discord::{
    Config, DiscordSandbox, GuildCreated, InteractionView, MemberSpec, NewCommandInteraction,
    NewComponentInteraction, NewGuild, NewRole, NewUser,
};
use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use kd_store::Store;
use kd_testing::wait;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

pub const TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);
/// Discord's MANAGE_GUILD permission bit.
pub const MANAGE_GUILD: u64 = 1 << 5;

pub struct World {
    pub discord: DiscordSandbox,
    pub kaltura: KalturaSandbox,
    pub guild: GuildCreated,
    pub teacher: u64,
    pub student: u64,
    pub admin: u64,
    pub config: watch::Sender<Arc<RuntimeConfig>>,
    pub bot: Arc<Bot>,
    pub store: Store,
    _dir: tempfile::TempDir,
}

fn secret(name: &str, key: &str) -> SecretKeyRef {
    SecretKeyRef {
        name: name.into(),
        key: key.into(),
    }
}

/// The runtime config of the test guild; tests change it and send it again.
pub fn runtime_config(
    discord: &DiscordSandbox,
    kaltura: &KalturaSandbox,
    guild_id: u64,
) -> RuntimeConfig {
    let guild = GuildRuntime {
        config_name: "physics-101".into(),
        partner: "campus".into(),
        features: Features {
            meetings: true,
            video_search: true,
            watch_together: true,
            notifications: false,
            user_sync: false,
        },
        permissions: BTreeMap::from([(
            Command::Start.name().to_string(),
            vec!["Teacher".to_string()],
        )]),
        channels: Channels::default(),
        templates: Templates::default(),
        overridable: vec![Overridable::Features, Overridable::Channels],
        roles: RoleTable {
            rules: vec![RoleRule {
                discord_role: RoleSelector {
                    name: Some("Teacher".into()),
                    id: None,
                },
                kaltura_role: "moderator".into(),
                priority: 10,
            }],
            default: "viewer".into(),
        },
        notification_rules: Vec::new(),
    };
    RuntimeConfig::new(
        ApplicationRuntime {
            name: "campus-bot".into(),
            namespace: "kaltura".into(),
            application_id: discord.application_id().to_string(),
            bot_token_ref: secret("discord", "botToken"),
            client_secret_ref: Some(secret("discord", "clientSecret")),
            public_url: Some("https://watch.example.org".into()),
            activity_enabled: true,
            intents: vec![kd_crds::application::Intent::Guilds],
            command_scope: Default::default(),
            deleting: false,
        },
        BTreeMap::from([(
            "campus".to_string(),
            PartnerRuntime {
                partner_id: kaltura.partner_id(),
                service_url: kaltura.base_url().to_string(),
                admin_secret_ref: secret("kaltura", "adminSecret"),
                sessions: Default::default(),
                player_ui_conf_id: Some(4242),
                webhook_secret_ref: None,
            },
        )]),
        BTreeMap::from([(guild_id.to_string(), guild)]),
    )
}

/// A NotificationRule of the test guild for entries and recordings, posting
/// `{{ name }} is ready ({{ duration }})` to `channel` with no filters or mentions; tests set
/// what they need on top.
pub fn notification_rule(name: &str, channel: &str) -> RuleRuntime {
    RuleRuntime {
        name: format!("kaltura/{name}"),
        spec: NotificationRuleSpec {
            guild_config_ref: LocalRef {
                name: "physics-101".into(),
            },
            events: vec![Event::EntryReady, Event::RecordingReady],
            filters: Default::default(),
            channel: channel.into(),
            template: Some("{{ name }} is ready ({{ duration }})".into()),
            mention_roles: Vec::new(),
            max_per_minute: 600,
        },
    }
}

/// What a [`World`] is started with; `Default` is the usual world.
#[derive(Default)]
pub struct Setup {
    pub bot: BotOptions,
    /// The Kaltura sandbox's configuration (clips to play, other partners).
    pub kaltura: SandboxConfig,
    /// The bot's store; a SQLite file of the world's own when None.
    pub store: Option<Store>,
}

impl World {
    pub async fn start() -> Self {
        Self::start_with(BotOptions::default()).await
    }

    pub async fn start_with(options: BotOptions) -> Self {
        Self::start_from(Setup {
            bot: options,
            ..Setup::default()
        })
        .await
    }

    /// The world with the bot on `store` (a PostgreSQL database, say).
    pub async fn start_with_store(store: Store) -> Self {
        Self::start_from(Setup {
            store: Some(store),
            ..Setup::default()
        })
        .await
    }

    /// With a Kaltura sandbox of its own configuration (clips to play, other partners).
    pub async fn start_with_kaltura(kaltura: SandboxConfig) -> Self {
        Self::start_from(Setup {
            kaltura,
            ..Setup::default()
        })
        .await
    }

    pub async fn start_from(setup: Setup) -> Self {
        let Setup {
            bot: options,
            kaltura,
            store,
        } = setup;
        // Logs show in a failing test's output (`RUST_LOG=debug` for more).
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "info".into()),
            )
            .with_test_writer()
            .try_init();
        let discord = DiscordSandbox::start(Config::default())
            .await
            .expect("Discord sandbox starts");
        let kaltura = KalturaSandbox::start(kaltura)
            .await
            .expect("Kaltura sandbox starts");
        let guild = discord
            .create_guild(NewGuild {
                name: "Physics 101".into(),
                ..NewGuild::default()
            })
            .unwrap();
        let teacher_role = discord
            .create_role(
                guild.id,
                NewRole {
                    name: "Teacher".into(),
                    ..NewRole::default()
                },
            )
            .unwrap();
        let admin_role = discord
            .create_role(
                guild.id,
                NewRole {
                    name: "Admins".into(),
                    permissions: MANAGE_GUILD,
                    ..NewRole::default()
                },
            )
            .unwrap();
        let member = |name: &str, roles: Vec<u64>| {
            let user = discord
                .create_user(NewUser {
                    username: name.into(),
                    ..NewUser::default()
                })
                .unwrap();
            let id: u64 = user.id;
            discord
                .put_member(guild.id, id, MemberSpec { roles, nick: None })
                .unwrap();
            id
        };
        let teacher = member("ada", vec![teacher_role.id]);
        let student = member("bob", vec![]);
        let admin = member("cyd", vec![admin_role.id]);

        let mut secrets = SecretMap::default();
        secrets.insert("discord", "botToken", &discord.bot_token());
        secrets.insert("discord", "clientSecret", &discord.client_secret());
        secrets.insert("kaltura", "adminSecret", kaltura.admin_secret());
        let (config, rx) = watch::channel(Arc::new(runtime_config(&discord, &kaltura, guild.id)));
        let dir = tempfile::tempdir().unwrap();
        let store = match store {
            Some(store) => store,
            None => Store::open(&format!("sqlite://{}", dir.path().join("bot.db").display()))
                .await
                .unwrap(),
        };
        let options = BotOptions {
            http_proxy: Some(discord.base_url().parse().expect("the sandbox's URL")),
            gateway_url: Some(discord.gateway_url().to_string()),
            shards: Some(1),
            ..options
        };
        let bot = Bot::new(options, rx, store.clone(), Arc::new(secrets)).expect("bot starts");
        tokio::spawn(bot.clone().run());
        let world = Self {
            discord,
            kaltura,
            guild,
            teacher,
            student,
            admin,
            config,
            bot,
            store,
            _dir: dir,
        };
        world
            .wait_commands(|names| names.contains(&Command::Start.name().to_string()))
            .await;
        // Commands are registered from the config before the gateway is up, and Discord hands an
        // interaction only to a connected session: wait for what `/readyz` waits for.
        wait("the bot to be ready")
            .timeout(TIMEOUT)
            .every(POLL)
            .until(async || world.bot.readiness().await.ready.then_some(()))
            .await;
        world
    }

    /// Names of the commands registered in the guild.
    pub fn command_names(&self) -> Vec<String> {
        self.discord
            .commands(Some(self.guild.id))
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    }

    pub async fn wait_commands(&self, ok: impl Fn(&Vec<String>) -> bool) -> Vec<String> {
        wait("the registered commands to match")
            .timeout(TIMEOUT)
            .every(POLL)
            .explain(|| format!("registered: {:?}", self.command_names()))
            .until(async || Some(self.command_names()).filter(&ok))
            .await
    }

    fn options(options: &[(&str, Value)]) -> Vec<Value> {
        options
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect()
    }

    /// A member runs a slash command; returns what became of it once answered.
    pub async fn run(&self, user: u64, name: &str, options: &[(&str, Value)]) -> InteractionView {
        self.run_raw(user, name, Self::options(options)).await
    }

    /// A subcommand: `/kaltura-config set key:.. value:..`.
    pub async fn run_sub(
        &self,
        user: u64,
        name: &str,
        sub: &str,
        options: &[(&str, Value)],
    ) -> InteractionView {
        self.run_raw(
            user,
            name,
            vec![json!({"name": sub, "options": Self::options(options)})],
        )
        .await
    }

    /// The interaction of a member running a command in the guild's general channel.
    pub fn spec(&self, user: u64, name: &str, options: Vec<Value>) -> NewCommandInteraction {
        NewCommandInteraction {
            guild_id: self.guild.id,
            channel_id: self.guild.general_channel_id,
            user_id: user,
            name: name.into(),
            options,
            ..NewCommandInteraction::default()
        }
    }

    async fn run_raw(&self, user: u64, name: &str, options: Vec<Value>) -> InteractionView {
        let sent = self
            .discord
            .invoke_command(self.spec(user, name, options))
            .expect("the sandbox takes the command");
        self.answer(sent.id).await
    }

    /// A member types into an option of a subcommand (`/kaltura-config set key:..`).
    pub async fn autocomplete_sub(
        &self,
        user: u64,
        name: &str,
        sub: &str,
        option: &str,
        typed: &str,
    ) -> Vec<(String, String)> {
        let options = vec![json!({"name": sub, "options": [{"name": option, "value": typed}]})];
        self.suggestions(NewCommandInteraction {
            focused: Some(option.into()),
            ..self.spec(user, name, options)
        })
        .await
    }

    /// A member types into an autocomplete option.
    pub async fn autocomplete(
        &self,
        user: u64,
        name: &str,
        option: &str,
        typed: &str,
    ) -> Vec<(String, String)> {
        let options = vec![json!({"name": option, "value": typed})];
        self.suggestions(NewCommandInteraction {
            focused: Some(option.into()),
            ..self.spec(user, name, options)
        })
        .await
    }

    async fn suggestions(&self, spec: NewCommandInteraction) -> Vec<(String, String)> {
        let sent = self
            .discord
            .autocomplete(spec)
            .expect("the sandbox takes the autocomplete");
        let view = self.answer(sent.id).await;
        let callback = view.callback.expect("answered");
        assert_eq!(callback["type"], 8, "{callback}");
        callback["data"]["choices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["value"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// A member presses a button on the message an interaction answered with.
    pub async fn press(&self, user: u64, on: &InteractionView, custom_id: &str) -> InteractionView {
        let message_id = message_of(on)["id"]
            .as_str()
            .expect("the answer is a message")
            .parse()
            .unwrap();
        let sent = self
            .discord
            .press_component(NewComponentInteraction {
                message_id,
                user_id: user,
                custom_id: custom_id.into(),
                values: vec![],
            })
            .expect("the sandbox takes the press");
        self.answer(sent.id).await
    }

    /// The interaction once answered; after a deferral (type 5), once the answer replaced it.
    pub async fn answer(&self, id: u64) -> InteractionView {
        final_answer(&self.discord, id).await
    }

    /// Waits until a deferred interaction's original message is edited.
    pub async fn wait_edit(&self, id: u64) -> Value {
        wait("the deferred answer to be edited")
            .timeout(TIMEOUT)
            .every(POLL)
            .until(async || {
                let view = self.discord.interaction(id).unwrap();
                view.original.filter(|o| {
                    o["edited_timestamp"].is_string() || o.get("content").is_some_and(|c| c != "")
                })
            })
            .await
    }

    pub fn reconfigure(&self, change: impl FnOnce(&mut RuntimeConfig)) -> String {
        let mut config = (**self.config.borrow()).clone();
        change(&mut config);
        let config = RuntimeConfig::new(config.application, config.partners, config.guilds);
        let revision = config.revision.clone();
        self.config.send_replace(Arc::new(config));
        revision
    }

    /// A new text channel of the test guild.
    pub fn text_channel(&self, name: &str) -> u64 {
        self.discord
            .create_channel(
                self.guild.id,
                kd_sandbox_discord::NewChannel {
                    name: name.into(),
                    kind: 0,
                },
            )
            .unwrap()
            .id
    }

    /// One api_v3 call to the Kaltura sandbox as an integrator makes it (JSON in and out); a
    /// Kaltura error fails the test.
    pub async fn kaltura_call(&self, service: &str, action: &str, params: Value) -> Value {
        let url = format!(
            "{}/api_v3/service/{service}/action/{action}",
            self.kaltura.base_url()
        );
        let mut body = json!({"format": 1});
        if let (Some(body), Some(params)) = (body.as_object_mut(), params.as_object()) {
            body.extend(params.clone());
        }
        let answer: Value = reqwest::Client::new()
            .post(url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(answer.get("code").is_none(), "{service}.{action}: {answer}");
        answer
    }

    /// An admin session of the sandbox's partner, through `session.start`.
    pub async fn kaltura_admin_ks(&self) -> String {
        let start = json!({"secret": self.kaltura.admin_secret(),
                           "partnerId": self.kaltura.partner_id(), "type": 2});
        let ks = self.kaltura_call("session", "start", start).await;
        ks.as_str().expect("a KS").to_string()
    }

    pub fn guild_key(&self) -> String {
        self.guild.id.to_string()
    }
}

/// A Discord OAuth access token of `user`, got as the Activity's OAuth exchange gets one: a
/// code the user granted, exchanged at `/api/oauth2/token`.
pub async fn discord_access_token(
    http: &reqwest::Client,
    discord: &DiscordSandbox,
    user: u64,
) -> String {
    let code = discord
        .mint_oauth_code(user, vec!["identify".into()], None)
        .unwrap();
    let answer: Value = http
        .post(format!("{}/api/oauth2/token", discord.base_url()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("client_id", &discord.application_id().to_string()),
            ("client_secret", &discord.client_secret()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["access_token"]
        .as_str()
        .expect("an access token")
        .to_string()
}

/// What became of interaction `id`: its answer, or after a deferral (type 5) the answer that
/// replaced the "thinking" message.
pub async fn final_answer(discord: &DiscordSandbox, id: u64) -> InteractionView {
    let view = discord
        .wait_interaction_response(id, TIMEOUT)
        .await
        .expect("the bot answers");
    if view.callback.as_ref().is_some_and(|c| c["type"] == 5) {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let view = discord.interaction(id).unwrap();
            if view.original.as_ref().is_some_and(|o| o["content"] != "") {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "the deferred answer was never edited"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    view
}

/// The message an interaction's answer produced (its callback data).
pub fn message_of(view: &InteractionView) -> Value {
    view.original.clone().unwrap_or_else(|| {
        view.callback
            .as_ref()
            .map(|c| c["data"].clone())
            .unwrap_or_default()
    })
}

/// Text of the answer.
pub fn content(view: &InteractionView) -> String {
    message_of(view)["content"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// custom_ids of the answer's buttons.
pub fn buttons(view: &InteractionView) -> Vec<String> {
    message_of(view)["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(String::from))
        .collect()
}

//! The command logic: from what a member asked (an [`Invocation`]) and the guild's effective
//! configuration to either an immediate [`Reply`] or a [`Plan`] that needs Kaltura or the store,
//! and from the results of those calls back to a reply. No I/O here.

use crate::invocation::{Action, Invocation};
use crate::reply::{ButtonStyle, Message, Reply, button, link_button, truncate};
use kd_core::config::{GuildRuntime, RuntimeConfig};
use kd_core::roles::{GuildRole, KalturaRole, map_member, may_run};
use kd_core::settings::Setting;
use serde_json::json;

/// Discord permission bits the bot checks itself.
const ADMINISTRATOR: u64 = 1 << 3;
const MANAGE_GUILD: u64 = 1 << 5;

/// Search results per page when the member gives no limit, and at most (what one message can
/// hold with a Watch and a Share button per result and a pager row).
pub const DEFAULT_PAGE_SIZE: u32 = 5;
pub const MAX_PAGE_SIZE: u32 = 8;
/// Longest query that fits a pagination button's custom id.
const MAX_QUERY_IN_BUTTON: usize = 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeetingKind {
    Meeting,
    Webinar,
    Classroom,
}

impl MeetingKind {
    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "meeting" => Self::Meeting,
            "webinar" => Self::Webinar,
            "classroom" => Self::Classroom,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Meeting => "meeting",
            Self::Webinar => "webinar",
            Self::Classroom => "classroom",
        }
    }
}

/// Work that needs Kaltura or the store before the member can be answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    Reply(Reply),
    StartMeeting {
        kind: MeetingKind,
        title: String,
        description: Option<String>,
    },
    JoinLink {
        meeting_id: String,
        role: KalturaRole,
    },
    ListMeetings,
    EndMeeting {
        meeting_id: String,
        moderator: bool,
    },
    ShareMeeting {
        meeting_id: String,
    },
    Search {
        query: String,
        page: u32,
        limit: u32,
        update: bool,
    },
    ShareVideo {
        entry_id: String,
    },
    Watch {
        entry_id: String,
    },
    ConfigView,
    ConfigSet {
        key: String,
        value: String,
    },
    ConfigReset {
        key: String,
    },
    SuggestMeetings {
        typed: String,
    },
    SuggestVideos {
        typed: String,
    },
    SuggestSettings {
        typed: String,
    },
}

/// What a button's custom id asks for. Ids are `kd:<verb>:<argument>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ButtonAction {
    Join(String),
    End(String),
    ShareMeeting(String),
    Watch(String),
    ShareVideo(String),
    Page {
        page: u32,
        limit: u32,
        query: String,
    },
}

impl ButtonAction {
    pub fn custom_id(&self) -> String {
        match self {
            Self::Join(id) => format!("kd:join:{id}"),
            Self::End(id) => format!("kd:end:{id}"),
            Self::ShareMeeting(id) => format!("kd:share:{id}"),
            Self::Watch(id) => format!("kd:watch:{id}"),
            Self::ShareVideo(id) => format!("kd:sharevideo:{id}"),
            Self::Page { page, limit, query } => format!("kd:page:{page}:{limit}:{query}"),
        }
    }

    pub fn parse(custom_id: &str) -> Option<Self> {
        let rest = custom_id.strip_prefix("kd:")?;
        let (verb, arg) = rest.split_once(':')?;
        let arg = arg.to_string();
        Some(match verb {
            "join" => Self::Join(arg),
            "end" => Self::End(arg),
            "share" => Self::ShareMeeting(arg),
            "watch" => Self::Watch(arg),
            "sharevideo" => Self::ShareVideo(arg),
            "page" => {
                let mut parts = arg.splitn(3, ':');
                let page = parts.next()?.parse().ok()?;
                let limit = parts.next()?.parse().ok()?;
                Self::Page {
                    page,
                    limit,
                    query: parts.next()?.to_string(),
                }
            }
            _ => return None,
        })
    }

    /// The command whose permission a button needs.
    fn command(&self) -> &'static str {
        match self {
            Self::Join(_) | Self::ShareMeeting(_) => "kaltura-join",
            Self::End(_) => "kaltura-end",
            Self::Watch(_) => "kaltura-watch",
            Self::ShareVideo(_) | Self::Page { .. } => "kaltura-video-search",
        }
    }
}

/// Everything the logic reads about the guild.
pub struct Context<'a> {
    pub config: &'a RuntimeConfig,
    /// The guild with its delegated overrides applied; None when it is not configured.
    pub guild: Option<&'a GuildRuntime>,
    pub guild_roles: &'a [GuildRole],
}

impl Context<'_> {
    /// The member's Kaltura role by the guild's role mapping.
    pub fn role_of(&self, inv: &Invocation) -> KalturaRole {
        match self.guild {
            Some(guild) => map_member(&guild.roles, self.guild_roles, &inv.member.roles).role,
            None => KalturaRole::Viewer,
        }
    }
}

fn deny(text: impl Into<String>) -> Plan {
    Plan::Reply(Reply::Message(Message::ephemeral(text)))
}

/// Whether the feature behind a command is on.
fn feature_on(guild: &GuildRuntime, command: &str) -> bool {
    let f = &guild.features;
    match command {
        "kaltura-start" | "kaltura-join" | "kaltura-list" | "kaltura-end" => f.meetings,
        "kaltura-video-search" => f.video_search,
        "kaltura-watch" => f.watch_together,
        _ => true,
    }
}

/// Why the common gate refused a member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NotConfigured {
        guild_id: String,
    },
    FeatureOff {
        command: String,
    },
    RoleRequired {
        command: String,
        allowed: String,
    },
    NeedsManageServer,
    /// Whoever starts a meeting hosts it, so the role mapping must make them a moderator.
    HostNeedsModerator {
        role: String,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotConfigured { guild_id } => write!(
                f,
                "This server is not set up for Kaltura yet: an administrator needs to add a GuildConfig for guild id {guild_id}."
            ),
            Refusal::FeatureOff { command } => {
                write!(f, "`/{command}` is turned off on this server.")
            }
            Refusal::RoleRequired { command, allowed } => write!(
                f,
                "You need one of these roles to use `/{command}`: {allowed}."
            ),
            Refusal::NeedsManageServer => {
                f.write_str("`/kaltura-config` needs the Manage Server permission.")
            }
            Refusal::HostNeedsModerator { role } => write!(
                f,
                "Starting a meeting needs the moderator or admin role in this server's role mapping; yours is {role}."
            ),
        }
    }
}

/// Common gate of commands, buttons and the HTTP API: configured guild, feature on, member
/// allowed.
pub fn gate(ctx: &Context<'_>, inv: &Invocation, command: &str) -> Result<(), Refusal> {
    let Some(guild) = ctx.guild else {
        return Err(Refusal::NotConfigured {
            guild_id: inv.guild_id.clone(),
        });
    };
    if !feature_on(guild, command) {
        return Err(Refusal::FeatureOff {
            command: command.into(),
        });
    }
    if !may_run(
        command,
        &guild.permissions,
        ctx.guild_roles,
        &inv.member.roles,
    ) {
        let allowed = guild
            .permissions
            .get(command)
            .map(|r| r.join(", "))
            .unwrap_or_default();
        return Err(Refusal::RoleRequired {
            command: command.into(),
            allowed,
        });
    }
    if command == "kaltura-config" && inv.member.permissions & (MANAGE_GUILD | ADMINISTRATOR) == 0 {
        return Err(Refusal::NeedsManageServer);
    }
    if command == "kaltura-start" {
        let role = ctx.role_of(inv);
        if !role.is_moderator_or_above() {
            return Err(Refusal::HostNeedsModerator {
                role: role.to_string(),
            });
        }
    }
    Ok(())
}

/// Decides what to do with an invocation.
pub fn plan(ctx: &Context<'_>, inv: &Invocation) -> Plan {
    match &inv.action {
        Action::Command {
            name, subcommand, ..
        } => {
            if let Err(refused) = gate(ctx, inv, name) {
                return deny(refused.to_string());
            }
            plan_command(ctx, inv, name, subcommand.as_deref())
        }
        Action::Autocomplete {
            name,
            focused,
            value,
            ..
        } => {
            // Suggestions are harmless; a gate failure shows as no suggestions.
            if gate(ctx, inv, name).is_err() {
                return Plan::Reply(Reply::Choices(Vec::new()));
            }
            let typed = value.trim().to_string();
            match (name.as_str(), focused.as_str()) {
                ("kaltura-join" | "kaltura-end", "meeting-id") => Plan::SuggestMeetings { typed },
                ("kaltura-video-search", "query") | ("kaltura-watch", "entry") => {
                    Plan::SuggestVideos { typed }
                }
                ("kaltura-config", "key") => Plan::SuggestSettings { typed },
                _ => Plan::Reply(Reply::Choices(Vec::new())),
            }
        }
        Action::Button { custom_id } => {
            let Some(action) = ButtonAction::parse(custom_id) else {
                return deny("This button is no longer supported; run the command again.");
            };
            if let Err(refused) = gate(ctx, inv, action.command()) {
                return deny(refused.to_string());
            }
            match action {
                ButtonAction::Join(meeting_id) => Plan::JoinLink {
                    meeting_id,
                    role: ctx.role_of(inv),
                },
                ButtonAction::End(meeting_id) => Plan::EndMeeting {
                    meeting_id,
                    moderator: ctx.role_of(inv).is_moderator_or_above(),
                },
                ButtonAction::ShareMeeting(meeting_id) => Plan::ShareMeeting { meeting_id },
                ButtonAction::Watch(entry_id) => plan_watch(ctx, entry_id),
                ButtonAction::ShareVideo(entry_id) => Plan::ShareVideo { entry_id },
                ButtonAction::Page { page, limit, query } => Plan::Search {
                    query,
                    page,
                    limit,
                    update: true,
                },
            }
        }
    }
}

fn plan_command(ctx: &Context<'_>, inv: &Invocation, name: &str, subcommand: Option<&str>) -> Plan {
    let text = |option: &str| {
        inv.text(option)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(String::from)
    };
    match name {
        "kaltura-start" => {
            let Some(kind) = inv.text("type").and_then(MeetingKind::parse) else {
                return deny("Pick a meeting type: meeting, webinar or classroom.");
            };
            let Some(title) = text("title") else {
                return deny("Give the meeting a title.");
            };
            Plan::StartMeeting {
                kind,
                title,
                description: text("description"),
            }
        }
        "kaltura-join" => match text("meeting-id") {
            Some(meeting_id) => Plan::JoinLink {
                meeting_id,
                role: ctx.role_of(inv),
            },
            None => deny("Which meeting? Pick one from the list as you type."),
        },
        "kaltura-list" => Plan::ListMeetings,
        "kaltura-end" => match text("meeting-id") {
            Some(meeting_id) => Plan::EndMeeting {
                meeting_id,
                moderator: ctx.role_of(inv).is_moderator_or_above(),
            },
            None => deny("Which meeting? Pick one from the list as you type."),
        },
        "kaltura-video-search" => {
            let Some(query) = text("query") else {
                return deny("What should I look for?");
            };
            let limit = inv
                .integer("limit")
                .unwrap_or(DEFAULT_PAGE_SIZE as i64)
                .clamp(1, MAX_PAGE_SIZE as i64) as u32;
            let query: String = query.chars().take(MAX_QUERY_IN_BUTTON).collect();
            Plan::Search {
                query,
                page: 1,
                limit,
                update: false,
            }
        }
        "kaltura-watch" => match text("entry") {
            Some(entry) => plan_watch(ctx, entry),
            None => deny("Which video? Pick one from the list as you type."),
        },
        "kaltura-config" => match (subcommand, text("key"), inv.text("value")) {
            (Some("view"), _, _) => Plan::ConfigView,
            (Some("set"), Some(key), Some(value)) => Plan::ConfigSet {
                key,
                value: value.to_string(),
            },
            (Some("reset"), Some(key), _) => Plan::ConfigReset { key },
            _ => deny("Use `/kaltura-config view`, `set key value` or `reset key`."),
        },
        other => deny(format!("`/{other}` is not a command of this bot.")),
    }
}

/// `/kaltura-watch`: launch the Activity, or a plain player link when the application has none.
fn plan_watch(ctx: &Context<'_>, entry_id: String) -> Plan {
    if ctx.config.application.activity_enabled {
        return Plan::Watch { entry_id };
    }
    let Some(partner) = ctx.guild.and_then(|g| ctx.config.partner_of(g)) else {
        return deny("Watch Together is not available: this server has no Kaltura partner.");
    };
    let url = player_url(
        partner.service_url.as_str(),
        partner.partner_id,
        partner.player_ui_conf_id,
        &entry_id,
    );
    Plan::Reply(Reply::Message(
        Message::ephemeral(
            "Watch Together is not enabled for this bot, so here is the video on its own.",
        )
        .row(vec![link_button("Open video", &url)]),
    ))
}

/// Kaltura's public player page of an entry.
pub fn player_url(
    service_url: &str,
    partner_id: i64,
    ui_conf_id: Option<i64>,
    entry_id: &str,
) -> String {
    let base = service_url.trim_end_matches('/');
    match ui_conf_id {
        Some(ui) => format!(
            "{base}/index.php/extwidget/preview/partner_id/{partner_id}/uiconf_id/{ui}/entry_id/{entry_id}/embed/dynamic"
        ),
        None => format!(
            "{base}/p/{partner_id}/sp/{partner_id}00/playManifest/entryId/{entry_id}/format/url/protocol/https"
        ),
    }
}

// ---- Rendering results (pure) ----

/// A meeting as the replies show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeetingView {
    pub id: String,
    pub title: String,
    pub kind: String,
}

pub fn meeting_started(m: &MeetingView) -> Reply {
    Reply::Message(
        Message::ephemeral(format!(
            "Started the {} **{}** (id `{}`).",
            m.kind, m.title, m.id
        ))
        .row(vec![
            button(
                "Join",
                &ButtonAction::Join(m.id.clone()).custom_id(),
                ButtonStyle::Primary,
            ),
            button(
                "Share",
                &ButtonAction::ShareMeeting(m.id.clone()).custom_id(),
                ButtonStyle::Secondary,
            ),
            button(
                "End",
                &ButtonAction::End(m.id.clone()).custom_id(),
                ButtonStyle::Danger,
            ),
        ]),
    )
}

/// A public post announcing a meeting; every member gets a personal link from its button.
pub fn meeting_shared(m: &MeetingView, text: String) -> Message {
    Message::public(text).row(vec![button(
        "Join",
        &ButtonAction::Join(m.id.clone()).custom_id(),
        ButtonStyle::Primary,
    )])
}

pub fn join_link(title: &str, url: &str, minutes: i64) -> Reply {
    Reply::Message(
        Message::ephemeral(format!(
            "Your personal link to **{title}**. It is yours alone and works for {minutes} minutes."
        ))
        .row(vec![link_button("Open meeting", url)]),
    )
}

pub fn meeting_list(meetings: &[MeetingView]) -> Reply {
    if meetings.is_empty() {
        return Reply::Message(Message::ephemeral(
            "No meetings are running. Start one with `/kaltura-start`.",
        ));
    }
    let lines: Vec<String> = meetings
        .iter()
        .map(|m| format!("• **{}** ({}, id `{}`)", m.title, m.kind, m.id))
        .collect();
    let mut message = Message::ephemeral(format!("Active meetings:\n{}", lines.join("\n")));
    // Five rows of five buttons is all a message can hold.
    for chunk in meetings.chunks(5).take(5) {
        message = message.row(
            chunk
                .iter()
                .map(|m| {
                    button(
                        &truncate(&format!("Join {}", m.title), 80),
                        &ButtonAction::Join(m.id.clone()).custom_id(),
                        ButtonStyle::Primary,
                    )
                })
                .collect(),
        );
    }
    Reply::Message(message)
}

/// A video as search results show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Video {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub duration_secs: Option<i64>,
    pub thumbnail_url: Option<String>,
    pub owner: Option<String>,
}

pub fn duration(secs: Option<i64>) -> String {
    match secs {
        Some(s) if s >= 3600 => format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60),
        Some(s) if s >= 0 => format!("{}:{:02}", s / 60, s % 60),
        _ => "unknown length".to_string(),
    }
}

fn video_embed(v: &Video) -> serde_json::Value {
    let mut embed = json!({
        "title": truncate(&v.name, 256),
        "fields": [
            {"name": "Duration", "value": duration(v.duration_secs), "inline": true},
            {"name": "Owner", "value": v.owner.clone().unwrap_or_else(|| "unknown".into()), "inline": true},
        ],
        "footer": {"text": format!("entry {}", v.id)},
    });
    if let Some(d) = v.description.as_deref().filter(|d| !d.is_empty()) {
        embed["description"] = json!(truncate(d, 300));
    }
    if let Some(t) = &v.thumbnail_url {
        embed["thumbnail"] = json!({"url": t});
    }
    embed
}

pub fn search_results(
    videos: &[Video],
    query: &str,
    page: u32,
    limit: u32,
    total: i64,
    watch: bool,
    update: bool,
) -> Reply {
    if videos.is_empty() {
        let text = if page > 1 {
            format!("No more results for “{query}”.")
        } else {
            format!("Nothing found for “{query}”.")
        };
        let message = Message::ephemeral(text);
        return if update {
            Reply::Update(message)
        } else {
            Reply::Message(message)
        };
    }
    let pages = ((total.max(0) as u32).div_ceil(limit)).max(1);
    let mut message = Message::ephemeral(format!(
        "Results for “{query}” (page {page} of {pages}, {total} in all):"
    ));
    let shown = &videos[..videos.len().min(MAX_PAGE_SIZE as usize)];
    for (n, v) in shown.iter().enumerate() {
        let mut embed = video_embed(v);
        embed["title"] = json!(truncate(&format!("{}. {}", n + 1, v.name), 256));
        message = message.embed(embed);
    }
    // Five rows at most: two results per row (Watch n, Share n), then the pager.
    for (row, pair) in shown.chunks(2).enumerate() {
        let mut buttons = Vec::new();
        for (i, v) in pair.iter().enumerate() {
            let n = row * 2 + i + 1;
            if watch {
                buttons.push(button(
                    &format!("Watch {n}"),
                    &ButtonAction::Watch(v.id.clone()).custom_id(),
                    ButtonStyle::Success,
                ));
            }
            buttons.push(button(
                &format!("Share {n}"),
                &ButtonAction::ShareVideo(v.id.clone()).custom_id(),
                ButtonStyle::Secondary,
            ));
        }
        message = message.row(buttons);
    }
    let mut pager = Vec::new();
    if page > 1 {
        pager.push(button(
            "Previous",
            &ButtonAction::Page {
                page: page - 1,
                limit,
                query: query.into(),
            }
            .custom_id(),
            ButtonStyle::Secondary,
        ));
    }
    if page < pages {
        pager.push(button(
            "Next",
            &ButtonAction::Page {
                page: page + 1,
                limit,
                query: query.into(),
            }
            .custom_id(),
            ButtonStyle::Secondary,
        ));
    }
    message = message.row(pager);
    if update {
        Reply::Update(message)
    } else {
        Reply::Message(message)
    }
}

pub fn config_view(settings: &[Setting]) -> Reply {
    let lines: Vec<String> = settings
        .iter()
        .map(|s| {
            let value = if s.value.is_empty() {
                "—".to_string()
            } else {
                truncate(&s.value, 80)
            };
            let lock = if s.overridable { "" } else { " 🔒" };
            format!("`{}` = {} ({}){lock}", s.key, value, s.source)
        })
        .collect();
    Reply::Message(Message::ephemeral(format!(
        "Settings of this server (🔒: managed in Git only):\n{}",
        lines.join("\n")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invocation::{Member, Value};
    use kd_core::config::{ApplicationRuntime, PartnerRuntime, RoleTable};
    use kd_crds::guild::{Channels, Features, Templates};
    use kd_crds::role_mapping::{RoleRule, RoleSelector};
    use std::collections::BTreeMap;

    const GUILD: &str = "1283874310720716890";

    fn config(activity: bool) -> RuntimeConfig {
        let guild = GuildRuntime {
            config_name: "physics".into(),
            partner: "campus".into(),
            features: Features {
                watch_together: true,
                ..Features::default()
            },
            permissions: BTreeMap::from([(
                "kaltura-start".to_string(),
                vec!["Teacher".to_string()],
            )]),
            channels: Channels::default(),
            templates: Templates::default(),
            overridable: vec![],
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
        };
        let secret = kd_crds::SecretKeyRef {
            name: "s".into(),
            key: "k".into(),
        };
        RuntimeConfig::new(
            ApplicationRuntime {
                name: "bot".into(),
                namespace: "ns".into(),
                application_id: "1".into(),
                bot_token_ref: secret.clone(),
                client_secret_ref: None,
                public_url: activity.then(|| "https://watch.example.org".into()),
                activity_enabled: activity,
                intents: vec![kd_crds::application::Intent::Guilds],
            },
            BTreeMap::from([(
                "campus".to_string(),
                PartnerRuntime {
                    partner_id: 42,
                    service_url: "https://www.kaltura.com".into(),
                    admin_secret_ref: secret,
                    sessions: Default::default(),
                    player_ui_conf_id: Some(7),
                },
            )]),
            BTreeMap::from([(GUILD.to_string(), guild)]),
        )
    }

    fn roles() -> Vec<GuildRole> {
        vec![GuildRole {
            id: "100".into(),
            name: "Teacher".into(),
        }]
    }

    fn invoke(action: Action, member_roles: &[&str], permissions: u64) -> Invocation {
        Invocation {
            id: "9".into(),
            token: "t".into(),
            guild_id: GUILD.into(),
            channel_id: "5".into(),
            member: Member {
                id: "111".into(),
                display_name: "Ada".into(),
                roles: member_roles.iter().map(|r| r.to_string()).collect(),
                permissions,
            },
            action,
        }
    }

    fn command(name: &str, sub: Option<&str>, options: &[(&str, Value)]) -> Action {
        Action::Command {
            name: name.into(),
            subcommand: sub.map(Into::into),
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn run(config: &RuntimeConfig, inv: &Invocation) -> Plan {
        let roles = roles();
        let ctx = Context {
            config,
            guild: config.guild(&inv.guild_id),
            guild_roles: &roles,
        };
        plan(&ctx, inv)
    }

    fn denial(plan: Plan) -> String {
        match plan {
            Plan::Reply(Reply::Message(m)) => {
                assert!(m.ephemeral, "denials are private");
                m.content
            }
            other => panic!("expected a denial, got {other:?}"),
        }
    }

    #[test]
    fn start_needs_a_listed_role_and_parses_its_options() {
        let c = config(true);
        let start = command(
            "kaltura-start",
            None,
            &[("type", text("webinar")), ("title", text(" Optics "))],
        );
        let denied = denial(run(&c, &invoke(start.clone(), &[], 0)));
        assert_eq!(
            denied,
            "You need one of these roles to use `/kaltura-start`: Teacher."
        );
        assert_eq!(
            run(&c, &invoke(start, &["100"], 0)),
            Plan::StartMeeting {
                kind: MeetingKind::Webinar,
                title: "Optics".into(),
                description: None
            }
        );
        let bad = command(
            "kaltura-start",
            None,
            &[("type", text("party")), ("title", text("x"))],
        );
        assert!(denial(run(&c, &invoke(bad, &["100"], 0))).contains("meeting type"));
    }

    #[test]
    fn starting_needs_a_moderator_role_by_the_mapping() {
        let mut c = config(true);
        c.guilds.get_mut(GUILD).unwrap().permissions.clear();
        let start = command(
            "kaltura-start",
            None,
            &[("type", text("meeting")), ("title", text("Lab"))],
        );
        let denied = denial(run(&c, &invoke(start.clone(), &[], 0)));
        assert_eq!(
            denied,
            "Starting a meeting needs the moderator or admin role in this server's role mapping; yours is viewer."
        );
        assert!(matches!(
            run(&c, &invoke(start, &["100"], 0)),
            Plan::StartMeeting { .. }
        ));
    }

    #[test]
    fn an_unconfigured_guild_and_disabled_features_are_explained() {
        let c = config(true);
        let mut inv = invoke(command("kaltura-list", None, &[]), &[], 0);
        inv.guild_id = "999".into();
        assert!(denial(run(&c, &inv)).contains("not set up for Kaltura yet"));
        let mut off = c.clone();
        off.guilds.get_mut(GUILD).unwrap().features.meetings = false;
        let plan = run(&off, &invoke(command("kaltura-list", None, &[]), &[], 0));
        assert_eq!(
            denial(plan),
            "`/kaltura-list` is turned off on this server."
        );
    }

    #[test]
    fn join_and_end_carry_the_mapped_role() {
        let c = config(true);
        let join = command("kaltura-join", None, &[("meeting-id", text("77"))]);
        assert_eq!(
            run(&c, &invoke(join.clone(), &[], 0)),
            Plan::JoinLink {
                meeting_id: "77".into(),
                role: KalturaRole::Viewer
            }
        );
        assert_eq!(
            run(&c, &invoke(join, &["100"], 0)),
            Plan::JoinLink {
                meeting_id: "77".into(),
                role: KalturaRole::Moderator
            }
        );
        let end = command("kaltura-end", None, &[("meeting-id", text("77"))]);
        assert_eq!(
            run(&c, &invoke(end, &["100"], 0)),
            Plan::EndMeeting {
                meeting_id: "77".into(),
                moderator: true
            }
        );
        let button = Action::Button {
            custom_id: ButtonAction::End("77".into()).custom_id(),
        };
        assert_eq!(
            run(&c, &invoke(button, &[], 0)),
            Plan::EndMeeting {
                meeting_id: "77".into(),
                moderator: false
            }
        );
    }

    #[test]
    fn config_needs_manage_server() {
        let c = config(true);
        let view = command("kaltura-config", Some("view"), &[]);
        assert!(denial(run(&c, &invoke(view.clone(), &[], 0))).contains("Manage Server"));
        assert_eq!(run(&c, &invoke(view, &[], MANAGE_GUILD)), Plan::ConfigView);
        let set = command(
            "kaltura-config",
            Some("set"),
            &[
                ("key", text("channels.default")),
                ("value", text("general")),
            ],
        );
        assert_eq!(
            run(&c, &invoke(set, &[], ADMINISTRATOR)),
            Plan::ConfigSet {
                key: "channels.default".into(),
                value: "general".into()
            }
        );
    }

    #[test]
    fn search_limits_are_clamped_and_pages_come_back_from_buttons() {
        let c = config(true);
        let search = command(
            "kaltura-video-search",
            None,
            &[("query", text("physics")), ("limit", Value::Integer(50))],
        );
        assert_eq!(
            run(&c, &invoke(search, &[], 0)),
            Plan::Search {
                query: "physics".into(),
                page: 1,
                limit: MAX_PAGE_SIZE,
                update: false
            }
        );
        let page = ButtonAction::Page {
            page: 3,
            limit: 2,
            query: "a:b c".into(),
        };
        assert_eq!(ButtonAction::parse(&page.custom_id()), Some(page.clone()));
        let plan = run(
            &c,
            &invoke(
                Action::Button {
                    custom_id: page.custom_id(),
                },
                &[],
                0,
            ),
        );
        assert_eq!(
            plan,
            Plan::Search {
                query: "a:b c".into(),
                page: 3,
                limit: 2,
                update: true
            }
        );
        assert!(
            denial(run(
                &c,
                &invoke(
                    Action::Button {
                        custom_id: "other:thing".into()
                    },
                    &[],
                    0
                )
            ))
            .contains("no longer supported")
        );
    }

    #[test]
    fn watch_launches_the_activity_or_links_the_player() {
        let watch = command("kaltura-watch", None, &[("entry", text("1_abc"))]);
        assert_eq!(
            run(&config(true), &invoke(watch.clone(), &[], 0)),
            Plan::Watch {
                entry_id: "1_abc".into()
            }
        );
        match run(&config(false), &invoke(watch, &[], 0)) {
            Plan::Reply(Reply::Message(m)) => {
                let url = m.components[0]["components"][0]["url"]
                    .as_str()
                    .unwrap()
                    .to_string();
                assert_eq!(
                    url,
                    "https://www.kaltura.com/index.php/extwidget/preview/partner_id/42/uiconf_id/7/entry_id/1_abc/embed/dynamic"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn autocomplete_routes_by_option_and_denied_members_get_no_suggestions() {
        let c = config(true);
        let typing = |name: &str, focused: &str| Action::Autocomplete {
            name: name.into(),
            subcommand: None,
            focused: focused.into(),
            value: " lec ".into(),
        };
        assert_eq!(
            run(&c, &invoke(typing("kaltura-join", "meeting-id"), &[], 0)),
            Plan::SuggestMeetings {
                typed: "lec".into()
            }
        );
        assert_eq!(
            run(&c, &invoke(typing("kaltura-watch", "entry"), &[], 0)),
            Plan::SuggestVideos {
                typed: "lec".into()
            }
        );
        assert_eq!(
            run(&c, &invoke(typing("kaltura-start", "title"), &[], 0)),
            Plan::Reply(Reply::Choices(vec![]))
        );
    }

    #[test]
    fn replies_render_buttons_within_discords_limits() {
        let meetings: Vec<MeetingView> = (0..30)
            .map(|i| MeetingView {
                id: i.to_string(),
                title: format!("Room {i}"),
                kind: "meeting".into(),
            })
            .collect();
        let Reply::Message(list) = meeting_list(&meetings) else {
            panic!()
        };
        assert_eq!(list.components.len(), 5);
        assert!(
            list.components
                .iter()
                .all(|row| row["components"].as_array().unwrap().len() <= 5)
        );
        let videos: Vec<Video> = (0..8)
            .map(|i| Video {
                id: format!("1_{i}"),
                name: format!("V{i}"),
                description: None,
                duration_secs: Some(3725),
                thumbnail_url: None,
                owner: None,
            })
            .collect();
        let Reply::Message(page) = search_results(&videos, "q", 2, 8, 40, true, false) else {
            panic!()
        };
        assert_eq!(page.embeds.len(), 8);
        assert_eq!(
            page.components.len(),
            5,
            "four rows of results and the pager"
        );
        let pager: Vec<&str> = page.components[4]["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["label"].as_str().unwrap())
            .collect();
        assert_eq!(pager, ["Previous", "Next"]);
        assert_eq!(page.embeds[0]["fields"][0]["value"], "1:02:05");
        let Reply::Update(last) = search_results(&[], "q", 6, 8, 40, true, true) else {
            panic!()
        };
        assert!(last.content.contains("No more results"));
    }
}

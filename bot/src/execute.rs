//! Carries out a [`Plan`]: the Kaltura and store calls, then the pure renderers of
//! [`crate::logic`] turn the results into the reply. Every failure becomes a clear message.

use crate::invocation::{Invocation, Member};
use crate::logic::{self, MeetingKind, MeetingView, Plan, Video};
use crate::reply::{Message, Reply};
use kd_core::config::{GuildRuntime, PartnerRuntime, RuntimeConfig};
use kd_core::join_token::{AUDIENCE, ISSUER, JoinClaims, JoinKey};
use kd_core::kaltura::{KalturaClients, KalturaFailure};
use kd_core::roles::KalturaRole;
use kd_core::settings::{self, Overrides};
use kd_crds::template;
use kd_kaltura::types::{MediaEntry, MediaFilter, Pager, ScheduleEvent};
use kd_kaltura::{Client, NewMeeting};
use kd_store::{Meeting, MeetingState, Store};

/// How long a join link works.
pub const JOIN_LINK_MINUTES: i64 = 10;

/// Everything a plan may touch.
pub struct Env<'a> {
    pub config: &'a RuntimeConfig,
    /// The guild as declared in Git, before Discord-side overrides.
    pub declared: &'a GuildRuntime,
    /// The guild with its overrides applied, as it runs.
    pub effective: &'a GuildRuntime,
    pub overrides: &'a Overrides,
    pub kaltura: &'a KalturaClients,
    pub store: &'a Store,
    pub join_key: &'a JoinKey,
}

/// The Kaltura user a Discord member acts as.
pub fn kaltura_user(discord_user_id: &str) -> String {
    format!("discord-{discord_user_id}")
}

/// A meeting a member asks to start in a guild.
pub struct GuildMeeting<'a> {
    pub guild_id: &'a str,
    /// Discord user id of the member starting it.
    pub member_id: &'a str,
    pub kind: MeetingKind,
    pub title: &'a str,
    pub description: Option<&'a str>,
}

/// Creates the meeting in Kaltura (tagged with the guild, owned by the member) and records it
/// in the store's registry; returns the record and the event as Kaltura has it.
pub async fn start_meeting(
    client: &Client,
    store: &Store,
    partner: &PartnerRuntime,
    new: &GuildMeeting<'_>,
) -> Result<(Meeting, ScheduleEvent), kd_kaltura::Error> {
    let created = client
        .meeting_create(&NewMeeting {
            guild_id: new.guild_id,
            title: new.title,
            description: new.description,
            owner_id: &kaltura_user(new.member_id),
            duration_secs: partner.sessions.meetings.expiry_seconds,
        })
        .await?;
    let record = Meeting {
        guild_id: new.guild_id.to_string(),
        meeting_id: created.event.id.to_string(),
        resource_id: created.resource.id.to_string(),
        kind: new.kind.as_str().to_string(),
        title: new.title.to_string(),
        created_by: new.member_id.to_string(),
        created_at: kd_kaltura::ks::unix_now(),
        state: MeetingState::Active,
    };
    if let Err(err) = store.add_meeting(&record).await {
        // The meeting exists in Kaltura; only who created it is lost, so say so.
        tracing::error!(error = %err, meeting = %record.meeting_id, "recording a meeting failed");
    }
    tracing::info!(guild = %new.guild_id, meeting = %record.meeting_id, kind = new.kind.as_str(), "meeting started");
    Ok((record, created.event))
}

/// The claims of a member's join link to a meeting, valid for [`JOIN_LINK_MINUTES`].
pub fn join_claims(
    member: &Member,
    guild_id: &str,
    meeting_id: &str,
    partner: &str,
    role: &KalturaRole,
) -> JoinClaims {
    let now = kd_kaltura::ks::unix_now();
    JoinClaims {
        sub: member.id.clone(),
        guild: guild_id.to_string(),
        meeting: meeting_id.to_string(),
        partner: partner.to_string(),
        role: role.api_name(),
        name: member.display_name.clone(),
        aud: AUDIENCE.into(),
        iss: ISSUER.into(),
        iat: now,
        exp: now + JOIN_LINK_MINUTES * 60,
    }
}

/// The personal link `https://<publicUrl>/join/<token>` carrying the signed claims.
pub fn join_url(public_url: &str, key: &JoinKey, claims: &JoinClaims) -> String {
    format!(
        "{}/join/{}",
        public_url.trim_end_matches('/'),
        key.sign(claims)
    )
}

/// Who may end a meeting: the member who started it (by the registry or the Kaltura owner),
/// or a moderator or admin by the role mapping.
pub fn may_end(
    record: Option<&Meeting>,
    meeting: &ScheduleEvent,
    member_id: &str,
    moderator: bool,
) -> bool {
    moderator
        || record.is_some_and(|r| r.created_by == member_id)
        || meeting.owner_id.as_deref() == Some(kaltura_user(member_id).as_str())
}

/// Ends the meeting in Kaltura and marks it ended in the registry.
pub async fn end_meeting(
    client: &Client,
    store: &Store,
    guild_id: &str,
    meeting: &ScheduleEvent,
    member_id: &str,
) -> Result<(), kd_kaltura::Error> {
    client.meeting_end(meeting.id).await?;
    let meeting_id = meeting.id.to_string();
    if let Err(err) = store.end_meeting(guild_id, &meeting_id, member_id).await {
        tracing::error!(error = %err, meeting = %meeting_id, "recording the end of a meeting failed");
    }
    Ok(())
}

fn say(text: impl Into<String>) -> Reply {
    Reply::Message(Message::ephemeral(text))
}

fn failed(err: &kd_kaltura::Error) -> Reply {
    tracing::warn!(error = %err, "Kaltura call failed");
    say(KalturaFailure::from_error(err).to_string())
}

fn view(event: &ScheduleEvent, kind: Option<&str>) -> MeetingView {
    MeetingView {
        id: event.id.to_string(),
        title: event
            .summary
            .clone()
            .unwrap_or_else(|| format!("Meeting {}", event.id)),
        kind: kind.unwrap_or("meeting").to_string(),
    }
}

fn video(entry: MediaEntry) -> Video {
    Video {
        id: entry.id,
        name: entry.name,
        description: entry.description,
        duration_secs: entry.duration,
        thumbnail_url: entry.thumbnail_url,
        owner: entry.user_id,
    }
}

impl Env<'_> {
    fn partner(&self) -> Option<&PartnerRuntime> {
        self.config.partner_of(self.declared)
    }

    fn client(&self) -> Result<(Client, &PartnerRuntime), Reply> {
        let partner = self
            .partner()
            .ok_or_else(|| say("This server has no Kaltura partner configured."))?;
        let client = self
            .kaltura
            .client(partner)
            .map_err(|f| say(f.to_string()))?;
        Ok((client, partner))
    }

    /// The guild's active meeting with this id, from Kaltura (the source of truth).
    async fn active_meeting(
        &self,
        client: &Client,
        inv: &Invocation,
        meeting_id: &str,
    ) -> Result<ScheduleEvent, Reply> {
        let meetings = client
            .meeting_list_active(&inv.guild_id)
            .await
            .map_err(|e| failed(&e))?;
        meetings
            .into_iter()
            .find(|m| m.id.to_string() == meeting_id)
            .ok_or_else(|| say(format!("No active meeting with id `{meeting_id}` on this server. `/kaltura-list` shows them.")))
    }

    async fn kind_of(&self, guild_id: &str, meeting_id: &str) -> Option<String> {
        self.store
            .meeting(guild_id, meeting_id)
            .await
            .ok()
            .flatten()
            .map(|m| m.kind)
    }
}

/// How an interaction ended, for metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Refused before any call: not allowed, not configured, bad input.
    Denied,
    /// A Kaltura or store call failed; the member was told why.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Denied => "denied",
            Outcome::Failed => "failed",
        }
    }
}

/// Runs a plan to its reply.
pub async fn execute(plan: Plan, inv: &Invocation, env: &Env<'_>) -> (Reply, Outcome) {
    let immediate = matches!(plan, Plan::Reply(_));
    match run(plan, inv, env).await {
        Ok(reply) if immediate => (reply, Outcome::Denied),
        Ok(reply) => (reply, Outcome::Ok),
        Err(reply) => (reply, Outcome::Failed),
    }
}

async fn run(plan: Plan, inv: &Invocation, env: &Env<'_>) -> Result<Reply, Reply> {
    Ok(match plan {
        Plan::Reply(reply) => reply,
        Plan::StartMeeting {
            kind,
            title,
            description,
        } => {
            let (client, partner) = env.client()?;
            let new = GuildMeeting {
                guild_id: &inv.guild_id,
                member_id: &inv.member.id,
                kind,
                title: &title,
                description: description.as_deref(),
            };
            let (record, _) = start_meeting(&client, env.store, partner, &new)
                .await
                .map_err(|e| failed(&e))?;
            logic::meeting_started(&MeetingView {
                id: record.meeting_id,
                title: record.title,
                kind: record.kind,
            })
        }
        Plan::JoinLink { meeting_id, role } => {
            let Some(public_url) = env.config.application.public_url.as_deref() else {
                return Err(say(
                    "Join links need the bot's public URL (spec.activity.publicUrl of the DiscordApplication).",
                ));
            };
            let (client, _) = env.client()?;
            let meeting = env.active_meeting(&client, inv, &meeting_id).await?;
            let claims = join_claims(
                &inv.member,
                &inv.guild_id,
                &meeting_id,
                &env.declared.partner,
                &role,
            );
            let url = join_url(public_url, env.join_key, &claims);
            logic::join_link(&view(&meeting, None).title, &url, JOIN_LINK_MINUTES)
        }
        Plan::ListMeetings => {
            let (client, _) = env.client()?;
            let meetings = client
                .meeting_list_active(&inv.guild_id)
                .await
                .map_err(|e| failed(&e))?;
            let mut views = Vec::with_capacity(meetings.len());
            for m in &meetings {
                views.push(view(
                    m,
                    env.kind_of(&inv.guild_id, &m.id.to_string())
                        .await
                        .as_deref(),
                ));
            }
            logic::meeting_list(&views)
        }
        Plan::EndMeeting {
            meeting_id,
            moderator,
        } => {
            let (client, _) = env.client()?;
            let meeting = env.active_meeting(&client, inv, &meeting_id).await?;
            let record = env
                .store
                .meeting(&inv.guild_id, &meeting_id)
                .await
                .ok()
                .flatten();
            if !may_end(record.as_ref(), &meeting, &inv.member.id, moderator) {
                return Err(say(
                    "Only the member who started this meeting, or a moderator, can end it.",
                ));
            }
            end_meeting(&client, env.store, &inv.guild_id, &meeting, &inv.member.id)
                .await
                .map_err(|e| failed(&e))?;
            say(format!("Ended **{}**.", view(&meeting, None).title))
        }
        Plan::ShareMeeting { meeting_id } => {
            let (client, partner) = env.client()?;
            let meeting = env.active_meeting(&client, inv, &meeting_id).await?;
            let kind = env.kind_of(&inv.guild_id, &meeting_id).await;
            let shown = view(&meeting, kind.as_deref());
            let guild = env.effective;
            let template = guild
                .templates
                .meeting_started
                .as_deref()
                .unwrap_or(DEFAULT_MEETING_STARTED);
            let values = |name: &str| -> Option<String> {
                Some(match name {
                    "meetingId" => shown.id.clone(),
                    "title" => shown.title.clone(),
                    "type" => shown.kind.clone(),
                    "host" => inv.member.display_name.clone(),
                    "joinUrl" => format!("/kaltura-join meeting-id:{}", shown.id),
                    "partnerId" => partner.partner_id.to_string(),
                    _ => return None,
                })
            };
            let text = template::render(template, &values).map_err(say)?;
            Reply::Message(logic::meeting_shared(&shown, text))
        }
        Plan::Search {
            query,
            page,
            limit,
            update,
        } => {
            let (client, _) = env.client()?;
            let results = client
                .search_entries(&query, Pager::new(limit, page))
                .await
                .map_err(|e| failed(&e))?;
            let videos: Vec<Video> = results.entries.into_iter().map(video).collect();
            let watch = env.effective.features.watch_together;
            logic::search_results(
                &videos,
                &query,
                page,
                limit,
                results.total_count,
                watch,
                update,
            )
        }
        Plan::ShareVideo { entry_id } => {
            let (client, partner) = env.client()?;
            let entry = client.media_get(&entry_id).await.map_err(|e| failed(&e))?;
            let url = logic::player_url(
                &partner.service_url,
                partner.partner_id,
                partner.player_ui_conf_id,
                &entry.id,
            );
            let guild = env.effective;
            let template = guild
                .templates
                .video_shared
                .as_deref()
                .unwrap_or(DEFAULT_VIDEO_SHARED);
            let v = video(entry);
            let values = |name: &str| -> Option<String> {
                Some(match name {
                    "entryId" => v.id.clone(),
                    "name" => v.name.clone(),
                    "duration" => logic::duration(v.duration_secs),
                    "owner" => v.owner.clone().unwrap_or_default(),
                    "url" => url.clone(),
                    "sharedBy" => inv.member.display_name.clone(),
                    _ => return None,
                })
            };
            Reply::Message(Message::public(
                template::render(template, &values).map_err(say)?,
            ))
        }
        Plan::Watch { entry_id } => {
            let (client, _) = env.client()?;
            // Check the entry exists before the Activity opens on it.
            let entry = client.media_get(&entry_id).await.map_err(|e| failed(&e))?;
            env.store
                .queue_watch(&inv.guild_id, &inv.channel_id, &entry.id, &inv.member.id)
                .await
                .map_err(|e| say(format!("Could not queue the video: {e}")))?;
            Reply::LaunchActivity
        }
        Plan::ConfigView => logic::config_view(&settings::view(env.declared, env.overrides)),
        Plan::ConfigSet { key, value } => {
            settings::check_override(env.declared, &key, &value).map_err(|e| say(e.to_string()))?;
            env.store
                .set_override(&inv.guild_id, &key, &value, &inv.member.id)
                .await
                .map_err(|e| say(format!("Could not save the setting: {e}")))?;
            say(format!(
                "`{key}` is now `{value}` on this server (a Discord override of the GuildConfig)."
            ))
        }
        Plan::ConfigReset { key } => {
            let removed = env
                .store
                .reset_override(&inv.guild_id, &key)
                .await
                .map_err(|e| say(format!("Could not reset the setting: {e}")))?;
            if removed {
                say(format!("`{key}` is back to the GuildConfig's value."))
            } else {
                say(format!("`{key}` has no override to reset."))
            }
        }
        Plan::SuggestMeetings { typed } => {
            let (client, _) = env.client().map_err(|_| Reply::Choices(Vec::new()))?;
            let meetings = client
                .meeting_list_active(&inv.guild_id)
                .await
                .map_err(|_| Reply::Choices(Vec::new()))?;
            let typed = typed.to_lowercase();
            Reply::Choices(
                meetings
                    .iter()
                    .map(|m| view(m, None))
                    .filter(|m| {
                        typed.is_empty()
                            || m.title.to_lowercase().contains(&typed)
                            || m.id.starts_with(&typed)
                    })
                    .map(|m| (format!("{} ({})", m.title, m.id), m.id))
                    .collect(),
            )
        }
        Plan::SuggestVideos { typed } => {
            let (client, _) = env.client().map_err(|_| Reply::Choices(Vec::new()))?;
            let entries = if typed.is_empty() {
                let recent = MediaFilter {
                    order_by: Some("-createdAt".into()),
                    ..MediaFilter::default()
                };
                client
                    .media_list(&recent, Pager::new(10, 1))
                    .await
                    .map(|l| l.objects)
            } else {
                client
                    .search_entries(&typed, Pager::new(10, 1))
                    .await
                    .map(|r| r.entries)
            };
            let entries = entries.map_err(|_| Reply::Choices(Vec::new()))?;
            Reply::Choices(entries.into_iter().map(|e| (e.name, e.id)).collect())
        }
        Plan::SuggestSettings { typed } => Reply::Choices(
            settings::keys()
                .into_iter()
                .filter(|k| settings::is_overridable(env.declared, k) && k.contains(&typed))
                .map(|k| (k.clone(), k))
                .collect(),
        ),
    })
}

const DEFAULT_MEETING_STARTED: &str =
    "{{ host }} started the {{ type }} **{{ title }}**. Press Join for your personal link.";
const DEFAULT_VIDEO_SHARED: &str =
    "{{ sharedBy }} shared **{{ name }}** ({{ duration }}): {{ url }}";

//! Meetings of a guild: start, list, look up, end, announce, and personal join links. Kaltura
//! holds the meetings (tagged with the guild); the store remembers who started which and of
//! what kind.

use crate::error::Failure;
use crate::gate::Allowed;
use crate::join_token::{AUDIENCE, ISSUER, JoinClaims};
use crate::notifications::announce_meeting;
use crate::services::Services;
use kd_crds::notification::Event;
use kd_crds::template;
use kd_kaltura::types::ScheduleEvent;
use kd_kaltura::{Client, NewMeeting as KalturaMeeting};
use kd_store::{Meeting as Record, MeetingState};

/// The longest title and description (what the slash command's options allow).
pub const MAX_TITLE: usize = 100;
pub const MAX_DESCRIPTION: usize = 500;
/// How long a join link works.
pub const JOIN_LINK_MINUTES: i64 = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeetingKind {
    Meeting,
    Webinar,
    Classroom,
}

impl MeetingKind {
    pub const ALL: [MeetingKind; 3] = [Self::Meeting, Self::Webinar, Self::Classroom];

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Meeting => "meeting",
            Self::Webinar => "webinar",
            Self::Classroom => "classroom",
        }
    }
}

/// A meeting to start, checked: a title of 1 to [`MAX_TITLE`] characters, trimmed, and an
/// optional description of at most [`MAX_DESCRIPTION`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMeeting {
    pub kind: MeetingKind,
    pub title: String,
    pub description: Option<String>,
}

impl NewMeeting {
    pub fn new(kind: MeetingKind, title: &str, description: Option<&str>) -> Result<Self, Failure> {
        let title = title.trim();
        if title.is_empty() {
            return Err(Failure::invalid("Give the meeting a title."));
        }
        if title.chars().count() > MAX_TITLE {
            return Err(Failure::invalid(format!(
                "The title is longer than {MAX_TITLE} characters."
            )));
        }
        let description = description.map(str::trim).filter(|d| !d.is_empty());
        if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
            return Err(Failure::invalid(format!(
                "The description is longer than {MAX_DESCRIPTION} characters."
            )));
        }
        Ok(Self {
            kind,
            title: title.to_string(),
            description: description.map(String::from),
        })
    }
}

/// A Kaltura schedule event id: digits only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeetingId(String);

impl MeetingId {
    pub fn parse(id: &str) -> Result<Self, Failure> {
        let id = id.trim();
        if (1..=19).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(id.to_string()))
        } else {
            Err(Failure::invalid("That is not a Kaltura meeting id."))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A meeting as the bot and the API show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meeting {
    pub id: String,
    pub title: String,
    /// meeting, webinar or classroom (meeting when started outside this bot).
    pub kind: String,
    pub description: Option<String>,
    /// Unix seconds.
    pub starts_at: Option<i64>,
    pub ends_at: Option<i64>,
    /// Discord user id of who started it, when started through this bot.
    pub created_by: Option<String>,
}

impl Meeting {
    /// The event as Kaltura has it, with what the registry knows of it.
    pub fn of(event: &ScheduleEvent, record: Option<&Record>) -> Self {
        Self {
            id: event.id.to_string(),
            title: event
                .summary
                .clone()
                .unwrap_or_else(|| format!("Meeting {}", event.id)),
            kind: record.map_or_else(|| MeetingKind::Meeting.as_str().into(), |r| r.kind.clone()),
            description: event.description.clone(),
            starts_at: event.start_date,
            ends_at: event.end_date,
            created_by: record.map(|r| r.created_by.clone()),
        }
    }
}

/// A member's personal link to a meeting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinLink {
    pub meeting: Meeting,
    pub url: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The Kaltura user a Discord member acts as.
pub fn kaltura_user(discord_user_id: &str) -> String {
    format!("discord-{discord_user_id}")
}

/// Who may end a meeting: the member who started it (by the registry or the Kaltura owner),
/// or a moderator or admin by the role mapping.
pub fn may_end(record: Option<&Record>, event: &ScheduleEvent, who: &Allowed) -> bool {
    who.role.is_moderator_or_above()
        || record.is_some_and(|r| r.created_by == who.member.id)
        || event.owner_id.as_deref() == Some(kaltura_user(&who.member.id).as_str())
}

/// The claims of a member's join link, valid for [`JOIN_LINK_MINUTES`] from `now`.
pub fn join_claims(who: &Allowed, meeting_id: &str, now: i64) -> JoinClaims {
    JoinClaims {
        sub: who.member.id.clone(),
        guild: who.guild_id.clone(),
        meeting: meeting_id.to_string(),
        partner: who.guild.declared.partner.clone(),
        role: who.role.api_name(),
        name: who.member.display_name.clone(),
        aud: AUDIENCE.into(),
        iss: ISSUER.into(),
        iat: now,
        exp: now + JOIN_LINK_MINUTES * 60,
    }
}

/// The text announcing a meeting, from the guild's template (or the default); `host` is the
/// member sharing it.
pub fn announcement(who: &Allowed, meeting: &Meeting) -> Result<String, Failure> {
    let partner = who.partner()?;
    let template = who
        .guild
        .effective
        .templates
        .meeting_started
        .as_deref()
        .unwrap_or(DEFAULT_MEETING_STARTED);
    let values = |name: &str| -> Option<String> {
        Some(match name {
            "meetingId" => meeting.id.clone(),
            "title" => meeting.title.clone(),
            "type" => meeting.kind.clone(),
            "host" => who.member.display_name.clone(),
            "joinUrl" => format!(
                "/{} meeting-id:{}",
                crate::command::Command::Join,
                meeting.id
            ),
            "partnerId" => partner.partner_id.to_string(),
            _ => return None,
        })
    };
    template::render(template, &values).map_err(Failure::Template)
}

const DEFAULT_MEETING_STARTED: &str =
    "{{ host }} started the {{ type }} **{{ title }}**. Press Join for your personal link.";

/// Starts a meeting in Kaltura (tagged with the guild, owned by the member) and records it in
/// the registry, with the Discord channel it was started in (`channel_id`; none from the HTTP
/// API), where its recordings are posted.
pub async fn start(
    svc: &Services<'_>,
    who: &Allowed,
    new: &NewMeeting,
    channel_id: Option<&str>,
) -> Result<Meeting, Failure> {
    let partner = who.partner()?;
    let client = who.client(svc.kaltura)?;
    let created = client
        .meeting_create(&KalturaMeeting {
            guild_id: &who.guild_id,
            title: &new.title,
            description: new.description.as_deref(),
            owner_id: &kaltura_user(&who.member.id),
            duration_secs: partner.sessions.meetings.expiry_seconds,
        })
        .await
        .map_err(Failure::kaltura)?;
    let record = Record {
        guild_id: who.guild_id.clone(),
        meeting_id: created.event.id.to_string(),
        resource_id: created.resource.id.to_string(),
        kind: new.kind.as_str().to_string(),
        title: new.title.clone(),
        created_by: who.member.id.clone(),
        created_at: kd_kaltura::ks::unix_now(),
        state: MeetingState::Active,
        channel_id: channel_id.filter(|c| !c.is_empty()).map(String::from),
        template_entry_id: Some(created.template_entry_id.clone()),
    };
    if let Err(err) = svc.store.add_meeting(&record).await {
        // The meeting exists in Kaltura; only who created it (and where its recordings go) is
        // lost, so say so.
        tracing::error!(error = %err, meeting = %record.meeting_id, "recording a meeting failed");
    }
    tracing::info!(guild = %who.guild_id, meeting = %record.meeting_id, kind = new.kind.as_str(), "meeting started");
    let meeting = Meeting::of(&created.event, Some(&record));
    announce_meeting(svc.store, who, Event::MeetingStarted, &meeting).await;
    Ok(meeting)
}

/// The guild's active meetings, from Kaltura (the source of truth), with what the registry
/// knows of them.
pub async fn list(svc: &Services<'_>, who: &Allowed) -> Result<Vec<Meeting>, Failure> {
    let client = who.client(svc.kaltura)?;
    let events = client
        .meeting_list_active(&who.guild_id)
        .await
        .map_err(Failure::kaltura)?;
    // The registry only adds who started each meeting: with none running it is not read, and
    // a slow store costs at most the settings' read bound, not the member's answer.
    let records = if events.is_empty() {
        Vec::new()
    } else {
        let read = svc.store.active_meetings(&who.guild_id);
        match tokio::time::timeout(crate::overrides::READ_BOUND, read).await {
            Ok(Ok(records)) => records,
            Ok(Err(err)) => {
                tracing::error!(error = %err, "reading the meeting registry failed");
                Vec::new()
            }
            Err(_) => {
                tracing::warn!("the meeting registry did not answer in time; listing without it");
                Vec::new()
            }
        }
    };
    Ok(events
        .iter()
        .map(|event| {
            let id = event.id.to_string();
            Meeting::of(event, records.iter().find(|r| r.meeting_id == id))
        })
        .collect())
}

/// The guild's active meeting with this id.
pub async fn get(svc: &Services<'_>, who: &Allowed, id: &MeetingId) -> Result<Meeting, Failure> {
    let client = who.client(svc.kaltura)?;
    let (event, record) = active(svc, &client, who, id).await?;
    Ok(Meeting::of(&event, record.as_ref()))
}

/// Ends the meeting in Kaltura and marks it ended in the registry; returns it as it was.
pub async fn end(svc: &Services<'_>, who: &Allowed, id: &MeetingId) -> Result<Meeting, Failure> {
    let client = who.client(svc.kaltura)?;
    let (event, record) = active(svc, &client, who, id).await?;
    if !may_end(record.as_ref(), &event, who) {
        return Err(Failure::NotMeetingOwner);
    }
    client
        .meeting_end(event.id)
        .await
        .map_err(Failure::kaltura)?;
    if let Err(err) = svc
        .store
        .end_meeting(&who.guild_id, id.as_str(), &who.member.id)
        .await
    {
        tracing::error!(error = %err, meeting = %id.as_str(), "recording the end of a meeting failed");
    }
    let meeting = Meeting::of(&event, record.as_ref());
    announce_meeting(svc.store, who, Event::MeetingEnded, &meeting).await;
    Ok(meeting)
}

/// The member's personal join link: signed, short-lived, with the Kaltura role their roles map
/// to. The Kaltura session is minted only when it is opened, so none ever appears in Discord.
pub async fn join_link(
    svc: &Services<'_>,
    who: &Allowed,
    id: &MeetingId,
) -> Result<JoinLink, Failure> {
    let public_url = who
        .config
        .application
        .public_url
        .as_deref()
        .ok_or(Failure::NoPublicUrl)?;
    let meeting = get(svc, who, id).await?;
    let claims = join_claims(who, &meeting.id, kd_kaltura::ks::unix_now());
    Ok(JoinLink {
        url: format!(
            "{}/join/{}",
            public_url.trim_end_matches('/'),
            svc.join_key.sign(&claims)
        ),
        expires_at: claims.exp,
        meeting,
    })
}

/// The guild's active meeting `id` in Kaltura, and its registry record if any.
async fn active(
    svc: &Services<'_>,
    client: &Client,
    who: &Allowed,
    id: &MeetingId,
) -> Result<(ScheduleEvent, Option<Record>), Failure> {
    let event = client
        .meeting_list_active(&who.guild_id)
        .await
        .map_err(Failure::kaltura)?
        .into_iter()
        .find(|m| m.id.to_string() == id.as_str())
        .ok_or_else(|| Failure::MeetingNotFound(id.as_str().to_string()))?;
    let record = svc
        .store
        .meeting(&who.guild_id, id.as_str())
        .await
        .ok()
        .flatten();
    Ok((event, record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{GuildScope, Scope};
    use crate::testing::{GUILD, config, member, teacher_role};
    use std::sync::Arc;

    fn allowed(roles: &[&str]) -> Allowed {
        let config = config(true);
        let guild = GuildScope::new(config.guild(GUILD).unwrap().clone(), Default::default());
        Scope {
            config: Arc::new(config),
            guild_id: GUILD.into(),
            member: member(roles, false),
            guild_roles: vec![teacher_role()],
            guild: Some(guild),
        }
        .allow(crate::command::Command::End)
        .unwrap()
    }

    fn event(owner: Option<&str>) -> ScheduleEvent {
        ScheduleEvent {
            id: 77,
            owner_id: owner.map(String::from),
            ..ScheduleEvent::default()
        }
    }

    #[test]
    fn new_meetings_are_trimmed_and_bounded() {
        let new = NewMeeting::new(MeetingKind::Webinar, " Optics ", Some("  ")).unwrap();
        assert_eq!((new.title.as_str(), new.description), ("Optics", None));
        assert!(NewMeeting::new(MeetingKind::Meeting, "   ", None).is_err());
        assert!(NewMeeting::new(MeetingKind::Meeting, &"x".repeat(101), None).is_err());
        assert!(NewMeeting::new(MeetingKind::Meeting, "x", Some(&"d".repeat(501))).is_err());
        assert_eq!(
            MeetingKind::parse("classroom"),
            Some(MeetingKind::Classroom)
        );
        assert_eq!(MeetingKind::parse("party"), None);
    }

    #[test]
    fn meeting_ids_are_digits() {
        assert_eq!(MeetingId::parse(" 77 ").unwrap().as_str(), "77");
        for bad in ["", "12ab", "1".repeat(20).as_str()] {
            assert!(
                matches!(MeetingId::parse(bad), Err(Failure::Invalid(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_meeting_without_a_record_is_a_plain_meeting_with_a_title() {
        let shown = Meeting::of(&event(None), None);
        assert_eq!(
            (shown.title.as_str(), shown.kind.as_str(), shown.created_by),
            ("Meeting 77", "meeting", None)
        );
    }

    #[test]
    fn the_starter_the_kaltura_owner_or_a_moderator_may_end() {
        let record = Record {
            guild_id: GUILD.into(),
            meeting_id: "77".into(),
            resource_id: "1".into(),
            kind: "webinar".into(),
            title: "Lab".into(),
            created_by: "111".into(),
            created_at: 0,
            state: MeetingState::Active,
            channel_id: None,
            template_entry_id: None,
        };
        let viewer = allowed(&[]);
        assert!(may_end(Some(&record), &event(None), &viewer));
        assert!(may_end(None, &event(Some("discord-111")), &viewer));
        assert!(!may_end(None, &event(Some("discord-222")), &viewer));
        assert!(may_end(None, &event(None), &allowed(&["100"])));
    }

    #[test]
    fn join_claims_carry_the_mapped_role_and_expire() {
        let claims = join_claims(&allowed(&["100"]), "77", 1000);
        assert_eq!(claims.role, "moderator");
        assert_eq!(claims.partner, "campus");
        assert_eq!(claims.exp, 1000 + JOIN_LINK_MINUTES * 60);
        assert_eq!(claims.aud, AUDIENCE);
    }
}

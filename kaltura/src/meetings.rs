//! Kaltura Meetings rooms through the schedule plugin: a location resource (the room), a record
//! event (the meeting) and the link between them, all tagged with the Discord guild.

use crate::client::{Client, Idempotency, MultiRequest};
use crate::error::{Error, Result};
use crate::ks::{self, KsRequest, Privileges, SessionType, unix_now};
use crate::secret::Secret;
use crate::types::{ListResponse, Pager, ScheduleEvent, ScheduleEventResource, ScheduleResource};
use serde_json::{Value, json};

/// `KalturaScheduleEventStatus::ACTIVE`.
const STATUS_ACTIVE: i64 = 2;
/// `KalturaEntryDisplayInSearchType::SYSTEM`: an entry of the system, listed nowhere.
pub const DISPLAY_IN_SEARCH_SYSTEM: i64 = -1;

/// The tag that marks a schedule object as belonging to a Discord guild.
pub fn guild_tag(guild_id: &str) -> String {
    format!("discordguild{guild_id}")
}

/// A meeting room as created for a guild.
#[derive(Debug, Clone, PartialEq)]
pub struct Meeting {
    pub event: ScheduleEvent,
    pub resource: ScheduleResource,
    /// The event's template entry: Kaltura creates the meeting's recordings from it, and
    /// they carry its id as their `templateEntryId`.
    pub template_entry_id: String,
}

#[derive(Debug, Clone)]
pub struct NewMeeting<'a> {
    pub guild_id: &'a str,
    pub title: &'a str,
    /// Shown with the meeting in Kaltura.
    pub description: Option<&'a str>,
    pub owner_id: &'a str,
    pub duration_secs: i64,
}

/// The role a member gets in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeetingRole {
    Viewer,
    Moderator,
}

impl MeetingRole {
    fn privileges(self) -> (&'static str, &'static str) {
        match self {
            MeetingRole::Viewer => ("viewerRole", "3"),
            MeetingRole::Moderator => ("adminRole", "0"),
        }
    }
}

/// Who is joining, for the join link.
#[derive(Debug, Clone)]
pub struct Attendee<'a> {
    pub user_id: &'a str,
    pub first_name: &'a str,
    pub role: MeetingRole,
}

impl Client {
    /// Create the room: its template entry, resource, event and the event's link to the
    /// resource in one multirequest.
    pub async fn meeting_create(&self, new: &NewMeeting<'_>) -> Result<Meeting> {
        let tag = guild_tag(new.guild_id);
        let now = unix_now();
        let mut request = MultiRequest::new();
        // What ties a recording to its meeting: the event's templateEntryId, which Kaltura
        // sets on the entries it records (as for any scheduled recording). A system entry,
        // so it shows in no search.
        let template = request.add(
            "media",
            "add",
            json!({"entry": {
                "objectType": "KalturaMediaEntry",
                "name": new.title,
                "mediaType": 1,
                "userId": new.owner_id,
                "tags": tag,
                "displayInSearch": DISPLAY_IN_SEARCH_SYSTEM,
            }}),
        );
        let resource = request.add(
            "schedule_scheduleresource",
            "add",
            json!({"scheduleResource": {
                "objectType": "KalturaLocationScheduleResource",
                "name": new.title,
                "tags": format!("vcprovider:newrow,{tag}"),
            }}),
        );
        let mut event = json!({
            "objectType": "KalturaRecordScheduleEvent",
            "summary": new.title,
            "startDate": now,
            "endDate": now + new.duration_secs,
            "recurrenceType": 0,
            "ownerId": new.owner_id,
            "tags": tag,
            "templateEntryId": MultiRequest::result_ref(template, "id"),
        });
        // Absent rather than null: Kaltura would store a null over its default.
        if let Some(description) = new.description {
            event["description"] = json!(description);
        }
        let event = request.add(
            "schedule_scheduleevent",
            "add",
            json!({ "scheduleEvent": event }),
        );
        request.add(
            "schedule_scheduleeventresource",
            "add",
            json!({"scheduleEventResource": {
                "objectType": "KalturaScheduleEventResource",
                "eventId": MultiRequest::result_ref(event, "id"),
                "resourceId": MultiRequest::result_ref(resource, "id"),
            }}),
        );
        let mut results = self
            .multirequest(&request, Idempotency::NotIdempotent)
            .await?
            .into_iter();
        let mut next = || -> Result<Value> {
            results
                .next()
                .ok_or_else(|| Error::Decode("missing multirequest result".into()))?
                .map_err(Error::from)
        };
        let template: Value = next()?;
        let resource: ScheduleResource = decode(next()?)?;
        let event: ScheduleEvent = decode(next()?)?;
        let link: ScheduleEventResource = decode(next()?)?;
        if link.event_id != event.id || link.resource_id != resource.id {
            return Err(Error::Decode("event/resource link does not match".into()));
        }
        let template_entry_id = template["id"]
            .as_str()
            .filter(|id| event.template_entry_id.as_deref() == Some(*id))
            .ok_or_else(|| Error::Decode("the event's template entry does not match".into()))?
            .to_string();
        Ok(Meeting {
            event,
            resource,
            template_entry_id,
        })
    }

    /// The guild's meetings that are active and not yet over.
    pub async fn meeting_list_active(&self, guild_id: &str) -> Result<Vec<ScheduleEvent>> {
        let params = json!({
            "filter": {
                "objectType": "KalturaScheduleEventFilter",
                "tagsMultiLikeOr": guild_tag(guild_id),
                "statusEqual": STATUS_ACTIVE,
                "endDateGreaterThanOrEqual": unix_now(),
                "orderBy": "+startDate",
            },
            "pager": Pager::new(500, 1).to_value(),
        });
        let list: ListResponse<ScheduleEvent> = self
            .call_as(
                "schedule_scheduleevent",
                "list",
                params,
                Idempotency::Idempotent,
            )
            .await?;
        Ok(list.objects)
    }

    /// End a meeting (`scheduleEvent.cancel`).
    pub async fn meeting_end(&self, event_id: i64) -> Result<ScheduleEvent> {
        self.call_as(
            "schedule_scheduleevent",
            "cancel",
            json!({"scheduleEventId": event_id}),
            Idempotency::NotIdempotent,
        )
        .await
    }
}

/// A per-user join link: a USER KS carrying the event and the role, signed locally with `secret`.
pub fn join_link(
    secret: &Secret,
    partner_id: i64,
    event_id: i64,
    attendee: &Attendee<'_>,
    expiry_secs: i64,
) -> String {
    let (role, contextual) = attendee.role.privileges();
    let privileges = Privileges::default()
        .with("eventId", &event_id.to_string())
        .with("role", role)
        .with("userContextualRole", contextual)
        .with("firstName", attendee.first_name);
    let request = KsRequest::new(partner_id, SessionType::User)
        .user(attendee.user_id)
        .expiry_secs(expiry_secs)
        .privileges(privileges);
    let ks = ks::generate_v2(secret, &request);
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("ks", ks.expose())
        .finish();
    format!("https://{partner_id}.kaf.kaltura.com/virtualEvent/launch?{query}")
}

fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::Decode(e.to_string()))
}

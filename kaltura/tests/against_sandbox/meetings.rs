//! Kaltura Meetings rooms through the schedule plugin.

use crate::common::*;
use kd_kaltura::{Attendee, MeetingRole, NewMeeting, SessionType, join_link, ks};

#[tokio::test]
async fn create_list_join_end() {
    let sandbox = sandbox().await;
    let admin = admin(&sandbox).await;
    let new = NewMeeting {
        guild_id: "1283874310720716890",
        title: "PHYS 101 office hours",
        description: Some("Bring your problem sets"),
        owner_id: "prof.curie",
        duration_secs: 3600,
    };
    let meeting = admin.meeting_create(&new).await.unwrap();
    assert_eq!(
        meeting.event.summary.as_deref(),
        Some("PHYS 101 office hours")
    );
    assert_eq!(meeting.event.status, Some(2));
    assert_eq!(
        meeting.event.description.as_deref(),
        Some("Bring your problem sets")
    );
    assert_eq!(meeting.event.owner_id.as_deref(), Some("prof.curie"));
    assert!(
        meeting
            .resource
            .tags
            .as_deref()
            .unwrap()
            .contains("vcprovider:newrow")
    );
    let other = admin
        .meeting_create(&NewMeeting {
            guild_id: "999",
            title: "Elsewhere",
            ..new.clone()
        })
        .await
        .unwrap();

    let active = admin
        .meeting_list_active("1283874310720716890")
        .await
        .unwrap();
    assert_eq!(
        active.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![meeting.event.id]
    );
    assert_eq!(
        admin.meeting_list_active("999").await.unwrap()[0].id,
        other.event.id
    );
    assert!(admin.meeting_list_active("555").await.unwrap().is_empty());

    // The sandbox holds the link between event and resource.
    let event = sandbox
        .schedule_events()
        .into_iter()
        .find(|e| e["id"] == meeting.event.id)
        .unwrap();
    assert_eq!(event["tags"], "discordguild1283874310720716890");
    // Its recordings are made from a template entry of the system, listed nowhere.
    assert_eq!(event["templateEntryId"], meeting.template_entry_id.as_str());
    let template = sandbox
        .entries()
        .into_iter()
        .find(|e| e["id"] == meeting.template_entry_id.as_str())
        .unwrap();
    assert_eq!(template["name"], "PHYS 101 office hours");
    assert_eq!(template["userId"], "prof.curie");
    assert_eq!(template["displayInSearch"], -1);

    let link = join_link(
        &secret(&sandbox),
        sandbox.partner_id(),
        meeting.event.id,
        &Attendee {
            user_id: "ada.lovelace",
            first_name: "Ada",
            role: MeetingRole::Viewer,
        },
        600,
    );
    let prefix = format!(
        "https://{}.kaf.kaltura.com/virtualEvent/launch?ks=",
        sandbox.partner_id()
    );
    assert!(link.starts_with(&prefix), "{link}");
    let ks_text: String = url_ks(&link);
    let fields = ks::verify(&ks_text, sandbox.partner_id(), &[secret(&sandbox)]).unwrap();
    assert_eq!(fields.session_type, SessionType::User);
    assert_eq!(fields.user_id, "ada.lovelace");
    assert_eq!(
        fields.privileges.get("eventId"),
        Some(meeting.event.id.to_string().as_str())
    );
    assert_eq!(fields.privileges.get("role"), Some("viewerRole"));
    assert_eq!(fields.privileges.get("userContextualRole"), Some("3"));
    assert_eq!(fields.privileges.get("firstName"), Some("Ada"));
    // ... and the sandbox accepts that KS.
    let as_attendee = client(&sandbox).with_ks(ks_text.into());
    assert_eq!(
        as_attendee
            .meeting_list_active("1283874310720716890")
            .await
            .unwrap()
            .len(),
        1
    );

    let moderator = join_link(
        &secret(&sandbox),
        sandbox.partner_id(),
        meeting.event.id,
        &Attendee {
            user_id: "prof.curie",
            first_name: "Marie",
            role: MeetingRole::Moderator,
        },
        600,
    );
    let fields = ks::decode(&url_ks(&moderator), &[secret(&sandbox)]).unwrap();
    assert_eq!(fields.privileges.get("role"), Some("adminRole"));
    assert_eq!(fields.privileges.get("userContextualRole"), Some("0"));

    let ended = admin.meeting_end(meeting.event.id).await.unwrap();
    assert_eq!(ended.status, Some(1));
    assert!(
        admin
            .meeting_list_active("1283874310720716890")
            .await
            .unwrap()
            .is_empty()
    );
    let again = admin.meeting_end(424242).await.unwrap_err();
    assert_eq!(again.api_code(), Some("SCHEDULE_EVENT_NOT_FOUND"));

    // Creating rooms needs an admin session.
    let (viewer, _) = user(&sandbox, "ada.lovelace").await;
    let refused = viewer.meeting_create(&new).await.unwrap_err();
    assert_eq!(refused.api_code(), Some("SERVICE_FORBIDDEN"));
}

fn url_ks(link: &str) -> String {
    let query = link.split_once('?').unwrap().1;
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "ks")
        .unwrap()
        .1
        .into_owned()
}

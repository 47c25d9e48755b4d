//! Every client method against the sandbox, and each error path.

use crate::common::*;
use kd_kaltura::types::{MediaFilter, Pager, UserInput};
use kd_kaltura::{
    Client, ClientConfig, Error, Idempotency, MultiRequest, Privileges, SearchBackend, Secret,
    SessionType, UserError, UserFilter,
};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn session_start_and_its_errors() {
    let sandbox = sandbox().await;
    let client = client(&sandbox);
    let ks = client
        .session_start(
            &secret(&sandbox),
            "alice",
            SessionType::Admin,
            600,
            &Privileges::parse("disableentitlement"),
        )
        .await
        .unwrap();
    let fields =
        kd_kaltura::ks::verify(ks.expose(), sandbox.partner_id(), &[secret(&sandbox)]).unwrap();
    assert_eq!(fields.user_id, "alice");
    assert_eq!(fields.session_type, SessionType::Admin);
    assert_eq!(fields.privileges.get("disableentitlement"), Some(""));

    let wrong = client
        .session_start(
            &Secret::new("not-the-secret"),
            "alice",
            SessionType::Admin,
            600,
            &Privileges::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(wrong.api_code(), Some("START_SESSION_ERROR"));
    // A user secret opens user sessions only.
    let user_secret = Secret::new(sandbox.user_secret());
    assert!(
        client
            .session_start(
                &user_secret,
                "u",
                SessionType::User,
                600,
                &Privileges::default()
            )
            .await
            .is_ok()
    );
    let admin_with_user_secret = client
        .session_start(
            &user_secret,
            "u",
            SessionType::Admin,
            600,
            &Privileges::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        admin_with_user_secret.api_code(),
        Some("START_SESSION_ERROR")
    );

    let unknown = Client::new(ClientConfig::new(sandbox.base_url(), 12345)).unwrap();
    let err = unknown
        .session_start(
            &secret(&sandbox),
            "a",
            SessionType::Admin,
            600,
            &Privileges::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.api_code(), Some("INVALID_PARTNER_ID"));
}

#[tokio::test]
async fn media_list_get_and_missing_entry() {
    let sandbox = sandbox().await;
    let admin = admin(&sandbox).await;
    let filter = MediaFilter {
        tags_like: Some("calculus".into()),
        order_by: Some("+name".into()),
        ..MediaFilter::default()
    };
    let first = admin.media_list(&filter, Pager::new(4, 1)).await.unwrap();
    let second = admin.media_list(&filter, Pager::new(4, 2)).await.unwrap();
    assert_eq!(first.total_count, 7);
    assert_eq!(first.objects.len(), 4);
    assert_eq!(second.objects.len(), 3);
    let names: Vec<_> = first
        .objects
        .iter()
        .chain(&second.objects)
        .map(|e| e.name.clone())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted);
    assert!(names.iter().all(|n| n.starts_with("MATH 221")));

    let entry = admin.media_get(&first.objects[0].id).await.unwrap();
    assert_eq!(entry, first.objects[0]);
    assert!(entry.duration.unwrap() > 0);
    assert_eq!(entry.status.as_deref(), Some("2"));
    assert!(entry.thumbnail_url.unwrap().starts_with(sandbox.base_url()));

    let by_category = MediaFilter {
        categories_ids_match_or: Some("102".into()),
        ..MediaFilter::default()
    };
    let events = admin
        .media_list(&by_category, Pager::default())
        .await
        .unwrap();
    assert_eq!(events.total_count, 6);

    let missing = admin.media_get("0_missing1").await.unwrap_err();
    let Error::Api(api) = missing else {
        panic!("expected an API error, got {missing:?}")
    };
    assert_eq!(api.code, "ENTRY_ID_NOT_FOUND");
    assert_eq!(api.args["ENTRY_ID"], "0_missing1");
    assert_eq!(api.message, "Entry id \"0_missing1\" not found");
}

#[tokio::test]
async fn search_uses_esearch_then_falls_back() {
    let sandbox = sandbox().await;
    let admin = admin(&sandbox).await;
    let found = admin
        .search_entries("sorting", Pager::default())
        .await
        .unwrap();
    assert_eq!(found.backend, SearchBackend::ESearch);
    assert_eq!(found.total_count, 1);
    assert!(found.entries[0].name.contains("Sorting"));

    sandbox.knobs().set_esearch_enabled(false);
    let fallback = admin
        .search_entries("sorting", Pager::default())
        .await
        .unwrap();
    assert_eq!(fallback.backend, SearchBackend::MediaList);
    assert_eq!(fallback.entries, found.entries);

    // Other API errors are not swallowed by the fallback.
    let anonymous = client(&sandbox);
    let err = anonymous
        .search_entries("sorting", Pager::default())
        .await
        .unwrap_err();
    assert_eq!(err.api_code(), Some("MISSING_KS"));
}

#[tokio::test]
async fn users_roles_categories() {
    let sandbox = sandbox().await;
    let admin = admin(&sandbox).await;
    let input = UserInput {
        id: Some("discord-123".into()),
        first_name: Some("Dee".into()),
        last_name: Some("Scord".into()),
        email: Some("dee@example.org".into()),
        role_ids: Some("1001".into()),
        is_admin: Some(false),
        ..UserInput::default()
    };
    let added = admin.user_add(&input).await.unwrap();
    assert_eq!(added.full_name.as_deref(), Some("Dee Scord"));
    assert_eq!(added.is_admin, Some(false));
    let duplicate = admin.user_add(&input).await.unwrap_err();
    assert_eq!(duplicate.api_code(), Some("DUPLICATE_USER_BY_ID"));
    let no_id = admin.user_add(&UserInput::default()).await.unwrap_err();
    assert!(matches!(no_id, UserError::InvalidId(_)), "{no_id:?}");

    let update = UserInput {
        role_ids: Some("1002".into()),
        last_name: Some("Cord".into()),
        ..UserInput::default()
    };
    let updated = admin.user_update("discord-123", &update).await.unwrap();
    assert_eq!(updated.role_ids.as_deref(), Some("1002"));
    assert_eq!(updated.full_name.as_deref(), Some("Dee Cord"));
    assert_eq!(admin.user_get("discord-123").await.unwrap(), updated);
    assert_eq!(
        admin.user_get("nobody").await.unwrap_err().api_code(),
        Some("INVALID_USER_ID")
    );
    assert_eq!(
        admin
            .user_update("nobody", &update)
            .await
            .unwrap_err()
            .api_code(),
        Some("INVALID_USER_ID")
    );

    let prefix = UserFilter {
        id_or_screen_name_starts_with: Some("discord-".into()),
        ..UserFilter::default()
    };
    let listed = admin.user_list(&prefix, Pager::default()).await.unwrap();
    assert_eq!(listed.total_count, 1);
    assert_eq!(listed.objects[0].id, "discord-123");
    let everyone = admin
        .user_list(&UserFilter::default(), Pager::new(3, 1))
        .await
        .unwrap();
    assert!(everyone.total_count >= 11);
    assert_eq!(everyone.objects.len(), 3);

    let roles = admin.user_role_list(Pager::default()).await.unwrap();
    let names: Vec<_> = roles.objects.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.contains(&"Viewer") && names.contains(&"Moderator"),
        "{names:?}"
    );

    let courses = admin
        .category_list(Some(101), Pager::default())
        .await
        .unwrap();
    assert_eq!(courses.total_count, 5);
    assert!(courses.objects.iter().all(|c| {
        c.full_name
            .as_deref()
            .unwrap()
            .starts_with("MediaSpace>Courses>")
    }));
    assert!(courses.objects.iter().all(|c| c.entries_count.unwrap() > 0));
    let all = admin.category_list(None, Pager::default()).await.unwrap();
    assert_eq!(all.total_count, 8);

    // A user session may read but not manage users.
    let (viewer, _) = user(&sandbox, "ada.lovelace").await;
    assert_eq!(
        viewer
            .user_get("ada.lovelace")
            .await
            .unwrap()
            .first_name
            .as_deref(),
        Some("Ada")
    );
    let forbidden = viewer
        .user_add(&UserInput {
            id: Some("x".into()),
            ..UserInput::default()
        })
        .await
        .unwrap_err();
    assert_eq!(forbidden.api_code(), Some("SERVICE_FORBIDDEN"));
}

#[tokio::test]
async fn multirequest_with_references_and_item_errors() {
    let sandbox = sandbox().await;
    let admin = admin(&sandbox).await;
    let mut request = MultiRequest::new();
    let list = request.add(
        "media",
        "list",
        json!({"filter": MediaFilter { name_like: Some("Cold War".into()), ..MediaFilter::default() }.to_value()}),
    );
    request.add(
        "media",
        "get",
        json!({"entryId": MultiRequest::result_ref(list, "objects:0:id")}),
    );
    request.add("media", "get", json!({"entryId": "0_absent00"}));
    let results = admin
        .multirequest(&request, Idempotency::Idempotent)
        .await
        .unwrap();
    assert_eq!(results.len(), 3);
    let listed = results[0].as_ref().unwrap();
    let got = results[1].as_ref().unwrap();
    assert_eq!(listed["objects"][0]["id"], got["id"]);
    assert!(got["name"].as_str().unwrap().contains("Cold War"));
    assert_eq!(results[2].as_ref().unwrap_err().code, "ENTRY_ID_NOT_FOUND");
}

#[tokio::test]
async fn ks_errors_are_typed_and_redacted() {
    let sandbox = sandbox().await;
    let anonymous = client(&sandbox);
    let missing = anonymous
        .media_list(&MediaFilter::default(), Pager::default())
        .await
        .unwrap_err();
    assert_eq!(missing.api_code(), Some("MISSING_KS"));

    let garbage = anonymous.with_ks("djJ8bm9wZXxub3BlCg".into());
    let err = garbage.media_get("0_x").await.unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.code, "INVALID_KS");
    assert_eq!(api.args["ERR_CODE"], "-1");
    assert_eq!(api.args["ERR_DESC"], "INVALID_STR");
    // Kaltura echoes the KS in the message; the client keeps it out of Display and Debug.
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("djJ8bm9wZXxub3BlCg"), "{shown}");

    let admin = admin(&sandbox).await;
    let ks = admin.ks().unwrap().expose().to_string();
    assert!(!format!("{admin:?}").contains(&ks));
}

#[tokio::test]
async fn retries_only_idempotent_calls() {
    let sandbox = sandbox().await;
    let admin = admin(&sandbox).await;
    let before = sandbox.knobs().requests();
    sandbox.knobs().fail_next(2);
    let list = admin
        .media_list(&MediaFilter::default(), Pager::new(1, 1))
        .await
        .unwrap();
    assert_eq!(list.objects.len(), 1);
    assert_eq!(
        sandbox.knobs().requests() - before,
        3,
        "two failures, then success"
    );

    let before = sandbox.knobs().requests();
    sandbox.knobs().fail_next(1);
    let add = admin
        .user_add(&UserInput {
            id: Some("once".into()),
            ..UserInput::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(add, UserError::Kaltura(Error::Http { status: 500 })),
        "{add:?}"
    );
    assert_eq!(
        sandbox.knobs().requests() - before,
        1,
        "a write is never resent"
    );

    sandbox.knobs().set_down(true);
    let down = admin.media_get("0_x").await.unwrap_err();
    assert!(matches!(down, Error::Http { status: 503 }), "{down:?}");
    sandbox.knobs().set_down(false);

    sandbox.knobs().set_error_rate(1.0);
    let before = sandbox.knobs().requests();
    assert!(admin.media_get("0_x").await.unwrap_err().is_transient());
    assert_eq!(
        sandbox.knobs().requests() - before,
        4,
        "first try plus three retries"
    );
    sandbox.knobs().set_error_rate(0.0);
}

#[tokio::test]
async fn timeouts_are_reported() {
    let sandbox = sandbox().await;
    let admin = admin(&sandbox).await;
    let impatient = Client::new(ClientConfig {
        timeout: Duration::from_millis(100),
        max_retries: 1,
        ..config(&sandbox)
    })
    .unwrap()
    .with_ks(admin.ks().unwrap().clone());
    sandbox.knobs().set_latency(Duration::from_millis(400));
    let err = impatient.media_get("0_x").await.unwrap_err();
    assert!(
        matches!(err, Error::Timeout(d) if d == Duration::from_millis(100)),
        "{err:?}"
    );
    sandbox.knobs().set_latency(Duration::ZERO);
    assert!(
        impatient
            .media_list(&MediaFilter::default(), Pager::default())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn user_errors_are_typed_and_deleted_users_are_gone() {
    let sandbox = sandbox().await;
    let admin = admin(&sandbox).await;
    let input = UserInput {
        id: Some("discord_42".into()),
        screen_name: Some("Ada".into()),
        role_ids: Some("1001".into()),
        ..UserInput::default()
    };
    let added = admin.user_add(&input).await.unwrap();
    assert_eq!(added.role_names.as_deref(), Some("Viewer"));
    assert_eq!(
        added.first_name.as_deref(),
        Some("discord_42"),
        "Kaltura's default"
    );
    let again = admin.user_add(&input).await.unwrap_err();
    assert!(matches!(again, UserError::DuplicateId(_)), "{again:?}");
    let bad_role = UserInput {
        role_ids: Some("424242".into()),
        ..UserInput::default()
    };
    let refused = admin
        .user_update("discord_42", &bad_role)
        .await
        .unwrap_err();
    assert!(matches!(refused, UserError::RoleNotFound(_)), "{refused:?}");
    assert_eq!(
        admin
            .user_get("discord_42")
            .await
            .unwrap()
            .role_ids
            .as_deref(),
        Some("1001"),
        "a refused update changes nothing"
    );
    let spaced = UserInput {
        id: Some("discord 42".into()),
        ..UserInput::default()
    };
    let invalid = admin.user_add(&spaced).await.unwrap_err();
    assert!(matches!(invalid, UserError::InvalidId(_)), "{invalid:?}");

    let by_id = UserFilter {
        id_in: vec!["discord_42".into(), "discord_43".into()],
        ..UserFilter::default()
    };
    let listed = admin.user_list(&by_id, Pager::default()).await.unwrap();
    assert_eq!(listed.total_count, 1);

    let deleted = admin.user_delete("discord_42").await.unwrap();
    assert_eq!(deleted.status, Some(3));
    let gone = admin.user_get("discord_42").await.unwrap_err();
    assert!(matches!(gone, UserError::NotFound(_)), "{gone:?}");
    let missing = admin.user_update("discord_42", &input).await.unwrap_err();
    assert!(matches!(missing, UserError::NotFound(_)), "{missing:?}");
    assert_eq!(
        admin
            .user_list(&by_id, Pager::default())
            .await
            .unwrap()
            .total_count,
        0
    );
    let with_deleted = UserFilter {
        status_in: vec![1, 3],
        ..by_id.clone()
    };
    assert_eq!(
        admin
            .user_list(&with_deleted, Pager::default())
            .await
            .unwrap()
            .total_count,
        1
    );
    admin
        .user_add(&input)
        .await
        .expect("a deleted id may be added again");
}

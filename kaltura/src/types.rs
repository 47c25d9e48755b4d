//! Kaltura objects the project reads, and the filters it sends. Field names follow Kaltura's
//! JSON (camelCase); unknown fields are ignored so newer servers keep working.

use serde::Deserialize;
use serde_json::{Map, Value, json};

/// `KalturaFilterPager`: `page_index` is 1-based; Kaltura caps `page_size` at 500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pager {
    pub page_size: u32,
    pub page_index: u32,
}

impl Default for Pager {
    fn default() -> Self {
        Pager {
            page_size: 30,
            page_index: 1,
        }
    }
}

impl Pager {
    pub fn new(page_size: u32, page_index: u32) -> Pager {
        Pager {
            page_size: page_size.min(500),
            page_index: page_index.max(1),
        }
    }

    pub fn to_value(self) -> Value {
        json!({"objectType": "KalturaFilterPager", "pageSize": self.page_size, "pageIndex": self.page_index})
    }
}

/// A `*ListResponse`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListResponse<T> {
    #[serde(default = "Vec::new")]
    pub objects: Vec<T>,
    #[serde(default)]
    pub total_count: i64,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct MediaEntry {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub tags: Option<String>,
    pub categories: Option<String>,
    pub categories_ids: Option<String>,
    pub duration: Option<i64>,
    pub thumbnail_url: Option<String>,
    pub user_id: Option<String>,
    pub creator_id: Option<String>,
    pub partner_id: Option<i64>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
    /// `KalturaEntryStatus` is a string enum; "2" is READY.
    pub status: Option<String>,
    pub media_type: Option<i64>,
    pub plays: Option<i64>,
    pub views: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct User {
    pub id: String,
    pub partner_id: Option<i64>,
    pub screen_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    pub status: Option<i64>,
    pub is_admin: Option<bool>,
    pub role_ids: Option<String>,
    pub role_names: Option<String>,
    pub tags: Option<String>,
    pub created_at: Option<i64>,
}

/// Fields to set on `user.add` / `user.update`; `None` leaves a field out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserInput {
    pub id: Option<String>,
    pub screen_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub role_ids: Option<String>,
    pub tags: Option<String>,
    pub is_admin: Option<bool>,
}

impl UserInput {
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("objectType".into(), "KalturaUser".into());
        let strings = [
            ("id", &self.id),
            ("screenName", &self.screen_name),
            ("firstName", &self.first_name),
            ("lastName", &self.last_name),
            ("email", &self.email),
            ("roleIds", &self.role_ids),
            ("tags", &self.tags),
        ];
        for (key, value) in strings {
            if let Some(v) = value {
                obj.insert(key.into(), v.clone().into());
            }
        }
        if let Some(admin) = self.is_admin {
            obj.insert("isAdmin".into(), admin.into());
        }
        Value::Object(obj)
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct UserRole {
    pub id: i64,
    pub name: String,
    pub system_name: Option<String>,
    pub description: Option<String>,
    pub status: Option<i64>,
    pub permission_names: Option<String>,
    pub tags: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Category {
    pub id: i64,
    pub name: String,
    pub full_name: Option<String>,
    pub full_ids: Option<String>,
    pub parent_id: Option<i64>,
    pub depth: Option<i64>,
    pub entries_count: Option<i64>,
    pub description: Option<String>,
    pub tags: Option<String>,
}

/// `KalturaMediaEntryFilter`, the fields the project uses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaFilter {
    pub free_text: Option<String>,
    pub name_like: Option<String>,
    pub tags_like: Option<String>,
    pub categories_ids_match_or: Option<String>,
    pub user_id_equal: Option<String>,
    pub status_in: Option<String>,
    /// e.g. `-createdAt`, `+name`.
    pub order_by: Option<String>,
}

impl MediaFilter {
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("objectType".into(), "KalturaMediaEntryFilter".into());
        let fields = [
            ("freeText", &self.free_text),
            ("nameLike", &self.name_like),
            ("tagsLike", &self.tags_like),
            ("categoriesIdsMatchOr", &self.categories_ids_match_or),
            ("userIdEqual", &self.user_id_equal),
            ("statusIn", &self.status_in),
            ("orderBy", &self.order_by),
        ];
        for (key, value) in fields {
            if let Some(v) = value {
                obj.insert(key.into(), v.clone().into());
            }
        }
        Value::Object(obj)
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ScheduleEvent {
    pub id: i64,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// `KalturaScheduleEventStatus`: 1 cancelled, 2 active, 3 deleted.
    pub status: Option<i64>,
    pub start_date: Option<i64>,
    pub end_date: Option<i64>,
    pub tags: Option<String>,
    pub owner_id: Option<String>,
    /// The entry the event's recordings are made from (`KalturaEntryScheduleEvent`).
    pub template_entry_id: Option<String>,
    pub object_type: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ScheduleResource {
    pub id: i64,
    pub name: Option<String>,
    pub tags: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ScheduleEventResource {
    pub event_id: i64,
    pub resource_id: i64,
}

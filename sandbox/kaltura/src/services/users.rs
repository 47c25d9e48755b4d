//! `user`, `userRole` and `category`, as Kaltura's UserService has them: users are keyed by
//! `[partnerId, id]`; `user.delete` marks a user DELETED (status 3), which `get`, `update` and
//! `list` then no longer see and `add` may reuse; `roleIds` must name roles of the partner (or
//! global ones); a user session may read only its own user.

use super::{Call, apply_update, id_matches, list_response, order_by, paginate};
use crate::seed;
use crate::wire::{ApiException, CallResult};
use serde_json::Value;

/// Fields a client may not set (`id` is set by `add`, or renamed by `update` on its own terms).
const USER_READ_ONLY: &[&str] = &[
    "id",
    "partnerId",
    "createdAt",
    "updatedAt",
    "fullName",
    "roleNames",
    "deletedAt",
    "statusUpdatedAt",
];

/// `KalturaUserStatus`.
const ACTIVE: i64 = 1;
const DELETED: i64 = 3;

fn refresh_names(user: &mut Value) {
    let first = user["firstName"].as_str().unwrap_or_default().to_string();
    let last = user["lastName"].as_str().unwrap_or_default().to_string();
    user["fullName"] = format!("{first} {last}").trim().to_string().into();
    user["updatedAt"] = crate::now().into();
}

/// kuser::PUSER_ID_REGEXP: 1 to 320 of letters, digits and `,!#$%&'*+?^_`{|}~.@-`.
fn valid_user_id(id: &str) -> bool {
    (1..=320).contains(&id.chars().count())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ",!#$%&'*+?^_`{|}~.@-".contains(c))
}

fn invalid_field(name: &str) -> ApiException {
    ApiException::new(
        "INVALID_FIELD_VALUE",
        "value in field [@FIELD_NAME@] is not valid",
        &[("FIELD_NAME", name.into())],
    )
}

fn duplicate(id: &str) -> ApiException {
    ApiException::new(
        "DUPLICATE_USER_BY_ID",
        "User with id [@UID@] already exists in system",
        &[("UID", id.into())],
    )
}

/// A live (not deleted) user of the partner.
fn is_live(user: &Value, partner_id: i64, id: &str) -> bool {
    user["partnerId"].as_i64() == Some(partner_id)
        && user["id"].as_str() == Some(id)
        && user["status"].as_i64() != Some(DELETED)
}

/// UserRolePeer::testValidRolesForUser: every id names a role of the partner or a global one.
/// An empty string clears the roles.
fn check_roles(
    roles: &[Value],
    partner_id: i64,
    role_ids: Option<String>,
) -> Result<Option<String>, ApiException> {
    let Some(ids) = role_ids else {
        return Ok(None);
    };
    let mut names = Vec::new();
    for id in ids.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let role = roles
            .iter()
            .find(|r| {
                id_matches(&r["id"], id)
                    && matches!(r["partnerId"].as_i64(), Some(p) if p == partner_id || p == 0)
            })
            .ok_or_else(|| ApiException::new("USER_ROLE_NOT_FOUND", "User role not found", &[]))?;
        names.push(role["name"].as_str().unwrap_or_default().to_string());
    }
    Ok(Some(names.join(",")))
}

pub fn add(call: &Call<'_>) -> CallResult {
    let input = call
        .params
        .obj("user")
        .ok_or_else(|| ApiException::missing_parameter("user"))?;
    let id = input.text("id").unwrap_or_default();
    if !valid_user_id(&id) {
        return Err(invalid_field("id"));
    }
    let partner_id = call.partner_id();
    let mut store = call.sandbox.store();
    if store.users.iter().any(|u| is_live(u, partner_id, &id)) {
        return Err(duplicate(&id));
    }
    let role_names = check_roles(&store.roles, partner_id, input.text("roleIds"))?;
    let mut user = seed::user(partner_id, &id, "", "", "", false);
    user["screenName"] = Value::Null;
    user["firstName"] = Value::Null;
    user["lastName"] = Value::Null;
    user["email"] = Value::Null;
    apply_update(&mut user, Some(input), USER_READ_ONLY);
    // kuserPeer::addUser: screen name and first name default to the id.
    if user["screenName"].is_null() {
        user["screenName"] = id.clone().into();
    }
    if user["firstName"].is_null() && user["lastName"].is_null() {
        user["firstName"] = id.clone().into();
    }
    user["status"] = ACTIVE.into();
    user["roleNames"] = role_names.unwrap_or_default().into();
    refresh_names(&mut user);
    user["createdAt"] = crate::now().into();
    store.users.push(user.clone());
    Ok(user)
}

fn user_id(call: &Call<'_>) -> Result<String, ApiException> {
    call.required("userId")
}

/// `user.get`: without `userId`, the session's own user; a user session sees only its own.
pub fn get(call: &Call<'_>) -> CallResult {
    let session = call.session.as_ref();
    let id = call
        .params
        .text("userId")
        .or_else(|| session.map(|s| s.user_id.clone()))
        .unwrap_or_default();
    if session.is_some_and(|s| !s.is_admin() && s.user_id != id) {
        return Err(ApiException::new(
            "CANNOT_RETRIEVE_ANOTHER_USER_USING_NON_ADMIN_SESSION",
            "cannot retrieve another user \"@USER_ID@\" using non-admin session",
            &[("USER_ID", id)],
        ));
    }
    let partner_id = call.partner_id();
    let store = call.sandbox.store();
    store
        .users
        .iter()
        .find(|u| is_live(u, partner_id, &id))
        .cloned()
        .ok_or_else(ApiException::invalid_user_id)
}

pub fn update(call: &Call<'_>) -> CallResult {
    let id = user_id(call)?;
    let partner_id = call.partner_id();
    let input = call.params.obj("user");
    let mut store = call.sandbox.store();
    if !store.users.iter().any(|u| is_live(u, partner_id, &id)) {
        return Err(ApiException::invalid_user_id());
    }
    let role_names = check_roles(
        &store.roles,
        partner_id,
        input.as_ref().and_then(|i| i.str("roleIds")),
    )?;
    // `update` may rename a user, to an id nobody else has.
    let rename = input
        .as_ref()
        .and_then(|i| i.text("id"))
        .filter(|new| *new != id);
    if let Some(new) = &rename {
        if !valid_user_id(new) {
            return Err(invalid_field("id"));
        }
        if store.users.iter().any(|u| is_live(u, partner_id, new)) {
            return Err(duplicate(new));
        }
    }
    let user = store
        .users
        .iter_mut()
        .find(|u| is_live(u, partner_id, &id))
        .expect("checked above");
    apply_update(user, input, USER_READ_ONLY);
    if let Some(new) = rename {
        user["id"] = new.into();
    }
    if let Some(names) = role_names {
        user["roleNames"] = names.into();
    }
    refresh_names(user);
    Ok(user.clone())
}

/// `user.delete`: the user becomes DELETED and is returned so.
pub fn delete(call: &Call<'_>) -> CallResult {
    let id = user_id(call)?;
    let partner_id = call.partner_id();
    let mut store = call.sandbox.store();
    let user = store
        .users
        .iter_mut()
        .find(|u| is_live(u, partner_id, &id))
        .ok_or_else(ApiException::invalid_user_id)?;
    let now = crate::now();
    user["status"] = DELETED.into();
    user["deletedAt"] = now.into();
    user["statusUpdatedAt"] = now.into();
    user["updatedAt"] = now.into();
    Ok(user.clone())
}

/// `user.list` with the KalturaUserFilter fields: `idEqual`, `idIn`, `idOrScreenNameStartsWith`,
/// `isAdminEqual`, `roleIdsEqual`, `statusEqual`, `statusIn` (deleted users only when asked).
pub fn list(call: &Call<'_>) -> CallResult {
    let filter = call.params.obj("filter");
    let text = |key: &str| filter.as_ref().and_then(|f| f.text(key));
    let prefix = text("idOrScreenNameStartsWith").map(|p| p.to_lowercase());
    let id_equal = text("idEqual");
    let id_in = text("idIn");
    let role_ids = text("roleIdsEqual");
    let admin = filter.as_ref().and_then(|f| f.bool("isAdminEqual"));
    let statuses: Option<Vec<i64>> = text("statusIn")
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .or_else(|| {
            filter
                .as_ref()
                .and_then(|f| f.int("statusEqual"))
                .map(|s| vec![s])
        });
    let partner_id = call.partner_id();
    let store = call.sandbox.store();
    let mut found: Vec<Value> = store
        .users
        .iter()
        .filter(|u| {
            let id = u["id"].as_str().unwrap_or_default();
            let screen = u["screenName"].as_str().unwrap_or_default().to_lowercase();
            let status = u["status"].as_i64().unwrap_or(ACTIVE);
            u["partnerId"].as_i64() == Some(partner_id)
                && statuses
                    .as_ref()
                    .map_or(status != DELETED, |s| s.contains(&status))
                && prefix
                    .as_ref()
                    .is_none_or(|p| id.to_lowercase().starts_with(p) || screen.starts_with(p))
                && id_equal.as_ref().is_none_or(|i| i == id)
                && id_in
                    .as_ref()
                    .is_none_or(|ids| ids.split(',').any(|i| i.trim() == id))
                && role_ids
                    .as_ref()
                    .is_none_or(|r| u["roleIds"].as_str() == Some(r.as_str()))
                && admin.is_none_or(|a| u["isAdmin"].as_bool() == Some(a))
        })
        .cloned()
        .collect();
    order_by(&mut found, text("orderBy").or(Some("+id".into())));
    let (page, total) = paginate(found, call.params.obj("pager"));
    Ok(list_response("KalturaUserListResponse", page, total))
}

/// `userRole.list` by `nameEqual`, `systemNameEqual` or `idIn`: the partner's roles and the global ones.
pub fn role_list(call: &Call<'_>) -> CallResult {
    let filter = call.params.obj("filter");
    let text = |key: &str| filter.as_ref().and_then(|f| f.text(key));
    let name = text("nameEqual");
    let system_name = text("systemNameEqual");
    let id_in = text("idIn");
    let partner_id = call.partner_id();
    let store = call.sandbox.store();
    let found: Vec<Value> = store
        .roles
        .iter()
        .filter(|r| {
            matches!(r["partnerId"].as_i64(), Some(p) if p == partner_id || p == 0)
                && name
                    .as_ref()
                    .is_none_or(|n| r["name"].as_str() == Some(n.as_str()))
                && system_name
                    .as_ref()
                    .is_none_or(|n| r["systemName"].as_str() == Some(n.as_str()))
                && id_in
                    .as_ref()
                    .is_none_or(|ids| ids.split(',').any(|i| id_matches(&r["id"], i)))
        })
        .cloned()
        .collect();
    let (page, total) = paginate(found, call.params.obj("pager"));
    Ok(list_response("KalturaUserRoleListResponse", page, total))
}

pub fn role_get(call: &Call<'_>) -> CallResult {
    let id = call.required("userRoleId")?;
    let store = call.sandbox.store();
    store
        .roles
        .iter()
        .find(|r| id_matches(&r["id"], &id))
        .cloned()
        .ok_or_else(|| ApiException::invalid_object_id(&id))
}

pub fn category_list(call: &Call<'_>) -> CallResult {
    let filter = call.params.obj("filter");
    let text = |key: &str| filter.as_ref().and_then(|f| f.text(key));
    let parent = text("parentIdEqual");
    let prefix = text("fullNameStartsWith");
    let id_in = text("idIn");
    let store = call.sandbox.store();
    let mut found: Vec<Value> = store
        .categories
        .iter()
        .filter(|c| {
            parent
                .as_ref()
                .is_none_or(|p| id_matches(&c["parentId"], p))
                && prefix.as_ref().is_none_or(|p| {
                    c["fullName"]
                        .as_str()
                        .is_some_and(|n| n.starts_with(p.as_str()))
                })
                && id_in
                    .as_ref()
                    .is_none_or(|ids| ids.split(',').any(|i| id_matches(&c["id"], i)))
        })
        .cloned()
        .collect();
    order_by(&mut found, text("orderBy").or(Some("+id".into())));
    let (page, total) = paginate(found, call.params.obj("pager"));
    Ok(list_response("KalturaCategoryListResponse", page, total))
}

pub fn category_get(call: &Call<'_>) -> CallResult {
    let id = call.required("id")?;
    let store = call.sandbox.store();
    store
        .categories
        .iter()
        .find(|c| id_matches(&c["id"], &id))
        .cloned()
        .ok_or_else(|| {
            ApiException::new(
                "CATEGORY_NOT_FOUND",
                "Category id \"@ID@\" not found",
                &[("ID", id.clone())],
            )
        })
}

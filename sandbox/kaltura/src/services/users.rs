//! `user`, `userRole` and `category`.

use super::{Call, apply_update, id_matches, list_response, order_by, paginate};
use crate::seed;
use crate::wire::{ApiException, CallResult};
use serde_json::Value;

const USER_READ_ONLY: &[&str] = &["id", "partnerId", "createdAt", "fullName"];

fn refresh_names(user: &mut Value) {
    let first = user["firstName"].as_str().unwrap_or_default().to_string();
    let last = user["lastName"].as_str().unwrap_or_default().to_string();
    user["fullName"] = format!("{first} {last}").trim().to_string().into();
    user["updatedAt"] = crate::now().into();
}

pub fn add(call: &Call<'_>) -> CallResult {
    let input = call
        .params
        .obj("user")
        .ok_or_else(|| ApiException::missing_parameter("user"))?;
    let id = input
        .text("id")
        .ok_or_else(|| ApiException::property_null("id"))?;
    let mut store = call.sandbox.store();
    if store
        .users
        .iter()
        .any(|u| u["id"].as_str() == Some(id.as_str()))
    {
        return Err(ApiException::new(
            "DUPLICATE_USER_BY_ID",
            "User with id [@USER_ID@] already exists in system",
            &[("USER_ID", id)],
        ));
    }
    let mut user = seed::user(call.partner_id(), &id, "", "", "", false);
    user["screenName"] = id.clone().into();
    user["email"] = Value::Null;
    apply_update(&mut user, Some(input), USER_READ_ONLY);
    refresh_names(&mut user);
    user["createdAt"] = crate::now().into();
    store.users.push(user.clone());
    Ok(user)
}

fn user_id(call: &Call<'_>) -> Result<String, ApiException> {
    call.required("userId")
}

pub fn get(call: &Call<'_>) -> CallResult {
    let id = user_id(call)?;
    let store = call.sandbox.store();
    store
        .users
        .iter()
        .find(|u| u["id"].as_str() == Some(id.as_str()))
        .cloned()
        .ok_or_else(ApiException::invalid_user_id)
}

pub fn update(call: &Call<'_>) -> CallResult {
    let id = user_id(call)?;
    let mut store = call.sandbox.store();
    let user = store
        .users
        .iter_mut()
        .find(|u| u["id"].as_str() == Some(id.as_str()))
        .ok_or_else(ApiException::invalid_user_id)?;
    apply_update(user, call.params.obj("user"), USER_READ_ONLY);
    refresh_names(user);
    Ok(user.clone())
}

pub fn delete(call: &Call<'_>) -> CallResult {
    let id = user_id(call)?;
    let mut store = call.sandbox.store();
    let before = store.users.len();
    store
        .users
        .retain(|u| u["id"].as_str() != Some(id.as_str()));
    if store.users.len() == before {
        return Err(ApiException::invalid_user_id());
    }
    Ok(Value::Null)
}

pub fn list(call: &Call<'_>) -> CallResult {
    let filter = call.params.obj("filter");
    let text = |key: &str| filter.as_ref().and_then(|f| f.text(key));
    let prefix = text("idOrScreenNameStartsWith").map(|p| p.to_lowercase());
    let id_in = text("idIn");
    let admin = filter.as_ref().and_then(|f| f.bool("isAdminEqual"));
    let store = call.sandbox.store();
    let mut found: Vec<Value> = store
        .users
        .iter()
        .filter(|u| {
            let id = u["id"].as_str().unwrap_or_default();
            let screen = u["screenName"].as_str().unwrap_or_default().to_lowercase();
            prefix
                .as_ref()
                .is_none_or(|p| id.to_lowercase().starts_with(p) || screen.starts_with(p))
                && id_in
                    .as_ref()
                    .is_none_or(|ids| ids.split(',').any(|i| i == id))
                && admin.is_none_or(|a| u["isAdmin"].as_bool() == Some(a))
        })
        .cloned()
        .collect();
    order_by(&mut found, text("orderBy").or(Some("+id".into())));
    let (page, total) = paginate(found, call.params.obj("pager"));
    Ok(list_response("KalturaUserListResponse", page, total))
}

pub fn role_list(call: &Call<'_>) -> CallResult {
    let filter = call.params.obj("filter");
    let name = filter.as_ref().and_then(|f| f.text("nameEqual"));
    let store = call.sandbox.store();
    let found: Vec<Value> = store
        .roles
        .iter()
        .filter(|r| {
            name.as_ref()
                .is_none_or(|n| r["name"].as_str() == Some(n.as_str()))
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

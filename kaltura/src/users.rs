//! The `user` and `userRole` services. Kaltura's answers about users become [`UserError`]
//! variants a caller can act on (add when missing, update when it exists); everything else
//! stays a [`Error`].

use crate::client::{Client, Idempotency::*};
use crate::error::{ApiError, Error};
use crate::types::{ListResponse, Pager, User, UserInput, UserRole};
use serde_json::{Map, Value, json};

/// What `user.*` calls fail with.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// `INVALID_USER_ID` (get, update, delete of a missing or deleted user) or `USER_NOT_FOUND`
    /// (the login actions).
    #[error("no such Kaltura user")]
    NotFound(#[source] ApiError),
    /// `DUPLICATE_USER_BY_ID`: `user.add` of an id the partner already has.
    #[error("the Kaltura user already exists")]
    DuplicateId(#[source] ApiError),
    /// `USER_ROLE_NOT_FOUND`: a `roleIds` entry names no role of the partner.
    #[error("the Kaltura role does not exist")]
    RoleNotFound(#[source] ApiError),
    /// `INVALID_FIELD_VALUE` on `id`: not 1 to 320 of Kaltura's allowed characters.
    #[error("the Kaltura user id is not valid")]
    InvalidId(#[source] ApiError),
    #[error(transparent)]
    Kaltura(Error),
}

impl From<Error> for UserError {
    fn from(err: Error) -> Self {
        match err {
            Error::Api(api) => match api.code.as_str() {
                "INVALID_USER_ID" | "USER_NOT_FOUND" => UserError::NotFound(api),
                "DUPLICATE_USER_BY_ID" => UserError::DuplicateId(api),
                "USER_ROLE_NOT_FOUND" => UserError::RoleNotFound(api),
                "INVALID_FIELD_VALUE"
                    if api.args.get("FIELD_NAME").map(String::as_str) == Some("id") =>
                {
                    UserError::InvalidId(api)
                }
                _ => UserError::Kaltura(Error::Api(api)),
            },
            other => UserError::Kaltura(other),
        }
    }
}

impl UserError {
    /// Kaltura's error code, for in-band API errors.
    pub fn api_code(&self) -> Option<&str> {
        match self {
            UserError::NotFound(api)
            | UserError::DuplicateId(api)
            | UserError::RoleNotFound(api)
            | UserError::InvalidId(api) => Some(&api.code),
            UserError::Kaltura(err) => err.api_code(),
        }
    }

    /// Worth another try later: Kaltura was unreachable or unhealthy.
    pub fn is_transient(&self) -> bool {
        matches!(self, UserError::Kaltura(err) if err.is_transient())
    }
}

/// `KalturaUserFilter`, the fields the project uses. Deleted users are listed only when
/// `status_in` asks for status 3.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserFilter {
    pub id_in: Vec<String>,
    pub id_or_screen_name_starts_with: Option<String>,
    /// `KalturaUserStatus` values: 0 blocked, 1 active, 2 deleted in old servers, 3 deleted.
    pub status_in: Vec<i64>,
}

impl UserFilter {
    pub fn to_value(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("objectType".into(), "KalturaUserFilter".into());
        if !self.id_in.is_empty() {
            obj.insert("idIn".into(), self.id_in.join(",").into());
        }
        if let Some(prefix) = &self.id_or_screen_name_starts_with {
            obj.insert("idOrScreenNameStartsWith".into(), prefix.clone().into());
        }
        if !self.status_in.is_empty() {
            let statuses: Vec<String> = self.status_in.iter().map(i64::to_string).collect();
            obj.insert("statusIn".into(), statuses.join(",").into());
        }
        Value::Object(obj)
    }
}

type UserResult<T> = Result<T, UserError>;

impl Client {
    /// `user.add`; not retried (a retry after a lost answer would be a duplicate).
    pub async fn user_add(&self, user: &UserInput) -> UserResult<User> {
        let params = json!({"user": user.to_value()});
        Ok(self.call_as("user", "add", params, NotIdempotent).await?)
    }

    pub async fn user_get(&self, user_id: &str) -> UserResult<User> {
        let params = json!({"userId": user_id});
        Ok(self.call_as("user", "get", params, Idempotent).await?)
    }

    /// `user.update`: only the fields set in `user` change.
    pub async fn user_update(&self, user_id: &str, user: &UserInput) -> UserResult<User> {
        let params = json!({"userId": user_id, "user": user.to_value()});
        Ok(self
            .call_as("user", "update", params, NotIdempotent)
            .await?)
    }

    /// `user.delete`: Kaltura marks the user deleted (status 3) and returns it.
    pub async fn user_delete(&self, user_id: &str) -> UserResult<User> {
        let params = json!({"userId": user_id});
        Ok(self
            .call_as("user", "delete", params, NotIdempotent)
            .await?)
    }

    pub async fn user_list(
        &self,
        filter: &UserFilter,
        pager: Pager,
    ) -> UserResult<ListResponse<User>> {
        let params = json!({"filter": filter.to_value(), "pager": pager.to_value()});
        Ok(self.call_as("user", "list", params, Idempotent).await?)
    }

    /// `userRole.list`: the partner's roles and the global ones.
    pub async fn user_role_list(&self, pager: Pager) -> crate::Result<ListResponse<UserRole>> {
        let params = json!({
            "filter": {"objectType": "KalturaUserRoleFilter"},
            "pager": pager.to_value(),
        });
        self.call_as("userRole", "list", params, Idempotent).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn api(code: &str, args: &[(&str, &str)]) -> Error {
        Error::Api(ApiError {
            code: code.into(),
            message: "m".into(),
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        })
    }

    #[test]
    fn kaltura_user_codes_become_variants() {
        assert!(matches!(
            UserError::from(api("INVALID_USER_ID", &[])),
            UserError::NotFound(_)
        ));
        assert!(matches!(
            UserError::from(api("USER_NOT_FOUND", &[])),
            UserError::NotFound(_)
        ));
        let duplicate = UserError::from(api("DUPLICATE_USER_BY_ID", &[("UID", "discord_1")]));
        assert!(matches!(duplicate, UserError::DuplicateId(_)));
        assert_eq!(duplicate.api_code(), Some("DUPLICATE_USER_BY_ID"));
        assert!(matches!(
            UserError::from(api("USER_ROLE_NOT_FOUND", &[])),
            UserError::RoleNotFound(_)
        ));
        assert!(matches!(
            UserError::from(api("INVALID_FIELD_VALUE", &[("FIELD_NAME", "id")])),
            UserError::InvalidId(_)
        ));
        let other = UserError::from(api("INVALID_FIELD_VALUE", &[("FIELD_NAME", "email")]));
        assert!(matches!(other, UserError::Kaltura(Error::Api(_))));
        assert!(!other.is_transient());
        assert!(UserError::from(Error::Http { status: 503 }).is_transient());
    }

    #[test]
    fn the_filter_sends_only_what_is_set() {
        assert_eq!(
            UserFilter::default().to_value(),
            json!({"objectType": "KalturaUserFilter"})
        );
        let filter = UserFilter {
            id_in: vec!["discord_1".into(), "discord_2".into()],
            status_in: vec![1, 3],
            ..UserFilter::default()
        };
        assert_eq!(
            filter.to_value(),
            json!({"objectType": "KalturaUserFilter", "idIn": "discord_1,discord_2", "statusIn": "1,3"})
        );
    }
}

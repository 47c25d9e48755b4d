//! Who a request is: the sandbox's own token and requests without credentials (full access),
//! ServiceAccount tokens from the TokenRequest API (RBAC applies), and impersonation
//! (`Impersonate-User` / `Impersonate-Group`) as kube-apiserver's filter does it.

use crate::clock;
use crate::rbac::{self, Attributes, UserInfo};
use crate::status::{ApiError, ApiResult, Cause};
use crate::store::{Key, Store};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};

/// The identity a request is evaluated as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// The sandbox's own token, or no credentials while anonymous requests are served:
    /// everything is allowed, as before RBAC was emulated.
    Unrestricted,
    /// A ServiceAccount's token, or whoever a request impersonates: RBAC decides.
    User(UserInfo),
}

impl Identity {
    pub fn user(&self) -> Option<&UserInfo> {
        match self {
            Self::Unrestricted => None,
            Self::User(user) => Some(user),
        }
    }
}

/// `spec.expirationSeconds` when a TokenRequest gives none (the API's default).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest validity the API server issues (`MinTokenAgeSec`).
const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The API server's audience when a TokenRequest names none (its service account issuer).
const AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";

struct Issued {
    namespace: String,
    name: String,
    /// The ServiceAccount's uid: a token dies with its ServiceAccount, even if one of the same
    /// name is created again.
    uid: String,
    expires: OffsetDateTime,
}

/// The ServiceAccount tokens handed out so far.
#[derive(Default)]
pub struct Tokens(HashMap<String, Issued>);

/// [`crate::Sandbox::service_account_token`] for a ServiceAccount that does not exist.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("serviceaccounts \"{name}\" not found in namespace \"{namespace}\"")]
pub struct NoServiceAccount {
    pub namespace: String,
    pub name: String,
}

fn service_account_key(namespace: &str, name: &str) -> Key {
    Key {
        group: String::new(),
        plural: "serviceaccounts".into(),
        namespace: namespace.into(),
        name: name.into(),
    }
}

/// A new opaque token for the ServiceAccount, valid for `seconds` from `now`.
pub fn issue(
    store: &Store,
    tokens: &mut Tokens,
    namespace: &str,
    name: &str,
    seconds: i64,
    now: OffsetDateTime,
) -> Result<(String, OffsetDateTime), NoServiceAccount> {
    let account = store
        .get(&service_account_key(namespace, name))
        .ok_or_else(|| NoServiceAccount {
            namespace: namespace.into(),
            name: name.into(),
        })?;
    let bytes: [u8; 32] = rand::random();
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let expires = now + Duration::seconds(seconds);
    tokens.0.retain(|_, issued| now < issued.expires);
    tokens.0.insert(
        token.clone(),
        Issued {
            namespace: namespace.into(),
            name: name.into(),
            uid: account["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .into(),
            expires,
        },
    );
    Ok((token, expires))
}

/// The ServiceAccount a bearer token stands for, while it has not expired and its
/// ServiceAccount (the same one) exists.
pub fn authenticate(
    store: &Store,
    tokens: &Tokens,
    token: &str,
    now: OffsetDateTime,
) -> Option<UserInfo> {
    let issued = tokens.0.get(token).filter(|t| now < t.expires)?;
    let account = store.get(&service_account_key(&issued.namespace, &issued.name))?;
    (account["metadata"]["uid"] == issued.uid.as_str())
        .then(|| UserInfo::service_account(&issued.namespace, &issued.name))
}

/// `POST .../serviceaccounts/<name>/token`: the TokenRequest, answered with `status.token`.
pub fn token_request(
    store: &Store,
    tokens: &mut Tokens,
    namespace: &str,
    name: &str,
    mut request: Value,
) -> ApiResult<Value> {
    if store.get(&service_account_key(namespace, name)).is_none() {
        return Err(ApiError::not_found("", "serviceaccounts", name));
    }
    if !request["spec"].is_object() {
        request["spec"] = json!({});
    }
    let spec = &mut request["spec"];
    let seconds = match &spec["expirationSeconds"] {
        Value::Null => DEFAULT_EXPIRATION_SECONDS,
        value => value.as_i64().ok_or_else(|| {
            ApiError::bad_request(format!(
                "json: cannot unmarshal {value} into Go struct field TokenRequestSpec.spec.expirationSeconds of type int64"
            ))
        })?,
    };
    let invalid = |why: &str| {
        ApiError::invalid(
            "authentication.k8s.io",
            "TokenRequest",
            "",
            vec![Cause::new(
                "FieldValueInvalid",
                "spec.expirationSeconds",
                format!("Invalid value: {seconds}: {why}"),
            )],
        )
    };
    if seconds < MIN_EXPIRATION_SECONDS {
        return Err(invalid("may not specify a duration less than 10 minutes"));
    }
    if seconds > 1 << 32 {
        return Err(invalid(
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    spec["expirationSeconds"] = json!(seconds);
    if spec["audiences"].as_array().is_none_or(Vec::is_empty) {
        spec["audiences"] = json!([AUDIENCE]);
    }
    let now = clock::now_utc();
    let (token, expires) = issue(store, tokens, namespace, name, seconds, now)
        .map_err(|missing| ApiError::not_found("", "serviceaccounts", &missing.name))?;
    if !request["metadata"].is_object() {
        request["metadata"] = json!({});
    }
    let meta = &mut request["metadata"];
    for (field, value) in [("name", name), ("namespace", namespace)] {
        if meta[field].as_str().is_none_or(str::is_empty) {
            meta[field] = json!(value);
        }
    }
    meta["creationTimestamp"] = json!(clock::format(now));
    request["apiVersion"] = json!("authentication.k8s.io/v1");
    request["kind"] = json!("TokenRequest");
    request["status"] = json!({"token": token, "expirationTimestamp": clock::format(expires)});
    Ok(request)
}

/// Applies the `Impersonate-User` / `Impersonate-Group` headers: a full-access requester may
/// impersonate anyone; a user needs `impersonate` on `users`, `groups` or `serviceaccounts`.
pub fn impersonate(store: &Store, requester: Identity, headers: &HeaderMap) -> ApiResult<Identity> {
    let username = headers
        .get("impersonate-user")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let groups: Vec<&str> = headers
        .get_all("impersonate-group")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let Some(username) = username else {
        if groups.is_empty() {
            return Ok(requester);
        }
        // As the API server prints the `[]ObjectReference` it could not use.
        let refs: Vec<String> = groups
            .iter()
            .map(|g| format!("{{Group  {g}    }}"))
            .collect();
        return Err(ApiError::bad_request(format!(
            "requested [{}] without impersonating a user",
            refs.join(" ")
        )));
    };
    let service_account = rbac::split_service_account(username);
    if let Identity::User(user) = &requester {
        let mut asked: Vec<Attributes> = Vec::new();
        let impersonate = |resource: &str, namespace: &str, name: &str| Attributes {
            verb: "impersonate".into(),
            resource_request: true,
            resource: resource.into(),
            namespace: namespace.into(),
            name: name.into(),
            ..Attributes::default()
        };
        asked.push(match service_account {
            Some((namespace, name)) => impersonate("serviceaccounts", namespace, name),
            None => impersonate("users", "", username),
        });
        asked.extend(groups.iter().map(|g| impersonate("groups", "", g)));
        for attributes in &asked {
            let decision = rbac::authorize(store, user, attributes);
            if !decision.allowed {
                return Err(rbac::forbidden(&user.name, attributes, &decision.reason));
            }
        }
    }
    let mut groups: Vec<String> = groups.into_iter().map(String::from).collect();
    if let Some((namespace, _)) = service_account
        && groups.is_empty()
    {
        groups = rbac::service_account_groups(namespace);
    }
    let everyone = if username == "system:anonymous" {
        "system:unauthenticated"
    } else {
        "system:authenticated"
    };
    if !groups
        .iter()
        .any(|g| g == "system:unauthenticated" || g == everyone)
    {
        groups.push(everyone.into());
    }
    Ok(Identity::User(UserInfo {
        name: username.into(),
        groups,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects;
    use crate::resource;

    #[test]
    fn a_token_expires_and_dies_with_its_service_account() {
        let mut store = Store::new(resource::builtins());
        let now = clock::now_utc();
        objects::seed(&mut store, &clock::format(now));
        let sa = store.find_type("", "v1", "serviceaccounts").unwrap();
        let ctx = objects::WriteContext {
            dry_run: false,
            validation: objects::FieldValidation::Ignore,
            manager: "test".into(),
            now: clock::format(now),
            status: false,
        };
        let account =
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot"}});
        objects::create(&mut store, &sa, "default", account.clone(), &ctx).unwrap();
        let mut tokens = Tokens::default();
        let (token, expires) = issue(&store, &mut tokens, "default", "bot", 600, now).unwrap();
        assert_eq!(expires, now + Duration::seconds(600));
        let user = authenticate(&store, &tokens, &token, now).unwrap();
        assert_eq!(user.name, "system:serviceaccount:default:bot");
        assert_eq!(
            user.groups,
            [
                "system:serviceaccounts",
                "system:serviceaccounts:default",
                "system:authenticated"
            ]
        );
        assert_eq!(authenticate(&store, &tokens, &token, expires), None);
        assert_eq!(authenticate(&store, &tokens, "other", now), None);
        // Deleted and created again: another ServiceAccount, the old token is dead.
        let key = service_account_key("default", "bot");
        let last = store.get(&key).unwrap().clone();
        store.remove(&key, last);
        assert_eq!(authenticate(&store, &tokens, &token, now), None);
        objects::create(&mut store, &sa, "default", account, &ctx).unwrap();
        assert_eq!(authenticate(&store, &tokens, &token, now), None);
        assert!(issue(&store, &mut tokens, "default", "nobody", 600, now).is_err());
    }
}

//! OAuth2 authorization codes and bearer tokens (the Activity's sign-in).

use super::World;
use crate::ids::token;
use crate::model::Grant;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
const TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The body of `POST /oauth2/token` (form-encoded).
/// No `Debug`: it carries the client secret and a code.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct TokenRequest {
    pub grant_type: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub redirect_uri: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// RFC 6749 error: `{"error", "error_description"}` with 400 (401 for a bad client).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }

    pub fn body(&self) -> Value {
        json!({"error": self.error, "error_description": self.description})
    }
}

impl World {
    /// What the user's consent on `/oauth2/authorize` yields: a one-time code.
    pub fn mint_oauth_code(
        &mut self,
        user_id: u64,
        scopes: Vec<String>,
        redirect_uri: Option<String>,
    ) -> crate::error::ApiResult<String> {
        self.user(user_id)?;
        let code = token(30);
        self.oauth_codes.insert(
            code.clone(),
            Grant {
                user_id,
                scopes,
                redirect_uri,
                expires: Instant::now() + CODE_LIFETIME,
            },
        );
        Ok(code)
    }

    /// Exchanges a code or refresh token for an access token, checking the client credentials.
    pub fn oauth_token(&mut self, request: TokenRequest) -> Result<Value, OAuthError> {
        let client_ok = request.client_id.as_deref() == Some(&self.app.id.to_string())
            && request.client_secret.as_deref() == Some(&self.app.client_secret);
        if !client_ok {
            return Err(OAuthError::new("invalid_client", "Invalid client"));
        }
        let grant = match request.grant_type.as_str() {
            "authorization_code" => {
                let code = request.code.ok_or_else(|| {
                    OAuthError::new("invalid_request", "Missing \"code\" in request.")
                })?;
                let grant = self
                    .oauth_codes
                    .remove(&code)
                    .filter(|g| g.expires > Instant::now())
                    .ok_or_else(|| {
                        OAuthError::new("invalid_grant", "Invalid \"code\" in request.")
                    })?;
                if grant.redirect_uri.is_some() && grant.redirect_uri != request.redirect_uri {
                    return Err(OAuthError::new(
                        "invalid_grant",
                        "Invalid \"redirect_uri\" in request.",
                    ));
                }
                grant
            }
            "refresh_token" => {
                let refresh = request.refresh_token.ok_or_else(|| {
                    OAuthError::new("invalid_request", "Missing \"refresh_token\" in request.")
                })?;
                self.refresh_tokens.remove(&refresh).ok_or_else(|| {
                    OAuthError::new("invalid_grant", "Invalid \"refresh_token\" in request.")
                })?
            }
            other => {
                return Err(OAuthError::new(
                    "unsupported_grant_type",
                    format!("Unsupported grant type: {other}"),
                ));
            }
        };
        let access = token(30);
        let refresh = token(30);
        let scope = grant.scopes.join(" ");
        self.access_tokens.insert(
            access.clone(),
            Grant {
                expires: Instant::now() + TOKEN_LIFETIME,
                ..grant.clone()
            },
        );
        self.refresh_tokens.insert(refresh.clone(), grant);
        Ok(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME.as_secs(),
            "refresh_token": refresh,
            "scope": scope,
        }))
    }

    /// The grant behind a bearer token, if it is valid.
    pub fn bearer_grant(&self, access_token: &str) -> Option<&Grant> {
        self.access_tokens
            .get(access_token)
            .filter(|g| g.expires > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::{NewUser, test_world};

    fn request(world: &World, code: &str) -> TokenRequest {
        TokenRequest {
            grant_type: "authorization_code".into(),
            code: Some(code.into()),
            client_id: Some(world.app.id.to_string()),
            client_secret: Some(world.app.client_secret.clone()),
            ..TokenRequest::default()
        }
    }

    #[test]
    fn code_exchanges_once_for_a_bearer_token() {
        let mut world = test_world();
        let user = world
            .create_user(NewUser {
                username: "ann".into(),
                ..NewUser::default()
            })
            .unwrap();
        let code = world
            .mint_oauth_code(user.id, vec!["identify".into()], None)
            .unwrap();
        let body = world.oauth_token(request(&world, &code)).unwrap();
        let grant = world
            .bearer_grant(body["access_token"].as_str().unwrap())
            .unwrap();
        assert_eq!(grant.user_id, user.id);
        assert_eq!(body["scope"], "identify");
        assert_eq!(
            world.oauth_token(request(&world, &code)).unwrap_err().error,
            "invalid_grant"
        );
    }

    #[test]
    fn wrong_client_secret_is_invalid_client() {
        let mut world = test_world();
        let user = world
            .create_user(NewUser {
                username: "ann".into(),
                ..NewUser::default()
            })
            .unwrap();
        let code = world
            .mint_oauth_code(user.id, vec!["identify".into()], None)
            .unwrap();
        let mut bad = request(&world, &code);
        bad.client_secret = Some("nope".into());
        assert_eq!(world.oauth_token(bad).unwrap_err().error, "invalid_client");
    }
}

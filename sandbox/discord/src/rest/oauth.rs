//! `POST /oauth2/token`: the authorization-code exchange (and refresh) the Activity's backend does.

use crate::sandbox::Sandbox;
use crate::world::oauth::TokenRequest;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::Engine;

pub fn routes() -> Router<Sandbox> {
    Router::new().route("/oauth2/token", post(token))
}

/// Client credentials come in the form or as HTTP Basic auth, per RFC 6749.
async fn token(
    State(sandbox): State<Sandbox>,
    headers: HeaderMap,
    Form(mut request): Form<TokenRequest>,
) -> Response {
    if let Some((id, secret)) = basic_auth(&headers) {
        request.client_id.get_or_insert(id);
        request.client_secret.get_or_insert(secret);
    }
    match sandbox.apply(|w| Ok((w.oauth_token(request), vec![]))) {
        Ok(Ok(body)) => Json(body).into_response(),
        Ok(Err(err)) => {
            let status = if err.error == "invalid_client" {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::BAD_REQUEST
            };
            (status, Json(err.body())).into_response()
        }
        Err(err) => err.into_response(),
    }
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let encoded = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let (id, secret) = std::str::from_utf8(&decoded).ok()?.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

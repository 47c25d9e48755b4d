//! Discord's REST API under `/api/v10` (and `/api`, which discord.js and OAuth clients use).

mod auth;
mod channels;
mod commands;
mod guilds;
mod interactions;
mod oauth;
mod users;

use crate::error::{ApiError, ApiResult};
use crate::ratelimit::{Decision, MAJOR_PARAMS};
use crate::sandbox::Sandbox;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{MatchedPath, OriginalUri, RawPathParams, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use auth::{Bot, Caller};

/// The REST routes, mounted under both prefixes.
pub fn router(sandbox: Sandbox) -> Router<Sandbox> {
    let api = Router::new()
        .merge(users::routes())
        .merge(guilds::routes())
        .merge(channels::routes())
        .merge(commands::routes())
        .merge(interactions::routes())
        .merge(oauth::routes())
        .route_layer(middleware::from_fn_with_state(sandbox, rate_limit))
        .fallback(|| async { ApiError::not_found_route() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() });
    Router::new()
        .nest("/api/v10", api.clone())
        .nest("/api", api)
}

/// Path parameters as snowflakes; a bad one is Discord's 50035 NUMBER_TYPE_COERCE.
pub(crate) fn id(params: &HashMap<String, String>, name: &str) -> ApiResult<u64> {
    let raw = params.get(name).map(String::as_str).unwrap_or("");
    raw.parse().map_err(|_| {
        ApiError::invalid_form(
            name,
            "NUMBER_TYPE_COERCE",
            &format!("Value \"{raw}\" is not snowflake."),
        )
    })
}

/// A JSON body; not JSON at all is 50109, the wrong shape 50035.
pub(crate) fn json_body<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| ApiError::malformed_body())?;
    serde_json::from_value(value)
        .map_err(|e| ApiError::invalid_form("_body", "BASE_TYPE_INVALID", &e.to_string()))
}

/// Latency fault, rate limiting with Discord's headers, and the request log.
async fn rate_limit(
    State(sandbox): State<Sandbox>,
    OriginalUri(uri): OriginalUri,
    matched: MatchedPath,
    params: RawPathParams,
    request: Request,
    next: Next,
) -> Response {
    let latency = sandbox.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let method = request.method().as_str().to_owned();
    let path = uri.path().to_owned();
    let template = matched.as_str().to_owned();
    let major: Vec<&str> = params
        .iter()
        .filter(|(name, _)| MAJOR_PARAMS.contains(name))
        .map(|(_, value)| value)
        .collect();
    let token_param = params
        .iter()
        .find(|(name, _)| *name == "token")
        .map(|(_, v)| v.to_owned());
    let identity = auth::identity(request.headers())
        .or(token_param)
        .unwrap_or_default();
    let decision = sandbox.limiter().check(
        &identity,
        &method,
        &template,
        &major.join("/"),
        Instant::now(),
    );
    let response = match decision {
        Decision::Unlimited => next.run(request).await,
        Decision::Allowed {
            limit,
            remaining,
            reset_after,
            bucket,
        } => {
            let mut response = next.run(request).await;
            bucket_headers(
                response.headers_mut(),
                limit,
                remaining,
                reset_after,
                &bucket,
            );
            response
        }
        Decision::RouteLimited {
            limit,
            retry_after,
            bucket,
        } => {
            let mut response = too_many_requests(retry_after, false);
            bucket_headers(response.headers_mut(), limit, 0, retry_after, &bucket);
            response
        }
        Decision::GlobalLimited { retry_after } => {
            let mut response = too_many_requests(retry_after, true);
            let headers = response.headers_mut();
            headers.insert("x-ratelimit-global", HeaderValue::from_static("true"));
            headers.insert("x-ratelimit-scope", HeaderValue::from_static("global"));
            response
        }
    };
    sandbox.record_request(&method, &path, response.status().as_u16());
    response
}

fn header(value: impl ToString) -> HeaderValue {
    HeaderValue::from_str(&value.to_string()).unwrap_or(HeaderValue::from_static("0"))
}

fn bucket_headers(
    headers: &mut HeaderMap,
    limit: u32,
    remaining: u32,
    reset_after: Duration,
    bucket: &str,
) {
    let reset_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        + reset_after;
    headers.insert("x-ratelimit-limit", header(limit));
    headers.insert("x-ratelimit-remaining", header(remaining));
    headers.insert(
        "x-ratelimit-reset",
        header(format!("{:.3}", reset_at.as_secs_f64())),
    );
    headers.insert(
        "x-ratelimit-reset-after",
        header(format!("{:.3}", reset_after.as_secs_f64())),
    );
    headers.insert("x-ratelimit-bucket", header(bucket));
    // Discord documents the scope on 429s; on every response it lets clients track buckets ahead.
    headers.insert("x-ratelimit-scope", HeaderValue::from_static("user"));
}

fn too_many_requests(retry_after: Duration, global: bool) -> Response {
    let body = json!({"message": "You are being rate limited.", "retry_after": (retry_after.as_secs_f64() * 1000.0).ceil() / 1000.0, "global": global});
    let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    response.headers_mut().insert(
        "retry-after",
        header(retry_after.as_secs_f64().ceil().max(1.0) as u64),
    );
    response
}

//! The HTTP surface: api_v3 routes, the player's media and thumbnail URLs, and the test knobs.

use crate::multirequest;
use crate::params::{merge_flat, normalize};
use crate::services::dispatch;
use crate::state::Sandbox;
use crate::wire::{Format, render_multi, render_single};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Instant;
use tower_http::cors::CorsLayer;

type Shared = Arc<Sandbox>;

pub fn router(sandbox: Shared) -> Router {
    let api = Router::new()
        .route("/api_v3/service/{service}/action/{action}", any(single))
        .route(
            "/api_v3/index.php/service/{service}/action/{action}",
            any(single),
        )
        .route("/api_v3/service/{service}", any(by_params))
        .route("/api_v3/index.php", any(by_params_root))
        .route("/api_v3/", any(by_params_root))
        .route("/api_v3", any(by_params_root))
        .layer(middleware::from_fn_with_state(sandbox.clone(), knobs));
    Router::new()
        .merge(api)
        .route("/p/{partner}/sp/{sp}/playManifest/{*rest}", get(media))
        .route("/p/{partner}/thumbnail/{*rest}", get(thumbnail))
        // The player runs in pages of other origins.
        .layer(CorsLayer::permissive())
        .with_state(sandbox)
}

/// Down, latency and error-rate knobs, for api_v3 only.
async fn knobs(State(sandbox): State<Shared>, request: Request, next: Next) -> Response {
    sandbox.knobs.count_request();
    if sandbox.knobs.is_down() {
        return (StatusCode::SERVICE_UNAVAILABLE, "sandbox is down").into_response();
    }
    let latency = sandbox.knobs.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if sandbox.knobs.should_fail() {
        return (StatusCode::INTERNAL_SERVER_ERROR, "injected failure").into_response();
    }
    next.run(request).await
}

/// Query string, then form or JSON body, merged into one parameter tree.
fn read_params(uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Map<String, Value> {
    let mut tree = Map::new();
    if let Some(query) = uri.query() {
        merge_flat(
            &mut tree,
            form_urlencoded::parse(query.as_bytes()).into_owned(),
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let trimmed = body.iter().position(|b| !b.is_ascii_whitespace());
    let looks_json = trimmed.is_some_and(|i| body[i] == b'{');
    if content_type.contains("json") || (looks_json && !content_type.contains("form")) {
        if let Ok(Value::Object(json)) = serde_json::from_slice::<Value>(body) {
            tree.extend(json);
        }
    } else if !body.is_empty() {
        merge_flat(&mut tree, form_urlencoded::parse(body).into_owned());
    }
    match normalize(Value::Object(tree)) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn format_of(params: &Map<String, Value>, headers: &HeaderMap) -> Format {
    let requested = params.get("format").and_then(|f| match f {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    });
    match requested {
        Some(1) => Format::Json,
        Some(_) => Format::Xml,
        None => {
            let accepts_json = headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("json"));
            if accepts_json {
                Format::Json
            } else {
                Format::Xml
            }
        }
    }
}

fn respond(format: Format, body: String) -> Response {
    let mut response = Response::new(Body::from(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

fn serve(
    sandbox: &Sandbox,
    service: &str,
    action: &str,
    params: Map<String, Value>,
    headers: &HeaderMap,
) -> Response {
    let started = Instant::now();
    let format = format_of(&params, headers);
    let now = crate::now();
    if service.eq_ignore_ascii_case("multirequest") {
        let results = multirequest::run(sandbox, &params, now);
        let body = render_multi(format, &results, started.elapsed().as_secs_f64());
        return respond(format, body);
    }
    let result = dispatch(sandbox, service, action, &Value::Object(params), now);
    respond(
        format,
        render_single(format, &result, started.elapsed().as_secs_f64()),
    )
}

async fn single(
    State(sandbox): State<Shared>,
    Path((service, action)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = read_params(&uri, &headers, &body);
    serve(&sandbox, &service, &action, params, &headers)
}

async fn by_params(
    State(sandbox): State<Shared>,
    Path(service): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = read_params(&uri, &headers, &body);
    let action = params
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    serve(&sandbox, &service, &action, params, &headers)
}

async fn by_params_root(
    State(sandbox): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = read_params(&uri, &headers, &body);
    let field = |key: &str| {
        params
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (service, action) = (field("service"), field("action"));
    serve(&sandbox, &service, &action, params, &headers)
}

/// The entry's clip, after the KS checks of its access control (see `playback`).
async fn media(
    State(sandbox): State<Shared>,
    Path((partner, _, rest)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    crate::playback::serve_manifest(&sandbox, &partner, &rest, request).await
}

/// A small SVG card with the entry's name.
async fn thumbnail(
    State(sandbox): State<Shared>,
    Path((_, rest)): Path<(String, String)>,
) -> Response {
    let id = rest
        .split('/')
        .skip_while(|s| *s != "entry_id")
        .nth(1)
        .unwrap_or_default();
    let name = sandbox
        .store()
        .entries
        .iter()
        .find(|e| e["id"].as_str() == Some(id))
        .and_then(|e| e["name"].as_str().map(str::to_string));
    let Some(name) = name else {
        return (StatusCode::NOT_FOUND, "no such entry").into_response();
    };
    let mut escaped = String::new();
    crate::wire::escape_into(&name, &mut escaped);
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"320\" height=\"180\" viewBox=\"0 0 320 180\">\
         <rect width=\"320\" height=\"180\" fill=\"#1b3a5c\"/>\
         <text x=\"16\" y=\"96\" fill=\"#ffffff\" font-family=\"sans-serif\" font-size=\"14\">{escaped}</text></svg>"
    );
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}

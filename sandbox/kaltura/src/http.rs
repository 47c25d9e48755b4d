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
        .route("/api_v3", any(by_params_root));
    Router::new()
        .merge(api)
        .merge(crate::control::router())
        .route("/p/{partner}/sp/{sp}/playManifest/{*rest}", get(media))
        .route("/p/{partner}/thumbnail/{*rest}", get(thumbnail))
        // The player runs in pages of other origins.
        .layer(CorsLayer::permissive())
        .with_state(sandbox)
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

/// The services a request calls (its own, or those of a multirequest's calls), and whether it
/// carries a KS.
fn services_called(service: &str, params: &Map<String, Value>) -> (Vec<String>, bool) {
    let has_ks = |p: &Map<String, Value>| p.get("ks").is_some_and(|ks| ks != "");
    if !service.eq_ignore_ascii_case("multirequest") {
        return (vec![service.to_string()], has_ks(params));
    }
    let calls: Vec<&Map<String, Value>> = params
        .iter()
        .filter(|(key, _)| key.parse::<u64>().is_ok())
        .filter_map(|(_, call)| call.as_object())
        .collect();
    let services = calls
        .iter()
        .filter_map(|call| call.get("service").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    (services, has_ks(params) || calls.iter().any(|c| has_ks(c)))
}

async fn serve(
    sandbox: &Sandbox,
    service: &str,
    action: &str,
    params: Map<String, Value>,
    headers: &HeaderMap,
) -> Response {
    let started = Instant::now();
    let (services, carries_ks) = services_called(service, &params);
    let verdict = sandbox.knobs.before_request(&services, carries_ks).await;
    if let Some(status) = verdict.status {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let page = crate::faults::error_page(status.as_u16());
        return (status, [(header::CONTENT_TYPE, "text/html")], page).into_response();
    }
    // Synchronous from here: the request's refusal stays on this thread until answered.
    let _refusing = verdict.refusing();
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
    serve(&sandbox, &service, &action, params, &headers).await
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
    serve(&sandbox, &service, &action, params, &headers).await
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
    serve(&sandbox, &service, &action, params, &headers).await
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

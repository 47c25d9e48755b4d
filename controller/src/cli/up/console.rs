//! The console page `up` serves in sandbox mode: a chat-client view of the Discord sandbox
//! (guilds, channels, members; slash commands with autocomplete; replies, embeds and buttons),
//! Kaltura events and Watch Together in the page. Static files (`controller/console/`) that
//! talk to the sandboxes' control APIs; `/config.json` tells them where those are and
//! `/status.json` is what `kaltura-discord status` prints.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use kd_controller::local::state::State;
use serde_json::Value;
use tokio::sync::watch;

const INDEX: &str = include_str!("../../../console/index.html");
const SCRIPT: &str = include_str!("../../../console/console.js");
const STYLE: &str = include_str!("../../../console/console.css");

pub fn router(config: Value, state: watch::Receiver<State>) -> Router {
    let page = |kind: &'static str, body: &'static str| {
        get(move || async move { ([(header::CONTENT_TYPE, kind)], body) })
    };
    Router::new()
        .route("/", page("text/html; charset=utf-8", INDEX))
        .route(
            "/console.js",
            page("text/javascript; charset=utf-8", SCRIPT),
        )
        .route("/console.css", page("text/css; charset=utf-8", STYLE))
        .route(
            "/config.json",
            get(move || std::future::ready(axum::Json(config.clone()))),
        )
        .route(
            "/status.json",
            get(move || {
                let state = state.borrow().clone();
                async move { axum::Json(state).into_response() }
            }),
        )
}

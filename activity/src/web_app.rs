//! The Activity's browser app (`activity/web`, built into `activity/web/dist` by
//! `.ci/setup.d/web.sh`) at the root of the Activity's origin, which Discord's root URL mapping
//! points at: `index.html` with the Discord application id written in (the SDK needs it for its
//! handshake), the content-hashed assets, and the vendored Kaltura player bundle, under a
//! content security policy that lets the page run its own scripts and nothing else's.

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::path::Path;
use tower_http::services::ServeDir;

/// The placeholder `index.html` carries for the application id.
const CLIENT_ID_PLACEHOLDER: &str = "%DISCORD_CLIENT_ID%";

/// What the page may load: everything from its own origin (Discord's proxy puts the app's
/// server, its websocket and Kaltura behind it), inline styles (the player sets them), media
/// and images also as blobs. `'self'` among the framers is the sandbox's host page, which is on
/// the Activity's origin as the app is.
fn content_security_policy(frame_ancestors: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'self' {frame_ancestors}"
    )
}

/// The app's routes: `/` (the page Discord loads, with its query), `/assets/*`, `/vendor/*`;
/// `frame_ancestors` are the Discord hosts allowed to frame it. Without a build, `/` says how
/// to make one instead of failing obscurely.
pub fn routes<S: Clone + Send + Sync + 'static>(
    dist: &Path,
    application_id: &str,
    frame_ancestors: &str,
) -> Router<S> {
    let page = std::fs::read_to_string(dist.join("index.html"))
        .map(|html| html.replace(CLIENT_ID_PLACEHOLDER, application_id))
        .map_err(|err| err.to_string());
    let csp = HeaderValue::from_str(&content_security_policy(frame_ancestors))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"));
    let index = move || {
        let page = page.clone();
        async move {
            match page {
                // The page names the current hashed assets: never cache it.
                Ok(html) => ([(header::CACHE_CONTROL, "no-cache")], Html(html)).into_response(),
                Err(err) => not_built(&err),
            }
        }
    };
    Router::new()
        .route("/", get(index.clone()))
        .route("/index.html", get(index))
        .merge(
            Router::new()
                .nest_service("/assets", ServeDir::new(dist.join("assets")))
                .layer(axum::middleware::map_response(immutable)),
        )
        .nest_service("/vendor", ServeDir::new(dist.join("vendor")))
        .layer(axum::middleware::map_response(
            move |mut response: Response| {
                let csp = csp.clone();
                async move {
                    response
                        .headers_mut()
                        .insert(header::CONTENT_SECURITY_POLICY, csp);
                    response
                }
            },
        ))
}

/// Hashed file names change with their content, so they may be cached for good.
async fn immutable(mut response: Response) -> Response {
    if response.status().is_success() {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
    }
    response
}

fn not_built(err: &str) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the Activity's browser app is not built ({err}); run .ci/setup.d/web.sh"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get(router: Router, uri: &str) -> (StatusCode, String, Option<String>) {
        let response = router
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let cache = response
            .headers()
            .get(header::CACHE_CONTROL)
            .map(|v| v.to_str().unwrap().to_owned());
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, String::from_utf8_lossy(&body).into_owned(), cache)
    }

    #[tokio::test]
    async fn serves_the_page_with_the_application_id_and_the_assets() {
        let dist = std::env::temp_dir().join(format!("kd-web-app-{}", std::process::id()));
        std::fs::create_dir_all(dist.join("assets")).unwrap();
        std::fs::write(
            dist.join("index.html"),
            r#"<meta name="discord-client-id" content="%DISCORD_CLIENT_ID%">"#,
        )
        .unwrap();
        std::fs::write(dist.join("assets/app-1a2b.js"), "console.log(1)").unwrap();
        let router: Router = routes(&dist, "1234", "https://discord.com");
        let response = router
            .clone()
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(
            csp.ends_with("frame-ancestors 'self' https://discord.com"),
            "{csp}"
        );
        let (status, page, cache) = get(router.clone(), "/?frame_id=f&instance_id=i").await;
        assert_eq!(status, 200);
        assert!(page.contains(r#"content="1234""#), "{page}");
        assert_eq!(cache.as_deref(), Some("no-cache"));
        let (status, js, cache) = get(router.clone(), "/assets/app-1a2b.js").await;
        assert_eq!((status, js.as_str()), (StatusCode::OK, "console.log(1)"));
        assert!(cache.unwrap().contains("immutable"));
        assert_eq!(get(router, "/assets/missing.js").await.0, 404);
        std::fs::remove_dir_all(&dist).unwrap();
    }

    #[tokio::test]
    async fn says_how_to_build_when_there_is_no_build() {
        let router: Router = routes(Path::new("/nonexistent/dist"), "1", "https://discord.com");
        let (status, text, _) = get(router, "/").await;
        assert_eq!(status, 503);
        assert!(text.contains(".ci/setup.d/web.sh"), "{text}");
    }
}

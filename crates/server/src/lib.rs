//! roster's HTTP server: the native REST API, health and OpenAPI, with the
//! middleware every face shares (request ids, rate limits, body limits).

pub mod dialects;
pub mod extract;
pub mod face;
mod listener;
pub mod metrics;
pub mod native;
pub mod problem;
pub mod rate_limit;
pub mod request_id;
pub mod state;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use roster_core::Roster;

pub use listener::serve_with;
pub use state::{AppState, HttpConfig};

use crate::problem::ApiError;

/// Builds the whole application. Tests drive this directly.
pub fn app(roster: Arc<Roster>, http: HttpConfig) -> Router {
    let state = Arc::new(AppState {
        roster,
        http: http.clone(),
    });
    let (api, openapi) = native::router();
    let openapi = Arc::new(openapi);
    let mut router = Router::new()
        .nest("/api/v1", api)
        .merge(dialects::d3::router())
        .merge(dialects::attackforge::router())
        .merge(dialects::digicert::router())
        .merge(dialects::aria::router())
        .route("/healthz", get(healthz))
        .route("/livez", get(livez))
        .route("/metrics", get(metrics::endpoint))
        .route(
            "/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(|uri: axum::http::Uri| async move { face::Face::of(uri.path()).not_found() })
        .method_not_allowed_fallback(|uri: axum::http::Uri| async move {
            match face::Face::of(uri.path()) {
                face::Face::Native => ApiError::MethodNotAllowed.into_response(),
                other => other.not_found(),
            }
        })
        .layer(DefaultBodyLimit::max(http.body_limit))
        .with_state(state);
    if let Some(limits) = rate_limit::Limits::new(http.rate_limit_per_second, http.rate_limit_burst)
    {
        router = router.layer(axum::middleware::from_fn_with_state(
            limits,
            rate_limit::layer,
        ));
    }
    router
        .layer(axum::middleware::from_fn(catch_panic))
        .layer(axum::middleware::from_fn(request_id::layer))
}

/// A panic in a handler is a bug: log it with the request id and answer
/// with the face's generic 500 instead of dropping the connection.
async fn catch_panic(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use futures_util::FutureExt as _;
    let face = face::Face::of(req.uri().path());
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(resp) => resp,
        Err(_) => face.error(roster_core::CoreError::Internal("handler panicked".into())),
    }
}

/// Liveness: answers without touching the database (also the bench's bare route).
async fn livez() -> axum::Json<native::dto::Health> {
    axum::Json(native::dto::Health { status: "ok" })
}

/// Readiness: 200 when the database answers.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.roster.health().await {
        Ok(()) => axum::Json(native::dto::Health { status: "ok" }).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(native::dto::Health {
                    status: "unavailable",
                }),
            )
                .into_response()
        }
    }
}

/// Serves `app` on `listener` with the default connection limits until
/// `shutdown` completes, then finishes in-flight requests (see
/// [`serve_with`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, HttpConfig::default(), shutdown).await
}

//! roster's HTTP server: the native REST API, health and OpenAPI, with the
//! middleware every face shares (request ids, rate limits, body limits).

pub mod extract;
pub mod face;
pub mod faces;
pub mod json;
mod listener;
pub mod mail;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;
pub mod state;
pub mod webhooks;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use roster_core::Roster;

pub use listener::serve_with;
pub use state::{AppState, HttpConfig};

use crate::face::{Current, Rejection};
use roster_core::CoreError;

/// Builds the whole application. Tests drive this directly.
pub fn app(roster: Arc<Roster>, http: HttpConfig) -> Router {
    let state = Arc::new(AppState {
        roster,
        http: http.clone(),
    });
    let mut router = Router::new();
    for face in faces::FACES {
        router = router.merge(face.router());
    }
    let router = router
        .route("/healthz", get(healthz))
        .route("/livez", get(livez))
        .route("/metrics", get(metrics::endpoint))
        .fallback(|Current(face): Current| async move { face.reject(Rejection::NotFound) })
        .method_not_allowed_fallback(|Current(face): Current| async move {
            face.reject(Rejection::MethodNotAllowed)
        })
        .layer(DefaultBodyLimit::max(http.body_limit))
        .with_state(state);
    let limits = rate_limit::Limits::new(http.rate_limit_per_second, http.rate_limit_burst);
    // One outer layer rather than four: each axum middleware layer costs
    // a service clone and a boxed future per request (measured: about a
    // third of the instructions of a bare route, docs/PERFORMANCE.md).
    router.layer(axum::middleware::from_fn_with_state(limits, front))
}

/// Every request first: finds its face once (for every layer and
/// extractor after), gives it an id (`request_id`), applies the rate
/// limits, and turns a handler's panic into the face's generic 500 instead
/// of a dropped connection.
async fn front(
    State(limits): State<Option<Arc<rate_limit::Limits>>>,
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use futures_util::FutureExt as _;
    let face = faces::of(req.uri().path());
    req.extensions_mut().insert(Current(face));
    request_id::identified(req, face.name(), |req| async move {
        if let Some(refused) = limits
            .as_deref()
            .and_then(|l| rate_limit::refusal(l, face, &req))
        {
            return refused;
        }
        match std::panic::AssertUnwindSafe(next.run(req))
            .catch_unwind()
            .await
        {
            Ok(resp) => resp,
            Err(_) => face.error(CoreError::Internal("handler panicked".into())),
        }
    })
    .await
}

/// Liveness: answers without touching the database (also the bench's bare route).
async fn livez() -> axum::Json<faces::native::dto::Health> {
    axum::Json(faces::native::dto::Health { status: "ok" })
}

/// Readiness: 200 when the database answers.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match state.roster.health().await {
        Ok(()) => axum::Json(faces::native::dto::Health { status: "ok" }).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(faces::native::dto::Health {
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
